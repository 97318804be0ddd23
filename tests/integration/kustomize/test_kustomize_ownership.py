"""Fields added by hand with kubectl go at the next reconcile, as with Flux; fields
that other controllers own, and objects marked `ssa: Merge`, keep them.

The edits are made with the real kubectl binary, so the managers are kubectl's own
(`kubectl-label`, `kubectl-patch`, `kubectl-client-side-apply`).
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from eddy_runtime.resources import ResourceClient
from eddy_testenv.observe import events_for

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

pytestmark = pytest.mark.integration

FILES = {
    "app/cm.yaml": config_map("settings", mode="git"),
    "app/deploy.yaml": deployment("web", replicas=1),
}
WITH_ENV = deployment("web", replicas=1).replace(
    "image: nginx:1.27", "image: nginx:1.27\n          env:\n            - name: DEBUG\n"
    '              value: "1"'
)  # fmt: skip


async def edit_by_hand(control_plane: Any, namespace: str) -> None:
    """What a person does: a label, a patched key, a client-side `kubectl apply`."""
    steps = [
        ("label", "configmap/settings", "by-hand=yes"),
        ("patch", "configmap/settings", "--type=merge", "-p", '{"data":{"extra":"1"}}'),
    ]
    for args in steps:
        code, out = await kubectl(control_plane, "-n", namespace, *args)
        assert code == 0, out
    manifest = Path(tempfile.mkdtemp(prefix="by-hand-")) / "deploy.yaml"
    manifest.write_text(WITH_ENV)
    code, out = await kubectl(control_plane, "-n", namespace, "apply", "-f", str(manifest))
    assert code == 0, out


async def reconcile_now(kube: ResourceClient, namespace: str, name: str) -> None:
    stamp = datetime.now(UTC).isoformat()
    await kube.patch(
        KUSTOMIZATIONS, name,
        {"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": stamp}}}, namespace,
    )  # fmt: skip

    async def handled() -> bool:
        obj = await kube.get(KUSTOMIZATIONS, name, namespace)
        status = obj.get("status") or {}
        return bool(status.get("lastHandledReconcileAt") == stamp)

    await eventually(handled, timeout=10)


def env_of(deploy: dict[str, Any]) -> list[Any]:
    return list(deploy["spec"]["template"]["spec"]["containers"][0].get("env") or [])


def managers(obj: dict[str, Any]) -> set[str]:
    return {str(m["manager"]) for m in obj["metadata"].get("managedFields") or []}


async def test_fields_added_with_kubectl_are_removed(
    kube: ResourceClient, sources: Sources, start_controller: StartController, namespace: str,
    control_plane: Any,
) -> None:  # fmt: skip
    await sources.publish("repo", FILES)
    await start_controller()
    await create_kustomization(kube, "app", namespace, path="./app")
    await ready(kube, namespace, "app")
    await edit_by_hand(control_plane, namespace)
    assert env_of(await kube.get(DEPLOYMENTS, "web", namespace))

    await reconcile_now(kube, namespace, "app")
    cm = await kube.get(CONFIG_MAPS, "settings", namespace)
    assert cm["data"] == {"mode": "git"}
    assert "by-hand" not in cm["metadata"]["labels"]
    deploy = await kube.get(DEPLOYMENTS, "web", namespace)
    assert env_of(deploy) == []
    assert "kubectl.kubernetes.io/last-applied-configuration" not in (
        deploy["metadata"].get("annotations") or {}
    )
    assert not any(m.startswith("kubectl") for m in managers(cm) | managers(deploy))
    events = await events_for(kube, namespace, "app", "Kustomization")
    text = "\n".join(e["message"] for e in events)
    assert f"ConfigMap/{namespace}/settings configured" in text
    assert f"Deployment/{namespace}/web configured" in text


async def test_ssa_merge_keeps_fields_added_by_hand(
    kube: ResourceClient, sources: Sources, start_controller: StartController, namespace: str,
    control_plane: Any,
) -> None:  # fmt: skip
    await sources.publish("repo", FILES)
    await start_controller()
    merge = {"annotations": {"kustomize.toolkit.fluxcd.io/ssa": "Merge"}}
    await create_kustomization(kube, "app", namespace, path="./app", commonMetadata=merge)
    await ready(kube, namespace, "app")
    await edit_by_hand(control_plane, namespace)

    await reconcile_now(kube, namespace, "app")
    cm = await kube.get(CONFIG_MAPS, "settings", namespace)
    assert cm["data"] == {"mode": "git", "extra": "1"}
    assert cm["metadata"]["labels"]["by-hand"] == "yes"
    assert env_of(await kube.get(DEPLOYMENTS, "web", namespace)) == [
        {"name": "DEBUG", "value": "1"}
    ]


async def test_fields_of_other_controllers_are_left_alone(
    kube: ResourceClient, sources: Sources, start_controller: StartController, namespace: str,
    control_plane: Any,
) -> None:  # fmt: skip
    """An autoscaler owns replicas through /scale; an operator annotates. Neither is
    kubectl, so taking over kubectl's fields must not take theirs (Git sets no replicas)."""
    unscaled = deployment("web").replace("  replicas: 0\n", "")
    await sources.publish("repo", {**FILES, "app/deploy.yaml": unscaled})
    await start_controller()
    await create_kustomization(kube, "app", namespace, path="./app")
    await ready(kube, namespace, "app")
    autoscaler = ResourceClient(kube.api, field_manager="kube-controller-manager")
    await autoscaler.patch(
        DEPLOYMENTS, "web", {"spec": {"replicas": 3}}, namespace, subresource="scale"
    )
    operator = ResourceClient(kube.api, field_manager="sidecar-operator")
    await operator.patch(
        DEPLOYMENTS, "web", {"metadata": {"annotations": {"sidecar/injected": "true"}}}, namespace
    )
    code, out = await kubectl(control_plane, "-n", namespace, "label", "deploy/web", "x=y")
    assert code == 0, out

    await reconcile_now(kube, namespace, "app")
    deploy = await kube.get(DEPLOYMENTS, "web", namespace)
    assert "x" not in deploy["metadata"]["labels"], "kubectl's label is taken over and removed"
    assert deploy["spec"]["replicas"] == 3
    assert deploy["metadata"]["annotations"]["sidecar/injected"] == "true"
    assert {"kube-controller-manager", "sidecar-operator"} <= managers(deploy)
