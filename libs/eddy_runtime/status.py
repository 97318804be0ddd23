"""Write an object's status in one place: only when it changed, retrying on conflict.

Each reconcile ends with one status patch that sets observedGeneration and
lastHandledReconcileAt, so clients can tell which spec and which request it answers.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from .annotations import requested_at
from .resources import ApiError, Obj, Resource, ResourceClient

log = logging.getLogger("eddy.status")


def merge_patch(old: Any, new: Any) -> Any:
    """The RFC 7386 merge patch that turns `old` into `new` (None when equal)."""
    if not isinstance(old, dict) or not isinstance(new, dict):
        return None if old == new else new
    patch: dict[str, Any] = {}
    for key in old.keys() - new.keys():
        patch[key] = None
    for key, value in new.items():
        if key not in old:
            patch[key] = value
        elif old[key] != value:
            if isinstance(old[key], dict) and isinstance(value, dict):
                patch[key] = merge_patch(old[key], value)
            else:
                patch[key] = value
    return patch or None


def finalize(obj: Obj, status: dict[str, Any]) -> dict[str, Any]:
    """`status` with observedGeneration and lastHandledReconcileAt filled from `obj`.

    Only the top level is copied: nothing below it is changed here, and a deep copy
    of every status (inventory, history) on every patch showed in controllers' CPU.
    """
    out = dict(status)
    generation = (obj.get("metadata") or {}).get("generation")
    if generation is not None:
        out["observedGeneration"] = generation
    handled = requested_at(obj)
    if handled is not None:
        out["lastHandledReconcileAt"] = handled
    return out


def as_seen(updated: Obj, seen: Obj) -> Obj:
    """The server's answer to a status patch, with the generation and annotations of
    `seen` (what the pass works from), so a later patch of the same pass still stamps
    the generation it observed, not one that arrived while it ran."""
    meta = dict(updated.get("metadata") or {})
    before = seen.get("metadata") or {}
    for key in ("generation", "annotations"):
        if key in before:
            meta[key] = before[key]
        else:
            meta.pop(key, None)
    return {**updated, "metadata": meta}


class StatusPatcher:
    """Patch `status` of objects of one client; retries conflicts against a fresh read."""

    def __init__(self, client: ResourceClient, attempts: int = 5, pause: float = 0.1) -> None:
        self.client = client
        self.attempts = attempts
        self.pause = pause
        self.patches = 0
        self.conflicts = 0

    async def patch(self, resource: Resource, obj: Obj, status: dict[str, Any]) -> Obj:
        """Make the object's status equal `status` (plus generation/request bookkeeping).

        Returns the object as the server now has it (or `obj` when nothing changed),
        with the generation and annotations of `obj` (see `as_seen`).
        The patch carries the resourceVersion it was computed against: on a conflict
        the object is read again and the difference recomputed from that.
        """
        # The status describes the spec (generation) and the request this pass started
        # from: a spec changed meanwhile, seen on a re-read or in a previous patch's
        # answer, must not be claimed as observed.
        current = obj
        meta = obj["metadata"]
        desired = finalize(obj, status)
        for attempt in range(self.attempts):
            diff = merge_patch(current.get("status") or {}, desired)
            if diff is None:
                return as_seen(current, obj)
            body = {
                "metadata": {"resourceVersion": current["metadata"]["resourceVersion"]},
                "status": diff,
            }
            try:
                updated = await self.client.patch_status(
                    resource, meta["name"], body, meta.get("namespace")
                )
                self.patches += 1
                return as_seen(updated, obj)
            except ApiError as err:
                if not err.conflict or attempt == self.attempts - 1:
                    raise
                self.conflicts += 1
                log.info("status patch conflicted, retrying on a fresh read")
                await asyncio.sleep(self.pause * (attempt + 1))
                fresh = await self.client.get_or_none(resource, meta["name"], meta.get("namespace"))
                if fresh is None:
                    return as_seen(current, obj)
                current = fresh
        return as_seen(current, obj)
