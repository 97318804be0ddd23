"""Controller health for the overview: eddy's Deployments, their readiness and probes.

Read through the API server only (Deployments, and /readyz through a port-forward
where the person may use one), so it works the same from a laptop or in-cluster.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from kubernetes_asyncio.client.exceptions import ApiException

from eddy_runtime.portforward import pod_get
from eddy_runtime.resources import ApiError, Obj, Resource, ResourceClient

DEPLOYMENTS = Resource("apps", "v1", "deployments", "Deployment")
PODS = Resource("", "v1", "pods", "Pod")
NAMES = (
    "source-controller",
    "kustomize-controller",
    "helm-controller",
    "image-automation-controller",
    "notification-controller",
    "eddy-dashboard",
)
SELECTOR = f"app.kubernetes.io/component in ({','.join(NAMES)})"


async def health(client: ResourceClient) -> dict[str, Any]:
    try:
        items, _ = await client.list_all(DEPLOYMENTS, label_selector=SELECTOR)
    except ApiError as err:
        return {"controllers": [], "message": f"cannot list Deployments: {err.message}"}
    rows = await asyncio.gather(*(_row(client, d) for d in items))
    return {"controllers": sorted(rows, key=lambda r: (r["namespace"], r["name"]))}


async def _row(client: ResourceClient, deployment: Obj) -> dict[str, Any]:
    meta = deployment.get("metadata") or {}
    status = deployment.get("status") or {}
    wanted = int((deployment.get("spec") or {}).get("replicas", 1))
    ready = int(status.get("readyReplicas") or 0)
    state = (
        "Ready" if ready >= wanted and wanted > 0 else ("Suspended" if wanted == 0 else "Failed")
    )
    row: dict[str, Any] = {
        "name": meta.get("name", ""),
        "namespace": meta.get("namespace", ""),
        "replicas": f"{ready}/{wanted}",
        "state": state,
    }
    probe = await _readyz(client, deployment)
    if probe:
        row["readyz"] = probe
        if probe != "ok":
            row["state"] = "Failed"
    return row


async def _readyz(client: ResourceClient, deployment: Obj) -> str:
    """The first ready Pod's /readyz answer through a port-forward, if the person may.

    "" when it cannot be asked (no Pod, no right to port-forward, unreachable):
    unknown, not a failure of the controller.
    """
    meta = deployment.get("metadata") or {}
    labels = ((deployment.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    if not labels:
        return ""
    selector = ",".join(f"{k}={v}" for k, v in labels.items())
    try:
        pods = await client.list(PODS, meta.get("namespace"), label_selector=selector)
        running = [
            p for p in pods.get("items") or []
            if (p.get("status") or {}).get("phase") == "Running"
        ]  # fmt: skip
        if not running:
            return ""
        name = running[0]["metadata"]["name"]
        code, body = await pod_get(client.api, str(meta.get("namespace")), name, 9440, "/readyz")
    except (ApiError, ApiException, OSError, TimeoutError, KeyError, aiohttp.ClientError):
        return ""
    return "ok" if code == 200 else f"{code}: {body.strip()[:120]}"
