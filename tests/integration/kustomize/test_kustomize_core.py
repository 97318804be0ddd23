"""The core loop: a source revision becomes objects in the cluster, with Flux's status.

Every test runs the controller in-process against the real control plane and reads
what a user would: the Kustomization's status, its Events and the applied objects.
"""

from __future__ import annotations

import asyncio
import os
import time

import pytest

from eddy_runtime.resources import ResourceClient
from eddy_testenv.observe import condition, events_for
from eddy_testenv.process import find_binary
from eddy_testenv.webhooks import webhook_server

from .conftest import StartController
from .support import (
    CONFIG_MAPS,
    DEPLOYMENTS,
    KUSTOMIZATIONS,
    SERVICES,
    Sources,
    config_map,
    create_kustomization,
    deployment,
    eventually,
    ready,
    service,
)

pytestmark = pytest.mark.integration

APP = {
    "deploy/deployment.yaml": deployment("web", replicas=2),
    "deploy/service.yaml": service("web"),
    "deploy/config.yaml": config_map("web-config", greeting="hello"),
}


async def test_applies_a_revision_and_reports_status(
    kube: ResourceClient, sources: Sources, start_controller: StartController, namespace: str
) -> None:
    revision = await sources.publish("repo", APP)
    await start_controller()
    await create_kustomization(kube, "app", namespace, path="./deploy")
    obj = await ready(kube, namespace, "app", revision)

    status = obj["status"]
    assert status["lastAttemptedRevision"] == revision
    assert status["observedGeneration"] == obj["metadata"]["generation"]
    assert condition(obj, "Ready")["reason"] == "ReconciliationSucceeded"
    assert condition(obj, "Ready")["message"] == f"Applied revision: {revision}"
    assert sorted(e["id"] for e in status["inventory"]["entries"]) == [
        f"{namespace}_web-config__ConfigMap",
        f"{namespace}_web__Service",
        f"{namespace}_web_apps_Deployment",
    ]
    assert {e["v"] for e in status["inventory"]["entries"]} == {"v1"}
    assert "finalizers.fluxcd.io" in obj["metadata"]["finalizers"]

    deploy = await kube.get(DEPLOYMENTS, "web", namespace)
    assert deploy["metadata"]["labels"] == {
        "kustomize.toolkit.fluxcd.io/name": "app",
        "kustomize.toolkit.fluxcd.io/namespace": namespace,
    }
    managers = {(m["manager"], m["operation"]) for m in deploy["metadata"]["managedFields"]}
    assert ("kustomize-controller", "Apply") in managers

    events = await events_for(kube, namespace, "app", "Kustomization")
    messages = "\n".join(e["message"] for e in events)
    assert f"Deployment/{namespace}/web created" in messages
    assert f"Service/{namespace}/web created" in messages
    assert any(e["reason"] == "ReconciliationSucceeded" for e in events)


async def test_new_revision_arrives_through_the_watch(
    kube: ResourceClient, sources: Sources, start_controller: StartController, namespace: str
) -> None:
    await sources.publish("repo", APP)
    manager = await start_controller()
    await create_kustomization(kube, "app", namespace, path="./deploy")
    await ready(kube, namespace, "app")

    changed = {**APP, "deploy/config.yaml": config_map("web-config", greeting="bonjour")}
    started = time.monotonic()
    revision = await sources.publish("repo", changed)
    obj = await ready(kube, namespace, "app", revision)
    assert time.monotonic() - started < 3.0, "a new revision must not wait for the interval"
    cm = await kube.get(CONFIG_MAPS, "web-config", namespace)
    assert cm["data"] == {"greeting": "bonjour"}
    events = await events_for(kube, namespace, "app", "Kustomization")
    assert any(e["message"] == f"ConfigMap/{namespace}/web-config configured" for e in events)
    assert obj["status"]["lastAppliedRevision"] == revision
    # Time from commit to applied: observed once per revision applied.
    metrics = manager.metrics.registry.expose()
    assert 'eddy_revision_apply_delay_seconds_count{kind="Kustomization"} 2' in metrics


async def test_manual_scale_is_reverted_and_reported(
    kube: ResourceClient, sources: Sources, start_controller: StartController, namespace: str,
    control_plane: object,
) -> None:  # fmt: skip
    await sources.publish("repo", APP)
    manager = await start_controller()
    await create_kustomization(kube, "app", namespace, path="./deploy", interval="2s")
    await ready(kube, namespace, "app")

    proc = await asyncio.create_subprocess_exec(
        find_binary("kubectl"), "--kubeconfig", str(control_plane.kubeconfig),  # type: ignore[attr-defined]
        "-n", namespace, "scale", "deployment/web", "--replicas=5",
        stdout=asyncio.subprocess.DEVNULL, env=dict(os.environ),
    )  # fmt: skip
    assert await proc.wait() == 0
    assert (await kube.get(DEPLOYMENTS, "web", namespace))["spec"]["replicas"] == 5

    async def reverted() -> bool:
        return bool((await kube.get(DEPLOYMENTS, "web", namespace))["spec"]["replicas"] == 2)

    await eventually(reverted, timeout=10)

    async def reported() -> bool:
        events = await events_for(kube, namespace, "app", "Kustomization")
        return any(e["message"] == f"Deployment/{namespace}/web configured" for e in events)

    await eventually(reported, timeout=5)
    drift = (
        f'eddy_drift_corrections_total{{kind="Kustomization",name="app",namespace="{namespace}"}}'
    )

    async def counted() -> bool:
        line = next(
            (x for x in manager.metrics.registry.expose().splitlines() if x.startswith(drift)), ""
        )
        return line.endswith(" 1")

    await eventually(counted, timeout=5)


async def test_prunes_only_what_it_applied(
    kube: ResourceClient, sources: Sources, start_controller: StartController, namespace: str
) -> None:
    kept = config_map("kept", a="b").replace(
        "name: kept", "name: kept\n  annotations:\n    kustomize.toolkit.fluxcd.io/prune: disabled"
    )
    await sources.publish("repo", {**APP, "deploy/kept.yaml": kept})
    await kube.create(
        CONFIG_MAPS, {"metadata": {"name": "not-ours", "namespace": namespace}, "data": {}}
    )
    await start_controller()
    await create_kustomization(kube, "app", namespace, path="./deploy")
    await ready(kube, namespace, "app")

    smaller = {"deploy/deployment.yaml": APP["deploy/deployment.yaml"]}
    revision = await sources.publish("repo", smaller)
    obj = await ready(kube, namespace, "app", revision)

    assert await kube.get_or_none(SERVICES, "web", namespace) is None
    assert await kube.get_or_none(CONFIG_MAPS, "web-config", namespace) is None
    assert await kube.get_or_none(CONFIG_MAPS, "kept", namespace) is not None
    assert await kube.get_or_none(CONFIG_MAPS, "not-ours", namespace) is not None
    assert [e["id"] for e in obj["status"]["inventory"]["entries"]] == [
        f"{namespace}_web_apps_Deployment"
    ]
    events = await events_for(kube, namespace, "app", "Kustomization")
    assert any(f"Service/{namespace}/web deleted" in e["message"] for e in events)


async def test_waits_for_the_source_artifact(
    kube: ResourceClient, sources: Sources, start_controller: StartController, namespace: str
) -> None:
    await start_controller()
    await create_kustomization(kube, "app", namespace, path="./deploy")

    async def waiting() -> dict | None:
        obj = await kube.get(KUSTOMIZATIONS, "app", namespace)
        ready_cond = condition(obj, "Ready")
        return obj if ready_cond.get("reason") == "ArtifactFailed" else None

    obj = await eventually(waiting)
    assert condition(obj, "Ready")["status"] == "False"
    assert "not found" in condition(obj, "Ready")["message"]
    revision = await sources.publish("repo", APP)
    await ready(kube, namespace, "app", revision)


async def test_deleting_the_kustomization_deletes_what_it_pruned(
    kube: ResourceClient, sources: Sources, start_controller: StartController, namespace: str
) -> None:
    await sources.publish("repo", APP)
    await start_controller()
    await create_kustomization(kube, "app", namespace, path="./deploy")
    await create_kustomization(kube, "orphan", namespace, path="./other", deletionPolicy="Orphan")
    await sources.publish("repo", {**APP, "other/cm.yaml": config_map("orphaned", x="y")})
    await ready(kube, namespace, "app")
    await ready(kube, namespace, "orphan")
    await kube.delete(KUSTOMIZATIONS, "app", namespace)
    await kube.delete(KUSTOMIZATIONS, "orphan", namespace)

    async def gone() -> bool:
        return await kube.get_or_none(KUSTOMIZATIONS, "app", namespace) is None and (
            await kube.get_or_none(KUSTOMIZATIONS, "orphan", namespace) is None
        )

    await eventually(gone)
    assert await kube.get_or_none(SERVICES, "web", namespace) is None
    assert await kube.get_or_none(CONFIG_MAPS, "web-config", namespace) is None
    assert await kube.get_or_none(CONFIG_MAPS, "orphaned", namespace) is not None


async def test_events_reach_the_events_address_with_revision_and_token(
    kube: ResourceClient, sources: Sources, start_controller: StartController, namespace: str
) -> None:
    revision = await sources.publish("repo", APP)
    async with webhook_server() as receiver:
        await start_controller(events_addr=receiver.url + "/")
        await create_kustomization(kube, "app", namespace, path="./deploy")
        await ready(kube, namespace, "app", revision)

        async def succeeded() -> dict[str, object] | None:
            for request in receiver.requests:
                body = request.json()
                if body["reason"] == "ReconciliationSucceeded":
                    return body  # type: ignore[no-any-return]
            return None

        body = await eventually(succeeded)
        assert body["reportingController"] == "kustomize-controller"
        assert body["involvedObject"]["kind"] == "Kustomization"  # type: ignore[index]
        metadata = body["metadata"]
        assert metadata["kustomize.toolkit.fluxcd.io/revision"] == revision  # type: ignore[index]
        assert len(metadata["kustomize.toolkit.fluxcd.io/token"]) == 32  # type: ignore[index]
