"""How the three image reconcilers end a pass: one status patch, an Event, a requeue.

They share the same outcomes (ready, waiting, failed, stalled); writing them once
keeps the conditions, messages and retries the same across the three kinds.
"""

from __future__ import annotations

import logging
from typing import Any

from eddy_runtime import Manager, Resource, Result, StepError, conditions
from eddy_runtime.durations import seconds_or
from eddy_runtime.events import NORMAL, WARNING

from .objects import Obj, spec_of

log = logging.getLogger("eddy.image")

# After a failure, try again within a minute even when the interval is longer.
MAX_RETRY = 60.0


def interval_of(obj: Obj, default: float = 600.0) -> float:
    return seconds_or(spec_of(obj).get("interval"), default) or default


def retry_after(obj: Obj) -> float:
    return min(interval_of(obj), MAX_RETRY)


class Report:
    """The status being built for one object during one pass."""

    def __init__(self, manager: Manager, resource: Resource, obj: Obj) -> None:
        self.manager = manager
        self.resource = resource
        self.obj = obj
        self.before: dict[str, Any] = dict(obj.get("status") or {})
        self.status: dict[str, Any] = {
            k: v for k, v in self.before.items() if k != "observedGeneration"
        }
        self.generation: int | None = (obj.get("metadata") or {}).get("generation")

    @property
    def was_ready(self) -> bool:
        return conditions.is_true(self.before, conditions.READY)

    async def ready(self, reason: str, message: str, event: str | None = None) -> None:
        conditions.mark_ready(self.status, message, reason, self.generation)
        # The Event first: whoever sees the status finds the Event beside it.
        if event:
            await self.manager.events.event(self.obj, NORMAL, reason, event)
        await self.manager.status.patch(self.resource, self.obj, self.status)

    async def failed(self, err: StepError) -> Result:
        """Ready=False; retried within a minute, or Stalled when only an edit can help."""
        retry = None if err.stalled else retry_after(self.obj)
        conditions.mark_failed(
            self.status, err.reason, err.message, self.generation, not err.stalled
        )
        log.error("%s", err.message, extra={"reason": err.reason, "step": err.step})
        await self.manager.events.event(self.obj, WARNING, err.reason, err.message)
        await self.manager.status.patch(self.resource, self.obj, self.status)
        return Result.after(retry) if retry is not None else Result.done()

    async def waiting(self, reason: str, message: str, retry: float) -> Result:
        """Ready=False because something it depends on is not there yet; no Warning."""
        conditions.mark_failed(self.status, reason, message, self.generation, True)
        log.info("%s", message)
        await self.manager.status.patch(self.resource, self.obj, self.status)
        return Result.after(retry)
