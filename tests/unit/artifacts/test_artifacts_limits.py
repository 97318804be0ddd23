"""Crafted archives that aim at memory or the inode table are refused, within bounded memory.

The hostile archives are written streaming (a header, then data in chunks), so
the test itself never holds them in memory; the extraction runs in a fresh
interpreter whose peak RSS is read before and after.
"""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from eddy_artifacts.errors import ArchiveTooLarge, UnsafeArchive
from eddy_artifacts.extract import extract_archive
from eddy_artifacts.limits import ArchiveLimits

MiB = 1 << 20
# Peak memory an extraction may add while refusing a crafted archive.
RSS_BUDGET = 50 * MiB


def _header(name: str, kind: bytes, size: int = 0, link: str = "") -> bytes:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = size
    info.linkname = link
    info.mode = 0o644
    # ustar: never lets tarfile add long-name or PAX headers of its own.
    return info.tobuf(format=tarfile.USTAR_FORMAT)


def _padding(size: int) -> bytes:
    return b"\0" * (-size % tarfile.BLOCKSIZE)


def _write(path: Path, blocks: Iterator[bytes]) -> Path:
    # Level 1: the crafted data is one repeated byte, any level shrinks it a thousandfold.
    with gzip.open(path, "wb", compresslevel=1) as out:
        for block in blocks:
            out.write(block)
        out.write(b"\0" * 2 * tarfile.BLOCKSIZE)
    return path


def long_header_archive(path: Path, kind: bytes, size: int) -> Path:
    """One extended header (GNU long name or PAX) of `size` bytes, then a file."""

    def blocks() -> Iterator[bytes]:
        yield _header("././@LongLink", kind, size)
        chunk = b"a" * MiB
        left = size
        while left > 0:
            yield chunk[: min(left, MiB)]
            left -= MiB
        yield _padding(size)
        yield _header("file", tarfile.REGTYPE)

    return _write(path, blocks())


def many_entries_archive(path: Path, count: int) -> Path:
    """`count` entries, each the directory `d` again.

    What is measured is what tarfile and the extractor keep per entry, not how fast
    the filesystem creates inodes: a directory entry that exists already costs no
    system call beyond an lstat, so the refusal comes quickly after the limit.
    """
    block = _header("d", tarfile.DIRTYPE)
    return _write(path, (block for _ in range(count)))


_MEASURE = """
import json, sys
from pathlib import Path
from eddy_artifacts.errors import ArtifactError
from eddy_artifacts.extract import extract_archive

def status(key):
    with open("/proc/self/status") as lines:
        for line in lines:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024

# Reset the peak (VmHWM) to the current size, so imports do not count.
with open("/proc/self/clear_refs", "w") as clear:
    clear.write("5")
before = status("VmRSS")
try:
    extract_archive(Path(sys.argv[1]), Path(sys.argv[2]))
    outcome = {"error": None}
except ArtifactError as err:
    outcome = {"error": str(err), "type": type(err).__name__}
outcome["growth"] = status("VmHWM") - before
print(json.dumps(outcome))
"""


def extract_measured(archive: Path, dest: Path) -> dict[str, object]:
    """Extract in a fresh interpreter; its error, type and peak RSS growth in bytes."""
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(archive), str(dest)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result: dict[str, object] = json.loads(done.stdout)
    return result


@pytest.mark.parametrize(
    ("kind", "what"), [(tarfile.GNUTYPE_LONGNAME, "GNU long name"), (tarfile.XHDTYPE, "PAX")]
)
def test_a_200_mib_extended_header_is_refused_in_bounded_memory(
    tmp_path: Path, kind: bytes, what: str
) -> None:
    archive = long_header_archive(tmp_path / "long.tar.gz", kind, 200 * MiB)
    started = time.monotonic()
    outcome = extract_measured(archive, tmp_path / "out")
    assert outcome["type"] == "UnsafeArchive", (what, outcome)
    message = str(outcome["error"])
    assert "long-name or PAX headers" in message
    assert len(message) < 300 and "aaaaaaaa" not in message
    assert isinstance(outcome["growth"], int) and outcome["growth"] < RSS_BUDGET, outcome
    print(f"{what}: refused, peak RSS growth {outcome['growth'] / MiB:.2f} MiB")
    assert time.monotonic() - started < 20
    assert list((tmp_path / "out").iterdir()) == []


def test_a_300000_entry_archive_is_refused_in_bounded_memory(tmp_path: Path) -> None:
    archive = many_entries_archive(tmp_path / "many.tar.gz", 300_000)
    outcome = extract_measured(archive, tmp_path / "out")
    assert outcome["type"] == "ArchiveTooLarge", outcome
    assert "more than 50000 entries" in str(outcome["error"])
    assert "--artifact-max-entries" in str(outcome["error"])
    assert isinstance(outcome["growth"], int) and outcome["growth"] < RSS_BUDGET, outcome
    print(f"300,000 entries: refused, peak RSS growth {outcome['growth'] / MiB:.2f} MiB")
    # Refused as a whole: nothing of it is left to be used.
    assert list((tmp_path / "out").iterdir()) == []


def test_the_entry_limit_counts_every_kind_and_can_be_raised(tmp_path: Path) -> None:
    archive = _write(
        tmp_path / "a.tar.gz",
        iter([_header("d", tarfile.DIRTYPE), _header("d/f", tarfile.REGTYPE),
              _header("l", tarfile.SYMTYPE, link="d/f")]),
    )  # fmt: skip
    with pytest.raises(ArchiveTooLarge, match="more than 2 entries"):
        extract_archive(archive, tmp_path / "out", limits=ArchiveLimits(max_entries=2))
    extract_archive(archive, tmp_path / "out", limits=ArchiveLimits(max_entries=3))
    assert (tmp_path / "out/d/f").is_file()


def test_a_chain_of_empty_long_name_headers_is_refused(tmp_path: Path) -> None:
    blocks = [_header("././@LongLink", tarfile.GNUTYPE_LONGNAME)] * 5000
    archive = _write(tmp_path / "chain.tar.gz", iter([*blocks, _header("f", tarfile.REGTYPE)]))
    with pytest.raises(UnsafeArchive, match="long-name or PAX headers"):
        extract_archive(archive, tmp_path / "out")


def test_long_name_headers_add_up_across_the_archive(tmp_path: Path) -> None:
    def blocks() -> Iterator[bytes]:
        name = b"n" * 200
        for i in range(40):
            yield _header("././@LongLink", tarfile.GNUTYPE_LONGNAME, len(name))
            yield name + _padding(len(name))
            yield _header(f"f{i}", tarfile.REGTYPE)

    archive = _write(tmp_path / "sum.tar.gz", blocks())
    limits = ArchiveLimits(max_header_bytes=20 * 1024)
    with pytest.raises(UnsafeArchive, match="add up to more than"):
        extract_archive(archive, tmp_path / "out", limits=limits)


def test_sparse_files_are_refused(tmp_path: Path) -> None:
    archive = _write(tmp_path / "s.tar.gz", iter([_header("s", tarfile.GNUTYPE_SPARSE)]))
    with pytest.raises(UnsafeArchive, match="sparse"):
        extract_archive(archive, tmp_path / "out")


def _pax_archive(path: Path, name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> Path:
    with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(name)
        info.type = kind
        info.linkname = link
        tar.addfile(info, io.BytesIO(b""))
    return path


def test_path_length_depth_and_component_size_are_bounded(tmp_path: Path) -> None:
    cases = {
        "longer than 4096 characters": "a/" * 2100 + "f",
        "more than 64 directories deep": "d/" * 70 + "f",
        "component longer than 255 bytes": "x" * 300,
    }
    for i, (words, name) in enumerate(cases.items()):
        archive = _pax_archive(tmp_path / f"{i}.tar.gz", name)
        with pytest.raises(UnsafeArchive, match=words) as caught:
            extract_archive(archive, tmp_path / f"out{i}")
        # The message shows the start of the name and its length, never all of it.
        assert len(str(caught.value)) < 300
    link = _pax_archive(tmp_path / "link.tar.gz", "l", tarfile.SYMTYPE, "x/" * 3000)
    with pytest.raises(UnsafeArchive, match="longer than 4096"):
        extract_archive(link, tmp_path / "outlink")


def test_real_archives_are_well_within_the_limits(tmp_path: Path) -> None:
    name = "deep/" * 30 + "n" * 200 + ".yaml"
    archive = _pax_archive(tmp_path / "ok.tar.gz", name)
    extract_archive(archive, tmp_path / "out")
    assert (tmp_path / "out" / name).is_file()
