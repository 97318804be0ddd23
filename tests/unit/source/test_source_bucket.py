"""A Bucket's revision and the keys it may write: Flux's index digest, refused keys."""

from __future__ import annotations

import hashlib

import pytest

from eddy_artifacts.digest import index_digest
from eddy_artifacts.limits import ArchiveLimits
from source_controller.bucket import UnsafeKey, key_parts


def test_index_digest_hashes_sorted_key_etag_lines() -> None:
    index = {"b/z.yaml": "e2", "a.yaml": "e1", "b/a.yaml": "e3"}
    expected = hashlib.sha256(b"a.yaml e1\nb/a.yaml e3\nb/z.yaml e2\n").hexdigest()
    assert str(index_digest(index)) == f"sha256:{expected}"
    # The listing order does not matter; an etag or a key does.
    assert index_digest(dict(reversed(index.items()))) == index_digest(index)
    assert index_digest({**index, "a.yaml": "e9"}) != index_digest(index)


def test_index_digest_of_nothing_is_the_empty_sha256() -> None:
    assert str(index_digest({})) == "sha256:" + hashlib.sha256(b"").hexdigest()


def test_keys_become_relative_paths() -> None:
    assert key_parts("apps/base/app.yaml", ArchiveLimits()) == ("apps", "base", "app.yaml")


@pytest.mark.parametrize(
    ("key", "why"),
    [
        ("/etc/passwd", "absolute path"),
        ("apps/../../etc/passwd", "'..' path segment"),
        ("..", "'..' path segment"),
        ("apps/./x", "'..' path segment"),
        ("apps//x", "empty"),
        ("a\x00b", "NUL"),
        ("a/" * 70 + "x", "deeper"),
        ("x" * 300, "longer than 255 bytes"),
    ],
)
def test_unsafe_keys_are_refused(key: str, why: str) -> None:
    with pytest.raises(UnsafeKey, match=why):
        key_parts(key, ArchiveLimits())
