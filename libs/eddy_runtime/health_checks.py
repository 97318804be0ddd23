"""Wait until applied objects are healthy: kstatus, or a spec's CEL health expressions.

A Kustomization's `wait`/`healthChecks` and a HelmRelease's wait share these rules,
and both compile `spec.healthCheckExprs` here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from eddy_runtime.conditions import INVALID_CEL_EXPRESSION
from eddy_runtime.discovery import Discovery
from eddy_runtime.kstatus import CURRENT, FAILED, IN_PROGRESS, Health, assess
from eddy_runtime.reconciler import StepError
from eddy_runtime.resources import Obj, ResourceClient, describe

if TYPE_CHECKING:
    from eddy_runtime.cel import Expression

# What a health expression reads: the object's own top-level fields, as in Flux.
CEL_VARIABLES = ("apiVersion", "kind", "metadata", "spec", "status")


class HealthCheckError(StepError):
    """Objects did not become healthy; the message names each and why."""


@dataclass(frozen=True)
class HealthRule:
    """One `healthCheckExprs` entry, compiled: its group, kind (or all) and expressions."""

    group: str
    kind: str
    checks: tuple[tuple[str, Expression], ...]  # (state, expression), in Flux's order

    def assess(self, live: Obj) -> Health:
        from eddy_runtime.cel import CelError

        values = {k: live.get(k, {}) for k in CEL_VARIABLES}
        for state, expression in self.checks:
            try:
                if expression.evaluate_bool(values):
                    return Health(state, f"{_label(state)}: {expression.source}")
            except CelError as err:
                # A field the expression reads is not there yet: wait, as Flux does.
                return Health(IN_PROGRESS, str(err))
        return Health(IN_PROGRESS, "no health expression is true yet")


def _label(state: str) -> str:
    return {CURRENT: "current", FAILED: "failed", IN_PROGRESS: "inProgress"}[state]


def _group(api_version: str) -> str:
    return api_version.rpartition("/")[0] if "/" in api_version else ""


def compile_rules(entries: list[dict[str, Any]] | None) -> list[HealthRule]:
    """Compile spec.healthCheckExprs; a StepError (stalled) names the bad expression."""
    if not entries:
        return []
    # The CEL engine (celpy, lark, pendulum, re2: ~4 MiB) is loaded by the first
    # object that has expressions, not by every controller.
    from eddy_runtime.cel import CelError, compile_expression

    rules: list[HealthRule] = []
    for index, entry in enumerate(entries):
        checks: list[tuple[str, Expression]] = []
        for field, state in (("inProgress", IN_PROGRESS), ("failed", FAILED), ("current", CURRENT)):
            source = entry.get(field)
            if not source:
                continue
            try:
                checks.append((state, compile_expression(str(source), CEL_VARIABLES)))
            except CelError as err:
                raise StepError(
                    f"spec.healthCheckExprs[{index}].{field}: {err}; fix the expression",
                    reason=INVALID_CEL_EXPRESSION,
                    stalled=True,
                ) from err
        group = _group(str(entry.get("apiVersion") or ""))
        rules.append(HealthRule(group, str(entry.get("kind") or ""), tuple(checks)))
    return rules


def assessor(rules: list[HealthRule]) -> Callable[[Obj | None], Health]:
    """kstatus, except for the kinds a rule covers: a rule naming the kind wins over
    one for its whole group; the version never matters."""

    def assess_one(live: Obj | None) -> Health:
        if live is None:
            return assess(live)
        group, kind = _group(str(live.get("apiVersion", ""))), str(live.get("kind", ""))
        matching = [r for r in rules if r.group == group and r.kind in (kind, "")]
        if not matching:
            return assess(live)
        return min(matching, key=lambda r: r.kind == "").assess(live)

    return assess_one


async def wait_healthy(
    client: ResourceClient,
    discovery: Discovery,
    targets: list[Obj],
    timeout: float,
    poll: float = 1.0,
    judge: Callable[[Obj | None], Health] = assess,
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
            health = judge(live)
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
