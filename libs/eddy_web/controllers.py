"""Controller health for the overview: eddy's Deployments, their readiness and probes.

Read through the API server only (Deployments, and /readyz through the pod proxy
where the person may use it), so it works the same from a laptop or in-cluster.
"""

from __future__ import annotations

import asyncio
from typing import Any

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
    """The first pod's /readyz answer through the API server's proxy, if allowed."""
    meta = deployment.get("metadata") or {}
    labels = ((deployment.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    if not labels:
        return ""
    selector = ",".join(f"{k}={v}" for k, v in labels.items())
    try:
        pods = await client.list(PODS, meta.get("namespace"), label_selector=selector, limit=1)
        items = pods.get("items") or []
        if not items:
            return ""
        name = items[0]["metadata"]["name"]
        path = f"/api/v1/namespaces/{meta.get('namespace')}/pods/{name}:9440/proxy/readyz"
        resp = await client._call("GET", path)
        try:
            body = (await resp.read()).decode(errors="replace").strip()
        finally:
            resp.release()
        return "ok" if resp.status == 200 else f"{resp.status}: {body[:120]}"
    except (ApiError, OSError, TimeoutError, KeyError):
        return ""
