"""What the image tests share: kinds, object builders and reading conditions."""

from __future__ import annotations

from typing import Any

from eddy_runtime.resources import EVENTS, Obj, ResourceClient
from eddy_testenv.waiting import eventually as eventually  # re-exported for the tests
from image_automation_controller.objects import (
    GIT_REPOSITORIES as GIT_REPOSITORIES,
)
from image_automation_controller.objects import (
    IMAGE_POLICIES as IMAGE_POLICIES,
)
from image_automation_controller.objects import (
    IMAGE_REPOSITORIES as IMAGE_REPOSITORIES,
)
from image_automation_controller.objects import (
    IMAGE_UPDATE_AUTOMATIONS as IMAGE_UPDATE_AUTOMATIONS,
)


def condition(obj: Obj | None, type_: str = "Ready") -> dict[str, Any]:
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == type_:
            return dict(cond)
    return {}


def manifest(kind: str, name: str, namespace: str, spec: dict[str, Any]) -> Obj:
    group = (
        "source.toolkit.fluxcd.io/v1" if kind == "GitRepository" else "image.toolkit.fluxcd.io/v1"
    )
    return {
        "apiVersion": group,
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


async def events_for(kube: ResourceClient, namespace: str, name: str) -> list[Obj]:
    listed = await kube.list(EVENTS, namespace)
    return [
        e for e in listed.get("items") or [] if (e.get("involvedObject") or {}).get("name") == name
    ]
