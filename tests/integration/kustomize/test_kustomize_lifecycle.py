"""The Kustomization's life as a Flux user drives it: suspend, requested reconciles,
`kubectl wait`, and a source whose artifact cannot be fetched or does not verify.
"""

from __future__ import annotations

import asyncio
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from eddy_runtime.resources import ResourceClient
from eddy_testenv.managers import settled
from eddy_testenv.observe import condition, events_for

from .conftest import StartController
from .support import (
    CONFIG_MAPS,
    GIT_REPOSITORIES,
    KUSTOMIZATIONS,
    Sources,
    config_map,
    create_kustomization,
    eventually,
    kubectl,
    ready,
)

pytestmark = pytest.mark.integration

FILES = {"app/cm.yaml": config_map("settings", mode="git")}


async def test_kubectl_wait_and_requested_reconcile(
    kube: ResourceClient, sources: Sources, start_controller: StartController, namespace: str,
    control_plane: Any,
) -> None:  # fmt: skip
    await sources.publish("repo", FILES)
    await start_controller()
    await create_kustomization(kube, "app", namespace, path="./app")
    code, out = await kubectl(
        control_plane, "-n", namespace, "wait", "kustomization/app",
        "--for=condition=Ready", "--timeout=20s",
    )  # fmt: skip
    assert code == 0, out

    # A manual edit waits for the interval, unless a reconcile is requested.
    await kube.patch(CONFIG_MAPS, "settings", {"data": {"mode": "by-hand"}}, namespace)
    stamp = datetime.now(UTC).isoformat()
    await kube.patch(
        KUSTOMIZATIONS, "app",
        {"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": stamp}}}, namespace,
    )  # fmt: skip

    async def handled() -> bool:
        obj = await kube.get(KUSTOMIZATIONS, "app", namespace)
        return bool((obj.get("status") or {}).get("lastHandledReconcileAt") == stamp)

    await eventually(handled, timeout=5)
    cm = await kube.get(CONFIG_MAPS, "settings", namespace)
    assert cm["data"] == {"mode": "git"}


async def test_suspend_stops_reconciling_until_resumed(
    kube: ResourceClient, sources: Sources, start_controller: StartController, namespace: str
) -> None:
    await sources.publish("repo", FILES)
    manager = await start_controller()
    await create_kustomization(kube, "app", namespace, path="./app", interval="1s")
    applied = await ready(kube, namespace, "app")

    suspended = await kube.patch(KUSTOMIZATIONS, "app", {"spec": {"suspend": True}}, namespace)
    await settled(manager, "kustomization", suspended)
    await kube.patch(CONFIG_MAPS, "settings", {"data": {"mode": "by-hand"}}, namespace)
    newer = await sources.publish("repo", {"app/cm.yaml": config_map("settings", mode="newer")})
    # The controller has seen the new revision, and its pass for it did nothing.
    source = await kube.get(GIT_REPOSITORIES, "repo", namespace)
    await settled(manager, "kustomization", suspended, (GIT_REPOSITORIES, source))
    assert (await kube.get(CONFIG_MAPS, "settings", namespace))["data"] == {"mode": "by-hand"}
    obj = await kube.get(KUSTOMIZATIONS, "app", namespace)
    assert obj["status"]["lastAppliedRevision"] == applied["status"]["lastAppliedRevision"]

    await kube.patch(KUSTOMIZATIONS, "app", {"spec": {"suspend": None}}, namespace)
    await ready(kube, namespace, "app", newer)
    assert (await kube.get(CONFIG_MAPS, "settings", namespace))["data"] == {"mode": "newer"}


async def _publish_broken(sources: Sources, kube: ResourceClient, how: str) -> str:
    """A new revision whose artifact is missing (404) or does not match its digest."""
    files = {"app/cm.yaml": config_map("settings", mode=how)}
    if how == "mismatch":
        return await sources.publish("repo", files, digest="sha256:" + "0" * 64)
    revision = await sources.publish("repo", files)
    repo = await kube.get(GIT_REPOSITORIES, "repo", sources.namespace)
    url = repo["status"]["artifact"]["url"]
    await asyncio.to_thread(Path(sources.server.root, url.rsplit("/", 1)[1]).unlink)
    return revision


@pytest.mark.parametrize("how", ["missing", "mismatch"])
async def test_unusable_artifact_keeps_the_applied_revision(
    kube: ResourceClient, sources: Sources, start_controller: StartController, namespace: str,
    how: str,
) -> None:  # fmt: skip
    good = await sources.publish("repo", FILES)
    await start_controller()
    await create_kustomization(kube, "app", namespace, path="./app", retryInterval="1s")
    applied = await ready(kube, namespace, "app", good)

    bad = await _publish_broken(sources, kube, how)

    async def failed() -> dict[str, Any] | None:
        obj = await kube.get(KUSTOMIZATIONS, "app", namespace)
        attempted = (obj.get("status") or {}).get("lastAttemptedRevision")
        failing = condition(obj, "Ready").get("status") == "False"
        return obj if attempted == bad and failing else None

    obj = await eventually(failed, timeout=10)
    ready_cond = condition(obj, "Ready")
    assert ready_cond["status"] == "False"
    assert ready_cond["reason"] == "ArtifactFailed"
    assert bad in ready_cond["message"]
    assert obj["status"]["lastAppliedRevision"] == good
    assert obj["status"]["inventory"] == applied["status"]["inventory"]
    assert (await kube.get(CONFIG_MAPS, "settings", namespace))["data"] == {"mode": "git"}


async def test_a_new_revision_is_reported_in_progress_before_ready(
    kube: ResourceClient, sources: Sources, start_controller: StartController, namespace: str
) -> None:
    """`kubectl wait --for=condition=Ready` after a commit must not pass on the old
    revision's Ready: the pass that applies a new revision first says it is working."""
    await sources.publish("repo", FILES)
    await start_controller()
    await create_kustomization(kube, "app", namespace, path="./app")
    before = await ready(kube, namespace, "app")
    seen: list[dict[str, Any]] = []

    async def watch() -> None:
        version = before["metadata"]["resourceVersion"]
        async for event in kube.watch(KUSTOMIZATIONS, namespace, resource_version=version):
            obj = event.get("object") or {}
            if (obj.get("metadata") or {}).get("name") == "app":
                seen.append(obj)

    watching = asyncio.create_task(watch())
    try:
        newer = await sources.publish("repo", {"app/cm.yaml": config_map("settings", mode="new")})
        await ready(kube, namespace, "app", newer)
        await eventually(lambda: _applied(seen, newer), timeout=5)
    finally:
        watching.cancel()
    states = [
        (condition(o, "Ready").get("status"), condition(o, "Reconciling").get("status"))
        for o in seen
    ]
    assert states[0] == ("Unknown", "True"), states
    progress = condition(seen[0], "Reconciling")
    assert progress["reason"] == "Progressing"
    assert newer in progress["message"]
    assert seen[0]["status"]["lastAttemptedRevision"] == newer
    assert states[-1] == ("True", None), states


async def _applied(seen: list[dict[str, Any]], revision: str) -> bool:
    return any((o.get("status") or {}).get("lastAppliedRevision") == revision for o in seen)


async def test_missing_artifact_waits_at_the_dependency_requeue(
    kube: ResourceClient, sources: Sources, start_controller: StartController, namespace: str
) -> None:
    """An artifact that answers 404 means the source is not ready: like Flux, look
    again after --requeue-dependency (1s here), not after retryInterval, no Warning."""
    await sources.publish("repo", FILES)
    await start_controller()
    await create_kustomization(kube, "app", namespace, path="./app", retryInterval="1h")
    await ready(kube, namespace, "app")
    repo = await kube.get(GIT_REPOSITORIES, "repo", sources.namespace)
    artifact = repo["status"]["artifact"]
    # The source announces a revision whose archive it has not stored yet.
    moved = {**artifact, "url": artifact["url"] + "-later", "revision": "main@sha1:" + "1" * 40}
    await kube.patch_status(
        GIT_REPOSITORIES, "repo", {"status": {"artifact": moved}}, sources.namespace
    )

    async def waiting() -> dict[str, Any] | None:
        obj = await kube.get(KUSTOMIZATIONS, "app", namespace)
        cond = condition(obj, "Ready")
        return obj if "artifact not found" in cond.get("message", "") else None

    obj = await eventually(waiting, timeout=10)
    ready_cond = condition(obj, "Ready")
    assert ready_cond["reason"] == "ArtifactFailed"
    assert ready_cond["message"] == (
        f"Source is not ready, artifact not found for revision {moved['revision']}, retrying in 1s"
    )
    events = await events_for(kube, namespace, "app", "Kustomization")
    assert not any(e["type"] == "Warning" for e in events)

    # The source stores it; nothing about the source object changes.
    name = artifact["url"].rsplit("/", 1)[1]
    root = sources.server.root
    await asyncio.to_thread(shutil.copy, Path(root, name), Path(root, name + "-later"))
    await ready(kube, namespace, "app", moved["revision"])
