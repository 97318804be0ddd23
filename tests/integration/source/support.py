"""Helpers for the source-controller's integration tests: objects, waiting, reading back.

Tests assert on what a user sees: status, Events and the artifact served over HTTP.
"""

from __future__ import annotations

import asyncio
import base64
import time
from pathlib import Path
from typing import Any, TypeVar

import aiohttp

from eddy_artifacts.fetch import fetch_artifact
from eddy_runtime.annotations import RECONCILE_REQUESTED_AT
from eddy_runtime.resources import SECRETS, Obj, Resource, ResourceClient
from eddy_testenv.observe import condition, events_for
from eddy_testenv.waiting import eventually as eventually  # re-exported for the tests
from source_controller.kinds import GIT_REPOSITORIES, HELM_CHARTS, HELM_REPOSITORIES

# Credentials for servers a test starts itself (chart repositories, a stalled server).
USERNAME = "flux"
PASSWORD = "s3cr3t-pass"

T = TypeVar("T")


def git_repository(name: str, namespace: str, url: str, **spec: Any) -> Obj:
    return {
        "apiVersion": GIT_REPOSITORIES.api_version,
        "kind": GIT_REPOSITORIES.kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"url": url, "interval": "1h", "timeout": "20s", **spec},
    }


async def create_secret(
    kube: ResourceClient, namespace: str, name: str, data: dict[str, str | bytes]
) -> None:
    encoded = {
        k: base64.b64encode(v.encode() if isinstance(v, str) else v).decode()
        for k, v in data.items()
    }
    body = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "data": encoded}
    await kube.create(SECRETS, body, namespace)


async def settled(
    kube: ResourceClient, resource: Resource, namespace: str, name: str, timeout: float = 30.0
) -> Obj:
    """The object once its status answers its current generation with Ready True or False."""

    async def probe() -> Obj | None:
        obj = await kube.get(resource, name, namespace)
        status = obj.get("status") or {}
        ready = condition(obj, "Ready")
        current = status.get("observedGeneration") == obj["metadata"]["generation"]
        return obj if current and ready.get("status") in ("True", "False") else None

    return await eventually(probe, timeout)


async def ready(
    kube: ResourceClient, resource: Resource, namespace: str, name: str, timeout: float = 30.0
) -> Obj:
    obj = await settled(kube, resource, namespace, name, timeout)
    assert condition(obj, "Ready")["status"] == "True", obj.get("status")
    return obj


async def failed(
    kube: ResourceClient, resource: Resource, namespace: str, name: str, timeout: float = 30.0
) -> Obj:
    """The object once its status answers its current generation with Ready False.

    Waited for, not read once: after a reconcile request the last pass's Ready=True
    still stands until the requested pass has run.
    """

    async def probe() -> Obj | None:
        obj = await kube.get(resource, name, namespace)
        status = obj.get("status") or {}
        current = status.get("observedGeneration") == obj["metadata"]["generation"]
        return obj if current and condition(obj, "Ready").get("status") == "False" else None

    try:
        return await eventually(probe, timeout)
    except AssertionError:
        current = await kube.get(resource, name, namespace)
        raise AssertionError(f"{name} did not fail: {current.get('status')}") from None


async def request_reconcile(
    kube: ResourceClient, resource: Resource, namespace: str, name: str
) -> str:
    stamp = f"{time.time():.6f}"
    patch = {"metadata": {"annotations": {RECONCILE_REQUESTED_AT: stamp}}}
    await kube.patch(resource, name, patch, namespace)
    return stamp


async def handled(
    kube: ResourceClient, resource: Resource, namespace: str, name: str, stamp: str
) -> Obj:
    async def probe() -> Obj | None:
        obj = await kube.get(resource, name, namespace)
        return obj if (obj.get("status") or {}).get("lastHandledReconcileAt") == stamp else None

    return await eventually(probe)


async def download(artifact: dict[str, Any], dest: Path) -> dict[str, bytes]:
    """Fetch an artifact as a consumer would (digest verified) and read its files."""
    async with aiohttp.ClientSession() as session:
        await fetch_artifact(session, artifact["url"], artifact["digest"], dest)
    return await asyncio.to_thread(read_tree, dest)


def read_tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


async def until_ready(
    kube: ResourceClient, resource: Resource, namespace: str, name: str, timeout: float = 30.0
) -> Obj:
    """The object once it is Ready for its generation, failures on the way allowed."""

    async def probe() -> Obj | None:
        obj = await kube.get(resource, name, namespace)
        generation = obj["metadata"]["generation"]
        current = (obj.get("status") or {}).get("observedGeneration") == generation
        return obj if current and condition(obj, "Ready").get("status") == "True" else None

    return await eventually(probe, timeout)


async def warning_reasons(kube: ResourceClient, namespace: str, name: str) -> list[str]:
    """The reasons of the object's Warning Events, once there is one (they follow status)."""

    async def probe() -> list[str]:
        found = await events_for(kube, namespace, name)
        return [e["reason"] for e in found if e["type"] == "Warning"]

    return await eventually(probe)


def helm_repository(name: str, namespace: str, url: str, **spec: object) -> dict[str, object]:
    return {
        "apiVersion": HELM_REPOSITORIES.api_version, "kind": HELM_REPOSITORIES.kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"url": url, "interval": "1h", "timeout": "20s", **spec},
    }  # fmt: skip


def helm_chart(
    name: str, namespace: str, chart: str, kind: str, source: str, **spec: object
) -> dict[str, object]:
    return {
        "apiVersion": HELM_CHARTS.api_version, "kind": HELM_CHARTS.kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"chart": chart, "interval": "1h",
                 "sourceRef": {"kind": kind, "name": source}, **spec},
    }  # fmt: skip


async def verification_refused(
    kube: ResourceClient, resource: Resource, namespace: str, name: str
) -> Obj:
    """The object once its SourceVerified condition is False (a new revision was refused)."""

    async def probe() -> Obj | None:
        current = await kube.get(resource, name, namespace)
        return current if condition(current, "SourceVerified").get("status") == "False" else None

    return await eventually(probe)


def assert_verification_error(obj: Obj, name: str, words: str) -> None:
    """Ready and SourceVerified both say the cosign check failed, in `words`."""
    for kind in ("Ready", "SourceVerified"):
        cond = condition(obj, kind)
        assert cond["status"] == "False" and cond["reason"] == "VerificationError", name
        assert cond["message"].startswith("failed to verify the signature using provider "
                                          "'cosign': "), cond  # fmt: skip
        assert words in cond["message"], cond
