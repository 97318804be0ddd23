"""What the helm-controller tests share: charts, releases, waiting for a condition, helm."""

from __future__ import annotations

import asyncio
import json
import secrets
import subprocess
import time
from pathlib import Path
from typing import Any

from eddy_runtime.resources import Resource, ResourceClient
from eddy_testenv import find_binary
from eddy_testenv.helmrepo import HelmRepo
from eddy_testenv.observe import condition
from eddy_testenv.registry import Registry
from eddy_testenv.waiting import eventually
from helm_controller.objects import HELM_RELEASES

HELM_REPOSITORIES = Resource("source.toolkit.fluxcd.io", "v1", "helmrepositories", "HelmRepository")

TIMEOUT = 40.0

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-web
spec:
  replicas: {{ .Values.replicas }}
  progressDeadlineSeconds: 600
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: nginx:1.27
"""
CONFIG = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-settings
data:
  greeting: {{ .Values.greeting | quote }}
  color: {{ .Values.color | default "none" | quote }}
  password: {{ .Values.password | default "" | quote }}
"""
TEMPLATES = {"configmap.yaml": CONFIG}


def publish_app_chart(registry: Registry, namespace: str, version: str, greeting: str) -> str:
    """Push chart `app` at `version` under a registry path of its own; that path."""
    path = f"charts/{namespace[:30]}-{secrets.token_hex(3)}"
    registry.publish("app", version, repository=path, templates=TEMPLATES,
                     values={"greeting": greeting})  # fmt: skip
    return path


async def repository(kube: ResourceClient, namespace: str, repo: HelmRepo) -> None:
    await kube.create(
        HELM_REPOSITORIES,
        {
            "apiVersion": HELM_REPOSITORIES.api_version,
            "kind": HELM_REPOSITORIES.kind,
            "metadata": {"name": "charts", "namespace": namespace},
            "spec": {"url": repo.url, "interval": "1h"},
        },
        namespace,
    )


def release(name: str, namespace: str, version: str = "*", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": HELM_RELEASES.api_version,
        "kind": HELM_RELEASES.kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "interval": "1h",
            "chart": {
                "spec": {
                    "chart": "app",
                    "version": version,
                    "interval": "1h",
                    "sourceRef": {"kind": "HelmRepository", "name": "charts"},
                }
            },
            **spec,
        },
    }


async def wait_condition(
    kube: ResourceClient, namespace: str, name: str, type_: str, status: str, reason: str = ""
) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        obj = await kube.get(HELM_RELEASES, name, namespace)
        cond = condition(obj, type_)
        meta, st = obj["metadata"], obj.get("status") or {}
        if cond.get("status") != status or st.get("observedGeneration") != meta["generation"]:
            return None
        return obj if not reason or cond.get("reason") == reason else None

    return await eventually(probe, timeout=TIMEOUT, interval=0.2)


async def wait_revision(kube: ResourceClient, namespace: str, version: int) -> dict[str, Any]:
    """Wait until the current spec of release `app` is Ready as Helm revision `version`."""

    async def probe() -> dict[str, Any] | None:
        obj = await kube.get(HELM_RELEASES, "app", namespace)
        status = obj.get("status") or {}
        done = (
            condition(obj, "Ready").get("status") == "True"
            and status.get("observedGeneration") == obj["metadata"]["generation"]
            and (status.get("history") or [{}])[0].get("version") == version
        )
        return obj if done else None

    return await eventually(probe, timeout=TIMEOUT)


async def reconcile_now(kube: ResourceClient, namespace: str, name: str = "app") -> dict[str, Any]:
    """Ask for a pass and wait until it is done: lastHandledReconcileAt says so."""
    token = str(time.time())
    await kube.patch(
        HELM_RELEASES, name,
        {"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": token}}}, namespace,
    )  # fmt: skip

    async def handled() -> dict[str, Any] | None:
        got = await kube.get(HELM_RELEASES, name, namespace)
        return got if (got.get("status") or {}).get("lastHandledReconcileAt") == token else None

    return await eventually(handled, timeout=TIMEOUT)


class HelmCLI:
    """The pinned helm, pointed at the test control plane, as a user would run it."""

    def __init__(self, kubeconfig: Path, home: Path) -> None:
        self.kubeconfig = kubeconfig
        self.home = home

    def run(self, *args: str) -> str:
        env = {
            "HOME": str(self.home),
            "HELM_CACHE_HOME": str(self.home / "cache"),
            "HELM_CONFIG_HOME": str(self.home / "config"),
            "HELM_DATA_HOME": str(self.home / "data"),
            "PATH": "/usr/bin:/bin",
        }
        done = subprocess.run(
            [find_binary("helm"), *args, "--kubeconfig", str(self.kubeconfig)],
            capture_output=True, text=True, env=env, timeout=60, check=True,
        )  # fmt: skip
        return done.stdout

    async def releases(self, namespace: str) -> list[dict[str, Any]]:
        out = await asyncio.to_thread(self.run, "list", "-a", "-n", namespace, "-o", "json")
        found: list[dict[str, Any]] = json.loads(out or "[]")
        return found

    async def history(self, name: str, namespace: str) -> list[dict[str, Any]]:
        out = await asyncio.to_thread(self.run, "history", name, "-n", namespace, "-o", "json")
        found: list[dict[str, Any]] = json.loads(out or "[]")
        return found
