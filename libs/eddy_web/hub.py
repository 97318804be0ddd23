"""The live picture of the cluster as one person sees it: informers and subscribers.

Each person (their kubeconfig locally, their impersonated identity in-cluster)
gets one hub: informers on every kind the dashboard shows, kept for as long as
they have a page open, fanning changes out to their server-sent event streams.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any

from eddy_runtime.informer import Informer
from eddy_runtime.resources import ApiError, Obj, Resource, ResourceClient
from eddy_web.health import REFRESH_SECONDS, AppHealth, Key
from eddy_web.inventory import inventory_refs
from eddy_web.kinds import APPS, WATCHED, view_of
from eddy_web.summary import row

log = logging.getLogger("eddy.web")

# An idle hub (no stream open) keeps its informers this long, for a reload.
IDLE_SECONDS = 300.0


class Hub:
    """Informers for every shown kind, as one identity; rows and change streams."""

    def __init__(self, client: ResourceClient) -> None:
        self.client = client
        self.informers: dict[str, Informer] = {}
        # kind -> why the list is empty: "forbidden: ...", "not installed".
        self.unavailable: dict[str, str] = {}
        self._subscribers: set[asyncio.Queue[str]] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._started: asyncio.Task[None] | None = None
        self.last_used = time.monotonic()
        self.health = AppHealth(client, inventory_refs, self._health_changed)

    async def start(self) -> None:
        """Start the informers (once) and wait until each has listed."""
        if self._started is None:
            self._started = asyncio.create_task(self._start())
        await asyncio.shield(self._started)

    async def _start(self) -> None:
        await asyncio.gather(*(self._probe(res) for res in WATCHED))
        for res in WATCHED:
            if res.kind in self.unavailable:
                continue
            informer = Informer(self.client, res)
            informer.add_handler(self._changed)
            self.informers[res.kind] = informer
            self._tasks.append(asyncio.create_task(informer.run()))
        waits = [asyncio.create_task(i.synced.wait()) for i in self.informers.values()]
        if waits:
            await asyncio.wait(waits, timeout=30)
        self._tasks.append(asyncio.create_task(self._refresh_health()))

    async def _refresh_health(self) -> None:
        """Assess every application again now and then, while someone is looking."""
        while True:
            if self._subscribers:
                self.assess_all()
            await asyncio.sleep(REFRESH_SECONDS)

    def assess_all(self) -> None:
        for kind in APPS:
            for obj in self.objects(kind):
                self.health.request(obj)

    def row(self, obj: Obj) -> dict[str, Any]:
        """The list row, with the assessed health where the status does not say it."""
        found = row(obj)
        if not found["health"] and found["kind"] in APPS:
            assessed = self.health.get((found["kind"], found["namespace"], found["name"]))
            if assessed and assessed[0]:
                found["health"], found["healthMessage"] = assessed
        return found

    def _health_changed(self, key: Key) -> None:
        obj = self.get(*key)
        if obj is not None and self._subscribers:
            message = {"op": "upsert", "view": view_of(key[0]), "row": self.row(obj)}
            self.publish(json.dumps(message, separators=(",", ":")))

    async def _probe(self, res: Resource) -> None:
        """Find kinds this identity may not list, or the cluster does not serve."""
        try:
            await self.client.list(res, limit=1)
        except ApiError as err:
            if err.status == 403:
                self.unavailable[res.kind] = f"forbidden: {err.message}"
            elif err.status == 404:
                self.unavailable[res.kind] = "not installed in this cluster"
        except (OSError, TimeoutError) as err:
            log.warning("cannot list %s yet: %s", res, err)

    async def close(self) -> None:
        await self.health.close()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        with contextlib.suppress(Exception):
            await self.client.api.close()

    @property
    def idle(self) -> bool:
        return not self._subscribers and time.monotonic() - self.last_used > IDLE_SECONDS

    def objects(self, kind: str) -> list[Obj]:
        informer = self.informers.get(kind)
        return informer.objects() if informer is not None else []

    def get(self, kind: str, namespace: str, name: str) -> Obj | None:
        informer = self.informers.get(kind)
        return informer.get(name, namespace) if informer is not None else None

    def snapshot(self) -> dict[str, Any]:
        """Every row, by view, and the kinds this identity cannot see and why."""
        views: dict[str, list[dict[str, Any]]] = {"apps": [], "sources": [], "images": []}
        for kind, informer in self.informers.items():
            views[view_of(kind)].extend(self.row(obj) for obj in informer.objects())
        return {"views": views, "unavailable": self.unavailable, "served": list(self.informers)}

    # -- streams --------------------------------------------------------------

    def subscribe(self) -> asyncio.Queue[str]:
        queue: asyncio.Queue[str] = asyncio.Queue(maxsize=10_000)
        self._subscribers.add(queue)
        self.last_used = time.monotonic()
        self.assess_all()
        return queue

    def unsubscribe(self, queue: asyncio.Queue[str]) -> None:
        self._subscribers.discard(queue)
        self.last_used = time.monotonic()

    def _changed(self, event: str, old: Obj | None, new: Obj) -> None:
        kind = str(new.get("kind", ""))
        meta = new.get("metadata") or {}
        if kind in APPS:
            if event == "DELETED":
                self.health.forget((kind, meta.get("namespace", ""), meta.get("name", "")))
            elif self._subscribers:
                self.health.request(new)
        if not self._subscribers:
            return
        if event == "DELETED":
            message = {
                "op": "delete",
                "view": view_of(kind),
                "kind": kind,
                "namespace": meta.get("namespace", ""),
                "name": meta.get("name", ""),
            }
        else:
            message = {"op": "upsert", "view": view_of(kind), "row": self.row(new)}
        self.publish(json.dumps(message, separators=(",", ":")))

    def publish(self, data: str) -> None:
        for queue in list(self._subscribers):
            try:
                queue.put_nowait(data)
            except asyncio.QueueFull:
                # A stream that cannot keep up ends; the browser reconnects and
                # starts over from a snapshot.
                self._subscribers.discard(queue)

    def subscribed(self, queue: asyncio.Queue[str]) -> bool:
        return queue in self._subscribers
