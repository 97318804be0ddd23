"""Digests of artifact bytes and Flux's revision strings.

Every artifact is identified by `sha256:<64 hex>` and every source revision by
Flux's `<name>@<algo>:<hex>` form; both are parsed and produced only here.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from eddy_artifacts.errors import InvalidDigest

SHA256 = "sha256"
CHUNK_SIZE = 1 << 16

# Hex lengths of the algorithms a revision or digest may use; sha1 is what git
# commits are named with, the others appear in OCI and Bucket revisions.
_HEX_LENGTHS = {"sha1": 40, "sha256": 64, "sha384": 96, "sha512": 128}
_DIGEST = re.compile(r"(?P<algorithm>[a-z0-9]+):(?P<hex>[0-9a-f]+)")
_LEGACY_GIT = re.compile(r"(?:(?P<name>.+)/)?(?P<hex>[0-9a-f]{40})")


@dataclass(frozen=True)
class Digest:
    """`<algorithm>:<lowercase hex>`, validated for length."""

    algorithm: str
    hex: str

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"

    @classmethod
    def parse(cls, text: str) -> Digest:
        match = _DIGEST.fullmatch(text.strip())
        if match is None:
            raise InvalidDigest(
                f"{text!r} is not a digest; expected '<algorithm>:<hex>' such as "
                "'sha256:' followed by 64 lowercase hex characters"
            )
        algorithm, value = match["algorithm"], match["hex"]
        want = _HEX_LENGTHS.get(algorithm)
        if want is None:
            known = ", ".join(sorted(_HEX_LENGTHS))
            raise InvalidDigest(f"digest {text!r} uses unknown algorithm {algorithm!r} ({known})")
        if len(value) != want:
            raise InvalidDigest(
                f"digest {text!r} has {len(value)} hex characters; {algorithm} needs {want}"
            )
        return cls(algorithm, value)

    def matches(self, other: Digest | str) -> bool:
        other_digest = other if isinstance(other, Digest) else Digest.parse(other)
        return self.algorithm == other_digest.algorithm and hmac.compare_digest(
            self.hex, other_digest.hex
        )


def parse_digest(text: str) -> Digest:
    """The Digest in `text`, or InvalidDigest with a message saying what is wrong."""
    return Digest.parse(text)


class Hasher:
    """An incremental digest of bytes as they stream past, counting them too."""

    def __init__(self, algorithm: str = SHA256) -> None:
        if algorithm not in _HEX_LENGTHS:
            raise InvalidDigest(f"cannot compute digests with algorithm {algorithm!r}")
        self.algorithm = algorithm
        self._hash = hashlib.new(algorithm)
        self.size = 0

    def update(self, data: bytes) -> None:
        self._hash.update(data)
        self.size += len(data)

    def digest(self) -> Digest:
        return Digest(self.algorithm, self._hash.hexdigest())


def stream_digest(stream: BinaryIO, algorithm: str = SHA256) -> Digest:
    """Digest of everything left to read in a binary stream, in constant memory."""
    hasher = Hasher(algorithm)
    while chunk := stream.read(CHUNK_SIZE):
        hasher.update(chunk)
    return hasher.digest()


def file_digest(path: Path, algorithm: str = SHA256) -> Digest:
    """Digest of a file's bytes."""
    with path.open("rb") as stream:
        return stream_digest(stream, algorithm)


def bytes_digest(data: bytes, algorithm: str = SHA256) -> Digest:
    hasher = Hasher(algorithm)
    hasher.update(data)
    return hasher.digest()


def index_digest(index: Mapping[str, str], algorithm: str = SHA256) -> Digest:
    """Digest of a key/value index, as Flux names a Bucket's revision.

    One `<key> <value>\\n` line per entry, keys in byte order (for UTF-8 text,
    code point order is the same), hashed together: the same objects with the
    same etags give the same revision, whatever order the server listed them in.
    """
    hasher = Hasher(algorithm)
    for key in sorted(index):
        hasher.update(f"{key} {index[key]}\n".encode())
    return hasher.digest()


@dataclass(frozen=True)
class Revision:
    """A Flux revision: an optional name (branch, tag, ref) and the digest it points at.

    `main@sha1:<40 hex>` for a branch head, `v1.0@sha1:…` for a tag, `sha1:…` for
    a bare commit, `sha256:…` for content-addressed sources such as Buckets.
    """

    name: str | None
    digest: Digest

    def __str__(self) -> str:
        return f"{self.name}@{self.digest}" if self.name else str(self.digest)

    @classmethod
    def parse(cls, text: str) -> Revision:
        name, sep, rest = text.rpartition("@")
        if not sep:
            return cls(None, Digest.parse(text))
        if not name:
            raise InvalidDigest(f"revision {text!r} has an empty name before '@'")
        return cls(name, Digest.parse(rest))


def parse_revision(text: str) -> Revision:
    """The Revision in `text`; accepts Flux's pre-v1 `main/<sha>` form too."""
    legacy = _LEGACY_GIT.fullmatch(text)
    if legacy is not None:
        return Revision(legacy["name"], Digest("sha1", legacy["hex"]))
    return Revision.parse(text)


def git_revision(ref: str | None, commit: str) -> str:
    """Flux's revision of a Git commit: `main@sha1:<hex>`, or `sha1:<hex>` without a ref.

    A `refs/heads/` prefix is dropped, as Flux names branches by their short name;
    other refs (`refs/pull/1/head`) keep their full name.
    """
    commit = commit.lower()
    algorithm = "sha256" if len(commit) == 64 else "sha1"
    digest = Digest.parse(f"{algorithm}:{commit}")
    name = ref
    if name is not None:
        for prefix in ("refs/heads/", "refs/tags/"):
            if name.startswith(prefix):
                name = name[len(prefix) :]
                break
    return str(Revision(name or None, digest))


def same_revision(a: str, b: str) -> bool:
    """Whether two revision strings name the same content, across old and new formats.

    Flux compares the digest part only when one side has no name, so that a
    consumer that recorded `sha1:<hex>` still matches `main@sha1:<hex>`.
    """
    try:
        left, right = parse_revision(a), parse_revision(b)
    except InvalidDigest:
        return a == b
    if left.name and right.name and left.name != right.name:
        return False
    return left.digest == right.digest
