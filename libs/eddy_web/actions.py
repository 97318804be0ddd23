"""Reconcile, reconcile with source, suspend, resume: what the flux CLI writes, as the person.

The same annotation and field the `flux` command sets, so the controllers cannot
tell a click from `flux reconcile`; the API server checks the person's RBAC.
"""

from __future__ import annotations

from datetime import UTC, datetime

from eddy_runtime.annotations import RECONCILE_REQUESTED_AT, is_suspended
from eddy_web.hub import Hub
from eddy_web.kinds import APPS, RESOURCES
from eddy_web.summary import helm_chart_of, source_ref

ACTIONS = ("reconcile", "reconcile-source", "suspend", "resume")


class ActionError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def requested_now() -> str:
    """The annotation value, as RFC 3339 with nanoseconds, like the flux CLI's."""
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond * 1000:09d}Z"


async def _annotate(hub: Hub, kind: str, namespace: str, name: str) -> None:
    patch = {"metadata": {"annotations": {RECONCILE_REQUESTED_AT: requested_now()}}}
    await hub.client.patch(RESOURCES[kind], name, patch, namespace)


async def run(hub: Hub, kind: str, namespace: str, name: str, action: str) -> str:
    """Do `action` to the object; returns what was done, in words."""
    if action not in ACTIONS:
        raise ActionError(404, f"unknown action {action!r}; one of {', '.join(ACTIONS)}")
    res = RESOURCES[kind]
    obj = hub.get(kind, namespace, name) or await hub.client.get_or_none(res, name, namespace)
    if obj is None:
        raise ActionError(404, f"{kind} {namespace}/{name} not found")
    subject = f"{kind} {namespace}/{name}"
    if action == "suspend":
        await hub.client.patch(res, name, {"spec": {"suspend": True}}, namespace)
        return f"suspended {subject}"
    if action == "resume":
        patch = {
            "spec": {"suspend": False},
            "metadata": {"annotations": {RECONCILE_REQUESTED_AT: requested_now()}},
        }
        await hub.client.patch(res, name, patch, namespace)
        return f"resumed {subject}"
    if is_suspended(obj):
        raise ActionError(409, f"{subject} is suspended; resume it first")
    if action == "reconcile-source":
        if kind not in APPS:
            raise ActionError(400, f"{kind} has no source to reconcile")
        refs = [r for r in (source_ref(obj), helm_chart_of(obj)) if r and r["kind"] in RESOURCES]
        if not refs:
            raise ActionError(400, f"{subject} names no source eddy serves")
        for ref in refs:
            await _annotate(hub, ref["kind"], ref["namespace"], ref["name"])
        await _annotate(hub, kind, namespace, name)
        names = ", ".join(f"{r['kind']} {r['namespace']}/{r['name']}" for r in refs)
        return f"asked {names} and {subject} to reconcile"
    await _annotate(hub, kind, namespace, name)
    return f"asked {subject} to reconcile"
