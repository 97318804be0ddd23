"""Flux artifacts and cosign signatures pushed to the test registry, as a user's CI would.

Tests of OCIRepository sources need artifacts in Flux's format (and signed ones)
in a real registry; these push them with the same client the `eddy` command uses.
"""

from __future__ import annotations

import contextlib
import io
import json
import ssl
import tempfile
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import aiohttp
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from eddy_artifacts.archive import write_archive
from eddy_oci import cosign
from eddy_oci.artifact import push_artifact
from eddy_oci.client import OCI_MANIFEST, RegistryClient, basic_auth
from eddy_oci.reference import Reference
from eddy_testenv.registry import Registry


@contextlib.asynccontextmanager
async def registry_client(registry: Registry) -> AsyncIterator[RegistryClient]:
    """A client of the test registry, logged in when it needs credentials."""
    basic = None
    if registry.username is not None and registry.password is not None:
        basic = basic_auth(registry.username, registry.password)
    tls = ssl.create_default_context(cafile=str(registry.ca_file)) if registry.ca_file else None
    async with aiohttp.ClientSession() as session:
        yield RegistryClient(session, registry.base_url, basic, tls)


def tar_gz(files: Mapping[str, str | bytes]) -> bytes:
    """A tar.gz of `files` (relative path → content), as `flux push artifact` packs a dir."""
    with tempfile.TemporaryDirectory(prefix="eddy-artifact-") as tmp:
        root = Path(tmp)
        for name, content in files.items():
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content.encode() if isinstance(content, str) else content)
        out = io.BytesIO()
        write_archive(root, out)
        return out.getvalue()


async def push_files(
    registry: Registry,
    repository: str,
    tag: str,
    files: Mapping[str, str | bytes],
    *,
    source: str = "https://github.com/example/app.git",
    revision: str = "main@sha1:0123456789abcdef0123456789abcdef01234567",
) -> str:
    """Push `files` as a Flux artifact to `repository:tag`; the manifest digest."""
    return await push_layer(registry, repository, tag, tar_gz(files), source=source,
                            revision=revision)  # fmt: skip


async def push_layer(
    registry: Registry,
    repository: str,
    tag: str,
    layer: bytes,
    *,
    source: str = "https://github.com/example/app.git",
    revision: str = "main@sha1:0123456789abcdef0123456789abcdef01234567",
) -> str:
    """Push `layer` (any bytes) as the content layer of a Flux artifact; the manifest digest."""
    async with registry_client(registry) as client:
        pushed = await push_artifact(
            client, Reference(registry.host, repository, tag), layer, source, revision
        )
        return pushed.digest


async def push_manifest(
    registry: Registry, repository: str, tag: str, manifest: dict[str, Any]
) -> str:
    """Store any manifest under a tag (for artifacts that are not what they claim)."""
    async with registry_client(registry) as client:
        body = json.dumps(manifest).encode()
        media_type = str(manifest.get("mediaType") or OCI_MANIFEST)
        return await client.put_manifest(repository, tag, body, media_type)


async def upload_blob(registry: Registry, repository: str, data: bytes) -> str:
    async with registry_client(registry) as client:
        return await client.upload_blob(repository, data)


async def sign(
    registry: Registry, repository: str, digest: str, key: ec.EllipticCurvePrivateKey
) -> None:
    """Sign `repository@digest` with a cosign key pair, stored where cosign stores it."""
    async with registry_client(registry) as client:
        await cosign.push_signature(client, repository, digest, key)


async def sign_tag(
    registry: Registry, repository: str, tag: str, key: ec.EllipticCurvePrivateKey
) -> str:
    """Sign what `repository:tag` points at now (as `cosign sign` does); its digest."""
    async with registry_client(registry) as client:
        _, digest = await client.manifest(repository, tag)
        await cosign.push_signature(client, repository, digest, key)
        return digest


def cosign_key() -> ec.EllipticCurvePrivateKey:
    """A fresh cosign key pair (ECDSA P-256, as `cosign generate-key-pair` makes)."""
    return ec.generate_private_key(ec.SECP256R1())


def public_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    """The public half of a cosign key pair, as `cosign.pub` holds it."""
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
