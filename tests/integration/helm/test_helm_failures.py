"""Bad input and failed releases: Ready=False with a reason a person can act on, and
a failed upgrade rolled back so the last good release keeps running."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from eddy_runtime.manager import Manager
from eddy_runtime.resources import CONFIG_MAPS, Resource, ResourceClient
from eddy_testenv.helmrepo import HelmRepo
from eddy_testenv.observe import condition
from eddy_testenv.waiting import eventually
from helm_controller.objects import HELM_RELEASES

from .support import (
    CONFIG,
    DEPLOYMENT,
    HELM_REPOSITORIES,
    TIMEOUT,
    HelmCLI,
    release,
    repository,
    wait_condition,
)

pytestmark = pytest.mark.integration

DEPLOYMENTS = Resource("apps", "v1", "deployments", "Deployment")
REQUIRED = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-needs
data:
  size: {{ required "values.size is required" .Values.size | quote }}
"""


async def test_bad_input_is_reported_not_crashed(
    helm_controller: Manager, kube: ResourceClient, namespace: str, helm_repo: HelmRepo,
    helm_cli: HelmCLI,
) -> None:  # fmt: skip
    helm_repo.package("app", "1.0.0", templates={"configmap.yaml": REQUIRED}, values={})
    await repository(kube, namespace, helm_repo)
    missing: dict[str, Any] = {"valuesFrom": [{"kind": "ConfigMap", "name": "nowhere"}]}
    await kube.create(HELM_RELEASES, release("missing", namespace, **missing), namespace)
    await kube.create(HELM_RELEASES, release("noversion", namespace, "9.9.9"), namespace)
    await kube.create(HELM_RELEASES, release("norender", namespace), namespace)

    obj = await wait_condition(kube, namespace, "missing", "Ready", "False", "InitFailed")
    assert f"ConfigMap '{namespace}/nowhere'" in condition(obj, "Ready")["message"]
    await wait_condition(kube, namespace, "noversion", "Ready", "False", "ArtifactFailed")

    async def names_version() -> bool:
        got = await kube.get(HELM_RELEASES, "noversion", namespace)
        return "9.9.9" in condition(got, "Ready")["message"]

    await eventually(names_version, timeout=20)
    obj = await wait_condition(kube, namespace, "norender", "Ready", "False", "InstallFailed")
    assert "values.size is required" in condition(obj, "Ready")["message"]
    assert condition(obj, "Reconciling")["reason"] == "ProgressingWithRetry"
    assert await helm_cli.releases(namespace) == []

    # Fixing the input heals the release without any other help.
    await kube.patch(HELM_RELEASES, "norender", {"spec": {"values": {"size": "small"}}}, namespace)
    await wait_condition(kube, namespace, "norender", "Ready", "True", "InstallSucceeded")
    needs = await kube.get(CONFIG_MAPS, "norender-needs", namespace)
    assert needs["data"] == {"size": "small"}


async def test_failed_upgrade_is_rolled_back(
    helm_controller: Manager, kube: ResourceClient, namespace: str, helm_repo: HelmRepo,
    helm_cli: HelmCLI,
) -> None:  # fmt: skip
    templates = {"deployment.yaml": DEPLOYMENT, "configmap.yaml": CONFIG}
    helm_repo.package("app", "1.0.0", templates=templates, values={"replicas": 0, "greeting": "a"})
    await repository(kube, namespace, helm_repo)
    spec: dict[str, Any] = {
        "upgrade": {"timeout": "3s", "remediation": {"retries": 0, "remediateLastFailure": True}}
    }
    await kube.create(HELM_RELEASES, release("app", namespace, **spec), namespace)
    await wait_condition(kube, namespace, "app", "Ready", "True", "InstallSucceeded")

    # 1.1.0 wants a replica, which never becomes ready on a cluster without nodes.
    helm_repo.package("app", "1.1.0", templates=templates, values={"replicas": 1, "greeting": "b"})
    await kube.patch(
        HELM_REPOSITORIES, "charts",
        {"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": str(time.time())}}},
        namespace,
    )  # fmt: skip
    obj = await wait_condition(kube, namespace, "app", "Stalled", "True", "RetriesExceeded")
    assert condition(obj, "Ready")["reason"] == "UpgradeFailed"
    assert condition(obj, "Released")["reason"] == "UpgradeFailed"
    assert condition(obj, "Remediated")["reason"] == "RollbackSucceeded"
    assert obj["status"]["upgradeFailures"] == 1
    assert obj["status"]["lastAttemptedRevision"] == "1.1.0"
    history = await helm_cli.history("app", namespace)
    assert [(h["chart"], h["status"]) for h in history] == [
        ("app-1.0.0", "superseded"), ("app-1.1.0", "failed"), ("app-1.0.0", "deployed"),
    ]  # fmt: skip
    deployment = await kube.get(DEPLOYMENTS, "app-web", namespace)
    assert deployment["spec"]["replicas"] == 0
    assert (await kube.get(CONFIG_MAPS, "app-settings", namespace))["data"]["greeting"] == "a"


async def test_missing_values_config_map_heals_with_backoff(
    helm_controller: Manager, kube: ResourceClient, namespace: str, helm_repo: HelmRepo,
    helm_cli: HelmCLI,
) -> None:  # fmt: skip
    helm_repo.package("app", "1.0.0", templates={"configmap.yaml": REQUIRED}, values={})
    await repository(kube, namespace, helm_repo)
    spec: dict[str, Any] = {"valuesFrom": [{"kind": "ConfigMap", "name": "sizes"}]}
    # spec.interval is 1h: healing must not wait for it.
    await kube.create(HELM_RELEASES, release("late", namespace, **spec), namespace)
    obj = await wait_condition(kube, namespace, "late", "Ready", "False", "InitFailed")
    assert f"ConfigMap '{namespace}/sizes'" in condition(obj, "Ready")["message"]
    assert condition(obj, "Reconciling")["reason"] == "ProgressingWithRetry"
    assert condition(obj, "Stalled") == {}

    # Several retries go by, as when a user creates the ConfigMap later.
    def retries() -> float:
        return helm_controller.metrics.reconcile_errors.value(controller="helmrelease")

    await eventually(lambda: asyncio.sleep(0, retries() >= 3), timeout=TIMEOUT)
    await kube.create(CONFIG_MAPS, {
        "metadata": {"name": "sizes", "namespace": namespace},
        "data": {"values.yaml": "size: large\n"},
    }, namespace)  # fmt: skip
    started = time.monotonic()
    obj = await wait_condition(kube, namespace, "late", "Ready", "True", "InstallSucceeded")
    # ConfigMaps are not watched: only the retry (backoff capped at 2s here) sees it.
    assert time.monotonic() - started < 15
    assert "failures" not in obj["status"]
    needs = await kube.get(CONFIG_MAPS, "late-needs", namespace)
    assert needs["data"] == {"size": "large"}
    assert [r["status"] for r in await helm_cli.releases(namespace)] == ["deployed"]


async def test_retry_on_failure_tries_again_without_remediating(
    helm_controller: Manager, kube: ResourceClient, namespace: str, helm_repo: HelmRepo,
    helm_cli: HelmCLI,
) -> None:  # fmt: skip
    templates = {"deployment.yaml": DEPLOYMENT, "configmap.yaml": CONFIG}
    # A replica never becomes ready on a cluster without nodes: every install fails.
    helm_repo.package("app", "1.0.0", templates=templates, values={"replicas": 1, "greeting": "a"})
    await repository(kube, namespace, helm_repo)
    spec: dict[str, Any] = {
        "install": {"timeout": "2s", "strategy": {"name": "RetryOnFailure", "retryInterval": "1s"}}
    }
    await kube.create(HELM_RELEASES, release("app", namespace, **spec), namespace)

    async def retried() -> dict[str, Any] | None:
        got = await kube.get(HELM_RELEASES, "app", namespace)
        return got if int((got.get("status") or {}).get("installFailures") or 0) >= 2 else None

    obj = await eventually(retried, timeout=40)
    assert condition(obj, "Ready")["reason"] == "InstallFailed"
    assert condition(obj, "Released")["reason"] == "InstallFailed"
    assert condition(obj, "Reconciling")["reason"] == "ProgressingWithRetry"
    assert condition(obj, "Stalled") == {}
    assert condition(obj, "Remediated") == {}
    history = await helm_cli.history("app", namespace)
    assert len(history) >= 2
    assert {h["status"] for h in history} <= {"failed", "uninstalled", "pending-install"}


async def test_fields_not_yet_honoured_are_refused_by_name(
    helm_controller: Manager, kube: ResourceClient, namespace: str, helm_repo: HelmRepo,
    helm_cli: HelmCLI,
) -> None:  # fmt: skip
    helm_repo.package("app", "1.0.0", templates={"configmap.yaml": REQUIRED}, values={})
    await repository(kube, namespace, helm_repo)
    unsupported: dict[str, Any] = {
        "values": {"size": "small"},
        "postRenderStrategy": "combined",
        "kubeConfig": {"configMapRef": {"name": "workload-identity"}},
    }
    await kube.create(HELM_RELEASES, release("refused", namespace, **unsupported), namespace)
    # Drift detection, the CRD policies, Helm 3's post-rendering and health
    # expressions are what eddy does.
    fine: dict[str, Any] = {
        "healthCheckExprs": [{"apiVersion": "v1", "kind": "ConfigMap", "current": "true"}],
        "values": {"size": "small"},
        "driftDetection": {"mode": "warn"},
        "install": {"crds": "CreateReplace"},
        "upgrade": {"crds": "Create"},
        "postRenderStrategy": "nohooks",
    }
    await kube.create(HELM_RELEASES, release("fine", namespace, **fine), namespace)

    obj = await wait_condition(kube, namespace, "refused", "Ready", "False", "UnsupportedField")
    message = condition(obj, "Ready")["message"]
    for field in ("spec.postRenderStrategy", "spec.kubeConfig.configMapRef"):
        assert field in message, message
    assert condition(obj, "Stalled")["status"] == "True"
    await wait_condition(kube, namespace, "fine", "Ready", "True", "InstallSucceeded")
    assert [r["name"] for r in await helm_cli.releases(namespace)] == ["fine"]
