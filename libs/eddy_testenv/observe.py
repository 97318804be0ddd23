"""What a test checks of an object, as a user would: its conditions and its Events.

Every suite reads status conditions and Events the same way; `kubectl describe`
shows the same two things.
"""

from __future__ import annotations

from typing import Any

from eddy_runtime.resources import EVENTS, Obj, ResourceClient


def condition(obj: Obj | None, type_: str = "Ready") -> dict[str, Any]:
    """The condition of that type in the object's status, or {} when it has none."""
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == type_:
            return dict(cond)
    return {}


async def events_for(kube: ResourceClient, namespace: str, name: str, kind: str = "") -> list[Obj]:
    """The Events recorded about the object `name` (of `kind`, when given)."""
    selector = f"involvedObject.name={name}" + (f",involvedObject.kind={kind}" if kind else "")
    listed = await kube.list(EVENTS, namespace, field_selector=selector)
    return list(listed.get("items") or [])
