"""healthCheckExprs: CEL decides when a custom object is healthy or failed, in Flux's
order (inProgress, failed, current); an expression that does not compile stops the
Kustomization before anything is applied, naming the expression."""

from __future__ import annotations

from typing import Any

import pytest

from eddy_runtime.resources import Resource, ResourceClient
from eddy_testenv.observe import condition

from .conftest import StartController
from .support import (
    CONFIG_MAPS,
    KUSTOMIZATIONS,
    Sources,
    config_map,
    create_kustomization,
    eventually,
    ready,
)

pytestmark = pytest.mark.integration

GROUP = "cel.eddy.dev"
WIDGETS = Resource(GROUP, "v1", "widgets", "Widget")
CRD = f"""apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.{GROUP}
spec:
  group: {GROUP}
  scope: Namespaced
  names: {{plural: widgets, singular: widget, kind: Widget, listKind: WidgetList}}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          x-kubernetes-preserve-unknown-fields: true
"""
WIDGET = """apiVersion: cel.eddy.dev/v1
kind: Widget
metadata:
  name: gear
spec:
  size: 3
"""
EXPRS = [
    {
        "apiVersion": f"{GROUP}/v1",
        "kind": "Widget",
        "inProgress": "status.phase == 'Building'",
        "failed": "status.phase == 'Broken'",
        "current": "status.phase == 'Running' && status.size == spec.size",
    }
]


async def set_phase(kube: ResourceClient, namespace: str, phase: str, size: int = 3) -> None:
    async def exists() -> bool:
        return await kube.get_or_none(WIDGETS, "gear", namespace) is not None

    await eventually(exists, timeout=20)
    await kube.patch(WIDGETS, "gear", {"status": {"phase": phase, "size": size}}, namespace)


async def health_message(kube: ResourceClient, namespace: str, text: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        obj = await kube.get(KUSTOMIZATIONS, "app", namespace)
        ready_condition = condition(obj, "Ready")
        message = ready_condition.get("message", "")
        return obj if ready_condition.get("status") == "False" and text in message else None

    return await eventually(probe, timeout=30)


async def test_cel_expressions_decide_health_of_a_custom_kind(
    kube: ResourceClient, sources: Sources, start_controller: StartController, namespace: str
) -> None:
    files = {"app/crd.yaml": CRD, "app/widget.yaml": WIDGET}
    revision = await sources.publish("repo", files)
    await start_controller()
    await create_kustomization(
        kube, "app", namespace, path="./app", wait=True, timeout="40s", retryInterval="2s",
        healthCheckExprs=EXPRS,
    )  # fmt: skip
    # No status yet, then Building: not Ready while the expressions say so.
    await set_phase(kube, namespace, "Building")
    obj = await kube.get(KUSTOMIZATIONS, "app", namespace)
    assert condition(obj, "Ready").get("status") != "True"
    await set_phase(kube, namespace, "Running")
    obj = await ready(kube, namespace, "app", revision)
    assert condition(obj, "Healthy")["status"] == "True"

    # failed is true: the health check fails at once, naming the object and expression.
    await set_phase(kube, namespace, "Broken")
    changed = {**files, "app/cm.yaml": config_map("settings", mode="next")}
    await sources.publish("repo", changed)
    obj = await health_message(kube, namespace, f"Widget/{namespace}/gear status: 'Failed'")
    message = condition(obj, "Ready")["message"]
    assert "status.phase == 'Broken'" in message, message
    assert condition(obj, "Ready")["reason"] == "HealthCheckFailed"


async def test_an_expression_that_does_not_compile_is_refused_by_name(
    kube: ResourceClient, sources: Sources, start_controller: StartController, namespace: str
) -> None:
    good = await sources.publish("repo", {"app/cm.yaml": config_map("settings", mode="good")})
    await start_controller()
    await create_kustomization(kube, "app", namespace, path="./app")
    inventory = (await ready(kube, namespace, "app", good))["status"]["inventory"]

    bad = [{**EXPRS[0], "current": "status.phase == 'Running' &&"}]
    await kube.patch(KUSTOMIZATIONS, "app", {"spec": {"healthCheckExprs": bad}}, namespace)
    await sources.publish("repo", {"app/cm.yaml": config_map("settings", mode="next")})
    obj = await health_message(kube, namespace, "spec.healthCheckExprs[0].current")
    ready_condition = condition(obj, "Ready")
    assert ready_condition["reason"] == "InvalidCELExpression"
    assert "status.phase == 'Running' &&" in ready_condition["message"]
    assert condition(obj, "Stalled")["status"] == "True"
    assert obj["status"]["inventory"] == inventory
    assert (await kube.get(CONFIG_MAPS, "settings", namespace))["data"] == {"mode": "good"}
