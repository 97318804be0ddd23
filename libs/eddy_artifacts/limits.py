"""How much an archive or a download may hold: bytes, entries, header bytes, path shape.

Every input a tenant controls is bounded before it is read into memory; the limits
live here once so the extractor, the fetcher and the controllers quote the same
numbers, and one flag changes them for a whole process.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, replace

# Flux refuses to untar more than 100 MiB unless told otherwise; so do we.
DEFAULT_MAX_SIZE = 100 << 20
DEFAULT_MAX_ENTRIES = 50_000


@dataclass(frozen=True)
class ArchiveLimits:
    """What one archive may hold; a crafted archive past any of them is refused."""

    # Bytes of file content once unpacked (None: no limit).
    max_size: int | None = DEFAULT_MAX_SIZE
    # Entries of any kind: files, directories, links.
    max_entries: int = DEFAULT_MAX_ENTRIES
    # GNU long name/link and PAX records before one entry, read into memory whole.
    max_entry_header_bytes: int = 64 << 10
    # The same, summed over the archive.
    max_header_bytes: int = 16 << 20
    # A path (or a link target) in characters, and its number of components.
    max_path_length: int = 4096
    max_path_depth: int = 64
    # One path component, in UTF-8 bytes (Linux's NAME_MAX).
    max_name_bytes: int = 255


_configured = ArchiveLimits()


def archive_limits(max_size: int | None = DEFAULT_MAX_SIZE) -> ArchiveLimits:
    """The process's limits (as set by the flags), with this size limit."""
    return replace(_configured, max_size=max_size)


def configure(limits: ArchiveLimits) -> None:
    """Set the process-wide limits; called once at start from the flags."""
    global _configured
    _configured = limits


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive number")
    return value


def add_flags(parser: argparse.ArgumentParser) -> None:
    """The flags that set these limits; shared by every controller that extracts."""
    parser.add_argument(
        "--artifact-max-entries",
        type=_positive,
        default=DEFAULT_MAX_ENTRIES,
        metavar="N",
        help="The most entries (files, directories, links) an artifact or chart archive "
        f"may hold; larger archives are refused. (default {DEFAULT_MAX_ENTRIES})",
    )


def configure_from(args: argparse.Namespace) -> None:
    configure(replace(_configured, max_entries=args.artifact_max_entries))
