"""Cosign signatures with public keys: the `.sig` tag, its simple-signing payload, and checks.

cosign stores the signature of `repo@sha256:<hex>` as the manifest tagged
`sha256-<hex>.sig`; each layer is a JSON payload naming the signed digest, with
the signature over the payload's bytes in an annotation. A signature counts only
when a trusted key verifies it and its payload names the digest being pulled.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from .client import OCI_MANIFEST, OCIError, RegistryClient, sha256

SIMPLE_SIGNING_MEDIA_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
SIGNATURE_TYPE = "cosign container image signature"
MAX_PAYLOAD_SIZE = 1 << 20
MAX_SIGNATURES = 32

PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey


class VerificationFailed(OCIError):
    """No signature of the artifact verifies with the trusted keys."""


@dataclass(frozen=True)
class TrustedKey:
    name: str
    key: PublicKey


def signature_tag(digest: str) -> str:
    """`sha256:<hex>` → `sha256-<hex>.sig`, where cosign keeps the signatures."""
    return digest.replace(":", "-") + ".sig"


def simple_signing_payload(reference: str, digest: str) -> bytes:
    """The payload cosign signs for `reference` (host/repository) at `digest`."""
    body = {
        "critical": {
            "identity": {"docker-reference": reference},
            "image": {"docker-manifest-digest": digest},
            "type": SIGNATURE_TYPE,
        },
        "optional": None,
    }
    return json.dumps(body, separators=(",", ":")).encode()


def load_public_keys(entries: Mapping[str, bytes]) -> list[TrustedKey]:
    """The PEM public keys among `entries` whose names end in `.pub`, as Flux reads them."""
    keys: list[TrustedKey] = []
    for name in sorted(entries):
        if not name.endswith(".pub"):
            continue
        try:
            key = serialization.load_pem_public_key(entries[name])
        except (ValueError, TypeError) as err:
            raise OCIError(f"'{name}' is not a PEM public key") from err
        if not isinstance(
            key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey
        ):
            raise OCIError(f"'{name}' holds a {type(key).__name__}, which cosign does not use")
        keys.append(TrustedKey(name, key))
    if not keys:
        raise OCIError("no public keys found: keys must be stored under names ending in '.pub'")
    return keys


def _verifies(key: PublicKey, signature: bytes, payload: bytes) -> bool:
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, payload, ec.ECDSA(hashes.SHA256()))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, payload, padding.PKCS1v15(), hashes.SHA256())
        else:
            key.verify(signature, payload)
    except InvalidSignature:
        return False
    return True


def _names_digest(payload: bytes, digest: str) -> bool:
    try:
        critical = json.loads(payload).get("critical") or {}
        signed = (critical.get("image") or {}).get("docker-manifest-digest")
        return bool(critical.get("type") == SIGNATURE_TYPE and signed == digest)
    except (ValueError, AttributeError):
        return False


async def verify(
    client: RegistryClient, repository: str, digest: str, keys: Sequence[TrustedKey]
) -> TrustedKey:
    """The key that verifies a signature of `repository@digest`; VerificationFailed if none."""
    where = f"{client.host}/{repository}@{digest}"
    status, _, body = await client.request(
        "GET",
        f"/v2/{repository}/manifests/{signature_tag(digest)}",
        headers={"Accept": OCI_MANIFEST},
    )
    if status == 404:
        raise VerificationFailed(f"no cosign signature found for {where}")
    if status != 200:
        raise OCIError(f"reading the signatures of {where} answered HTTP {status}", status)
    try:
        manifest: dict[str, Any] = json.loads(body)
    except ValueError as err:
        raise VerificationFailed(f"the signature manifest of {where} is not valid JSON") from err
    layers = [
        x for x in manifest.get("layers") or []
        if isinstance(x, dict) and x.get("mediaType") == SIMPLE_SIGNING_MEDIA_TYPE
    ][:MAX_SIGNATURES]  # fmt: skip
    for layer in layers:
        encoded = str((layer.get("annotations") or {}).get(SIGNATURE_ANNOTATION, ""))
        try:
            signature = base64.b64decode(encoded, validate=True)
        except ValueError:
            continue
        payload = await client.blob(
            repository, str(layer.get("digest", "")), MAX_PAYLOAD_SIZE, f"a signature of {where}"
        )
        if not _names_digest(payload, digest):
            continue
        for trusted in keys:
            if _verifies(trusted.key, signature, payload):
                return trusted
    raise VerificationFailed(
        f"none of the {len(layers)} signatures of {where} verifies with the trusted keys"
    )


def sign_payload(private_key: ec.EllipticCurvePrivateKey, payload: bytes) -> str:
    """A cosign signature (ECDSA P-256, SHA-256, base64) over the payload bytes."""
    return base64.b64encode(private_key.sign(payload, ec.ECDSA(hashes.SHA256()))).decode()


async def push_signature(
    client: RegistryClient,
    repository: str,
    digest: str,
    private_key: ec.EllipticCurvePrivateKey,
    payload: bytes | None = None,
) -> str:
    """Sign `repository@digest` as cosign does and store it under the `.sig` tag."""
    payload = payload or simple_signing_payload(f"{client.host}/{repository}", digest)
    config = b"{}"
    config_digest = await client.upload_blob(repository, config)
    payload_digest = await client.upload_blob(repository, payload)
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest,
            "size": len(config),
        },
        "layers": [
            {
                "mediaType": SIMPLE_SIGNING_MEDIA_TYPE,
                "digest": payload_digest,
                "size": len(payload),
                "annotations": {SIGNATURE_ANNOTATION: sign_payload(private_key, payload)},
            }
        ],
    }
    body = json.dumps(manifest, separators=(",", ":")).encode()
    await client.put_manifest(repository, signature_tag(digest), body)
    return sha256(body)
