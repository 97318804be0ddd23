"""Another tag or digest of an OCIRepository's artifact, for `eddy plan --revision`.

Pulled with eddy_oci (the registry client and layer selection the source-controller
uses) as the person running the command, with the credentials of spec.secretRef
when their RBAC lets them read it, and extracted with eddy_artifacts' safe extraction.
"""

from __future__ import annotations

import asyncio
import base64
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aiohttp

from eddy_artifacts.errors import ArtifactError
from eddy_artifacts.extract import extract_archive
from eddy_artifacts.limits import DEFAULT_MAX_SIZE
from eddy_oci.auth import docker_config_auth
from eddy_oci.client import OCIError, RegistryClient
from eddy_oci.pull import pull_layer, resolve_tag
from eddy_oci.reference import parse_reference
from eddy_runtime.resources import SECRETS

from .errors import CliError
from .kube import Cluster

_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
# What the source-controller reads and eddy plan does not; their artifacts can be
# planned from the files themselves.
_NOT_READ = ("certSecretRef", "proxySecretRef", "serviceAccountName")
TIMEOUT = 120.0


def split_revision(revision: str) -> tuple[str, str]:
    """(tag, digest) of `v1.2.0`, `sha256:<hex>` or Flux's `v1.2.0@sha256:<hex>`."""
    tag, _, digest = revision.rpartition("@") if "@" in revision else (revision, "", "")
    if _DIGEST.fullmatch(tag) and not digest:
        tag, digest = "", tag
    if (digest and not _DIGEST.fullmatch(digest)) or (tag and not _TAG.fullmatch(tag)):
        raise CliError(
            f"--revision {revision!r} is neither a tag nor a digest; give a tag (v1.2.0), "
            "a digest (sha256:<64 hex digits>) or both (v1.2.0@sha256:…)"
        )
    return tag, digest


async def _credentials(cluster: Cluster, repo: Mapping[str, Any], host: str) -> str | None:
    spec, namespace = repo.get("spec") or {}, repo["metadata"]["namespace"]
    secret = (spec.get("secretRef") or {}).get("name")
    if not secret:
        return None
    found = await cluster.client.get_or_none(SECRETS, str(secret), namespace)
    if found is None:
        raise CliError(f"secret {namespace}/{secret} of the OCIRepository is gone")
    config = base64.b64decode((found.get("data") or {}).get(".dockerconfigjson") or "")
    try:
        basic = docker_config_auth(config, host) if config else None
    except OCIError as err:
        raise CliError(f"secret {namespace}/{secret}: {err.message}") from err
    if basic is None:
        raise CliError(f"secret {namespace}/{secret} has no credentials for registry {host}")
    return basic


async def pull(cluster: Cluster, repo: Mapping[str, Any], revision: str, dest: Path) -> str:
    """Extract the artifact of `revision` into dest; returns its revision, `tag@digest`."""
    spec, meta = repo.get("spec") or {}, repo["metadata"]
    where = f"OCIRepository {meta['namespace']}/{meta['name']}"
    for key in _NOT_READ:
        if spec.get(key):
            raise CliError(
                f"eddy plan --revision does not read spec.{key} of {where}; pull the "
                "artifact yourself (flux pull artifact) and give its files with --source-dir DIR"
            )
    tag, digest = split_revision(revision)
    try:
        location = parse_reference(str(spec.get("url", "")), default_tag="")
    except OCIError as err:
        raise CliError(f"spec.url of {where}: {err.message}") from err
    basic = await _credentials(cluster, repo, location.host)
    media_type = str((spec.get("layerSelector") or {}).get("mediaType") or "")
    shown = f"{location.name}:{tag}" if tag else f"{location.name}@{digest}"
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT))
    try:
        async with session:
            client = RegistryClient(session, location.base_url(bool(spec.get("insecure"))), basic)
            if not digest:
                digest = await resolve_tag(client, location.repository, tag)
            _, _, layer = await pull_layer(
                client, location.repository, digest, media_type, DEFAULT_MAX_SIZE
            )
    except OCIError as err:
        raise CliError(f"cannot pull {shown}: {err.message}") from err
    except (aiohttp.ClientError, TimeoutError) as err:
        raise CliError(
            f"cannot reach registry {location.host}: {err or type(err).__name__}"
        ) from err
    await asyncio.to_thread(_extract, layer, dest)
    return f"{tag}@{digest}" if tag else digest


def _extract(layer: bytes, dest: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="eddy-plan-oci-") as tmp:
        archive = Path(tmp) / "layer.tar.gz"
        archive.write_bytes(layer)
        try:
            extract_archive(archive, dest)
        except (ArtifactError, OSError) as err:
            raise CliError(f"cannot extract the artifact's layer: {err}") from err
