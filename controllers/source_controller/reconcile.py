"""The reconcile every source kind shares: finalizer, steps, one status patch, Events.

A kind supplies a Job (its named steps and what they produced); this module turns
the outcome into conditions, the NewArtifact or failure Event, and the requeue.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eddy_api.common import Reason
from eddy_runtime import Manager, Obj, Resource, Result, Step, StepError, run_steps
from eddy_runtime.durations import parse_duration
from eddy_runtime.events import NEW_ARTIFACT
from eddy_runtime.finalizers import finalized

from .failures import invalid_spec
from .storage import Storage
from .summary import mark_failed, mark_succeeded

log = logging.getLogger("eddy.source")


def duration_of(spec: dict[str, Any], field: str, default: str) -> float:
    text = str(spec.get(field) or default)
    try:
        return parse_duration(text)
    except ValueError as err:
        raise invalid_spec(f"spec.{field}: {err}") from err


class Job:
    """One reconcile of one object: its steps, and what a success should say.

    Steps fill `artifact` (the new status.artifact), `message` and any extra status
    fields in `status`; a scratch directory is available and removed afterwards.
    """

    def __init__(self, obj: Obj, status: dict[str, Any]) -> None:
        self.obj = obj
        self.spec: dict[str, Any] = obj.get("spec") or {}
        meta = obj["metadata"]
        self.namespace: str = meta["namespace"]
        self.name: str = meta["name"]
        self.generation: int | None = meta.get("generation")
        self.status = status
        self.previous: dict[str, Any] | None = copy.deepcopy(status.get("artifact"))
        self.artifact: dict[str, Any] | None = None
        self.message = ""
        self.event_message = ""
        # The Normal Event's reason for a new artifact (a HelmChart pull says ChartPullSucceeded).
        self.event_reason = NEW_ARTIFACT
        self._scratch: Path | None = None

    @property
    def scratch(self) -> Path:
        if self._scratch is None:
            self._scratch = Path(tempfile.mkdtemp(prefix=f"eddy-{self.name[:40]}-"))
        return self._scratch

    def cleanup(self) -> None:
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)

    def steps(self) -> Sequence[Step]:
        raise NotImplementedError

    def interval(self) -> float:
        return duration_of(self.spec, "interval", "10m")

    def new_revision(self) -> bool:
        """Whether consumers should hear of a new artifact (NewArtifact Event)."""
        if self.artifact is None:
            return False
        old = (self.previous or {}).get("revision")
        return old != self.artifact.get("revision")


class SourceReconciler:
    """Runs Jobs of one kind; subclasses say which kind and how to make a Job."""

    resource: Resource

    def __init__(self, manager: Manager, storage: Storage) -> None:
        self.manager = manager
        self.storage = storage

    def job(self, obj: Obj, status: dict[str, Any]) -> Job:
        raise NotImplementedError

    async def reconcile(self, obj: Obj) -> Result:
        return await finalized(self.manager.client, self.resource, obj, self.run, self.forget)

    async def forget(self, obj: Obj) -> None:
        """Remove the object's artifacts from storage (it is being deleted)."""
        meta = obj["metadata"]
        await self.storage.remove_all(self.resource.kind, meta["namespace"], meta["name"])

    async def run(self, obj: Obj) -> Result:
        status: dict[str, Any] = copy.deepcopy(obj.get("status") or {})
        job = self.job(obj, status)
        try:
            await run_steps(job.steps())
            interval = job.interval()
        except StepError as err:
            return await self._failed(job, err)
        finally:
            # A checkout is many small files: removing them on the event loop stalls
            # every other reconcile while it runs.
            await asyncio.to_thread(job.cleanup)
        mark_succeeded(status, job.message, job.generation)
        await self.manager.status.patch(self.resource, obj, status)
        if job.new_revision():
            await self.manager.events.event(
                obj, "Normal", job.event_reason, job.event_message or job.message,
                annotations=_revision_annotations(job.artifact),
            )  # fmt: skip
        current = status.get("artifact")
        if current:
            # On every pass, not only after a new artifact: older artifacts must
            # also age out by --artifact-retention-ttl while the revision holds.
            removed = await self.storage.collect_garbage(
                self.resource.kind, job.namespace, job.name, str(current["path"])
            )
            if removed:
                log.info("garbage collected %d artifacts", len(removed))
        return Result.after(interval)

    async def _failed(self, job: Job, error: StepError) -> Result:
        mark_failed(job.status, error, job.generation)
        try:
            await self.manager.status.patch(self.resource, job.obj, job.status)
        finally:
            await self.manager.events.warning(job.obj, error.reason, error.message)
        log.error("%s: %s", error.reason, error.message)
        if error.stalled:
            return Result.done()
        try:
            return Result.after(job.interval())
        except StepError:
            return Result.done()


def _revision_annotations(artifact: dict[str, Any] | None) -> dict[str, str] | None:
    # The notification-controller reads the revision from this annotation.
    if not artifact:
        return None
    return {"source.toolkit.fluxcd.io/revision": str(artifact.get("revision", ""))}


__all__ = ["Job", "Reason", "SourceReconciler", "duration_of"]
