"""Who applies, and where: impersonation, cross-namespace refusal, another cluster.

Tenants apply with their ServiceAccount's rights; a controller may be told to refuse
cross-namespace sources; a kubeconfig Secret sends the objects to a second cluster.
"""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

import pytest

from eddy_runtime.client import make_client
from eddy_runtime.resources import CRDS, SECRETS, Resource, ResourceClient
from eddy_testenv.controlplane import ControlPlane
from eddy_testenv.observe import condition

from .conftest import StartController
from .support import (
    CONFIG_MAPS,
    KUSTOMIZATIONS,
    Sources,
    config_map,
    create_kustomization,
    deployment,
    eventually,
    ready,
)

pytestmark = pytest.mark.integration

SERVICE_ACCOUNTS = Resource("", "v1", "serviceaccounts", "ServiceAccount")
ROLES = Resource("rbac.authorization.k8s.io", "v1", "roles", "Role")
ROLE_BINDINGS = Resource("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding")


async def failure(kube: ResourceClient, namespace: str, name: str, reason: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        obj = await kube.get(KUSTOMIZATIONS, name, namespace)
        return obj if condition(obj, "Ready").get("reason") == reason else None

    return await eventually(probe)


async def test_service_account_is_impersonated(
    kube: ResourceClient, sources: Sources, start_controller: StartController, namespace: str
) -> None:
    await kube.create(SERVICE_ACCOUNTS, {"metadata": {"name": "tenant", "namespace": namespace}})
    await kube.create(ROLES, {
        "metadata": {"name": "configmaps", "namespace": namespace},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["*"]}],
    })  # fmt: skip
    await kube.create(ROLE_BINDINGS, {
        "metadata": {"name": "tenant", "namespace": namespace},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "configmaps"},
        "subjects": [{"kind": "ServiceAccount", "name": "tenant", "namespace": namespace}],
    })  # fmt: skip
    await sources.publish(
        "repo",
        {"allowed/cm.yaml": config_map("allowed", a="b"),
         "denied/deploy.yaml": deployment("denied")},
    )  # fmt: skip
    await start_controller()
    await create_kustomization(kube, "allowed", namespace, path="./allowed",
                               serviceAccountName="tenant")  # fmt: skip
    await create_kustomization(kube, "denied", namespace, path="./denied",
                               serviceAccountName="tenant")  # fmt: skip
    await ready(kube, namespace, "allowed")
    assert await kube.get_or_none(CONFIG_MAPS, "allowed", namespace) is not None
    obj = await failure(kube, namespace, "denied", "ReconciliationFailed")
    message = condition(obj, "Ready")["message"]
    assert f"Deployment/{namespace}/denied" in message
    assert f"system:serviceaccount:{namespace}:tenant" in message


async def test_cross_namespace_source_refused(
    kube: ResourceClient, sources: Sources, start_controller: StartController, namespace: str
) -> None:
    await sources.publish("repo", {"app/cm.yaml": config_map("x", a="b")})
    await start_controller(no_cross_namespace_refs=True)
    await kube.create(KUSTOMIZATIONS, {
        "apiVersion": KUSTOMIZATIONS.api_version, "kind": KUSTOMIZATIONS.kind,
        "metadata": {"name": "elsewhere", "namespace": namespace},
        "spec": {"interval": "10m", "prune": True, "path": "./app",
                 "sourceRef": {"kind": "GitRepository", "name": "repo", "namespace": "default"}},
    })  # fmt: skip
    obj = await failure(kube, namespace, "elsewhere", "AccessDenied")
    assert "cross-namespace" in condition(obj, "Ready")["message"]
    # It cannot succeed without an edit: Stalled, as Flux says, and not Reconciling.
    assert condition(obj, "Stalled")["status"] == "True"
    assert condition(obj, "Stalled")["reason"] == "AccessDenied"
    assert condition(obj, "Reconciling") == {}

    await kube.patch(
        KUSTOMIZATIONS, "elsewhere",
        {"spec": {"sourceRef": {"namespace": None}, "targetNamespace": namespace}}, namespace,
    )  # fmt: skip
    fixed = await ready(kube, namespace, "elsewhere")
    assert condition(fixed, "Stalled") == {}


async def test_kubeconfig_secret_targets_another_cluster(
    kube: ResourceClient, sources: Sources, start_controller: StartController, namespace: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    remote = ControlPlane(tmp_path / "remote", controller_manager=False)
    (tmp_path / "remote").mkdir()
    await asyncio.to_thread(remote.start)
    try:
        await kube.create(SECRETS, {
            "metadata": {"name": "remote-kubeconfig", "namespace": namespace},
            "data": {"value": base64.b64encode(remote.kubeconfig.read_bytes()).decode()},
        })  # fmt: skip
        await sources.publish("repo", {"app/cm.yaml": config_map("remote-only", a="b")})
        await start_controller()
        await create_kustomization(
            kube, "remote", namespace, path="./app", targetNamespace="default",
            kubeConfig={"secretRef": {"name": "remote-kubeconfig"}},
        )  # fmt: skip
        await ready(kube, namespace, "remote")
        api = await make_client(str(remote.kubeconfig))
        try:
            there = ResourceClient(api)
            assert await there.get_or_none(CONFIG_MAPS, "remote-only", "default") is not None
        finally:
            await api.close()
        assert await kube.get_or_none(CONFIG_MAPS, "remote-only", "default") is None
        await kube.delete(KUSTOMIZATIONS, "remote", namespace)
        await eventually(lambda: _gone(kube, namespace), timeout=10)
    finally:
        await asyncio.to_thread(remote.stop)


async def _gone(kube: ResourceClient, namespace: str) -> bool:
    return await kube.get_or_none(KUSTOMIZATIONS, "remote", namespace) is None


CLUSTER_ROLES = Resource(
    "rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", namespaced=False
)
CLUSTER_ROLE_BINDINGS = Resource(
    "rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding",
    namespaced=False,
)  # fmt: skip


async def test_objects_written_before_an_api_error_enter_the_inventory(
    kube: ResourceClient, sources: Sources, start_controller: StartController, namespace: str
) -> None:
    """The tenant may create CRDs but not read them: the CRD is written, then waiting
    for it to be Established fails. It must be in the inventory, or it is never pruned."""
    group = f"{namespace}.eddy.dev"
    crd = f"""apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.{group}
spec:
  group: {group}
  names: {{kind: Widget, plural: widgets}}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema: {{type: object, x-kubernetes-preserve-unknown-fields: true}}
"""
    await kube.create(SERVICE_ACCOUNTS, {"metadata": {"name": "tenant", "namespace": namespace}})
    await kube.create(CLUSTER_ROLES, {
        "metadata": {"name": f"{namespace}-crd-writer"},
        "rules": [{"apiGroups": ["apiextensions.k8s.io"],
                   "resources": ["customresourcedefinitions"], "verbs": ["create", "patch"]}],
    })  # fmt: skip
    await kube.create(CLUSTER_ROLE_BINDINGS, {
        "metadata": {"name": f"{namespace}-crd-writer"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                    "name": f"{namespace}-crd-writer"},
        "subjects": [{"kind": "ServiceAccount", "name": "tenant", "namespace": namespace}],
    })  # fmt: skip
    try:
        await sources.publish("repo", {"app/crd.yaml": crd})
        await start_controller()
        await create_kustomization(
            kube, "app", namespace, path="./app", serviceAccountName="tenant",
            deletionPolicy="Orphan",
        )  # fmt: skip
        obj = await failure(kube, namespace, "app", "ReconciliationFailed")
        assert "forbidden" in condition(obj, "Ready")["message"]
        entries = (obj["status"].get("inventory") or {}).get("entries") or []
        assert {"id": f"_widgets.{group}_apiextensions.k8s.io_CustomResourceDefinition",
                "v": "v1"} in entries  # fmt: skip
    finally:
        for resource, name in (
            (CRDS, f"widgets.{group}"),
            (CLUSTER_ROLE_BINDINGS, f"{namespace}-crd-writer"),
            (CLUSTER_ROLES, f"{namespace}-crd-writer"),
        ):
            if await kube.get_or_none(resource, name) is not None:
                await kube.delete(resource, name)
