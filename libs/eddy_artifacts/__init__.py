"""The artifact format that sources publish and consumers fetch.

Build, digest, verify and safely extract tar.gz artifacts in one place.
"""

from eddy_artifacts.archive import ArchiveInfo, build_archive, build_archive_async
from eddy_artifacts.digest import (
    Digest,
    Revision,
    file_digest,
    git_revision,
    parse_digest,
    parse_revision,
    same_revision,
)
from eddy_artifacts.errors import (
    ArchiveTooLarge,
    ArtifactError,
    ArtifactFetchError,
    ArtifactNotFound,
    DigestMismatch,
    InvalidDigest,
    UnsafeArchive,
)
from eddy_artifacts.extract import DEFAULT_MAX_SIZE, extract_archive, extract_archive_async
from eddy_artifacts.fetch import FetchedArtifact, fetch_artifact
from eddy_artifacts.ignore import IgnoreRules, parse_patterns, source_ignore_rules
from eddy_artifacts.limits import ArchiveLimits, archive_limits

__all__ = [
    "DEFAULT_MAX_SIZE",
    "ArchiveInfo",
    "ArchiveLimits",
    "ArchiveTooLarge",
    "ArtifactError",
    "ArtifactFetchError",
    "ArtifactNotFound",
    "Digest",
    "DigestMismatch",
    "FetchedArtifact",
    "IgnoreRules",
    "InvalidDigest",
    "Revision",
    "UnsafeArchive",
    "archive_limits",
    "build_archive",
    "build_archive_async",
    "extract_archive",
    "extract_archive_async",
    "fetch_artifact",
    "file_digest",
    "git_revision",
    "parse_digest",
    "parse_patterns",
    "parse_revision",
    "same_revision",
    "source_ignore_rules",
]
