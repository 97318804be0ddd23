"""Reading from a registry: the tags of a repository, where a tag points, and a layer.

OCIRepository sources ask where a tag points first (a HEAD, no body) and download
the manifest and its layer only when that digest is new.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .client import MANIFEST_MEDIA_TYPES, OCIError, RegistryClient

MAX_TAG_PAGES = 100
# Image indexes are accepted by the registry API but are not artifacts eddy can read.
INDEX_MEDIA_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


class NotAnArtifact(OCIError):
    """The manifest is not an artifact with the wanted layer (an index, no layers, no match)."""


def _header(headers: dict[str, str], name: str) -> str:
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), "")


async def list_tags(client: RegistryClient, repository: str) -> list[str]:
    """Every tag of a repository, following the API's pagination (bounded)."""
    tags: list[str] = []
    path: str | None = f"/v2/{repository}/tags/list?n=1000"
    pages = 0
    while path and pages < MAX_TAG_PAGES:
        pages += 1
        status, headers, body = await client.request("GET", path)
        if status == 404:
            raise OCIError(f"repository {client.host}/{repository} not found", 404)
        if status != 200:
            raise OCIError(f"listing tags of {client.host}/{repository} answered HTTP {status}")
        try:
            listed = json.loads(body).get("tags") or []
        except (ValueError, AttributeError) as err:
            raise OCIError(f"the tag list of {client.host}/{repository} is not valid JSON") from err
        tags += [str(t) for t in listed]
        found = _NEXT.search(_header(headers, "Link"))
        path = found[1] if found else None
    return tags


async def resolve_tag(client: RegistryClient, repository: str, tag: str) -> str:
    """The digest of the manifest a tag points at, from a HEAD when the registry says it."""
    accept = {"Accept": ", ".join(MANIFEST_MEDIA_TYPES + INDEX_MEDIA_TYPES)}
    path = f"/v2/{repository}/manifests/{tag}"
    status, headers, _ = await client.request("HEAD", path, headers=accept)
    where = f"{client.host}/{repository}:{tag}"
    if status == 404:
        raise OCIError(f"{where} not found; check the URL and the tag", 404)
    digest = _header(headers, "Docker-Content-Digest")
    if status == 200 and _DIGEST.fullmatch(digest):
        return digest
    # Not every registry names the digest on HEAD: read the manifest and hash it.
    _, digest = await client.manifest(repository, tag)
    return digest


def select_layer(manifest: dict[str, Any], media_type: str, where: str) -> dict[str, Any]:
    """The first layer, or the first of `media_type`; an image index or no match is an error."""
    if manifest.get("mediaType") in INDEX_MEDIA_TYPES or "manifests" in manifest:
        raise NotAnArtifact(
            f"{where} is an image index, not an artifact: point at one platform's tag"
        )
    layers = [x for x in manifest.get("layers") or [] if isinstance(x, dict)]
    if not layers:
        raise NotAnArtifact(f"{where} has no layers: it is not an OCI artifact")
    if not media_type:
        return layers[0]
    for layer in layers:
        if layer.get("mediaType") == media_type:
            return layer
    found = ", ".join(str(x.get("mediaType")) for x in layers)
    raise NotAnArtifact(f"{where} has no layer of media type '{media_type}' (found {found})")


async def pull_layer(
    client: RegistryClient, repository: str, digest: str, media_type: str, max_size: int
) -> tuple[dict[str, Any], dict[str, Any], bytes]:
    """The manifest at `digest`, the selected layer's descriptor and its verified bytes."""
    where = f"{client.host}/{repository}@{digest}"
    manifest, _ = await client.manifest(repository, digest)
    layer = select_layer(manifest, media_type, where)
    size = int(layer.get("size") or 0)
    if size > max_size:
        raise OCIError(f"the layer of {where} is {size} bytes, more than the limit of {max_size}")
    data = await client.blob(
        repository, str(layer.get("digest", "")), max_size, f"the layer of {where}"
    )
    return manifest, layer, data
