"""Git to cluster with both controllers running as their own processes.

The same loop the demo shows, asserted the way a user would check it: status
conditions, applied objects, reverted drift, pruned objects, Events, metrics.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from eddy_testenv.controllers import ControllerProcess
from eddy_testenv.gitserver import GitHTTPServer, GitRepo

from .support import DEPLOYMENT, SERVICE, settings_map

MERGE = "application/merge-patch+json"
TIMEOUT = 60.0


async def eventually(what: str, check: Callable[[], Awaitable[bool]]) -> float:
    started = time.monotonic()
    while time.monotonic() - started < TIMEOUT:
        if await check():
            return time.monotonic() - started
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out after {TIMEOUT:.0f}s waiting until {what}")


def ready(obj: dict[str, Any]) -> dict[str, Any] | None:
    conditions = (obj.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c["type"] == "Ready"), None)


async def test_commit_sync_drift_and_prune(
    controllers: list[ControllerProcess],
    api_client: client.ApiClient,
    namespace: str,
    git_repo: GitRepo,
    git_server: GitHTTPServer,
) -> None:
    custom = client.CustomObjectsApi(api_client)
    apps = client.AppsV1Api(api_client)
    core = client.CoreV1Api(api_client)
    first = git_repo.commit(
        {
            "app/deployment.yaml": DEPLOYMENT,
            "app/service.yaml": SERVICE,
            "app/configmap.yaml": settings_map("hello"),
        }
    )

    await custom.create_namespaced_custom_object(
        "source.toolkit.fluxcd.io", "v1", namespace, "gitrepositories",
        {
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "GitRepository",
            "metadata": {"name": "app"},
            "spec": {
                "interval": "10m",
                "url": git_server.repo_url(git_repo.name),
                "ref": {"branch": "main"},
            },
        },
    )  # fmt: skip
    await custom.create_namespaced_custom_object(
        "kustomize.toolkit.fluxcd.io", "v1", namespace, "kustomizations",
        {
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "metadata": {"name": "app"},
            "spec": {
                "interval": "3s",
                "path": "./app",
                "prune": True,
                "targetNamespace": namespace,
                "sourceRef": {"kind": "GitRepository", "name": "app"},
            },
        },
    )  # fmt: skip

    async def kustomization() -> dict[str, Any]:
        obj: dict[str, Any] = await custom.get_namespaced_custom_object(
            "kustomize.toolkit.fluxcd.io", "v1", namespace, "kustomizations", "app"
        )
        return obj

    async def applied(sha: str) -> bool:
        obj = await kustomization()
        condition = ready(obj)
        return (
            condition is not None
            and condition["status"] == "True"
            and obj["status"].get("lastAppliedRevision") == f"main@sha1:{sha}"
        )

    await eventually("the first commit is applied", lambda: applied(first))

    source = await custom.get_namespaced_custom_object(
        "source.toolkit.fluxcd.io", "v1", namespace, "gitrepositories", "app"
    )
    artifact = source["status"]["artifact"]
    assert artifact["revision"] == f"main@sha1:{first}"
    assert artifact["digest"].startswith("sha256:")
    source_ready = ready(source)
    assert source_ready is not None and source_ready["status"] == "True"

    deployment = await apps.read_namespaced_deployment("web", namespace)
    assert deployment.spec.replicas == 2
    assert deployment.metadata.labels["kustomize.toolkit.fluxcd.io/name"] == "app"
    assert deployment.metadata.labels["kustomize.toolkit.fluxcd.io/namespace"] == namespace
    settings = await core.read_namespaced_config_map("settings", namespace)
    assert settings.data == {"greeting": "hello"}
    inventory = {e["id"] for e in (await kustomization())["status"]["inventory"]["entries"]}
    assert inventory == {
        f"{namespace}_web_apps_Deployment",
        f"{namespace}_web__Service",
        f"{namespace}_settings__ConfigMap",
    }

    # A new commit reaches the cluster once the source sees it; `flux reconcile
    # source git` asks for that through the requestedAt annotation.
    second = git_repo.commit({"app/configmap.yaml": settings_map("hello-again")})
    await request_reconcile(custom, namespace, "app")
    await eventually("the second commit is applied", lambda: applied(second))
    settings = await core.read_namespaced_config_map("settings", namespace)
    assert settings.data == {"greeting": "hello-again"}

    # A manual edit of a field Git owns is reverted at the next interval.
    await apps.patch_namespaced_deployment(
        "web", namespace, {"spec": {"replicas": 5}}, _content_type=MERGE
    )

    async def replicas_back() -> bool:
        current = await apps.read_namespaced_deployment("web", namespace)
        return bool(current.spec.replicas == 2)

    await eventually("replicas go back to 2", replicas_back)

    # Removing a file from Git deletes its object from the cluster.
    third = git_repo.commit({"app/configmap.yaml": None})
    await request_reconcile(custom, namespace, "app")
    await eventually("the third commit is applied", lambda: applied(third))

    async def config_map_gone() -> bool:
        try:
            await core.read_namespaced_config_map("settings", namespace)
        except ApiException as err:
            return err.status == 404
        return False

    await eventually("the ConfigMap is pruned", config_map_gone)
    await apps.read_namespaced_deployment("web", namespace)

    events = await core.list_namespaced_event(namespace)
    reasons = {(e.involved_object.kind, e.reason) for e in events.items}
    assert ("GitRepository", "NewArtifact") in reasons
    assert ("Kustomization", "ReconciliationSucceeded") in reasons

    metrics = controllers[1].metrics()
    assert "gotk_reconcile_condition{" in metrics
    assert f'name="app",namespace="{namespace}"' in metrics


async def request_reconcile(custom: client.CustomObjectsApi, namespace: str, name: str) -> None:
    stamp = datetime.now(UTC).isoformat()
    await custom.patch_namespaced_custom_object(
        "source.toolkit.fluxcd.io", "v1", namespace, "gitrepositories", name,
        {"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": stamp}}},
        _content_type=MERGE,
    )  # fmt: skip
