"""Flux's OCI artifact: a tar.gz of a directory as one layer, its origin in annotations.

Media types and annotation keys are Flux's, so artifacts pushed by `eddy push
artifact` and by `flux push artifact` are read alike by OCIRepository sources.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .client import OCI_MANIFEST, OCIError, RegistryClient
from .reference import Reference

CONFIG_MEDIA_TYPE = "application/vnd.cncf.flux.config.v1+json"
CONTENT_MEDIA_TYPE = "application/vnd.cncf.flux.content.v1.tar+gzip"
SOURCE_ANNOTATION = "org.opencontainers.image.source"
REVISION_ANNOTATION = "org.opencontainers.image.revision"
CREATED_ANNOTATION = "org.opencontainers.image.created"
# The config blob carries nothing: the manifest's annotations hold the metadata.
EMPTY_CONFIG = b"{}"


@dataclass(frozen=True)
class Pushed:
    reference: Reference
    digest: str
    layer_digest: str
    size: int


def normalize_revision(revision: str) -> str:
    """`<ref>/<sha>` (Flux's older form) as `<ref>@sha1:<sha>`; a bare sha as `sha1:<sha>`."""
    text = revision.strip()
    if re.fullmatch(r"[0-9a-f]{40}", text):
        return f"sha1:{text}"
    found = re.fullmatch(r"(.+)/([0-9a-f]{40})", text)
    if found and "@" not in text:
        return f"{found[1]}@sha1:{found[2]}"
    return text


def manifest_for(
    config_digest: str, layer_digest: str, layer_size: int, annotations: dict[str, str]
) -> dict[str, Any]:
    return {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": CONFIG_MEDIA_TYPE,
            "digest": config_digest,
            "size": len(EMPTY_CONFIG),
        },
        "layers": [{"mediaType": CONTENT_MEDIA_TYPE, "digest": layer_digest, "size": layer_size}],
        "annotations": annotations,
    }


async def push_artifact(
    client: RegistryClient,
    reference: Reference,
    layer: bytes,
    source: str,
    revision: str,
    annotations: dict[str, str] | None = None,
    created: datetime | None = None,
) -> Pushed:
    """Upload the layer and an empty config, then tag the manifest that names them."""
    when = (created or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    notes = {**(annotations or {}), CREATED_ANNOTATION: when}
    if source:
        notes[SOURCE_ANNOTATION] = source
    if revision:
        notes[REVISION_ANNOTATION] = normalize_revision(revision)
    repository = reference.repository
    config_digest = await client.upload_blob(repository, EMPTY_CONFIG)
    layer_digest = await client.upload_blob(repository, layer)
    body = json.dumps(
        manifest_for(config_digest, layer_digest, len(layer), notes), separators=(",", ":")
    ).encode()
    digest = await client.put_manifest(
        repository, reference.tag or reference.digest or "latest", body
    )
    return Pushed(reference, digest, layer_digest, len(layer))


def content_layer(manifest: dict[str, Any], where: str) -> dict[str, Any]:
    """The layer holding the artifact's files; other layouts are refused with their types."""
    layers = [x for x in manifest.get("layers") or [] if isinstance(x, dict)]
    for layer in layers:
        if layer.get("mediaType") == CONTENT_MEDIA_TYPE:
            return layer
    kinds = ", ".join(str(x.get("mediaType")) for x in layers) or "none"
    raise OCIError(
        f"{where} is not a Flux artifact: no layer of type {CONTENT_MEDIA_TYPE} (found {kinds})"
    )


async def pull_artifact(
    client: RegistryClient, reference: Reference, max_size: int
) -> tuple[dict[str, Any], str, bytes]:
    """The manifest, its digest and the verified content layer of an artifact."""
    manifest, digest = await client.manifest(
        reference.repository, reference.digest or reference.tag or "latest"
    )
    layer = content_layer(manifest, str(reference))
    size = int(layer.get("size") or 0)
    if size > max_size:
        raise OCIError(f"{reference} is {size} bytes, more than the limit of {max_size}")
    data = await client.blob(
        reference.repository, str(layer.get("digest", "")), max_size, f"the layer of {reference}"
    )
    return manifest, digest, data
