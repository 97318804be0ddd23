"""Safe extraction of a tar.gz artifact into a directory.

An artifact comes over the network from another process; whatever it holds, it
must never write outside its target directory, create devices, fill the disk or
the memory: every header is weighed against ArchiveLimits before it is read.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import os
import shutil
import stat
import tarfile
import zlib
from pathlib import Path, PurePosixPath
from typing import Any

from eddy_artifacts.errors import ArchiveTooLarge, ArtifactError, UnsafeArchive
from eddy_artifacts.limits import DEFAULT_MAX_SIZE, ArchiveLimits, archive_limits

__all__ = ["DEFAULT_MAX_SIZE", "extract_archive", "extract_archive_async"]

_BUFFER = 1 << 16
# Headers that describe the next entry (GNU long name and link, PAX records): tarfile
# reads each into memory whole, so each is weighed before it is read.
_EXTENDED = (
    tarfile.GNUTYPE_LONGNAME,
    tarfile.GNUTYPE_LONGLINK,
    tarfile.XHDTYPE,
    tarfile.XGLTYPE,
    tarfile.SOLARIS_XHDTYPE,
)
# More than any real archive writes before one entry (a long name, a long link,
# a PAX record, a global PAX record).
_MAX_EXTENDED_PER_ENTRY = 8


def _human(size: int) -> str:
    return f"{size / (1 << 20):.1f} MiB" if size >= 1 << 20 else f"{size} bytes"


def _shown(name: str, limit: int = 80) -> str:
    """A name for a message: quoted, and cut short so a crafted name cannot flood it."""
    if len(name) <= limit:
        return repr(name)
    return f"{name[:limit]!r}... ({len(name)} characters)"


class _Budget:
    """Counts entries and header bytes as tarfile reads them, refusing past the limits."""

    def __init__(self, limits: ArchiveLimits) -> None:
        self.limits = limits
        self.entries = 0
        self.header_bytes = 0
        self.entry_header_bytes = 0
        self.extended = 0

    def weigh(self, info: tarfile.TarInfo) -> None:
        limits = self.limits
        if info.size < 0:
            raise UnsafeArchive("an entry header declares a negative size")
        if info.type in _EXTENDED:
            # The 512-byte block counts too, so a chain of empty headers is bounded.
            cost = tarfile.BLOCKSIZE + info.size
            self.extended += 1
            self.entry_header_bytes += cost
            self.header_bytes += cost
            if self.entry_header_bytes > limits.max_entry_header_bytes:
                raise UnsafeArchive(
                    f"an entry has {_human(self.entry_header_bytes)} or more of long-name or "
                    f"PAX headers; at most {_human(limits.max_entry_header_bytes)} are read"
                )
            if self.extended > _MAX_EXTENDED_PER_ENTRY:
                raise UnsafeArchive(
                    f"an entry has more than {_MAX_EXTENDED_PER_ENTRY} long-name or PAX headers"
                )
            if self.header_bytes > limits.max_header_bytes:
                raise UnsafeArchive(
                    "the archive's long-name and PAX headers add up to more than "
                    f"{_human(limits.max_header_bytes)}"
                )
            return
        if info.type == tarfile.GNUTYPE_SPARSE:
            raise _sparse()
        self.extended = 0
        self.entry_header_bytes = 0
        self.entries += 1
        if self.entries > limits.max_entries:
            raise ArchiveTooLarge(
                f"archive holds more than {limits.max_entries} entries; raise "
                "--artifact-max-entries if this source is meant to be this large, or exclude "
                "files with .sourceignore"
            )


def _sparse() -> UnsafeArchive:
    return UnsafeArchive("archive holds a sparse file; artifacts hold plain files only")


def _bounded_info(budget: _Budget) -> type[tarfile.TarInfo]:
    """A TarInfo class whose headers are weighed by budget before tarfile reads on."""

    class BoundedInfo(tarfile.TarInfo):
        # tarfile's documented hook for subclasses: it dispatches every header here
        # before reading what the header announces.
        def _proc_member(self, tar: tarfile.TarFile) -> Any:
            budget.weigh(self)
            return super()._proc_member(tar)  # type: ignore[misc]

        # PAX sparse maps are read from the data area in a loop of their own.
        def _proc_gnusparse_00(self, *args: Any) -> None:
            raise _sparse()

        def _proc_gnusparse_01(self, *args: Any) -> None:
            raise _sparse()

        def _proc_gnusparse_10(self, *args: Any) -> None:
            raise _sparse()

    return BoundedInfo


def _member_parts(name: str, what: str, limits: ArchiveLimits) -> tuple[str, ...]:
    """The path components of an archive name, refusing anything that could escape."""
    if len(name) > limits.max_path_length:
        raise UnsafeArchive(
            f"{what} {_shown(name)} is longer than {limits.max_path_length} characters"
        )
    name_repr = _shown(name)
    if "\x00" in name:
        raise UnsafeArchive(f"{what} {name_repr} contains a NUL byte")
    if name.startswith("/") or PurePosixPath(name).is_absolute():
        raise UnsafeArchive(
            f"{what} {name_repr} is an absolute path; artifact entries must be relative"
        )
    if "\\" in name:
        # Windows-made archives could smuggle '..\\' past a '/' split.
        raise UnsafeArchive(f"{what} {name_repr} contains a backslash")
    parts = tuple(p for p in name.split("/") if p not in ("", "."))
    if ".." in parts:
        raise UnsafeArchive(f"{what} {name_repr} has a '..' component that leaves the target")
    if len(parts) > limits.max_path_depth:
        raise UnsafeArchive(
            f"{what} {name_repr} is more than {limits.max_path_depth} directories deep"
        )
    for part in parts:
        if len(part.encode("utf-8", "surrogateescape")) > limits.max_name_bytes:
            raise UnsafeArchive(
                f"{what} {name_repr} has a component longer than {limits.max_name_bytes} bytes"
            )
    return parts


class _Extractor:
    def __init__(self, dest: Path, limits: ArchiveLimits) -> None:
        self.dest = dest
        self.real_dest = Path(os.path.realpath(dest))
        self.limits = limits
        self.max_size = limits.max_size
        self.total = 0
        self.files: set[tuple[str, ...]] = set()
        self.links: list[tuple[Path, str]] = []

    def _directory(self, parts: tuple[str, ...], name: str) -> Path:
        """Create the directory at parts, never following a symlink on the way."""
        current = self.dest
        for part in parts:
            current = current / part
            try:
                st = current.lstat()
            except FileNotFoundError:
                current.mkdir(mode=0o755)
                continue
            if stat.S_ISLNK(st.st_mode):
                raise UnsafeArchive(
                    f"entry {_shown(name)} would be written through the symlink "
                    f"{current.relative_to(self.dest)}; refusing to follow links while extracting"
                )
            if not stat.S_ISDIR(st.st_mode):
                raise UnsafeArchive(
                    f"entry {_shown(name)} needs {current.relative_to(self.dest)} to be a "
                    "directory, but the archive made it a file"
                )
        return current

    def _target(self, parts: tuple[str, ...], name: str) -> Path:
        if not parts:
            raise UnsafeArchive(f"entry {_shown(name)} names the target directory itself")
        parent = self._directory(parts[:-1], name)
        target = parent / parts[-1]
        with contextlib.suppress(FileNotFoundError):
            if stat.S_ISDIR(target.lstat().st_mode):
                raise UnsafeArchive(f"entry {_shown(name)} would replace a directory")
            # A later entry replaces an earlier one, as tar does; unlink first
            # so an earlier symlink at this name is replaced, not followed.
            target.unlink()
        return target

    def _count(self, member: tarfile.TarInfo) -> None:
        # Checked before a byte of the entry is read: its header declares its size.
        self.total += member.size
        if self.max_size is not None and self.total > self.max_size:
            raise ArchiveTooLarge(
                f"archive expands to more than {_human(self.max_size)} (at entry "
                f"{_shown(member.name)}); raise the artifact size limit if this source is "
                "meant to be this large, or exclude large files with .sourceignore"
            )

    def member(self, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        name = member.name
        parts = _member_parts(name, "entry", self.limits)
        if member.isdir():
            if parts:
                self._directory(parts, name)
        elif member.isreg():
            self._count(member)
            target = self._target(parts, name)
            source = tar.extractfile(member)
            if source is None:
                raise UnsafeArchive(f"entry {_shown(name)} has no data")
            mode = 0o755 if member.mode & 0o111 else 0o644
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
            with os.fdopen(fd, "wb") as out:
                shutil.copyfileobj(source, out, _BUFFER)
            self.files.add(parts)
        elif member.issym():
            link = member.linkname
            if len(link) > self.limits.max_path_length:
                raise UnsafeArchive(
                    f"symlink {_shown(name)} points at a path longer than "
                    f"{self.limits.max_path_length} characters"
                )
            if link.startswith("/"):
                raise UnsafeArchive(
                    f"symlink {_shown(name)} points at the absolute path {_shown(link)}, "
                    "outside the target"
                )
            _check_symlink_lexically(parts, link, name)
            target = self._target(parts, name)
            os.symlink(link, target)
            self.files.discard(parts)
            self.links.append((target, name))
        elif member.islnk():
            link_parts = _member_parts(member.linkname, f"hardlink {_shown(name)} to", self.limits)
            if link_parts not in self.files:
                raise UnsafeArchive(
                    f"hardlink {_shown(name)} points at {_shown(member.linkname)}, which is not "
                    "a file extracted earlier from this archive"
                )
            source_path = self.dest.joinpath(*link_parts)
            target = self._target(parts, name)
            os.link(source_path, target, follow_symlinks=False)
            self.files.add(parts)
        else:
            kind = {
                tarfile.CHRTYPE: "a character device",
                tarfile.BLKTYPE: "a block device",
                tarfile.FIFOTYPE: "a named pipe",
            }.get(member.type, f"an unsupported entry type ({member.type!r})")
            raise UnsafeArchive(f"entry {_shown(name)} is {kind}; artifacts hold files only")

    def verify_links(self) -> None:
        # Checked once everything exists: a link can be harmless when written
        # and escape through a link created after it.
        for path, name in self.links:
            resolved = Path(os.path.realpath(path))
            if resolved != self.real_dest and self.real_dest not in resolved.parents:
                raise UnsafeArchive(
                    f"symlink {_shown(name)} resolves to a location outside the target directory"
                )


def _check_symlink_lexically(parts: tuple[str, ...], link: str, name: str) -> None:
    depth = len(parts) - 1
    for component in link.split("/"):
        if component == "..":
            depth -= 1
            if depth < 0:
                raise UnsafeArchive(
                    f"symlink {_shown(name)} points at {_shown(link)}, which leaves the "
                    "target directory"
                )
        elif component not in ("", "."):
            depth += 1


def extract_archive(
    archive: Path,
    dest: Path,
    max_size: int | None = DEFAULT_MAX_SIZE,
    *,
    limits: ArchiveLimits | None = None,
) -> int:
    """Extract a tar.gz into dest (created if missing, must be empty); returns bytes written.

    Refuses absolute paths, '..', links that leave dest, devices and pipes, sparse
    files, and archives past `limits` (default: the process's limits with max_size
    bytes of content, None for no size limit). On any error dest is left empty, so
    a half-extracted tree is never used.
    """
    limits = limits or archive_limits(max_size)
    dest.mkdir(parents=True, exist_ok=True)
    if any(dest.iterdir()):
        raise ArtifactError(f"cannot extract into {dest}: the directory is not empty")
    extractor = _Extractor(dest, limits)
    budget = _Budget(limits)
    try:
        # Stream mode reads the archive once, front to back, in constant memory.
        # gzip.GzipFile rather than tarfile's own "r|gz": that one misreads a gzip
        # header with an extra field, which `helm package` always writes.
        with (
            gzip.GzipFile(archive, mode="rb") as unzipped,
            tarfile.open(
                fileobj=unzipped, mode="r|", bufsize=_BUFFER, tarinfo=_bounded_info(budget)
            ) as tar,
        ):
            while (member := tar.next()) is not None:
                # tarfile keeps every member it read; in stream mode nothing needs
                # them again, and 50,000 of them would be tens of MiB.
                tar.members.clear()  # type: ignore[attr-defined]
                extractor.member(tar, member)
        extractor.verify_links()
    except (tarfile.TarError, EOFError, gzip.BadGzipFile, zlib.error) as err:
        _empty(dest)
        raise UnsafeArchive(
            f"{archive.name} is not a valid tar.gz archive: {_shown(str(err), 200)}"
        ) from err
    except RecursionError as err:
        _empty(dest)
        raise UnsafeArchive(f"{archive.name} nests its headers too deeply") from err
    except OSError as err:
        _empty(dest)
        raise ArtifactError(
            f"cannot extract {archive.name} into {dest}: {err.strerror or type(err).__name__}"
        ) from err
    except BaseException:
        _empty(dest)
        raise
    return extractor.total


def _empty(directory: Path) -> None:
    for child in directory.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                child.unlink()


async def extract_archive_async(
    archive: Path,
    dest: Path,
    max_size: int | None = DEFAULT_MAX_SIZE,
    *,
    limits: ArchiveLimits | None = None,
) -> int:
    """extract_archive in a worker thread, so the event loop keeps running."""
    return await asyncio.to_thread(extract_archive, archive, dest, max_size, limits=limits)
