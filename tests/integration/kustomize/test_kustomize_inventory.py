"""The inventory in Flux's format: odd RBAC names, and inventories that Flux itself wrote.

A ClusterRole named `system:<x>` or `<x>_reader` is applied, recorded and pruned;
a Kustomization migrated from Flux prunes what Flux recorded, nothing is orphaned;
what a pass is about to create is in the inventory before it is created.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from eddy_api.kustomize import NAME_LABEL, NAMESPACE_LABEL
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
    kustomization,
    ready,
)

pytestmark = pytest.mark.integration

RBAC = "rbac.authorization.k8s.io"
CLUSTER_ROLES = Resource(RBAC, "v1", "clusterroles", "ClusterRole", namespaced=False)


def cluster_role(name: str) -> str:
    return f"""apiVersion: {RBAC}/v1
kind: ClusterRole
metadata:
  name: "{name}"
rules:
  - apiGroups: [""]
    resources: [configmaps]
    verbs: [get]
"""


async def gone(kube: ResourceClient, *names: str) -> bool:
    for name in names:
        if await kube.get_or_none(CLUSTER_ROLES, name) is not None:
            return False
    return True


async def test_rbac_names_with_colon_and_underscore_are_recorded_and_pruned(
    kube: ResourceClient, sources: Sources, start_controller: StartController, namespace: str
) -> None:
    colon, underscore = f"system:{namespace}-view", f"{namespace}_reader"
    try:
        await sources.publish("repo", {
            "app/view.yaml": cluster_role(colon), "app/reader.yaml": cluster_role(underscore),
            "app/cm.yaml": config_map("kept", a="b"),
        })  # fmt: skip
        await start_controller()
        await create_kustomization(kube, "rbac", namespace, path="./app")
        obj = await ready(kube, namespace, "rbac")
        ids = {e["id"] for e in obj["status"]["inventory"]["entries"]}
        assert {
            f"_system__{namespace}-view_{RBAC}_ClusterRole",
            f"_{namespace}_reader_{RBAC}_ClusterRole",
            f"{namespace}_kept__ConfigMap",
        } == ids
        assert await kube.get_or_none(CLUSTER_ROLES, colon) is not None
        assert await kube.get_or_none(CLUSTER_ROLES, underscore) is not None

        revision = await sources.publish("repo", {"app/cm.yaml": config_map("kept", a="b")})
        obj = await ready(kube, namespace, "rbac", revision)
        assert [e["id"] for e in obj["status"]["inventory"]["entries"]] == [
            f"{namespace}_kept__ConfigMap"
        ]
        assert await gone(kube, colon, underscore)
    finally:
        for name in (colon, underscore):
            if await kube.get_or_none(CLUSTER_ROLES, name) is not None:
                await kube.delete(CLUSTER_ROLES, name)


async def test_an_inventory_written_by_flux_is_pruned_after_migration(
    kube: ResourceClient, sources: Sources, start_controller: StartController, namespace: str
) -> None:
    """Objects and status exactly as Flux's kustomize-controller leaves them; eddy
    takes over and prunes what the new revision no longer holds."""
    colon, underscore = f"system:{namespace}-flux", f"{namespace}_flux"
    labels = {NAME_LABEL: "migrated", NAMESPACE_LABEL: namespace}
    rule = [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]
    try:
        for name in (colon, underscore):
            await kube.create(
                CLUSTER_ROLES, {"metadata": {"name": name, "labels": labels}, "rules": rule}
            )
        await kube.create(
            CONFIG_MAPS,
            {"metadata": {"name": "old", "namespace": namespace, "labels": labels},
             "data": {"a": "b"}},
            namespace,
        )  # fmt: skip
        revision = await sources.publish("repo", {"app/cm.yaml": config_map("new", a="b")})
        body: dict[str, Any] = kustomization(
            "migrated", namespace, path="./app", targetNamespace=namespace
        )
        await kube.create(KUSTOMIZATIONS, body)
        # Before any eddy controller runs: the status Flux wrote.
        await kube.patch_status(KUSTOMIZATIONS, "migrated", {"status": {
            "inventory": {"entries": [
                {"id": f"_system__{namespace}-flux_{RBAC}_ClusterRole", "v": "v1"},
                {"id": f"_{namespace}_flux_{RBAC}_ClusterRole", "v": "v1"},
                {"id": f"{namespace}_old__ConfigMap", "v": "v1"},
            ]},
            "lastAppliedRevision": "main@sha1:" + "0" * 40,
        }}, namespace)  # fmt: skip

        await start_controller()
        obj = await ready(kube, namespace, "migrated", revision)
        assert [e["id"] for e in obj["status"]["inventory"]["entries"]] == [
            f"{namespace}_new__ConfigMap"
        ]

        async def pruned() -> bool:
            old = await kube.get_or_none(CONFIG_MAPS, "old", namespace)
            return old is None and await gone(kube, colon, underscore)

        assert await eventually(pruned)
    finally:
        for name in (colon, underscore):
            if await kube.get_or_none(CLUSTER_ROLES, name) is not None:
                await kube.delete(CLUSTER_ROLES, name)


async def test_a_new_kustomization_lists_what_it_creates_before_it_is_ready(
    kube: ResourceClient, sources: Sources, start_controller: StartController, namespace: str
) -> None:
    """A controller stopped halfway through its first apply must not forget what it
    created: the first status a new Kustomization gets says the pass is at work and
    already holds the objects it creates."""
    await sources.publish("repo", {"app/cm.yaml": config_map("settings", a="b")})
    await start_controller()
    created = await create_kustomization(kube, "first", namespace, path="./app")
    seen: list[dict[str, Any]] = []

    async def watch() -> None:
        version = created["metadata"]["resourceVersion"]
        async for event in kube.watch(KUSTOMIZATIONS, namespace, resource_version=version):
            obj = event.get("object") or {}
            # The CRD's default status (observedGeneration -1) comes first: not written.
            if (obj.get("metadata") or {}).get("name") == "first" and condition(obj, "Ready"):
                seen.append(obj)

    watching = asyncio.create_task(watch())
    try:
        await ready(kube, namespace, "first")
        await eventually(
            lambda: _any(condition(o, "Ready").get("status") == "True" for o in seen), timeout=5
        )
    finally:
        watching.cancel()
    first = seen[0]
    assert (condition(first, "Ready").get("status"), condition(first, "Reconciling")["reason"]) == (
        "Unknown", "Progressing",
    ), [o["status"] for o in seen]  # fmt: skip
    assert [e["id"] for e in first["status"]["inventory"]["entries"]] == [
        f"{namespace}_settings__ConfigMap"
    ]


async def _any(found: Any) -> bool:
    return any(found)
