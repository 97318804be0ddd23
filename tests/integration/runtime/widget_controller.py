"""A tiny controller for the test CRD Widget, built on eddy_runtime as a real one would be.

The runtime's integration tests and benchmark drive it through Widget specs: how long
to work, whether to fail, requeue, record Events, read a Secret or provoke a conflict.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import logging
import os
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from eddy_runtime import (
    Controller,
    Manager,
    Obj,
    Resource,
    Result,
    Step,
    StepError,
    Watch,
    conditions,
    entrypoint,
    events,
    ref_key,
    run_steps,
)
from eddy_runtime.durations import parse_duration
from eddy_runtime.finalizers import add_finalizer, is_deleting, remove_finalizer
from eddy_runtime.informer import object_key
from eddy_runtime.resources import CONFIG_MAPS, SECRETS

WIDGETS = Resource("testing.eddy.dev", "v1", "widgets", "Widget")
NAME = "widget-controller"

log = logging.getLogger("widget")


@dataclass
class Tracker:
    """What the tests inspect when the controller runs in their own process."""

    calls: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    active: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    max_per_key: int = 0
    max_total: int = 0

    def enter(self, key: str) -> None:
        self.calls[key].append(asyncio.get_running_loop().time())
        self.active[key] += 1
        self.max_per_key = max(self.max_per_key, self.active[key])
        self.max_total = max(self.max_total, sum(self.active.values()))

    def exit(self, key: str) -> None:
        self.active[key] -= 1


class WidgetReconciler:
    def __init__(self, manager: Manager, tracker: Tracker | None = None) -> None:
        self.manager = manager
        self.tracker = tracker or Tracker()

    async def reconcile(self, obj: Obj) -> Result:
        key = object_key(obj)
        self.tracker.enter(key)
        try:
            return await self._reconcile(obj)
        finally:
            self.tracker.exit(key)

    async def _reconcile(self, obj: Obj) -> Result:
        client, spec = self.manager.client, obj.get("spec") or {}
        if is_deleting(obj):
            await remove_finalizer(client, WIDGETS, obj)
            return Result()
        if spec.get("finalizer"):
            obj = await add_finalizer(client, WIDGETS, obj)
        generation = obj["metadata"].get("generation")
        status: dict[str, Any] = copy.deepcopy(obj.get("status") or {})
        interval: list[float | None] = [None]

        async def configure() -> Result | None:
            if "interval" in spec:
                try:
                    interval[0] = parse_duration(str(spec["interval"]))
                except ValueError as err:
                    raise StepError(f"spec.interval: {err}", stalled=True) from err
            return None

        async def work() -> Result | None:
            if spec.get("sleep"):
                progressing = copy.deepcopy(status)
                conditions.mark_reconciling(
                    progressing, conditions.PROGRESSING, "working", generation
                )
                await self.manager.status.patch(WIDGETS, obj, progressing)
                await asyncio.sleep(float(spec["sleep"]))
            if spec.get("secretRef"):
                secret = await client.get(SECRETS, spec["secretRef"], obj["metadata"]["namespace"])
                log.info("read the secret %s", secret, extra={"secret": secret})
            if spec.get("fail"):
                raise RuntimeError("the widget is configured to fail")
            if spec.get("conflict"):
                # Change the object behind our own back so the status patch conflicts.
                count = str(len(self.tracker.calls[object_key(obj)]))
                meta = obj["metadata"]
                await client.patch(
                    WIDGETS, meta["name"], {"metadata": {"labels": {"touched": count}}},
                    meta["namespace"],
                )  # fmt: skip
            return None

        try:
            await run_steps([Step("configure", configure, "InvalidInterval"), Step("work", work)])
        except StepError as err:
            conditions.mark_failed(status, err.reason, err.message, generation)
            try:
                await self.manager.status.patch(WIDGETS, obj, status)
            finally:
                await self.manager.events.warning(obj, err.reason, err.message)
            raise
        conditions.mark_ready(status, "widget is ready", conditions.SUCCEEDED, generation)
        status["reconciledBy"] = os.getpid()
        await self.manager.status.patch(WIDGETS, obj, status)
        if spec.get("events"):
            await self.manager.events.normal(
                obj, events.RECONCILIATION_SUCCEEDED, "widget is ready"
            )
        return Result(requeue_after=interval[0])


def config_map_refs(obj: Obj) -> list[str]:
    """Index: the ConfigMap a Widget names in spec.configMapRef, as a ref_key."""
    ref = (obj.get("spec") or {}).get("configMapRef")
    return [ref_key("ConfigMap", obj["metadata"]["namespace"], ref)] if ref else []


def controller(manager: Manager, tracker: Tracker | None = None) -> Controller:
    return Controller(
        name="widget",
        resource=WIDGETS,
        reconciler=WidgetReconciler(manager, tracker),
        watches=[Watch(CONFIG_MAPS, index="configmap")],
        indexes={"configmap": config_map_refs},
    )


def controllers(manager: Manager, _: None) -> list[Controller]:
    return [controller(manager)]


def settings_from(_: argparse.Namespace) -> None:
    return None


if __name__ == "__main__":
    sys.exit(entrypoint.run(NAME, controllers, settings_from, argv=sys.argv[1:]))
