"""A discovery outage never orphans or wrongly prunes what a Kustomization applied.

The outage is real: an APIService for a group whose backing Service does not exist,
so the API server answers 503 for that group's discovery.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

import pytest

from eddy_runtime.resources import Resource, ResourceClient
from eddy_testenv.observe import condition, events_for

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

API_SERVICES = Resource("apiregistration.k8s.io", "v1", "apiservices", "APIService")


async def broken_api(kube: ResourceClient, namespace: str) -> str:
    """Register an aggregated API with no server behind it; returns its group."""
    group = f"outage-{secrets.token_hex(3)}.eddy.dev"
    await kube.create(API_SERVICES, {
        "apiVersion": API_SERVICES.api_version, "kind": API_SERVICES.kind,
        "metadata": {"name": f"v1.{group}"},
        "spec": {
            "group": group, "version": "v1", "groupPriorityMinimum": 1000,
            "versionPriority": 15, "insecureSkipTLSVerify": True,
            "service": {"name": "nowhere", "namespace": namespace, "port": 443},
        },
    })  # fmt: skip

    async def unavailable() -> bool:
        try:
            await kube.get_path(f"/apis/{group}/v1")
        except Exception as err:
            return "503" in str(getattr(err, "status", "")) or "503" in str(err)
        return False

    await eventually(unavailable, timeout=10)
    return group


async def request_reconcile(kube: ResourceClient, namespace: str, name: str) -> None:
    stamp = datetime.now(UTC).isoformat()
    await kube.patch(
        KUSTOMIZATIONS, name,
        {"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": stamp}}},
        namespace,
    )  # fmt: skip


async def test_unresolvable_kinds_stay_in_the_inventory_and_are_not_pruned(
    kube: ResourceClient, sources: Sources, start_controller: StartController, namespace: str
) -> None:
    group = await broken_api(kube, namespace)
    try:
        await sources.publish("repo", {"app/cm.yaml": config_map("settings", mode="git")})
        await start_controller()
        await create_kustomization(kube, "app", namespace, path="./app", retryInterval="1s")
        obj = await ready(kube, namespace, "app")
        # As a previous revision left it, when the aggregated API still answered:
        # a Gadget that Git no longer holds, due for pruning.
        gadget = {"id": f"{namespace}_gadget_{group}_Gadget", "v": "v1"}
        entries = [*obj["status"]["inventory"]["entries"], gadget]
        await kube.patch_status(
            KUSTOMIZATIONS, "app", {"status": {"inventory": {"entries": entries}}}, namespace
        )
        await request_reconcile(kube, namespace, "app")

        async def prune_failed() -> dict[str, Any] | None:
            obj = await kube.get(KUSTOMIZATIONS, "app", namespace)
            return obj if condition(obj, "Ready").get("reason") == "PruneFailed" else None

        obj = await eventually(prune_failed, timeout=10)
        message = condition(obj, "Ready")["message"]
        assert condition(obj, "Ready")["status"] == "False"
        assert f"Gadget/{namespace}/gadget not pruned" in message, message
        assert f"discovery of {group}/v1 failed (503)" in message, message
        assert gadget in obj["status"]["inventory"]["entries"]
        assert await kube.get_or_none(CONFIG_MAPS, "settings", namespace) is not None
        events = await events_for(kube, namespace, "app", "Kustomization")
        assert any(e["type"] == "Warning" and e["reason"] == "PruneFailed" for e in events)
    finally:
        await kube.delete(API_SERVICES, f"v1.{group}")

    # The API is gone for good now (404, not 503): still not forgotten, but no longer
    # a failure; the Kustomization is Ready and says what it kept.
    await request_reconcile(kube, namespace, "app")
    obj = await ready(kube, namespace, "app")
    assert gadget in obj["status"]["inventory"]["entries"]

    async def reported() -> bool:
        events = await events_for(kube, namespace, "app", "Kustomization")
        return any("is not served by the cluster" in e["message"] for e in events)

    await eventually(reported, timeout=5)
