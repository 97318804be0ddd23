"""A Helm repository that floods or trickles is refused at the limit or the timeout."""

from __future__ import annotations

import gzip
import time
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from eddy_api.common import Reason
from eddy_testenv.trickle import TrickleServer
from source_controller.failures import SourceError
from source_controller.helm.http import RepoAccess, download

MiB = 1 << 20


@pytest.fixture
async def flood() -> AsyncIterator[str]:
    # 32 MiB of index.yaml, gzip-encoded in transit: a few dozen KiB on the wire.
    body = gzip.compress(b"apiVersion: v1\nentries:\n" + b" " * (32 * MiB), compresslevel=1)

    async def index(request: web.Request) -> web.Response:
        return web.Response(body=body, headers={"Content-Encoding": "gzip"})

    app = web.Application()
    app.router.add_get("/index.yaml", index)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}/index.yaml"
    finally:
        await runner.cleanup()


async def test_an_index_that_inflates_past_the_limit_is_refused(flood: str) -> None:
    with pytest.raises(SourceError) as caught:
        await download(flood, RepoAccess(), 30, 8 * MiB, Reason.INDEXATION_FAILED, "index")
    assert "larger than 8 MiB" in caught.value.message


async def test_a_trickling_repository_times_out() -> None:
    with TrickleServer(every=0.5) as server:
        started = time.monotonic()
        with pytest.raises(SourceError, match="timed out after 2s"):
            await download(
                server.url("index.yaml"), RepoAccess(), 2, MiB, Reason.INDEXATION_FAILED, "index"
            )
        assert time.monotonic() - started < 6
