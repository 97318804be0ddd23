"""Safe extraction of a tar.gz artifact into a directory.

An artifact comes over the network from another process; whatever it holds, it
must never write outside its target directory, create devices or fill the disk.
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

from eddy_artifacts.errors import ArchiveTooLarge, ArtifactError, UnsafeArchive

# Flux refuses to untar more than 100 MiB unless told otherwise; so do we.
DEFAULT_MAX_SIZE = 100 << 20
_BUFFER = 1 << 16


def _human(size: int) -> str:
    return f"{size / (1 << 20):.1f} MiB" if size >= 1 << 20 else f"{size} bytes"


def _member_parts(name: str, what: str) -> tuple[str, ...]:
    """The path components of an archive name, refusing anything that could escape."""
    if "\x00" in name:
        raise UnsafeArchive(f"{what} {name!r} contains a NUL byte")
    if name.startswith("/") or PurePosixPath(name).is_absolute():
        raise UnsafeArchive(
            f"{what} {name!r} is an absolute path; artifact entries must be relative"
        )
    if "\\" in name:
        # Windows-made archives could smuggle '..\\' past a '/' split.
        raise UnsafeArchive(f"{what} {name!r} contains a backslash")
    parts = tuple(p for p in name.split("/") if p not in ("", "."))
    if ".." in parts:
        raise UnsafeArchive(f"{what} {name!r} has a '..' component that leaves the target")
    return parts


class _Extractor:
    def __init__(self, dest: Path, max_size: int | None) -> None:
        self.dest = dest
        self.real_dest = Path(os.path.realpath(dest))
        self.max_size = max_size
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
                    f"entry {name!r} would be written through the symlink "
                    f"{current.relative_to(self.dest)}; refusing to follow links while extracting"
                )
            if not stat.S_ISDIR(st.st_mode):
                raise UnsafeArchive(
                    f"entry {name!r} needs {current.relative_to(self.dest)} to be a directory, "
                    "but the archive made it a file"
                )
        return current

    def _target(self, parts: tuple[str, ...], name: str) -> Path:
        if not parts:
            raise UnsafeArchive(f"entry {name!r} names the target directory itself")
        parent = self._directory(parts[:-1], name)
        target = parent / parts[-1]
        with contextlib.suppress(FileNotFoundError):
            if stat.S_ISDIR(target.lstat().st_mode):
                raise UnsafeArchive(f"entry {name!r} would replace a directory")
            # A later entry replaces an earlier one, as tar does; unlink first
            # so an earlier symlink at this name is replaced, not followed.
            target.unlink()
        return target

    def _count(self, member: tarfile.TarInfo) -> None:
        self.total += member.size
        if self.max_size is not None and self.total > self.max_size:
            raise ArchiveTooLarge(
                f"archive expands to more than {_human(self.max_size)} (at entry "
                f"{member.name!r}); raise the artifact size limit if this source is "
                "meant to be this large, or exclude large files with .sourceignore"
            )

    def member(self, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        name = member.name
        parts = _member_parts(name, "entry")
        if member.isdir():
            if parts:
                self._directory(parts, name)
        elif member.isreg():
            self._count(member)
            target = self._target(parts, name)
            source = tar.extractfile(member)
            if source is None:
                raise UnsafeArchive(f"entry {name!r} has no data")
            mode = 0o755 if member.mode & 0o111 else 0o644
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
            with os.fdopen(fd, "wb") as out:
                shutil.copyfileobj(source, out, _BUFFER)
            self.files.add(parts)
        elif member.issym():
            link = member.linkname
            if link.startswith("/"):
                raise UnsafeArchive(
                    f"symlink {name!r} points at the absolute path {link!r}, outside the target"
                )
            _check_symlink_lexically(parts, link, name)
            target = self._target(parts, name)
            os.symlink(link, target)
            self.files.discard(parts)
            self.links.append((target, name))
        elif member.islnk():
            link_parts = _member_parts(member.linkname, f"hardlink {name!r} to")
            if link_parts not in self.files:
                raise UnsafeArchive(
                    f"hardlink {name!r} points at {member.linkname!r}, which is not a file "
                    "extracted earlier from this archive"
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
            raise UnsafeArchive(f"entry {name!r} is {kind}; artifacts hold files only")

    def verify_links(self) -> None:
        # Checked once everything exists: a link can be harmless when written
        # and escape through a link created after it.
        for path, name in self.links:
            resolved = Path(os.path.realpath(path))
            if resolved != self.real_dest and self.real_dest not in resolved.parents:
                raise UnsafeArchive(
                    f"symlink {name!r} resolves to a location outside the target directory"
                )


def _check_symlink_lexically(parts: tuple[str, ...], link: str, name: str) -> None:
    depth = len(parts) - 1
    for component in link.split("/"):
        if component == "..":
            depth -= 1
            if depth < 0:
                raise UnsafeArchive(
                    f"symlink {name!r} points at {link!r}, which leaves the target directory"
                )
        elif component not in ("", "."):
            depth += 1


def extract_archive(archive: Path, dest: Path, max_size: int | None = DEFAULT_MAX_SIZE) -> int:
    """Extract a tar.gz into dest (created if missing, must be empty); returns bytes written.

    Refuses absolute paths, '..', links that leave dest, devices and pipes, and
    archives that expand beyond max_size bytes (None: no limit). On any error
    dest is left empty, so a half-extracted tree is never used.
    """
    dest.mkdir(parents=True, exist_ok=True)
    if any(dest.iterdir()):
        raise ArtifactError(f"cannot extract into {dest}: the directory is not empty")
    extractor = _Extractor(dest, max_size)
    try:
        # Stream mode reads the archive once, front to back, in constant memory.
        # gzip.GzipFile rather than tarfile's own "r|gz": that one misreads a gzip
        # header with an extra field, which `helm package` always writes.
        with (
            gzip.GzipFile(archive, mode="rb") as unzipped,
            tarfile.open(fileobj=unzipped, mode="r|", bufsize=_BUFFER) as tar,
        ):
            for member in tar:
                extractor.member(tar, member)
        extractor.verify_links()
    except (tarfile.TarError, EOFError, gzip.BadGzipFile, zlib.error) as err:
        _empty(dest)
        raise UnsafeArchive(f"{archive.name} is not a valid tar.gz archive: {err}") from err
    except OSError as err:
        _empty(dest)
        raise ArtifactError(f"cannot extract {archive.name} into {dest}: {err}") from err
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
    archive: Path, dest: Path, max_size: int | None = DEFAULT_MAX_SIZE
) -> int:
    """extract_archive in a worker thread, so the event loop keeps running."""
    return await asyncio.to_thread(extract_archive, archive, dest, max_size)
