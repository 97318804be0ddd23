"""Cosign's simple-signing checks: which keys are trusted, what a payload must name."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from eddy_oci import cosign
from eddy_oci.client import OCIError

DIGEST = "sha256:" + "ab" * 32


def pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def test_only_pub_entries_are_keys_and_each_must_be_pem() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    keys = cosign.load_public_keys({"a.pub": pem(key), "notes.txt": b"hello"})
    assert [k.name for k in keys] == ["a.pub"]
    with pytest.raises(OCIError, match=r"'b\.pub' is not a PEM public key"):
        cosign.load_public_keys({"b.pub": b"nope"})
    with pytest.raises(OCIError, match=r"names ending in '\.pub'"):
        cosign.load_public_keys({"cosign.key": b"private"})


def test_a_signature_counts_with_the_right_key_over_a_payload_naming_the_digest() -> None:
    signer, stranger = (
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP256R1()),
    )
    payload = cosign.simple_signing_payload("registry.example/app", DIGEST)
    signature = base64.b64decode(cosign.sign_payload(signer, payload))
    assert cosign._verifies(signer.public_key(), signature, payload)
    assert not cosign._verifies(stranger.public_key(), signature, payload)
    assert not cosign._verifies(signer.public_key(), signature, payload + b" ")
    assert cosign._names_digest(payload, DIGEST)
    assert not cosign._names_digest(payload, "sha256:" + "cd" * 32)
    assert not cosign._names_digest(b"not json", DIGEST)
    assert cosign.signature_tag(DIGEST) == "sha256-" + "ab" * 32 + ".sig"


def test_rsa_keys_verify_pkcs1_signatures() -> None:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    payload = cosign.simple_signing_payload("registry.example/app", DIGEST)
    signature = key.sign(payload, padding.PKCS1v15(), hashes.SHA256())
    [trusted] = cosign.load_public_keys({"rsa.pub": pem(key)})
    assert cosign._verifies(trusted.key, signature, payload)
