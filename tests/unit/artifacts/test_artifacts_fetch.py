"""The artifact fetcher against a real HTTP server on loopback.

Downloads, digest checks, retries and safe extraction are exercised over a real
socket, the way a consumer meets the source-controller's artifact server.
"""

from __future__ import annotations

import asyncio
import io
import tarfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web

from eddy_artifacts.archive import build_archive
from eddy_artifacts.digest import bytes_digest
from eddy_artifacts.errors import (
    ArchiveTooLarge,
    ArtifactError,
    ArtifactFetchError,
    ArtifactNotFound,
    DigestMismatch,
    InvalidDigest,
    UnsafeArchive,
)
from eddy_artifacts.fetch import fetch_artifact
from eddy_testenv import free_port


@dataclass
class ArtifactServer:
    base: str
    files: dict[str, bytes]
    failures: dict[str, int] = field(default_factory=dict)
    hits: dict[str, int] = field(default_factory=dict)

    def url(self, name: str) -> str:
        return f"{self.base}/{name}"


def _evil_archive() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("../escape")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    return buffer.getvalue()


@pytest_asyncio.fixture
async def server(tmp_path: Path) -> AsyncIterator[ArtifactServer]:
    src = tmp_path / "src"
    (src / "apps").mkdir(parents=True)
    (src / "apps" / "deploy.yaml").write_text("kind: Deployment\n")
    (src / "kustomization.yaml").write_text("resources: [apps/deploy.yaml]\n")
    good = build_archive(src, tmp_path / "good.tar.gz").path.read_bytes()
    state = ArtifactServer("", {"good.tar.gz": good, "evil.tar.gz": _evil_archive()})

    async def serve(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        state.hits[name] = state.hits.get(name, 0) + 1
        if state.failures.get(name, 0) > 0:
            state.failures[name] -= 1
            return web.Response(status=503, text="try later")
        if name == "truncated.tar.gz":
            # Promise more bytes than are sent, then drop the connection.
            response = web.StreamResponse(headers={"Content-Length": str(len(good))})
            await response.prepare(request)
            await response.write(good[:20])
            assert request.transport is not None
            request.transport.close()
            return response
        if name == "forbidden.tar.gz":
            return web.Response(status=403, text="no")
        data = state.files.get(name)
        if data is None:
            return web.Response(status=404, text="not found")
        return web.Response(body=data, content_type="application/gzip")

    app = web.Application()
    app.router.add_get("/{name}", serve)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    state.base = f"http://127.0.0.1:{port}"
    try:
        yield state
    finally:
        await runner.cleanup()


@pytest_asyncio.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


def temp_files(directory: Path) -> list[str]:
    return [p.name for p in directory.iterdir() if p.name.startswith(".artifact-")]


def digest_of(server: ArtifactServer, name: str) -> str:
    return str(bytes_digest(server.files[name]))


async def test_fetch_verifies_and_extracts(
    server: ArtifactServer, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    dest = tmp_path / "dest"
    fetched = await fetch_artifact(
        session, server.url("good.tar.gz"), digest_of(server, "good.tar.gz"), dest
    )
    assert fetched.path == dest
    assert str(fetched.digest) == digest_of(server, "good.tar.gz")
    assert fetched.size == len(server.files["good.tar.gz"])
    assert (dest / "apps" / "deploy.yaml").read_text() == "kind: Deployment\n"
    assert temp_files(tmp_path) == []


async def test_digest_mismatch_extracts_nothing(
    server: ArtifactServer, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    dest = tmp_path / "dest"
    wrong = "sha256:" + "0" * 64
    with pytest.raises(DigestMismatch, match="published sha256:0000") as err:
        await fetch_artifact(session, server.url("good.tar.gz"), wrong, dest)
    assert err.value.actual == digest_of(server, "good.tar.gz")
    assert not dest.exists() or list(dest.iterdir()) == []


async def test_not_found_is_not_retried(
    server: ArtifactServer, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    with pytest.raises(ArtifactNotFound, match="404"):
        await fetch_artifact(
            session, server.url("gone.tar.gz"), "sha256:" + "1" * 64, tmp_path / "d", backoff=0.01
        )
    assert server.hits["gone.tar.gz"] == 1


async def test_client_errors_are_not_retried(
    server: ArtifactServer, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    with pytest.raises(ArtifactFetchError, match="403"):
        await fetch_artifact(
            session, server.url("forbidden.tar.gz"), "sha256:" + "1" * 64, tmp_path / "d"
        )
    assert server.hits["forbidden.tar.gz"] == 1


async def test_transient_errors_are_retried(
    server: ArtifactServer, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    server.failures["good.tar.gz"] = 2
    await fetch_artifact(
        session,
        server.url("good.tar.gz"),
        digest_of(server, "good.tar.gz"),
        tmp_path / "d",
        attempts=3,
        backoff=0.01,
    )
    assert server.hits["good.tar.gz"] == 3


async def test_retries_are_bounded(
    server: ArtifactServer, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    server.failures["good.tar.gz"] = 10
    with pytest.raises(ArtifactFetchError, match=r"HTTP 503.*gave up after 2 attempts"):
        await fetch_artifact(
            session,
            server.url("good.tar.gz"),
            digest_of(server, "good.tar.gz"),
            tmp_path / "d",
            attempts=2,
            backoff=0.01,
        )
    assert server.hits["good.tar.gz"] == 2


async def test_truncated_body_is_retried_then_reported(
    server: ArtifactServer, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    with pytest.raises(ArtifactFetchError, match="cut off"):
        await fetch_artifact(
            session,
            server.url("truncated.tar.gz"),
            digest_of(server, "good.tar.gz"),
            tmp_path / "d",
            attempts=2,
            backoff=0.01,
        )
    assert server.hits["truncated.tar.gz"] == 2


async def test_connection_refused(session: aiohttp.ClientSession, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/a.tar.gz"
    with pytest.raises(ArtifactFetchError, match="cannot connect"):
        await fetch_artifact(session, url, "sha256:" + "1" * 64, tmp_path / "d", backoff=0.01)


async def test_unsafe_archive_with_right_digest_is_still_refused(
    server: ArtifactServer, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    dest = tmp_path / "dest"
    with pytest.raises(UnsafeArchive, match=r"'\.\.'"):
        await fetch_artifact(
            session, server.url("evil.tar.gz"), digest_of(server, "evil.tar.gz"), dest
        )
    assert not (tmp_path / "escape").exists()


async def test_download_size_is_bounded(
    server: ArtifactServer, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    server.files["huge.tar.gz"] = b"\0" * 5000
    with pytest.raises(ArtifactFetchError, match="larger than the 1000-byte limit"):
        await fetch_artifact(
            session,
            server.url("huge.tar.gz"),
            digest_of(server, "huge.tar.gz"),
            tmp_path / "d",
            max_size=1000,
        )


async def test_extracted_size_is_bounded(
    server: ArtifactServer, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("zeros")
        info.size = 100_000
        tar.addfile(info, io.BytesIO(b"\0" * info.size))
    server.files["bomb.tar.gz"] = buffer.getvalue()
    assert len(buffer.getvalue()) < 10_000
    with pytest.raises(ArchiveTooLarge):
        await fetch_artifact(
            session,
            server.url("bomb.tar.gz"),
            digest_of(server, "bomb.tar.gz"),
            tmp_path / "d",
            max_size=10_000,
        )


async def test_invalid_digest_is_rejected_before_download(
    server: ArtifactServer, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    with pytest.raises(InvalidDigest):
        await fetch_artifact(session, server.url("good.tar.gz"), "nonsense", tmp_path / "d")
    assert "good.tar.gz" not in server.hits


async def test_non_empty_destination_is_refused_before_download(
    server: ArtifactServer, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    dest = tmp_path / "dest"
    await asyncio.to_thread(_populate, dest)
    with pytest.raises(ArtifactError, match="not empty"):
        await fetch_artifact(
            session, server.url("good.tar.gz"), digest_of(server, "good.tar.gz"), dest
        )
    assert "good.tar.gz" not in server.hits


def _populate(directory: Path) -> None:
    directory.mkdir()
    (directory / "old").write_text("x")
