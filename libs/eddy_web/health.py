"""The health of applications whose status does not say it: their live objects, assessed.

A Kustomization without `wait` or `healthChecks` has no Healthy condition; the
dashboard then asks the API server for each object in its inventory and applies
the same kstatus rules as the kustomize-controller's health check, as the person.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import yaml

from eddy_runtime.discovery import Discovery, DiscoveryError
from eddy_runtime.kstatus import CURRENT, FAILED, NOT_FOUND, assess
from eddy_runtime.resources import ApiError, Obj, ResourceClient

log = logging.getLogger("eddy.web")

HEALTHY, PROGRESSING, DEGRADED, MISSING = "Healthy", "Progressing", "Degraded", "Missing"
# Objects assessed per application; a larger inventory is judged by its first ones.
MAX_OBJECTS = 100
# How often the health of every shown application is assessed again, while someone looks.
REFRESH_SECONDS = 30.0
# Applications assessed at the same time, per person.
CONCURRENT = 4

Key = tuple[str, str, str]


def from_status(obj: Obj) -> tuple[str, str] | None:
    """The health the controller reports (Healthy or Released condition), if it does."""
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if isinstance(cond, dict) and cond.get("type") in ("Healthy", "Released"):
            ok = cond.get("status") == "True"
            return (HEALTHY if ok else DEGRADED), str(cond.get("message", ""))
    return None


def summarize(states: list[tuple[str, str, str]]) -> tuple[str, str]:
    """(health, reason) of an application from (object, kstatus state, message) triples."""
    if not states:
        return "", ""
    failed = [(o, m) for o, s, m in states if s == FAILED]
    if failed:
        return DEGRADED, f"{failed[0][0]}: {failed[0][1]}"
    missing = [o for o, s, _ in states if s == NOT_FOUND]
    if missing:
        return MISSING, f"{missing[0]} is not in the cluster"
    pending = [(o, m) for o, s, m in states if s != CURRENT]
    if pending:
        return PROGRESSING, f"{pending[0][0]}: {pending[0][1]}"
    return HEALTHY, f"{len(states)} objects current"


def applied_anything(obj: Obj) -> bool:
    """Whether there are objects to assess: an inventory, or a Helm release."""
    status = obj.get("status") or {}
    if obj.get("kind") == "HelmRelease":
        return bool(status.get("history"))
    return bool((status.get("inventory") or {}).get("entries"))


class AppHealth:
    """Assessed health per application, refreshed while the person has a page open."""

    def __init__(
        self,
        client: ResourceClient,
        refs_of: Callable[[ResourceClient, Obj], Any],
        changed: Callable[[Key], None],
    ) -> None:
        self.client = client
        self.refs_of = refs_of
        self.changed = changed
        self.known: dict[Key, tuple[str, str]] = {}
        self._discovery = Discovery(client)
        self._gate = asyncio.Semaphore(CONCURRENT)
        self._pending: dict[Key, asyncio.Task[None]] = {}

    def get(self, key: Key) -> tuple[str, str] | None:
        return self.known.get(key)

    def forget(self, key: Key) -> None:
        self.known.pop(key, None)
        task = self._pending.pop(key, None)
        if task is not None:
            task.cancel()

    def request(self, obj: Obj) -> None:
        """Assess this application soon (once, however often it is asked)."""
        meta = obj.get("metadata") or {}
        key = (str(obj.get("kind", "")), str(meta.get("namespace", "")), str(meta.get("name", "")))
        if from_status(obj) is not None or not applied_anything(obj):
            # Nothing to assess (or the controller says it): no task, and no stale verdict.
            if self.known.pop(key, None):
                self.changed(key)
            return
        if key in self._pending:
            return
        self._pending[key] = asyncio.create_task(self._run(key, obj))

    async def _run(self, key: Key, obj: Obj) -> None:
        try:
            async with self._gate:
                found = await self.assess(obj)
        except asyncio.CancelledError:
            raise
        except Exception:  # one application's bad inventory never stops the others
            log.exception("cannot assess the health of %s/%s/%s", *key)
            return
        finally:
            self._pending.pop(key, None)
        before = self.known.get(key)
        self.known[key] = found
        if before != found and (before is not None or found[0]):
            self.changed(key)

    async def assess(self, obj: Obj) -> tuple[str, str]:
        try:
            refs = await self.refs_of(self.client, obj)
        except (ApiError, ValueError, OSError, yaml.YAMLError):
            return "", ""
        states = []
        for ref in refs[:MAX_OBJECTS]:
            label = f"{ref['kind']}/{ref['name']}"
            try:
                res = await self._discovery.lookup(ref["apiVersion"], ref["kind"])
                if res is None:
                    states.append((label, NOT_FOUND, "its kind is not served"))
                    continue
                live = await self.client.get_or_none(res, ref["name"], ref["namespace"] or None)
            except (ApiError, DiscoveryError) as err:
                # Not allowed to read it, or the API is away: not a verdict on the app.
                log.debug("cannot read %s: %s", label, err)
                continue
            health = assess(live)
            states.append((label, health.state, health.message))
        return summarize(states)

    async def close(self) -> None:
        for task in list(self._pending.values()):
            task.cancel()
        for task in list(self._pending.values()):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._pending.clear()
