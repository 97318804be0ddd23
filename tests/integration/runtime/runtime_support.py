"""Helpers for the runtime's integration tests: waiting, a TCP proxy, a kubeconfig copy.

The proxy sits between a controller and the real API server so a test can break
connections or take the server away, without faking any API.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from widget_controller import WIDGETS

from eddy_runtime import conditions
from eddy_runtime.resources import Obj, ResourceClient
from eddy_testenv.waiting import eventually as _eventually

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T | None]], timeout: float = 10.0, interval: float = 0.1
) -> T:
    """The shared poller with this suite's shorter default timeout."""
    return await _eventually(probe, timeout, interval)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def kubeconfig_via(source: str | Path, server: str, target: Path) -> Path:
    """A copy of `source` whose cluster server is `server` (e.g. a proxy)."""
    config: dict[str, Any] = yaml.safe_load(Path(source).read_text())
    for cluster in config["clusters"]:
        cluster["cluster"]["server"] = server
    target.write_text(yaml.safe_dump(config))
    return target


class TcpProxy:
    """Forwards 127.0.0.1:<port> to a target; can drop connections or go away."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    def drop_connections(self) -> None:
        for writer in list(self._writers):
            with contextlib.suppress(Exception):
                writer.transport.abort()
        self._writers.clear()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        self.drop_connections()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(src, dst))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        try:
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            self._writers.discard(dst)
            with contextlib.suppress(Exception):
                dst.transport.abort()


async def ready_widget(kube: ResourceClient, namespace: str, name: str) -> Obj | None:
    obj = await kube.get(WIDGETS, name, namespace)
    return obj if conditions.is_ready(obj) else None
