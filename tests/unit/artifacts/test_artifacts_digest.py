"""Digests and revisions read and print exactly as Flux writes them.

Consumers compare these strings with what sources publish; one character off
means a needless re-apply or a missed update.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

from eddy_artifacts.digest import (
    Digest,
    Hasher,
    Revision,
    file_digest,
    git_revision,
    parse_digest,
    parse_revision,
    same_revision,
    stream_digest,
)
from eddy_artifacts.errors import InvalidDigest

SHA1 = "a" * 40
SHA256 = hashlib.sha256(b"hello").hexdigest()


def test_digest_of_a_file_and_a_stream(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"hello")
    assert str(file_digest(path)) == f"sha256:{SHA256}"
    assert stream_digest(io.BytesIO(b"hello")) == Digest("sha256", SHA256)


def test_hasher_counts_bytes() -> None:
    hasher = Hasher()
    hasher.update(b"hel")
    hasher.update(b"lo")
    assert hasher.size == 5
    assert hasher.digest().hex == SHA256


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("deadbeef", "not a digest"),
        ("sha256:" + "a" * 63, "64"),
        ("sha256:" + "A" * 64, "not a digest"),
        ("md5:" + "a" * 32, "unknown algorithm"),
        ("sha256:", "not a digest"),
    ],
)
def test_invalid_digests_say_why(text: str, problem: str) -> None:
    with pytest.raises(InvalidDigest, match=problem):
        parse_digest(text)


def test_digest_comparison() -> None:
    digest = parse_digest(f"sha256:{SHA256}")
    assert digest.matches(f"sha256:{SHA256}")
    assert not digest.matches("sha256:" + "0" * 64)
    assert not digest.matches("sha1:" + "0" * 40)


def test_git_revisions_in_flux_format() -> None:
    assert git_revision("main", SHA1) == f"main@sha1:{SHA1}"
    assert git_revision("refs/heads/release/v1", SHA1) == f"release/v1@sha1:{SHA1}"
    assert git_revision("refs/tags/v1.2.3", SHA1) == f"v1.2.3@sha1:{SHA1}"
    assert git_revision("refs/pull/7/head", SHA1) == f"refs/pull/7/head@sha1:{SHA1}"
    assert git_revision(None, SHA1.upper()) == f"sha1:{SHA1}"
    assert git_revision("main", SHA256) == f"main@sha256:{SHA256}"


def test_parse_revisions() -> None:
    assert parse_revision(f"main@sha1:{SHA1}") == Revision("main", Digest("sha1", SHA1))
    assert parse_revision(f"sha256:{SHA256}") == Revision(None, Digest("sha256", SHA256))
    assert parse_revision(f"user@example@sha1:{SHA1}").name == "user@example"
    # Flux before v2.0 wrote "<branch>/<sha>".
    assert parse_revision(f"main/{SHA1}") == Revision("main", Digest("sha1", SHA1))
    assert str(parse_revision(f"v1@sha1:{SHA1}")) == f"v1@sha1:{SHA1}"
    with pytest.raises(InvalidDigest):
        parse_revision(f"@sha1:{SHA1}")


def test_same_revision_across_formats() -> None:
    assert same_revision(f"main@sha1:{SHA1}", f"main/{SHA1}")
    assert same_revision(f"main@sha1:{SHA1}", f"sha1:{SHA1}")
    assert not same_revision(f"main@sha1:{SHA1}", f"dev@sha1:{SHA1}")
    assert not same_revision(f"main@sha1:{SHA1}", f"main@sha1:{'b' * 40}")
    assert same_revision("1.2.3", "1.2.3")
