"""Post each recorded event to a notification-controller (`--events-addr`), as Flux does.

Alerts need every controller's events in one place; a queue of bounded size and one
sender task keep a slow or absent receiver from ever holding up a reconcile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from typing import Any

import aiohttp

from .resources import Obj

log = logging.getLogger("eddy.events")

INFO = "info"
ERROR = "error"

# Annotations of the reconciled object sent with each of its events (Flux RFC-0008).
EVENT_METADATA_PREFIX = "event.toolkit.fluxcd.io/"

QUEUE_SIZE = 1024
ATTEMPTS = 5
REQUEST_TIMEOUT = 5.0
FIRST_RETRY_DELAY = 0.5


def flux_event(
    obj: Obj,
    severity: str,
    reason: str,
    message: str,
    metadata: dict[str, str] | None,
    controller: str,
    instance: str,
) -> dict[str, Any]:
    """The JSON body of Flux's eventv1.Event for one event about `obj`."""
    meta = obj.get("metadata") or {}
    involved = {
        "kind": obj.get("kind", ""),
        "namespace": meta.get("namespace", ""),
        "name": meta.get("name", ""),
        "uid": meta.get("uid", ""),
        "apiVersion": obj.get("apiVersion", ""),
        "resourceVersion": meta.get("resourceVersion", ""),
    }
    merged = {
        k: str(v)
        for k, v in (meta.get("annotations") or {}).items()
        if k.startswith(EVENT_METADATA_PREFIX)
    }
    merged.update(metadata or {})
    event: dict[str, Any] = {
        "involvedObject": {k: v for k, v in involved.items() if v},
        "severity": severity,
        "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "message": message,
        "reason": reason,
        "reportingController": controller,
        "reportingInstance": instance,
    }
    if merged:
        event["metadata"] = merged
    return event


class EventForwarder:
    """Queues events and posts them in order, retrying connection errors and 5xx.

    `submit` never waits: when the queue is full the oldest queued event is dropped
    and the drop is logged, so a reconcile never blocks on the receiver.
    """

    def __init__(self, address: str, queue_size: int = QUEUE_SIZE) -> None:
        self.address = address
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(queue_size)
        self.dropped = 0
        self.posted = 0
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None

    def submit(self, event: dict[str, Any]) -> None:
        if self.queue.full():
            with contextlib.suppress(asyncio.QueueEmpty):
                self.queue.get_nowait()
                self.queue.task_done()
            self.dropped += 1
            log.warning("events queue for %s is full, dropped the oldest event", self.address)
        self.queue.put_nowait(event)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._send_all())

    async def close(self, flush_timeout: float = 2.0) -> None:
        """Give queued events a short while to go out, then stop."""
        if self._task is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.queue.join(), flush_timeout)
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _send_all(self) -> None:
        if self._session is None:
            timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
            self._session = aiohttp.ClientSession(timeout=timeout)
        while True:
            event = await self.queue.get()
            try:
                await self._post(self._session, event)
            finally:
                self.queue.task_done()

    async def _post(self, session: aiohttp.ClientSession, event: dict[str, Any]) -> None:
        delay = FIRST_RETRY_DELAY
        for attempt in range(1, ATTEMPTS + 1):
            try:
                async with session.post(self.address, json=event) as resp:
                    if resp.status < 500:
                        if resp.status >= 400:
                            log.warning(
                                "events receiver refused event %s: HTTP %d",
                                event["reason"], resp.status,
                            )  # fmt: skip
                        else:
                            self.posted += 1
                        return
                    problem = f"HTTP {resp.status}"
            except (aiohttp.ClientError, OSError, TimeoutError) as err:
                problem = type(err).__name__
            if attempt == ATTEMPTS:
                log.warning(
                    "could not post event %s to the events receiver after %d attempts: %s",
                    event["reason"], ATTEMPTS, problem,
                )  # fmt: skip
                return
            await asyncio.sleep(delay)
            delay *= 2
