"""HelmRelease drift detection against the real control plane: a released Deployment
scaled by hand with kubectl is scaled back (`enabled`), only reported (`warn`), or
left alone where an ignore rule says so; the inventory names the release's objects."""

from __future__ import annotations

from typing import Any

import pytest

from eddy_runtime.manager import Manager
from eddy_runtime.resources import Resource, ResourceClient
from eddy_testenv import ControlPlane
from eddy_testenv.helmrepo import HelmRepo
from eddy_testenv.observe import condition, events_for
from helm_controller.objects import HELM_RELEASES

from ..kustomize.support import kubectl
from .support import CONFIG, DEPLOYMENT, reconcile_now, release, repository, wait_condition

pytestmark = pytest.mark.integration

DEPLOYMENTS = Resource("apps", "v1", "deployments", "Deployment")
CHART = {"deployment.yaml": DEPLOYMENT, "configmap.yaml": CONFIG}


async def install(
    kube: ResourceClient, namespace: str, helm_repo: HelmRepo, drift: dict[str, Any]
) -> None:
    helm_repo.package("app", "1.0.0", templates=CHART, values={"replicas": 0, "greeting": "hi"})
    await repository(kube, namespace, helm_repo)
    await kube.create(HELM_RELEASES, release("app", namespace, driftDetection=drift), namespace)
    await wait_condition(kube, namespace, "app", "Ready", "True", "InstallSucceeded")


async def replicas(kube: ResourceClient, namespace: str) -> int:
    found = await kube.get(DEPLOYMENTS, "app-web", namespace)
    return int(found["spec"]["replicas"])


async def test_drift_is_corrected_in_enabled_mode(
    helm_controller: Manager, kube: ResourceClient, namespace: str, helm_repo: HelmRepo,
    control_plane: ControlPlane,
) -> None:  # fmt: skip
    await install(kube, namespace, helm_repo, {"mode": "enabled"})
    obj = await kube.get(HELM_RELEASES, "app", namespace)
    ids = {e["id"] for e in obj["status"]["inventory"]["entries"]}
    assert ids == {f"{namespace}_app-web_apps_Deployment", f"{namespace}_app-settings__ConfigMap"}
    assert condition(obj, "Drifted")["reason"] == "NoDriftDetected"

    code, out = await kubectl(control_plane, "-n", namespace, "scale", "deployment/app-web",
                              "--replicas=3")  # fmt: skip
    assert code == 0, out
    code, out = await kubectl(control_plane, "-n", namespace, "delete", "configmap/app-settings")
    assert code == 0, out
    obj = await reconcile_now(kube, namespace)

    assert await replicas(kube, namespace) == 0
    settings = await kube.get(Resource("", "v1", "configmaps", "ConfigMap"), "app-settings",
                              namespace)  # fmt: skip
    assert settings["data"]["greeting"] == "hi"
    drifted = condition(obj, "Drifted")
    assert drifted["status"] == "True" and drifted["reason"] == "DriftDetected"
    assert f"Deployment/{namespace}/app-web changed (0 additions, 1 changes" in drifted["message"]
    assert f"ConfigMap/{namespace}/app-settings removed" in drifted["message"]
    assert condition(obj)["status"] == "True"
    events = {e["reason"]: e["message"] for e in await events_for(kube, namespace, "app")}
    assert f"Deployment/{namespace}/app-web configured" in events["DriftCorrected"]
    assert f"ConfigMap/{namespace}/app-settings created" in events["DriftCorrected"]

    # The next pass finds nothing left to correct.
    obj = await reconcile_now(kube, namespace)
    assert condition(obj, "Drifted")["reason"] == "NoDriftDetected"


async def test_drift_is_only_reported_in_warn_mode(
    helm_controller: Manager, kube: ResourceClient, namespace: str, helm_repo: HelmRepo,
    control_plane: ControlPlane,
) -> None:  # fmt: skip
    await install(kube, namespace, helm_repo, {"mode": "warn"})
    code, out = await kubectl(control_plane, "-n", namespace, "scale", "deployment/app-web",
                              "--replicas=2")  # fmt: skip
    assert code == 0, out
    obj = await reconcile_now(kube, namespace)

    assert await replicas(kube, namespace) == 2
    assert condition(obj, "Drifted")["reason"] == "DriftDetected"
    assert condition(obj)["status"] == "True"
    reasons = {e["reason"] for e in await events_for(kube, namespace, "app")}
    assert "DriftDetected" in reasons and "DriftCorrected" not in reasons


async def test_ignore_rules_leave_paths_alone_and_a_rule_selecting_nothing_is_refused(
    helm_controller: Manager, kube: ResourceClient, namespace: str, helm_repo: HelmRepo,
    control_plane: ControlPlane,
) -> None:  # fmt: skip
    ignore = [{"paths": ["/spec/replicas"], "target": {"kind": "Deployment"}}]
    await install(kube, namespace, helm_repo, {"mode": "enabled", "ignore": ignore})
    code, out = await kubectl(control_plane, "-n", namespace, "scale", "deployment/app-web",
                              "--replicas=4")  # fmt: skip
    assert code == 0, out
    obj = await reconcile_now(kube, namespace)
    assert await replicas(kube, namespace) == 4
    assert condition(obj, "Drifted")["reason"] == "NoDriftDetected"

    # Another field of the same Deployment is still corrected; replicas stay as set.
    code, out = await kubectl(control_plane, "-n", namespace, "set", "image",
                              "deployment/app-web", "web=nginx:1.26")  # fmt: skip
    assert code == 0, out
    obj = await reconcile_now(kube, namespace)
    found = await kube.get(DEPLOYMENTS, "app-web", namespace)
    assert found["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"
    assert found["spec"]["replicas"] == 4
    drifted = condition(obj, "Drifted")
    assert drifted["reason"] == "DriftDetected"
    assert f"Deployment/{namespace}/app-web changed" in drifted["message"]

    wrong = [{"paths": ["/spec/replicas"], "target": {"kind": "StatefulSet"}}]
    await kube.patch(HELM_RELEASES, "app", {"spec": {"driftDetection": {"ignore": wrong}}},
                     namespace)  # fmt: skip
    obj = await wait_condition(kube, namespace, "app", "Ready", "False")
    assert "spec.driftDetection.ignore[0].target selects none" in condition(obj)["message"]
    assert await replicas(kube, namespace) == 4
