"""The reconcile every source kind shares: finalizer, steps, one status patch, Events.

A kind supplies a SourceAttempt (its named steps and what they produced); this
module turns the outcome into conditions, the NewArtifact or failure Event, and the
requeue.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

from eddy_api.common import Reason
from eddy_runtime import Attempt, Manager, Obj, Resource, Result, StepError, logs, tracing
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


class SourceAttempt(Attempt):
    """One reconcile of one source object: its steps, and what a success should say.

    Steps fill `artifact` (the new status.artifact), `message` and any extra status
    fields in `status`; a scratch directory is available and removed afterwards.
    """

    # Whether status.url repeats the artifact's URL (HelmRepository, HelmChart).
    status_url = True

    def __init__(self, reconciler: SourceReconciler, obj: Obj) -> None:
        self.reconciler = reconciler
        self.manager = reconciler.manager
        self.storage = reconciler.storage
        self.resource = reconciler.resource
        self.obj = obj
        self.spec: dict[str, Any] = obj.get("spec") or {}
        meta = obj["metadata"]
        self.namespace: str = meta["namespace"]
        self.name: str = meta["name"]
        self.generation: int | None = meta.get("generation")
        self.status: dict[str, Any] = copy.deepcopy(obj.get("status") or {})
        self.previous: dict[str, Any] | None = copy.deepcopy(self.status.get("artifact"))
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

    async def cleanup(self) -> None:
        if self._scratch is not None:
            # A checkout is many small files: removing them on the event loop stalls
            # every other reconcile while it runs.
            await asyncio.to_thread(shutil.rmtree, self._scratch, True)

    def interval(self) -> float:
        return duration_of(self.spec, "interval", "10m")

    def new_revision(self) -> bool:
        """Whether consumers should hear of a new artifact (NewArtifact Event)."""
        if self.artifact is None:
            return False
        old = (self.previous or {}).get("revision")
        return old != self.artifact.get("revision")

    async def reconcile_storage(self) -> Result | None:
        """Forget an advertised artifact that is no longer on disk; refresh its URL.

        A lost artifact is rebuilt by the later steps; `previous` keeps its revision,
        so a rebuild of the same revision (storage lost with a restart) is not
        announced as new.
        """
        current = self.status.get("artifact")
        if current and not self.storage.exists(current):
            self.status.pop("artifact", None)
        elif current:
            self.status["artifact"] = self.storage.with_current_url(current)
            if self.status_url:
                self.status["url"] = self.status["artifact"]["url"]
        return None

    async def failed(self, err: StepError) -> Result:
        mark_failed(self.status, err, self.generation)
        # The Event first: whoever sees the failed status finds the Event beside it.
        await self.manager.events.warning(self.obj, err.reason, err.message)
        await self.manager.status.patch(self.resource, self.obj, self.status)
        log.error("%s: %s", err.reason, err.message, extra={"step": err.step})
        if err.stalled:
            return Result.done()
        try:
            return Result.after(self.interval())
        except StepError:
            return Result.done()

    async def succeeded(self) -> Result:
        try:
            interval = self.interval()
        except StepError as err:
            return await self.failed(err)
        mark_succeeded(self.status, self.message, self.generation)
        if self.artifact is not None:
            logs.set_revision(str(self.artifact.get("revision", "")))
            if self.new_revision():
                # This pass's trace becomes the revision's: consumers continue it.
                tracing.record_in(self.artifact)
        if self.new_revision():
            await self.manager.events.event(
                self.obj, "Normal", self.event_reason, self.event_message or self.message,
                annotations=_revision_annotations(self.artifact),
            )  # fmt: skip
        await self.manager.status.patch(self.resource, self.obj, self.status)
        current = self.status.get("artifact")
        if current:
            # On every pass, not only after a new artifact: older artifacts must
            # also age out by --artifact-retention-ttl while the revision holds.
            removed = await self.storage.collect_garbage(
                self.resource.kind, self.namespace, self.name, str(current["path"])
            )
            if removed:
                log.info("garbage collected %d artifacts", len(removed))
        return Result.after(interval)


class SourceReconciler:
    """Runs attempts of one kind; subclasses say which kind and how to make an attempt."""

    resource: Resource

    def __init__(self, manager: Manager, storage: Storage) -> None:
        self.manager = manager
        self.storage = storage

    def attempt(self, obj: Obj) -> SourceAttempt:
        raise NotImplementedError

    async def reconcile(self, obj: Obj) -> Result:
        return await finalized(self.manager.client, self.resource, obj, self.run, self.forget)

    async def forget(self, obj: Obj) -> None:
        """Remove the object's artifacts from storage (it is being deleted)."""
        meta = obj["metadata"]
        await self.storage.remove_all(self.resource.kind, meta["namespace"], meta["name"])

    async def run(self, obj: Obj) -> Result:
        return await self.attempt(obj).run()


def _revision_annotations(artifact: dict[str, Any] | None) -> dict[str, str] | None:
    # The notification-controller reads the revision from this annotation.
    if not artifact:
        return None
    return {"source.toolkit.fluxcd.io/revision": str(artifact.get("revision", ""))}


__all__ = ["Reason", "SourceAttempt", "SourceReconciler", "duration_of"]
