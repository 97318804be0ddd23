"""A Git server cannot hold a thread past the deadline, nor inflate objects past the cap."""

from __future__ import annotations

import asyncio
import random
import subprocess
import threading
import time
import zlib
from collections.abc import Callable, Iterator

import pytest

import eddy_git
from eddy_git import GitAuth, GitError
from eddy_git.bounds import PackScanner
from eddy_testenv.trickle import TrickleServer

MiB = 1 << 20


@pytest.fixture
def trickle() -> Iterator[TrickleServer]:
    with TrickleServer(every=1.0) as server:
        yield server


async def until(condition: Callable[[], bool], seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


def git_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name == "eddy-git")


def _list_refs(url: str, auth: GitAuth, seconds: float) -> dict[str, str]:
    with eddy_git.Remote(url, auth, seconds) as remote:
        return remote.refs()


@pytest.mark.parametrize("scheme", ["http", "ssh"])
async def test_a_trickling_server_is_cut_off_at_the_deadline(
    trickle: TrickleServer, scheme: str
) -> None:
    url = trickle.url(scheme=scheme)
    auth = GitAuth(identity=b"not a key\n", known_hosts=b"") if scheme == "ssh" else GitAuth()
    started = time.monotonic()
    with pytest.raises(GitError, match="timed out after 2s") as caught:
        # No outer limit: the operation's own deadline has to end it.
        await eddy_git.in_thread(None, "listing", lambda: _list_refs(url, auth, 2.0))
    assert time.monotonic() - started < 8  # a 2s deadline, with room for a loaded machine
    assert "raise spec.timeout" in caught.value.message
    assert trickle.accepted >= 1
    # The thread let go of the server and ended; nothing keeps reading.
    await until(lambda: trickle.open_connections == 0)
    await until(lambda: git_threads() == 0)


async def test_many_slow_operations_do_not_delay_another(trickle: TrickleServer) -> None:
    slow = [
        asyncio.create_task(eddy_git.list_refs(trickle.url(f"r{i}.git"), GitAuth(), 6.0))
        for i in range(40)
    ]
    await until(lambda: trickle.accepted >= 40)
    # Another operation starts at once, whatever the others are waiting on.
    started = time.monotonic()
    quick = await eddy_git.in_thread(5, "counting", lambda: 42)
    # Well before the slow ones end (6s): it did not wait for any of them.
    assert quick == 42 and time.monotonic() - started < 3
    results = await asyncio.gather(*slow, return_exceptions=True)
    assert all(isinstance(r, GitError) and "timed out" in str(r) for r in results)
    await until(lambda: trickle.open_connections == 0)


# -- the pack scanner ---------------------------------------------------------------


@pytest.fixture(scope="module")
def real_pack(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """What git itself sends: a pack of two commits whose second blob is a delta."""
    work = tmp_path_factory.mktemp("repo")

    def git(*args: str, stdin: bytes | None = None) -> bytes:
        return subprocess.run(
            ["git", "-C", str(work), "-c", "user.name=t", "-c", "user.email=t@example.com",
             *args], input=stdin, capture_output=True, check=True,
        ).stdout  # fmt: skip

    git("init", "-q")
    text = b"".join(b"line %d of a manifest\n" % i for i in range(5000))
    for round, tail in enumerate((b"", b"one more line\n")):
        (work / "app.yaml").write_bytes(text + tail)
        (work / f"empty{round}").write_bytes(b"")
        git("add", "-A")
        git("commit", "-q", "-m", f"round {round}")
    return git("pack-objects", "--stdout", "--revs", "-q", stdin=b"HEAD\n")


def _feed_in_pieces(scanner: PackScanner, data: bytes, seed: int) -> None:
    chance = random.Random(seed)
    pos = 0
    while pos < len(data):
        step = chance.choice([1, 2, 7, 100, 4096, 70_000])
        scanner.feed(data[pos : pos + step])
        pos += step


@pytest.mark.parametrize("seed", range(5))
def test_real_packs_pass_in_any_pieces(real_pack: bytes, seed: int) -> None:
    _feed_in_pieces(PackScanner(MiB), real_pack, seed)


def test_a_real_pack_with_a_file_over_the_cap_is_refused(real_pack: bytes) -> None:
    with pytest.raises(GitError, match="more than the"):
        PackScanner(64 << 10).feed(real_pack)


def _object_header(kind: int, size: int) -> bytes:
    first = (kind << 4) | (size & 15)
    size >>= 4
    out = bytearray()
    while size:
        out.append(first | 0x80)
        first = size & 0x7F
        size >>= 7
    out.append(first)
    return bytes(out)


def _pack_head(count: int) -> bytes:
    return b"PACK" + (2).to_bytes(4, "big") + count.to_bytes(4, "big")


def test_an_object_declared_too_large_is_refused_before_inflating() -> None:
    scanner = PackScanner(128 * MiB)
    with pytest.raises(GitError, match="object of 200 MiB, more than the 128 MiB"):
        scanner.feed(_pack_head(1) + _object_header(3, 200 * MiB))


def test_an_object_that_inflates_past_its_header_is_refused_early() -> None:
    scanner = PackScanner(128 * MiB)
    squeezer = zlib.compressobj(1)
    scanner.feed(_pack_head(1) + _object_header(3, 10))
    with pytest.raises(GitError, match="inflates to more than its header says"):
        for _ in range(1024):  # 1 GiB of zeros, if it were all read
            scanner.feed(squeezer.compress(b"\0" * MiB))


def test_a_delta_building_a_huge_object_is_refused() -> None:
    # A REF_DELTA whose instructions would build a 1 GiB object from a small base.
    delta = bytes([0x10]) + _varint(1 << 30)
    body = zlib.compress(delta)
    header = _object_header(7, len(delta)) + b"\x11" * 20
    with pytest.raises(GitError, match="object of 1024 MiB"):
        PackScanner(128 * MiB).feed(_pack_head(1) + header + body)


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def test_garbage_is_not_a_pack() -> None:
    with pytest.raises(GitError, match="malformed pack"):
        PackScanner(MiB).feed(b"<html>not a pack</html>")
