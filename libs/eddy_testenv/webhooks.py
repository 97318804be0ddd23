"""A loopback HTTP(S) server that records every request it receives.

Stands in for the far end of a webhook (Slack, a Git forge, the events receiver) so a
test can assert the exact method, path, headers and body a controller sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from .certs import generate


@dataclass
class Received:
    """One request; `path` as sent on the wire (percent-escapes kept)."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class WebhookServer:
    """What was received; `statuses` are answered in order, then `status` for the rest,
    each with the JSON text `answer`."""

    url: str = ""
    requests: list[Received] = field(default_factory=list)
    status: int = 200
    statuses: list[int] = field(default_factory=list)
    answer: str = "{}"
    ca_file: Path | None = None
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def wait_for(self, count: int = 1, timeout: float = 15.0) -> list[Received]:
        async with asyncio.timeout(timeout):
            while len(self.requests) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return self.requests

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.requests.append(
            Received(
                request.method,
                request.raw_path.split("?", 1)[0],
                request.query_string,
                {k.lower(): v for k, v in request.headers.items()},
                body,
            )
        )
        self.arrived.set()
        status = self.statuses.pop(0) if self.statuses else self.status
        return web.Response(status=status, text=self.answer, content_type="application/json")


@contextlib.asynccontextmanager
async def webhook_server(tls_dir: Path | None = None) -> AsyncIterator[WebhookServer]:
    """Serve on a free loopback port; with `tls_dir`, over HTTPS with a fresh CA there."""
    server = WebhookServer()
    app = web.Application(client_max_size=16 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", server._handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    context: ssl.SSLContext | None = None
    if tls_dir is not None:
        files = generate(tls_dir)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(files.serving_cert, files.serving_key)
        server.ca_file = files.ca_cert
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    site = web.SockSite(runner, sock, ssl_context=context)
    await site.start()
    server.url = f"{'https' if context else 'http'}://127.0.0.1:{port}"
    try:
        yield server
    finally:
        await runner.cleanup()
