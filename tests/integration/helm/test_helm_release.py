"""HelmReleases against a real control plane, the real source-controller and helm.

Asserted as a user checks them: HelmRelease conditions and status, `helm list` and
`helm history`, and the objects in the cluster.
"""

from __future__ import annotations

import asyncio
import base64
import time
from typing import Any

import pytest

from eddy_runtime.manager import Manager
from eddy_runtime.resources import CONFIG_MAPS, SECRETS, ResourceClient
from eddy_testenv.helmrepo import HelmRepo
from eddy_testenv.observe import condition, events_for
from eddy_testenv.waiting import eventually
from helm_controller.objects import HELM_CHARTS, HELM_RELEASES

from .support import (
    HELM_REPOSITORIES,
    TEMPLATES,
    TIMEOUT,
    HelmCLI,
    release,
    repository,
    wait_condition,
)

pytestmark = pytest.mark.integration


async def test_install_values_upgrade_and_uninstall(
    helm_controller: Manager,
    kube: ResourceClient,
    namespace: str,
    helm_repo: HelmRepo,
    helm_cli: HelmCLI,
) -> None:
    helm_repo.package("app", "1.0.0", templates=TEMPLATES, values={"greeting": "hello"})
    await repository(kube, namespace, helm_repo)
    await kube.create(CONFIG_MAPS, {
        "metadata": {"name": "colors", "namespace": namespace},
        "data": {"values.yaml": "color: blue\ngreeting: from-configmap\n"},
    }, namespace)  # fmt: skip
    await kube.create(SECRETS, {
        "metadata": {"name": "creds", "namespace": namespace},
        "data": {"pw": base64.b64encode(b"hunter2-secret").decode()},
    }, namespace)  # fmt: skip
    spec: dict[str, Any] = {
        "valuesFrom": [
            {"kind": "ConfigMap", "name": "colors"},
            {"kind": "Secret", "name": "creds", "valuesKey": "pw", "targetPath": "password"},
            {"kind": "ConfigMap", "name": "absent", "optional": True},
        ],
        "values": {"greeting": "from-spec"},
    }
    await kube.create(HELM_RELEASES, release("app", namespace, **spec), namespace)

    obj = await wait_condition(kube, namespace, "app", "Ready", "True", "InstallSucceeded")
    status = obj["status"]
    assert condition(obj, "Released")["reason"] == "InstallSucceeded"
    assert status["helmChart"] == f"{namespace}/{namespace}-app"
    assert status["lastAttemptedRevision"] == "1.0.0"
    assert status["lastAttemptedConfigDigest"].startswith("sha256:")
    assert status["lastAttemptedGeneration"] == 1
    assert [(h["chartName"], h["chartVersion"], h["status"], h["version"])
            for h in status["history"]] == [("app", "1.0.0", "deployed", 1)]  # fmt: skip
    assert status["history"][0]["configDigest"] == status["lastAttemptedConfigDigest"]
    assert "hunter2-secret" not in str(status)

    chart = await kube.get(HELM_CHARTS, f"{namespace}-app", namespace)
    assert chart["metadata"]["ownerReferences"][0]["name"] == "app"

    listed = await helm_cli.releases(namespace)
    assert [(r["name"], r["chart"], r["status"]) for r in listed] == [
        ("app", "app-1.0.0", "deployed")
    ]
    settings = await kube.get(CONFIG_MAPS, "app-settings", namespace)
    assert settings["data"] == {
        "greeting": "from-spec", "color": "blue", "password": "hunter2-secret"
    }  # fmt: skip

    # A new chart version reaches the release through the HelmChart watch.
    helm_repo.package("app", "1.1.0", templates=TEMPLATES, values={"greeting": "hello"})
    await kube.patch(
        HELM_REPOSITORIES, "charts",
        {"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": str(time.time())}}},
        namespace,
    )  # fmt: skip
    obj = await wait_condition(kube, namespace, "app", "Ready", "True", "UpgradeSucceeded")
    assert obj["status"]["history"][0]["chartVersion"] == "1.1.0"
    history = await helm_cli.history("app", namespace)
    assert [(h["revision"], h["chart"], h["status"]) for h in history] == [
        (1, "app-1.0.0", "superseded"), (2, "app-1.1.0", "deployed")
    ]  # fmt: skip

    # A periodic pass with nothing new is a no-op: no third Helm revision.
    await kube.patch(
        HELM_RELEASES, "app",
        {"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": "now"}}}, namespace,
    )  # fmt: skip

    async def handled() -> bool:
        got = await kube.get(HELM_RELEASES, "app", namespace)
        return (got.get("status") or {}).get("lastHandledReconcileAt") == "now"

    await eventually(handled, timeout=TIMEOUT)
    assert len(await helm_cli.history("app", namespace)) == 2

    reasons = {e["reason"] for e in await events_for(kube, namespace, "app")}
    assert {"InstallSucceeded", "UpgradeSucceeded"} <= reasons

    # Deleting the HelmRelease uninstalls the release and removes its HelmChart.
    await kube.delete(HELM_RELEASES, "app", namespace)

    async def gone() -> bool:
        release_left = await kube.get_or_none(HELM_RELEASES, "app", namespace)
        return release_left is None and not await helm_cli.releases(namespace)

    await eventually(gone, timeout=TIMEOUT)
    assert await kube.get_or_none(CONFIG_MAPS, "app-settings", namespace) is None
    await asyncio.sleep(0)
