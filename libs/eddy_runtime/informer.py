"""List + watch one resource into an in-memory cache with secondary indexes.

Controllers react to changes instead of polling, and read from this cache instead of
the API server; the informer survives broken watches, 410 Gone and API outages.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Iterable
from typing import Any

import aiohttp

from .resources import ApiError, Obj, Resource, ResourceClient

log = logging.getLogger("eddy.informer")

ADDED, MODIFIED, DELETED = "ADDED", "MODIFIED", "DELETED"

# handler(event_type, old_object_or_None, new_object); for DELETED, new is the last state.
Handler = Callable[[str, Obj | None, Obj], None]
IndexFunc = Callable[[Obj], Iterable[str]]


def object_key(obj: Obj) -> str:
    """ "namespace/name" for namespaced objects, "name" for cluster-scoped ones."""
    meta = obj.get("metadata") or {}
    namespace = meta.get("namespace")
    return f"{namespace}/{meta['name']}" if namespace else str(meta["name"])


class Informer:
    def __init__(
        self,
        client: ResourceClient,
        resource: Resource,
        namespace: str | None = None,
        label_selector: str = "",
        min_backoff: float = 0.5,
        max_backoff: float = 30.0,
        watch_timeout: int = 300,
    ) -> None:
        self.client = client
        self.resource = resource
        self.namespace = namespace
        self.label_selector = label_selector
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.watch_timeout = watch_timeout
        self.synced = asyncio.Event()
        self.resource_version = ""
        self.relists = 0
        self._cache: dict[str, Obj] = {}
        self._handlers: list[Handler] = []
        self._indexers: dict[str, IndexFunc] = {}
        self._indexes: dict[str, dict[str, set[str]]] = {}
        self._indexed: dict[str, dict[str, list[str]]] = {}

    def add_handler(self, handler: Handler) -> None:
        self._handlers.append(handler)

    def add_index(self, name: str, func: IndexFunc) -> None:
        """Index objects by the values `func` returns; call before `run`."""
        self._indexers[name] = func
        self._indexes[name] = {}
        for key, obj in self._cache.items():
            self._index(key, obj)

    def get(self, name: str, namespace: str | None = None) -> Obj | None:
        return self._cache.get(f"{namespace}/{name}" if namespace else name)

    def get_by_key(self, key: str) -> Obj | None:
        return self._cache.get(key)

    def objects(self) -> list[Obj]:
        return list(self._cache.values())

    def keys(self) -> list[str]:
        return list(self._cache)

    def by_index(self, name: str, value: str) -> list[Obj]:
        keys = self._indexes.get(name, {}).get(value, set())
        return [self._cache[k] for k in sorted(keys) if k in self._cache]

    def __len__(self) -> int:
        return len(self._cache)

    async def run(self) -> None:
        """List, then watch from the list's resourceVersion, forever (until cancelled)."""
        delay = self.min_backoff
        while True:
            try:
                if not self.resource_version:
                    await self._relist()
                    delay = self.min_backoff
                await self._watch_once()
                delay = self.min_backoff
            except asyncio.CancelledError:
                raise
            except ApiError as err:
                if err.gone:
                    log.info(
                        "watch expired (410 Gone), relisting",
                        extra={"resource": str(self.resource)},
                    )
                    self.resource_version = ""
                    continue
                delay = await self._pause(delay, err)
            except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as err:
                delay = await self._pause(delay, err)

    async def _pause(self, delay: float, err: BaseException) -> float:
        log.warning(
            "list/watch failed, retrying in %.1fs: %s", delay, err or type(err).__name__,
            extra={"resource": str(self.resource)},
        )  # fmt: skip
        await asyncio.sleep(delay * random.uniform(0.8, 1.2))
        return min(delay * 2, self.max_backoff)

    async def _relist(self) -> None:
        items, rv = await self.client.list_all(self.resource, self.namespace, self.label_selector)
        self.relists += 1
        fresh: dict[str, Obj] = {}
        for item in items:
            if _valid(item):
                fresh[object_key(item)] = item
            else:
                log.warning(
                    "skipping an object without metadata.name",
                    extra={"resource": str(self.resource)},
                )
        for key in [k for k in self._cache if k not in fresh]:
            self._apply(DELETED, self._cache[key])
        for item in fresh.values():
            self._apply(MODIFIED, item)
        self.resource_version = rv
        self.synced.set()

    async def _watch_once(self) -> None:
        events = self.client.watch(
            self.resource, self.namespace, self.resource_version, self.label_selector,
            timeout_seconds=self.watch_timeout,
        )  # fmt: skip
        async for event in events:
            kind = event.get("type")
            obj = event.get("object")
            if kind == "ERROR":
                status = obj if isinstance(obj, dict) else {}
                raise ApiError(
                    int(status.get("code", 500)), str(status.get("reason", "")),
                    str(status.get("message", "watch error")),
                )  # fmt: skip
            if kind == "UNDECODABLE" or not isinstance(obj, dict):
                log.warning(
                    "skipping a watch event that cannot be decoded",
                    extra={"resource": str(self.resource), "raw": str(event.get("raw", ""))[:120]},
                )  # fmt: skip
                continue
            rv = (obj.get("metadata") or {}).get("resourceVersion")
            if kind == "BOOKMARK":
                if rv:
                    self.resource_version = str(rv)
                continue
            if not _valid(obj):
                log.warning(
                    "skipping an object without metadata.name",
                    extra={"resource": str(self.resource)},
                )
                continue
            obj.setdefault("apiVersion", self.resource.api_version)
            obj.setdefault("kind", self.resource.kind)
            self._apply(DELETED if kind == DELETED else MODIFIED, obj)
            if rv:
                self.resource_version = str(rv)

    def _apply(self, kind: str, obj: Obj) -> None:
        key = object_key(obj)
        old = self._cache.get(key)
        if kind == DELETED:
            if old is None:
                return
            del self._cache[key]
            self._unindex(key)
            self._emit(DELETED, old, obj)
            return
        if old is not None and _rv(old) == _rv(obj):
            return
        self._cache[key] = obj
        self._unindex(key)
        self._index(key, obj)
        self._emit(ADDED if old is None else MODIFIED, old, obj)

    def _emit(self, kind: str, old: Obj | None, new: Obj) -> None:
        for handler in self._handlers:
            try:
                handler(kind, old, new)
            except Exception:
                log.exception("event handler failed", extra={"resource": str(self.resource)})

    def _index(self, key: str, obj: Obj) -> None:
        if not self._indexers:
            return
        values: dict[str, list[str]] = {}
        for name, func in self._indexers.items():
            try:
                found = [str(v) for v in func(obj)]
            except Exception:
                log.exception("index function %s failed", name, extra={"key": key})
                found = []
            values[name] = found
            for value in found:
                self._indexes[name].setdefault(value, set()).add(key)
        self._indexed[key] = values

    def _unindex(self, key: str) -> None:
        for name, found in self._indexed.pop(key, {}).items():
            bucket = self._indexes.get(name, {})
            for value in found:
                keys = bucket.get(value)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del bucket[value]


def _valid(obj: Any) -> bool:
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    return isinstance(meta, dict) and isinstance(meta.get("name"), str) and bool(meta["name"])


def _rv(obj: Obj) -> Any:
    return (obj.get("metadata") or {}).get("resourceVersion")
