"""Deterministic tar.gz artifacts built from a directory tree.

The same tree must give the same bytes, hence the same digest, on every build and
every machine, so consumers only see a new revision when the content changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import os
import stat
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from eddy_artifacts.digest import Digest, Hasher
from eddy_artifacts.errors import ArtifactError

# Decides whether an entry (path relative to the root, '/'-separated) is left out;
# IgnoreRules.ignored fits.
IgnoreFilter = Callable[[str, bool], bool]

# Level 6 is zlib's default: level 9 costs much more CPU for a few percent.
COMPRESS_LEVEL = 6
_BUFFER = 1 << 16


@dataclass(frozen=True)
class ArchiveInfo:
    """What a build produced: where, its digest and its size in bytes."""

    path: Path
    digest: Digest
    size: int


class _HashingWriter:
    """A write-only file object that digests and counts what passes through."""

    def __init__(self, target: BinaryIO) -> None:
        self._target = target
        self.hasher = Hasher()

    def write(self, data: bytes) -> int:
        self.hasher.update(data)
        return self._target.write(data)

    def flush(self) -> None:
        self._target.flush()


def iter_files(root: Path, ignore: IgnoreFilter | None = None) -> Iterator[tuple[str, Path]]:
    """Regular files under root in a stable order, as (archive name, path).

    Directories are visited in sorted order and ignored directories are not
    entered. Symlinks, devices and sockets are skipped, as Flux does: an artifact
    holds plain files only.
    """

    def walk(directory: Path, prefix: str) -> Iterator[tuple[str, Path]]:
        with os.scandir(directory) as scan:
            entries = sorted(scan, key=lambda e: e.name.encode("utf-8", "surrogateescape"))
        for entry in entries:
            name = f"{prefix}{entry.name}"
            if entry.is_dir(follow_symlinks=False):
                if ignore is None or not ignore(name, True):
                    yield from walk(Path(entry.path), name + "/")
            elif entry.is_file(follow_symlinks=False) and (
                ignore is None or not ignore(name, False)
            ):
                yield name, Path(entry.path)

    yield from walk(root, "")


def _header(name: str, data: BinaryIO) -> tarfile.TarInfo:
    # Stat the open file, so size and content come from the same file even if
    # the path is replaced meanwhile.
    info = tarfile.TarInfo(name)
    st = os.fstat(data.fileno())
    info.size = st.st_size
    info.mode = 0o755 if st.st_mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH) else 0o644
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.type = tarfile.REGTYPE
    return info


def write_archive(root: Path, out: BinaryIO, ignore: IgnoreFilter | None = None) -> int:
    """Write the tar.gz of root's files to an open binary stream; returns the file count."""
    count = 0
    # No file name and mtime 0 in the gzip header: both would differ per build.
    with (
        gzip.GzipFile(
            filename="", mode="wb", fileobj=out, mtime=0, compresslevel=COMPRESS_LEVEL
        ) as gz,
        tarfile.open(fileobj=gz, mode="w|", format=tarfile.PAX_FORMAT, bufsize=_BUFFER) as tar,
    ):
        for name, path in iter_files(root, ignore):
            with path.open("rb") as data:
                tar.addfile(_header(name, data), data)
            count += 1
    return count


def build_archive(root: Path, dest: Path, ignore: IgnoreFilter | None = None) -> ArchiveInfo:
    """Build the artifact of root into dest, atomically; blocking, use build_archive_async.

    The archive is written to a temporary file beside dest and renamed, so a
    reader of dest never sees half an artifact.
    """
    if not root.is_dir():
        raise ArtifactError(f"cannot archive {root}: it is not a directory")
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".tmp-", suffix=".tar.gz", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as raw:
            writer = _HashingWriter(raw)
            write_archive(root, writer, ignore)  # type: ignore[arg-type]
            raw.flush()
            os.fsync(raw.fileno())
        tmp.chmod(0o644)
        tmp.replace(dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    return ArchiveInfo(dest, writer.hasher.digest(), writer.hasher.size)


async def build_archive_async(
    root: Path, dest: Path, ignore: IgnoreFilter | None = None
) -> ArchiveInfo:
    """build_archive in a worker thread, so the event loop keeps running."""
    return await asyncio.to_thread(build_archive, root, dest, ignore)
