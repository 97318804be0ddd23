"""The artifact server over real HTTP: headers, 304s, and every way out of storage refused."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio

from eddy_artifacts.digest import file_digest
from eddy_runtime.metrics import serve
from source_controller.artifact_server import artifact_app


@pytest_asyncio.fixture(loop_scope="session")
async def served(tmp_path: Path) -> AsyncIterator[tuple[str, Path]]:
    root = tmp_path / "storage"
    (root / "gitrepository/ns/app").mkdir(parents=True)
    (root / "gitrepository/ns/app/abc.tar.gz").write_bytes(b"artifact bytes")
    (tmp_path / "secret.txt").write_text("outside")
    os.symlink(tmp_path / "secret.txt", root / "gitrepository/ns/app/link.tar.gz")
    os.symlink(root / "gitrepository/ns/app/abc.tar.gz", root / "inside-link.tar.gz")
    os.symlink(tmp_path, root / "escape")
    runner, port = await serve(artifact_app(root), "127.0.0.1:0")
    try:
        yield f"127.0.0.1:{port}", root
    finally:
        await runner.cleanup()


async def raw_get(address: str, target: str) -> tuple[int, bytes]:
    """Send a request line exactly as written: clients would normalize the path first."""
    host, port = address.split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()
    data = await reader.read()
    writer.close()
    status = int(data.split(b" ", 2)[1])
    return status, data.split(b"\r\n\r\n", 1)[1]


async def test_serves_a_file_with_length_etag_and_304(served: tuple[str, Path]) -> None:
    address, root = served
    url = f"http://{address}/gitrepository/ns/app/abc.tar.gz"
    async with aiohttp.ClientSession() as session:
        async with session.get(url) as resp:
            assert resp.status == 200
            assert await resp.read() == b"artifact bytes"
            assert resp.headers["Content-Length"] == "14"
            etag = resp.headers["ETag"]
        async with session.get(url, headers={"If-None-Match": etag}) as resp:
            assert resp.status == 304
            assert await resp.read() == b""
        async with session.head(url) as resp:
            assert resp.status == 200 and resp.headers["Content-Length"] == "14"
        (root / "gitrepository/ns/app/abc.tar.gz").write_bytes(b"new artifact bytes")
        async with session.get(url, headers={"If-None-Match": etag}) as resp:
            assert resp.status == 200 and resp.headers["ETag"] != etag
        async with session.post(url) as resp:
            assert resp.status == 405
    assert file_digest(root / "gitrepository/ns/app/abc.tar.gz")


@pytest.mark.parametrize(
    "target",
    [
        "/",
        "/gitrepository/",
        "/gitrepository/ns/app",
        "/gitrepository/ns/app/",
        "/gitrepository/ns/app/missing.tar.gz",
        "/../secret.txt",
        "/gitrepository/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/gitrepository/%2E%2E/%2e%2e/secret.txt",
        "/gitrepository%2f..%2f..%2fsecret.txt",
        "/..%5csecret.txt",
        "//etc/passwd",
        "/%2fetc%2fpasswd",
        "/etc/passwd",
        "/gitrepository/ns/app/link.tar.gz",
        "/inside-link.tar.gz",
        "/escape/secret.txt",
        "/gitrepository/ns/app/abc.tar.gz%00",
        "/%ff%fe",
    ],
)
async def test_nothing_outside_storage_and_no_listings(
    served: tuple[str, Path], target: str
) -> None:
    status, body = await raw_get(served[0], target)
    assert status == 404, (target, status)
    assert b"outside" not in body and b"abc.tar.gz" not in body
