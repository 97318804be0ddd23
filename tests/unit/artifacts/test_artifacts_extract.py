"""Extraction refuses every way a crafted archive could reach outside its target.

Each test builds a hostile tarball by hand and checks that nothing escapes and
the error says what was wrong.
"""

from __future__ import annotations

import io
import tarfile
import zlib
from pathlib import Path

import pytest

from eddy_artifacts.errors import ArchiveTooLarge, ArtifactError, UnsafeArchive
from eddy_artifacts.extract import extract_archive

Entry = tuple[str, str, bytes | str]  # (type, name, data or link target)


def craft(path: Path, entries: list[Entry]) -> Path:
    with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        for kind, name, payload in entries:
            info = tarfile.TarInfo(name)
            if kind == "file":
                data = payload if isinstance(payload, bytes) else payload.encode()
                info.size = len(data)
                info.mode = 0o644
                tar.addfile(info, io.BytesIO(data))
                continue
            if kind == "dir":
                info.type = tarfile.DIRTYPE
            elif kind == "symlink":
                info.type = tarfile.SYMTYPE
                info.linkname = str(payload)
            elif kind == "hardlink":
                info.type = tarfile.LNKTYPE
                info.linkname = str(payload)
            elif kind == "chr":
                info.type = tarfile.CHRTYPE
                info.devmajor, info.devminor = 1, 3
            elif kind == "fifo":
                info.type = tarfile.FIFOTYPE
            tar.addfile(info)
    return path


@pytest.fixture
def target(tmp_path: Path) -> Path:
    # A sibling file the attacks aim at; it must never be touched.
    (tmp_path / "victim").write_text("original")
    return tmp_path / "out"


def assert_refused(tmp_path: Path, target: Path, entries: list[Entry], match: str) -> None:
    archive = craft(tmp_path / "evil.tar.gz", entries)
    with pytest.raises(UnsafeArchive, match=match):
        extract_archive(archive, target)
    assert (tmp_path / "victim").read_text() == "original"
    assert list(target.iterdir()) == []


def test_extracts_files_dirs_and_inner_links(tmp_path: Path, target: Path) -> None:
    archive = craft(
        tmp_path / "ok.tar.gz",
        [
            ("dir", "apps", b""),
            ("file", "apps/a.yaml", "a"),
            ("file", "./b.yaml", "b"),
            ("symlink", "apps/link.yaml", "a.yaml"),
            ("symlink", "apps/up.yaml", "../b.yaml"),
            ("hardlink", "apps/hard.yaml", "apps/a.yaml"),
        ],
    )
    size = extract_archive(archive, target)
    assert size == 2
    assert (target / "apps/a.yaml").read_text() == "a"
    assert (target / "apps/link.yaml").read_text() == "a"
    assert (target / "apps/up.yaml").read_text() == "b"
    assert (target / "apps/hard.yaml").read_text() == "a"


def test_refuses_absolute_paths(tmp_path: Path, target: Path) -> None:
    assert_refused(tmp_path, target, [("file", str(tmp_path / "victim"), "x")], "absolute")


def test_refuses_dot_dot(tmp_path: Path, target: Path) -> None:
    assert_refused(tmp_path, target, [("file", "../victim", "x")], r"'\.\.'")
    assert_refused(tmp_path, target, [("file", "a/../../victim", "x")], r"'\.\.'")


def test_refuses_backslash_paths(tmp_path: Path, target: Path) -> None:
    assert_refused(tmp_path, target, [("file", "..\\victim", "x")], "backslash")


def test_refuses_symlink_to_absolute_path(tmp_path: Path, target: Path) -> None:
    assert_refused(tmp_path, target, [("symlink", "l", str(tmp_path / "victim"))], "absolute")


def test_refuses_symlink_leaving_target(tmp_path: Path, target: Path) -> None:
    assert_refused(tmp_path, target, [("symlink", "a/l", "../../victim")], "leaves the target")


def test_refuses_writing_through_a_symlink(tmp_path: Path, target: Path) -> None:
    # The link itself stays inside, but a later entry must not follow any link.
    assert_refused(
        tmp_path,
        target,
        [("dir", "d", b""), ("symlink", "l", "d"), ("file", "l/x", "x")],
        "through the symlink",
    )


def test_refuses_link_chains_that_escape(tmp_path: Path, target: Path) -> None:
    # Harmless-looking at the time it is written; escapes once "b" exists.
    assert_refused(
        tmp_path,
        target,
        [("symlink", "a", "b/.."), ("symlink", "b", ".")],
        "outside the target",
    )


def test_refuses_overwriting_a_symlink_target(tmp_path: Path, target: Path) -> None:
    # An earlier symlink at the same name is replaced, never followed.
    archive = craft(
        tmp_path / "a.tar.gz",
        [("symlink", "f", "g"), ("file", "f", "data")],
    )
    extract_archive(archive, target)
    assert (target / "f").read_text() == "data"
    assert not (target / "f").is_symlink()
    assert not (target / "g").exists()


def test_refuses_hardlink_outside(tmp_path: Path, target: Path) -> None:
    assert_refused(tmp_path, target, [("hardlink", "h", "../victim")], r"'\.\.'")
    assert_refused(tmp_path, target, [("hardlink", "h", str(tmp_path / "victim"))], "absolute")
    assert_refused(tmp_path, target, [("hardlink", "h", "missing")], "not a file extracted")


def test_refuses_devices_and_fifos(tmp_path: Path, target: Path) -> None:
    assert_refused(tmp_path, target, [("chr", "null", b"")], "character device")
    assert_refused(tmp_path, target, [("fifo", "pipe", b"")], "named pipe")


def test_refuses_archives_over_the_limit(tmp_path: Path, target: Path) -> None:
    archive = craft(
        tmp_path / "big.tar.gz", [("file", "a", b"\0" * 600), ("file", "b", b"\0" * 600)]
    )
    with pytest.raises(ArchiveTooLarge, match="more than 1000 bytes") as err:
        extract_archive(archive, target, max_size=1000)
    assert "'b'" in str(err.value)
    assert list(target.iterdir()) == []
    extract_archive(archive, target, max_size=None)
    assert (target / "b").stat().st_size == 600


def test_refuses_garbage(tmp_path: Path, target: Path) -> None:
    (tmp_path / "junk.tar.gz").write_bytes(b"this is not gzip")
    with pytest.raises(UnsafeArchive, match=r"not a valid tar\.gz"):
        extract_archive(tmp_path / "junk.tar.gz", target)


def test_refuses_non_empty_target(tmp_path: Path, target: Path) -> None:
    archive = craft(tmp_path / "a.tar.gz", [("file", "a", "a")])
    target.mkdir()
    (target / "old").write_text("x")
    with pytest.raises(ArtifactError, match="not empty"):
        extract_archive(archive, target)


def test_modes_are_normalized(tmp_path: Path, target: Path) -> None:
    archive = tmp_path / "m.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("setuid")
        info.mode = 0o4777
        tar.addfile(info, io.BytesIO(b""))
    extract_archive(archive, target)
    assert (target / "setuid").stat().st_mode & 0o7777 == 0o755


@pytest.mark.parametrize("flags", [0x04, 0x04 | 0x08, 0x04 | 0x08 | 0x10 | 0x02])
def test_gzip_header_extra_field_is_read(tmp_path: Path, flags: int) -> None:
    # `helm package` writes a gzip header with an extra field (FEXTRA); charts
    # must unpack like any other archive.
    payload_io = io.BytesIO()
    with tarfile.open(fileobj=payload_io, mode="w") as tar:
        info = tarfile.TarInfo("demo/Chart.yaml")
        info.size = len(b"name: demo\n")
        tar.addfile(info, io.BytesIO(b"name: demo\n"))
    payload = payload_io.getvalue()
    deflater = zlib.compressobj(9, zlib.DEFLATED, -15)
    deflated = deflater.compress(payload) + deflater.flush()
    header = b"\x1f\x8b\x08" + bytes([flags]) + b"\0\0\0\0\0\xff"
    extra = b"+aGVsbQ=="
    header += len(extra).to_bytes(2, "little") + extra
    if flags & 0x08:
        header += b"demo.tar\0"
    if flags & 0x10:
        header += b"a comment\0"
    if flags & 0x02:
        header += (zlib.crc32(header) & 0xFFFF).to_bytes(2, "little")
    trailer = zlib.crc32(payload).to_bytes(4, "little") + len(payload).to_bytes(4, "little")
    archive = tmp_path / "chart.tgz"
    archive.write_bytes(header + deflated + trailer)
    extract_archive(archive, tmp_path / "out")
    assert (tmp_path / "out/demo/Chart.yaml").read_bytes() == b"name: demo\n"
