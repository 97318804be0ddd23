"""The errors an artifact can raise, each carrying a message a person can act on.

Controllers turn these into Ready=False conditions and Events, so the type says
what went wrong and the message says what to check.
"""

from __future__ import annotations


class ArtifactError(Exception):
    """Base class: something about an artifact could not be built, fetched or used."""


class InvalidDigest(ArtifactError):
    """A digest or revision string is not in a format eddy understands."""


class DigestMismatch(ArtifactError):
    """The bytes received do not have the digest the source published."""

    def __init__(self, url: str, expected: str, actual: str) -> None:
        super().__init__(
            f"artifact {url} has digest {actual} but the source published {expected}; "
            "the artifact changed or was corrupted in transit, it will be fetched "
            "again at the next reconcile"
        )
        self.url = url
        self.expected = expected
        self.actual = actual


class ArtifactFetchError(ArtifactError):
    """The artifact could not be downloaded (network, server error, bad status)."""


class ArtifactNotFound(ArtifactFetchError):
    """The artifact server answered 404: the source has not (yet) stored it."""


class UnsafeArchive(ArtifactError):
    """The archive holds an entry that would write outside its target, or a device."""


class ArchiveTooLarge(UnsafeArchive):
    """The archive is bigger than the configured limit."""


class InputTooLarge(ArtifactError):
    """A response, a stream or a decompressed record is bigger than its limit."""
