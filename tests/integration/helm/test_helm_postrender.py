"""HelmRelease postRenderers and commonMetadata against the real control plane: what they
change is on the applied objects and in the manifest Helm stored, a change of them
upgrades, drift is measured against the post-rendered objects, and a patch that does
not apply fails the upgrade by name while the release in place stays."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from eddy_helm import postrender
from eddy_runtime.manager import Manager
from eddy_runtime.resources import Resource, ResourceClient
from eddy_testenv import ControlPlane
from eddy_testenv.helmrepo import HelmRepo
from eddy_testenv.observe import condition
from eddy_testenv.waiting import eventually
from helm_controller.objects import HELM_RELEASES

from ..kustomize.support import kubectl
from .support import (
    CONFIG,
    DEPLOYMENT,
    TIMEOUT,
    HelmCLI,
    reconcile_now,
    release,
    repository,
    wait_condition,
)  # fmt: skip

pytestmark = pytest.mark.integration

DEPLOYMENTS = Resource("apps", "v1", "deployments", "Deployment")
CONFIG_MAPS = Resource("", "v1", "configmaps", "ConfigMap")
CHART = {"deployment.yaml": DEPLOYMENT, "configmap.yaml": CONFIG}
VALUES = {"replicas": 0, "greeting": "hi"}


def renderers(tag: str) -> list[dict[str, Any]]:
    """Two kustomize post-renderers; the second works on what the first made."""
    return [
        {
            "kustomize": {
                "patches": [
                    {
                        "patch": "- op: add\n  path: /data/patched\n  value: once\n",
                        "target": {"kind": "ConfigMap", "name": ".*-settings"},
                    },
                    # A target that selects nothing is no error, as in kustomize.
                    {"patch": "- op: remove\n  path: /data\n", "target": {"kind": "Secret"}},
                ],
                "images": [{"name": "nginx", "newTag": tag}],
            }
        },
        {
            "kustomize": {
                "patches": [
                    {
                        "patch": (
                            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-settings\n"
                            "data:\n  patched: twice\n"
                        )
                    }
                ]
            }
        },
    ]


COMMON = {
    "labels": {"team": "blue", "helm.toolkit.fluxcd.io/name": "not-this"},
    "annotations": {"owner": "ops"},
}


async def history(helm_cli: HelmCLI, namespace: str) -> list[dict[str, Any]]:
    return await helm_cli.history("app", namespace)


async def manifest(helm_cli: HelmCLI, namespace: str) -> str:
    return await asyncio.to_thread(helm_cli.run, "get", "manifest", "app", "-n", namespace)


async def image(kube: ResourceClient, namespace: str) -> str:
    found = await kube.get(DEPLOYMENTS, "app-web", namespace)
    return str(found["spec"]["template"]["spec"]["containers"][0]["image"])


async def test_post_renderers_and_common_metadata_are_applied_stored_and_upgrade(
    helm_controller: Manager, kube: ResourceClient, namespace: str, helm_repo: HelmRepo,
    helm_cli: HelmCLI, control_plane: ControlPlane,
) -> None:  # fmt: skip
    helm_repo.package("app", "1.0.0", templates=CHART, values=VALUES)
    await repository(kube, namespace, helm_repo)
    spec: dict[str, Any] = {
        "postRenderers": renderers("1.28"),
        "commonMetadata": COMMON,
        "driftDetection": {"mode": "enabled"},
    }
    await kube.create(HELM_RELEASES, release("app", namespace, **spec), namespace)
    obj = await wait_condition(kube, namespace, "app", "Ready", "True", "InstallSucceeded")

    assert await image(kube, namespace) == "nginx:1.28"
    settings = await kube.get(CONFIG_MAPS, "app-settings", namespace)
    assert settings["data"]["patched"] == "twice"
    for kind, name in ((DEPLOYMENTS, "app-web"), (CONFIG_MAPS, "app-settings")):
        meta = (await kube.get(kind, name, namespace))["metadata"]
        assert meta["labels"]["team"] == "blue"
        # The origin labels come last and win over a common label of the same key.
        assert meta["labels"]["helm.toolkit.fluxcd.io/name"] == "app"
        assert meta["labels"]["helm.toolkit.fluxcd.io/namespace"] == namespace
        assert meta["annotations"]["owner"] == "ops"
    stored = await manifest(helm_cli, namespace)
    for text in ("image: nginx:1.28", "patched: twice", "team: blue", "owner: ops"):
        assert text in stored, stored
    status = obj["status"]
    assert status["observedPostRenderersDigest"] == postrender.post_renderers_digest(spec)
    assert status["observedCommonMetadataDigest"] == postrender.common_metadata_digest(spec)

    # Drift is measured against the post-rendered objects: none after the install,
    # and a common label removed by hand is put back.
    obj = await reconcile_now(kube, namespace)
    assert condition(obj, "Drifted")["reason"] == "NoDriftDetected"
    code, out = await kubectl(control_plane, "-n", namespace, "label", "configmap/app-settings",
                              "team-")  # fmt: skip
    assert code == 0, out
    obj = await reconcile_now(kube, namespace)
    assert condition(obj, "Drifted")["reason"] == "DriftDetected"
    settings = await kube.get(CONFIG_MAPS, "app-settings", namespace)
    assert settings["metadata"]["labels"]["team"] == "blue"
    assert len(await history(helm_cli, namespace)) == 1

    # Another image tag in the post-renderers is a new release.
    await kube.patch(
        HELM_RELEASES, "app", {"spec": {"postRenderers": renderers("1.29")}}, namespace
    )
    obj = await wait_condition(kube, namespace, "app", "Ready", "True", "UpgradeSucceeded")
    assert [h["revision"] for h in await history(helm_cli, namespace)] == [1, 2]
    assert await image(kube, namespace) == "nginx:1.29"
    assert "image: nginx:1.29" in await manifest(helm_cli, namespace)
    assert obj["status"]["observedPostRenderersDigest"] == postrender.post_renderers_digest(
        {"postRenderers": renderers("1.29")}
    )

    # Without commonMetadata the next release drops its label and annotation.
    await kube.patch(HELM_RELEASES, "app", {"spec": {"commonMetadata": None}}, namespace)

    async def unlabelled() -> dict[str, Any] | None:
        meta = (await kube.get(CONFIG_MAPS, "app-settings", namespace))["metadata"]
        return meta if "team" not in (meta.get("labels") or {}) else None

    meta = await eventually(unlabelled, timeout=TIMEOUT)
    assert "owner" not in (meta.get("annotations") or {})
    assert meta["labels"]["helm.toolkit.fluxcd.io/name"] == "app"
    obj = await wait_condition(kube, namespace, "app", "Ready", "True", "UpgradeSucceeded")
    assert "observedCommonMetadataDigest" not in obj["status"]
    assert len(await history(helm_cli, namespace)) == 3


async def test_a_patch_that_does_not_apply_fails_by_name_and_keeps_the_release(
    helm_controller: Manager, kube: ResourceClient, namespace: str, helm_repo: HelmRepo,
    helm_cli: HelmCLI,
) -> None:  # fmt: skip
    helm_repo.package("app", "1.0.0", templates=CHART, values=VALUES)
    await repository(kube, namespace, helm_repo)
    await kube.create(HELM_RELEASES, release("app", namespace), namespace)
    await wait_condition(kube, namespace, "app", "Ready", "True", "InstallSucceeded")

    missing = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: nowhere\n"
    for patch, cause in (
        (missing, "no resource matches strategic merge patch"),
        ("this: [is not yaml", "unable to parse SM or JSON patch"),
        ("- op: replace\n  path: /spec/nothing/here\n  value: 1\n", "missing value"),
    ):
        bad: list[dict[str, Any]] = [{"kustomize": {"patches": [{"patch": patch}]}}]
        if patch.startswith("- op"):
            bad[0]["kustomize"]["patches"][0]["target"] = {"kind": "Deployment"}
        await kube.patch(HELM_RELEASES, "app", {"spec": {"postRenderers": bad}}, namespace)

        async def failed(cause: str = cause) -> dict[str, Any] | None:
            # Waited for by its message: a pass still on the previous spec may finish
            # after the edit and report that spec's failure first.
            obj = await wait_condition(kube, namespace, "app", "Ready", "False", "UpgradeFailed")
            return obj if cause in condition(obj, "Ready")["message"] else None

        obj = await eventually(failed, timeout=TIMEOUT)
        message = condition(obj, "Ready")["message"]
        assert "spec.postRenderers[0].kustomize" in message, message
        assert "observedPostRenderersDigest" not in obj["status"]
        # Helm refused before touching anything: the first release is still the one.
        releases = await history(helm_cli, namespace)
        assert [(h["revision"], h["status"]) for h in releases] == [(1, "deployed")]
        assert await image(kube, namespace) == "nginx:1.27"

    await kube.patch(HELM_RELEASES, "app", {"spec": {"postRenderers": renderers("1.28")}},
                     namespace)  # fmt: skip
    await wait_condition(kube, namespace, "app", "Ready", "True", "UpgradeSucceeded")
    assert await image(kube, namespace) == "nginx:1.28"
    assert [h["revision"] for h in await history(helm_cli, namespace)] == [1, 2]
