"""Drift that explains itself: a person scales a Deployment from 2 to 5 with the real
kubectl, and the Event and status say which field, what was found, what Git restored,
and who changed it; with `eddy.dev/drift: report` the change is only reported; paths
that spec.ignore names keep what is there."""

from __future__ import annotations

from typing import Any

import pytest

from eddy_runtime.resources import ResourceClient
from eddy_testenv.observe import condition, events_for

from .conftest import StartController
from .support import (
    CONFIG_MAPS,
    DEPLOYMENTS,
    KUSTOMIZATIONS,
    Sources,
    config_map,
    create_kustomization,
    deployment,
    eventually,
    kubectl,
    ready,
)
from .test_kustomize_ownership import reconcile_now

pytestmark = pytest.mark.integration


async def by_hand(control_plane: Any, namespace: str, *args: str) -> None:
    code, out = await kubectl(control_plane, "-n", namespace, *args)
    assert code == 0, out


async def event_with(kube: ResourceClient, namespace: str, reason: str, text: str) -> str:
    async def probe() -> str | None:
        for event in await events_for(kube, namespace, "app", "Kustomization"):
            if event.get("reason") == reason and text in event["message"]:
                return str(event["message"])
        return None

    return await eventually(probe, timeout=20)


async def test_a_corrected_drift_names_field_values_and_manager(
    kube: ResourceClient, sources: Sources, start_controller: StartController,
    namespace: str, control_plane: Any,
) -> None:  # fmt: skip
    revision = await sources.publish("repo", {"app/deploy.yaml": deployment("web", replicas=2)})
    await start_controller()
    await create_kustomization(kube, "app", namespace, path="./app")
    await ready(kube, namespace, "app", revision)

    await by_hand(control_plane, namespace, "scale", "deployment/web", "--replicas=5")
    await by_hand(control_plane, namespace, "set", "image", "deployment/web", "app=nginx:1.28")
    assert (await kube.get(DEPLOYMENTS, "web", namespace))["spec"]["replicas"] == 5
    await reconcile_now(kube, namespace, "app")

    subject = f"Deployment/{namespace}/web"
    message = await event_with(kube, namespace, "DriftCorrected", subject)
    assert f"{subject} spec.replicas: 5 (set by kubectl through /scale) restored to 2 from Git" in (
        message
    ), message
    assert (
        f"{subject} spec.template.spec.containers[0].image: nginx:1.28 (set by kubectl-set) "
        "restored to nginx:1.27 from Git"
    ) in message, message
    live = await kube.get(DEPLOYMENTS, "web", namespace)
    assert live["spec"]["replicas"] == 2
    assert live["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"

    drift = (await kube.get(KUSTOMIZATIONS, "app", namespace))["status"]["drift"]
    replicas = next(d for d in drift if d["field"] == "spec.replicas")
    assert replicas["object"] == subject
    assert (replicas["found"], replicas["restored"]) == ("5", "2")
    assert replicas["manager"] == "kubectl through /scale" and replicas["corrected"] is True
    assert replicas["detectedAt"]


async def test_report_only_records_drift_and_applies_the_rest_of_git(
    kube: ResourceClient, sources: Sources, start_controller: StartController,
    namespace: str, control_plane: Any,
) -> None:  # fmt: skip
    await sources.publish("repo", {"app/deploy.yaml": deployment("web", replicas=2)})
    await start_controller()
    obj = await create_kustomization(kube, "app", namespace, path="./app")
    await ready(kube, namespace, "app")
    await kube.patch(
        KUSTOMIZATIONS, "app", {"metadata": {"annotations": {"eddy.dev/drift": "report"}}},
        namespace,
    )  # fmt: skip
    assert obj["metadata"]["name"] == "app"

    await by_hand(control_plane, namespace, "scale", "deployment/web", "--replicas=5")
    await reconcile_now(kube, namespace, "app")
    subject = f"Deployment/{namespace}/web"
    message = await event_with(kube, namespace, "DriftDetected", subject)
    assert (
        f"{subject} spec.replicas: 5 (set by kubectl through /scale), Git wants 2; not corrected"
    ) in message, message
    assert (await kube.get(DEPLOYMENTS, "web", namespace))["spec"]["replicas"] == 5
    status = (await kube.get(KUSTOMIZATIONS, "app", namespace))["status"]
    assert [(d["field"], d["found"], d["wanted"], d["corrected"]) for d in status["drift"]] == [
        ("spec.replicas", "5", "2", False)
    ]

    # A new revision still applies what Git changed; the drifted field stays as found.
    changed = deployment("web", replicas=2, image="nginx:1.28")
    revision = await sources.publish("repo", {"app/deploy.yaml": changed})
    await ready(kube, namespace, "app", revision)
    live = await kube.get(DEPLOYMENTS, "web", namespace)
    assert live["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.28"
    assert live["spec"]["replicas"] == 5

    # Set back by hand: the report clears.
    await by_hand(control_plane, namespace, "scale", "deployment/web", "--replicas=2")
    await reconcile_now(kube, namespace, "app")

    async def cleared() -> bool:
        status = (await kube.get(KUSTOMIZATIONS, "app", namespace))["status"]
        return "drift" not in status

    await eventually(cleared, timeout=20)


def settings(managed: str) -> str:
    return config_map("settings", **{"managed-key": managed, "ignored-key": "original"})


async def test_ignore_rules_keep_what_is_there_and_a_bad_rule_is_refused_by_name(
    kube: ResourceClient, sources: Sources, start_controller: StartController,
    namespace: str, control_plane: Any,
) -> None:  # fmt: skip
    await sources.publish("repo", {"app/cm.yaml": settings("v1")})
    await start_controller()
    rules = [{"paths": ["/data/ignored-key"], "target": {"kind": "ConfigMap", "name": "sett.*"}}]
    await create_kustomization(kube, "app", namespace, path="./app", ignore=rules)
    await ready(kube, namespace, "app")
    data = (await kube.get(CONFIG_MAPS, "settings", namespace))["data"]
    assert data == {"managed-key": "v1", "ignored-key": "original"}

    patch = '{"data":{"ignored-key":"by-hand","managed-key":"by-hand"}}'
    await by_hand(control_plane, namespace, "patch", "configmap/settings", "-p", patch)
    revision = await sources.publish("repo", {"app/cm.yaml": settings("v2")})
    inventory = (await ready(kube, namespace, "app", revision))["status"]["inventory"]
    data = (await kube.get(CONFIG_MAPS, "settings", namespace))["data"]
    assert data == {"managed-key": "v2", "ignored-key": "by-hand"}

    # A rule that selects nothing (a misspelt kind) is named, nothing applied changes.
    typo = [{"paths": ["/data/ignored-key"], "target": {"kind": "ConfigMop"}}]
    await kube.patch(KUSTOMIZATIONS, "app", {"spec": {"ignore": typo}}, namespace)

    async def selects_nothing() -> dict[str, Any] | None:
        obj = await kube.get(KUSTOMIZATIONS, "app", namespace)
        message = condition(obj, "Ready").get("message", "")
        return obj if "spec.ignore[0] (kind=ConfigMop) selects none" in message else None

    obj = await eventually(selects_nothing, timeout=20)
    assert condition(obj, "Ready")["reason"] == "BuildFailed"
    assert obj["status"]["inventory"] == inventory
    data = (await kube.get(CONFIG_MAPS, "settings", namespace))["data"]
    assert data == {"managed-key": "v2", "ignored-key": "by-hand"}

    bad = [{"paths": ["data/ignored-key"]}]
    await kube.patch(KUSTOMIZATIONS, "app", {"spec": {"ignore": bad}}, namespace)

    async def refused() -> dict[str, Any] | None:
        obj = await kube.get(KUSTOMIZATIONS, "app", namespace)
        message = condition(obj, "Ready").get("message", "")
        return obj if "spec.ignore[0].paths" in message else None

    obj = await eventually(refused, timeout=20)
    assert "is not a JSON Pointer" in condition(obj, "Ready")["message"]
    assert condition(obj, "Stalled")["status"] == "True"
    assert obj["status"]["inventory"] == inventory
