"""Wait until applied objects are healthy, by the kstatus rules of eddy_runtime.

`wait` and `healthChecks` hold a Kustomization's Ready until its workloads run.
"""

from __future__ import annotations

import asyncio
import time

from eddy_kustomize.objects import Obj, describe
from eddy_runtime.discovery import Discovery
from eddy_runtime.kstatus import CURRENT, FAILED, Health, assess
from eddy_runtime.reconciler import StepError
from eddy_runtime.resources import ResourceClient


class HealthCheckError(StepError):
    """Objects did not become healthy; the message names each and why."""


async def wait_healthy(
    client: ResourceClient,
    discovery: Discovery,
    targets: list[Obj],
    timeout: float,
    poll: float = 1.0,
) -> float:
    """Poll until every target is Current; returns the seconds it took.

    Raises HealthCheckError at the first Failed object, or at `timeout` naming each
    object that is still not healthy and its state.
    """
    started = time.monotonic()
    pending = {describe(t): t for t in targets}
    last: dict[str, Health] = {}
    while True:
        for subject, target in list(pending.items()):
            resource = await discovery.lookup(str(target["apiVersion"]), str(target["kind"]))
            meta = target["metadata"]
            live = (
                await client.get_or_none(resource, meta["name"], meta.get("namespace"))
                if resource is not None
                else None
            )
            health = assess(live)
            last[subject] = health
            if health.state == CURRENT:
                del pending[subject]
            elif health.state == FAILED:
                raise HealthCheckError(f"{subject} status: 'Failed': {health.message}")
        if not pending:
            return time.monotonic() - started
        elapsed = time.monotonic() - started
        if elapsed >= timeout:
            details = ", ".join(
                f"{s} status: '{last[s].state}' ({last[s].message})" for s in sorted(pending)
            )
            raise HealthCheckError(
                f"health check failed after {elapsed:.0f}s, timeout waiting for: [{details}]"
            )
        await asyncio.sleep(min(poll, max(0.0, timeout - elapsed)))
