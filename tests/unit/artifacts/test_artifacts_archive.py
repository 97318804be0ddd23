"""Artifacts are deterministic: the same tree gives the same bytes and digest.

A digest that changed with every build would make every consumer re-apply on
every source reconcile.
"""

from __future__ import annotations

import asyncio
import gzip
import os
import tarfile
import time
import tracemalloc
from pathlib import Path

import pytest

from eddy_artifacts.archive import build_archive, build_archive_async
from eddy_artifacts.digest import file_digest
from eddy_artifacts.extract import extract_archive
from eddy_artifacts.ignore import source_ignore_rules


def make_tree(root: Path) -> None:
    files = {
        "kustomization.yaml": "resources: [deploy.yaml]\n",
        "deploy.yaml": "kind: Deployment\n",
        "apps/b.yaml": "b\n",
        "apps/a.yaml": "a\n",
        "apps/nested/deep/c.yaml": "c\n",
        "scripts/run.sh": "#!/bin/sh\n",
        ".git/HEAD": "ref: refs/heads/main\n",
        ".github/workflows/ci.yaml": "on: push\n",
    }
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    (root / "scripts/run.sh").chmod(0o700)
    (root / "deploy.yaml").chmod(0o600)


def test_same_tree_same_bytes(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    make_tree(one)
    time.sleep(0.01)
    make_tree(two)
    # Different mtimes and owners must not matter.
    os.utime(two / "deploy.yaml", (1, 1))
    first = build_archive(one, tmp_path / "one.tar.gz")
    second = build_archive(two, tmp_path / "two.tar.gz")
    assert (tmp_path / "one.tar.gz").read_bytes() == (tmp_path / "two.tar.gz").read_bytes()
    assert first.digest == second.digest == file_digest(tmp_path / "one.tar.gz")
    assert first.size == (tmp_path / "one.tar.gz").stat().st_size


def test_content_change_changes_digest(tmp_path: Path) -> None:
    make_tree(tmp_path / "src")
    before = build_archive(tmp_path / "src", tmp_path / "a.tar.gz").digest
    (tmp_path / "src/apps/a.yaml").write_text("changed\n")
    assert build_archive(tmp_path / "src", tmp_path / "b.tar.gz").digest != before


def test_entries_are_sorted_and_normalized(tmp_path: Path) -> None:
    make_tree(tmp_path / "src")
    build_archive(tmp_path / "src", tmp_path / "a.tar.gz")
    with tarfile.open(tmp_path / "a.tar.gz") as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names == [
        ".git/HEAD",
        ".github/workflows/ci.yaml",
        "apps/a.yaml",
        "apps/b.yaml",
        "apps/nested/deep/c.yaml",
        "deploy.yaml",
        "kustomization.yaml",
        "scripts/run.sh",
    ]
    modes = {m.name: m.mode for m in members}
    assert modes["scripts/run.sh"] == 0o755
    assert modes["deploy.yaml"] == 0o644
    assert {(m.mtime, m.uid, m.gid, m.uname, m.gname) for m in members} == {(0, 0, 0, "", "")}
    assert all(m.isreg() for m in members)


def test_gzip_header_has_no_name_or_time(tmp_path: Path) -> None:
    make_tree(tmp_path / "src")
    build_archive(tmp_path / "src", tmp_path / "a.tar.gz")
    header = (tmp_path / "a.tar.gz").read_bytes()[:10]
    flags, mtime = header[3], header[4:8]
    assert flags & 0x08 == 0  # FNAME
    assert mtime == b"\0\0\0\0"
    with gzip.open(tmp_path / "a.tar.gz") as gz:
        assert gz.read(1)


def test_ignore_rules_filter_the_tree(tmp_path: Path) -> None:
    make_tree(tmp_path / "src")
    (tmp_path / "src/.sourceignore").write_text("apps/nested/\n")
    rules = source_ignore_rules(tmp_path / "src", spec_ignore="*.sh\n")
    build_archive(tmp_path / "src", tmp_path / "a.tar.gz", rules.ignored)
    with tarfile.open(tmp_path / "a.tar.gz") as tar:
        names = tar.getnames()
    assert names == [
        ".sourceignore",
        "apps/a.yaml",
        "apps/b.yaml",
        "deploy.yaml",
        "kustomization.yaml",
    ]


def test_symlinks_and_empty_dirs_are_left_out(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "empty").mkdir(parents=True)
    (src / "real.yaml").write_text("x")
    (src / "link.yaml").symlink_to("real.yaml")
    (src / "outside").symlink_to("/etc")
    build_archive(src, tmp_path / "a.tar.gz")
    with tarfile.open(tmp_path / "a.tar.gz") as tar:
        assert tar.getnames() == ["real.yaml"]


def test_round_trip_with_long_and_unicode_names(tmp_path: Path) -> None:
    src = tmp_path / "src"
    long_dir = src / ("d" * 120) / ("e" * 120)
    long_dir.mkdir(parents=True)
    (long_dir / "f.yaml").write_text("long")
    (src / "ünïcode.yaml").write_text("u")
    build_archive(src, tmp_path / "a.tar.gz")
    out = tmp_path / "out"
    extract_archive(tmp_path / "a.tar.gz", out)
    assert (out / ("d" * 120) / ("e" * 120) / "f.yaml").read_text() == "long"
    assert (out / "ünïcode.yaml").read_text() == "u"


def test_async_build_runs_off_the_loop(tmp_path: Path) -> None:
    make_tree(tmp_path / "src")

    async def main() -> tuple[str, int]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        task = asyncio.create_task(ticker())
        info = await build_archive_async(tmp_path / "src", tmp_path / "a.tar.gz")
        task.cancel()
        return str(info.digest), ticks

    digest, ticks = asyncio.run(main())
    assert digest.startswith("sha256:")
    assert ticks > 0


def test_failed_build_leaves_no_partial_file(tmp_path: Path) -> None:
    make_tree(tmp_path / "src")

    def explode(path: str, is_dir: bool) -> bool:
        raise RuntimeError("boom")

    dest = tmp_path / "out" / "a.tar.gz"
    with pytest.raises(RuntimeError):
        build_archive(tmp_path / "src", dest, explode)
    assert list((tmp_path / "out").iterdir()) == []


def test_large_files_stream_in_constant_memory(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    with (src / "big.bin").open("wb") as out:
        for _ in range(32):
            out.write(b"\0" * (1 << 20))
    tracemalloc.start()
    try:
        info = build_archive(src, tmp_path / "a.tar.gz")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.size > 0
    assert peak < 4 << 20
