"""What the process-level tests share: controllers as processes, object builders, waiting.

Controllers started here only reconcile objects carrying SUITE_LABEL, so they run on the
shared control plane without touching what other suites create there.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eddy_runtime.resources import Obj, Resource, ResourceClient
from eddy_testenv import find_binary, free_port
from eddy_testenv.controllers import ControllerProcess

SUITE_LABEL = "testing.eddy.dev/suite"

GIT_REPOSITORIES = Resource("source.toolkit.fluxcd.io", "v1", "gitrepositories", "GitRepository")
HELM_REPOSITORIES = Resource("source.toolkit.fluxcd.io", "v1", "helmrepositories", "HelmRepository")
HELM_CHARTS = Resource("source.toolkit.fluxcd.io", "v1", "helmcharts", "HelmChart")
KUSTOMIZATIONS = Resource("kustomize.toolkit.fluxcd.io", "v1", "kustomizations", "Kustomization")
HELM_RELEASES = Resource("helm.toolkit.fluxcd.io", "v2", "helmreleases", "HelmRelease")
IMAGE_REPOSITORIES = Resource(
    "image.toolkit.fluxcd.io", "v1beta2", "imagerepositories", "ImageRepository"
)
IMAGE_POLICIES = Resource("image.toolkit.fluxcd.io", "v1beta2", "imagepolicies", "ImagePolicy")
IMAGE_UPDATE_AUTOMATIONS = Resource(
    "image.toolkit.fluxcd.io", "v1beta2", "imageupdateautomations", "ImageUpdateAutomation"
)
CONFIG_MAPS = Resource("", "v1", "configmaps", "ConfigMap")
SECRETS = Resource("", "v1", "secrets", "Secret")

MODULES = {
    "source": "source_controller",
    "kustomize": "kustomize_controller",
    "helm": "helm_controller",
    "image": "image_automation_controller",
    "notification": "notification_controller",
}


@contextmanager
def controller_processes(
    kubeconfig: Path,
    workdir: Path,
    names: Sequence[str],
    selector: str = "",
    extra: dict[str, list[str]] | None = None,
    env: dict[str, str] | None = None,
) -> Iterator[dict[str, ControllerProcess]]:
    """Start the named controllers ("source", "kustomize", "helm", "image",
    "notification") as processes.

            ports = {"receiver": receiver_port} if name == "notification" else {}
            process = ControllerProcess(
                MODULES[name], kubeconfig, workdir, args=args, ports=ports, env=env
            )
    """
    running: dict[str, ControllerProcess] = {}
    storage_port, events_port, receiver_port = free_port(), free_port(), free_port()
    per_controller: dict[str, list[str]] = {
        "source": [
            f"--storage-path={workdir / 'artifacts'}",
            f"--storage-addr=127.0.0.1:{storage_port}",
            f"--storage-adv-addr=127.0.0.1:{storage_port}",
        ],
        "kustomize": [f"--kustomize-path={find_binary('kustomize')}"],
        "helm": [
            f"--helm-path={find_binary('helm')}",
            f"--helm-server-path={find_binary('eddy-helm-server')}",
        ],
        "image": [],
        "notification": [
            f"--events-addr=127.0.0.1:{events_port}",
            f"--receiver-addr=127.0.0.1:{receiver_port}",
        ],
    }
    if "notification" in names:
        for name in ("source", "kustomize", "helm", "image"):
            per_controller[name].append(f"--events-addr=http://127.0.0.1:{events_port}/")
    common = ["--min-retry-delay=200ms", "--max-retry-delay=3s", "--graceful-shutdown-timeout=5s"]
    if selector:
        common.append(f"--watch-label-selector={selector}")
    try:
        # Launched here, on the thread they belong to; they become ready side by side.
        for name in names:
            args = [*per_controller[name], *common, *(extra or {}).get(name, [])]
            ports = {"receiver": receiver_port} if name == "notification" else {}
            process = ControllerProcess(
                MODULES[name], kubeconfig, workdir, args=args, ports=ports, env=env
            )
            running[name] = process
            process.launch()
        for process in running.values():
            process.wait_ready()
        yield running
    finally:
        with ThreadPoolExecutor(max_workers=len(running) or 1) as pool:
            list(pool.map(lambda p: p.stop(), running.values()))


async def restart(process: ControllerProcess) -> None:
    """Start a stopped or killed controller again and wait until it is ready.

    Launched on the event loop's thread: a child dies with the thread that started it.
    """
    process.launch()
    await asyncio.to_thread(process.wait_ready)


def ready(obj: Obj | None) -> dict[str, Any]:
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return dict(cond)
    return {}


def is_ready(obj: Obj | None) -> bool:
    return ready(obj).get("status") == "True"


def manifest(res: Resource, name: str, namespace: str, spec: dict[str, Any], suite: str) -> Obj:
    return {
        "apiVersion": res.api_version,
        "kind": res.kind,
        "metadata": {"name": name, "namespace": namespace, "labels": {SUITE_LABEL: suite}},
        "spec": spec,
    }


async def request_reconcile(kube: ResourceClient, res: Resource, name: str, ns: str) -> str:
    """Ask for a reconcile now, as `flux reconcile` does; the stamp to wait for."""
    stamp = datetime.now(UTC).isoformat()
    patch = {"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": stamp}}}
    await kube.patch(res, name, patch, ns)
    return stamp


def handled(obj: Obj | None, stamp: str) -> bool:
    return ((obj or {}).get("status") or {}).get("lastHandledReconcileAt") == stamp


async def wait_for(
    what: str, probe: Callable[[], Awaitable[Any]], timeout: float = 60.0, interval: float = 0.25
) -> Any:
    """Poll until probe returns something truthy; the error says what never happened."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting until {what} (last: {last!r})")


def config_map(name: str, **data: str) -> str:
    lines = "".join(f'  {k}: "{v}"\n' for k, v in data.items())
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n{lines}"


# The application most process-level tests deploy: two replicas behind a Service.
DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
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
SERVICE = """\
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports: [{port: 80}]
"""


def settings_map(greeting: str) -> str:
    """The `settings` ConfigMap whose `greeting` a test changes to follow a revision."""
    return config_map("settings", greeting=greeting)
