"""A registry that answers with more than fits in memory is refused at the limit."""

from __future__ import annotations

import gzip
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from eddy_testenv.trickle import TrickleServer
from image_automation_controller.registry import (
    MAX_RESPONSE,
    READ_OPERATION_FAILED,
    Client,
    ImageName,
    ScanError,
    parse_image,
)


def _bomb(size: int) -> bytes:
    """A gzip body that inflates to `size` bytes of a JSON-looking prefix and spaces."""
    return gzip.compress(b'{"tags": [' + b" " * size, compresslevel=1)


@pytest.fixture
async def registry() -> AsyncIterator[str]:
    body = _bomb(4 * MAX_RESPONSE)

    async def tags(request: web.Request) -> web.Response:
        return web.Response(
            body=body, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"}
        )

    app = web.Application()
    app.router.add_get("/v2/{name:.+}/tags/list", tags)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_a_compressed_flood_of_tags_is_refused(registry: str) -> None:
    image: ImageName = parse_image(f"{registry}/apps/app")
    async with aiohttp.ClientSession() as session:
        client = Client(session, insecure=True, timeout=20)
        with pytest.raises(ScanError) as caught:
            await client.list_tags(image)
    assert caught.value.reason == READ_OPERATION_FAILED
    assert "larger than 16 MiB" in caught.value.message


async def test_a_trickling_registry_is_given_up_at_the_timeout() -> None:
    with TrickleServer(every=0.5) as server:
        image = parse_image(f"127.0.0.1:{server.port}/apps/app")
        async with aiohttp.ClientSession() as session:
            client = Client(session, insecure=True, timeout=2)
            started = time.monotonic()
            with pytest.raises(ScanError, match=r"(took longer than|did not answer within) 2s"):
                await client.list_tags(image)
            assert time.monotonic() - started < 6
