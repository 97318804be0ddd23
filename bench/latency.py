"""Benchmark: from `git push` to the change applied, with a Receiver and with polling only.

A real Git server whose post-receive hook calls a GitHub-type Receiver (signed like
GitHub's push webhook); source-, kustomize- and notification-controller as their own
processes. Each push changes a ConfigMap; the time until the cluster holds the new
value is measured. Prints the median of N pushes each way.

    python bench/latency.py [PUSHES]   (EDDY_BENCH_POLL_INTERVAL, default 15s)
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchlib import process_figures

from eddy_runtime.client import make_client
from eddy_runtime.resources import CONFIG_MAPS, NAMESPACES, SECRETS, Resource, ResourceClient
from eddy_testenv import ControlPlane, find_binary, free_port
from eddy_testenv.controllers import ControllerProcess
from eddy_testenv.gitserver import GitHTTPServer, GitRepos, git

ROOT = Path(__file__).resolve().parent.parent
GIT_REPOSITORIES = Resource("source.toolkit.fluxcd.io", "v1", "gitrepositories", "GitRepository")
KUSTOMIZATIONS = Resource("kustomize.toolkit.fluxcd.io", "v1", "kustomizations", "Kustomization")
RECEIVERS = Resource("notification.toolkit.fluxcd.io", "v1", "receivers", "Receiver")
NAMESPACE = "bench"
TOKEN = "bench-webhook-token"
POLL_INTERVAL = os.environ.get("EDDY_BENCH_POLL_INTERVAL", "15s")

CONFIG_MAP = """apiVersion: v1
kind: ConfigMap
metadata:
  name: pushed
  namespace: bench
data:
  push: "{n}"
"""


def obj(res: Resource, name: str, spec: dict[str, object]) -> dict[str, object]:
    return {"apiVersion": res.api_version, "kind": res.kind,
            "metadata": {"name": name, "namespace": NAMESPACE}, "spec": spec}  # fmt: skip


async def wait_value(kube: ResourceClient, value: str, timeout: float = 600.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = await kube.get_or_none(CONFIG_MAPS, "pushed", NAMESPACE)
        if found and (found.get("data") or {}).get("push") == value:
            return
        await asyncio.sleep(0.02)
    raise TimeoutError(f"push {value} was not applied within {timeout:.0f}s")


async def measure(
    kube: ResourceClient, clone: Path, first: int, pushes: int, label: str
) -> list[float]:
    times = []
    for n in range(first, first + pushes):
        (clone / "app" / "configmap.yaml").write_text(CONFIG_MAP.format(n=n))
        git("commit", "--quiet", "-am", f"push {n}", cwd=clone)
        started = time.monotonic()
        await asyncio.to_thread(git, "push", "--quiet", "origin", "main", cwd=clone)
        await wait_value(kube, str(n))
        times.append(time.monotonic() - started)
        print(f"   {label} push {n - first + 1}: {times[-1]:.2f}s", flush=True)
    return times


async def run(plane: ControlPlane, work: Path, pushes: int) -> None:
    repos = GitRepos(work / "repos")
    repos.create("app", {"app/configmap.yaml": CONFIG_MAP.format(n=0)})
    server = GitHTTPServer(repos, workdir=work / "git")
    server.start()
    events_port, receiver_port, storage_port = free_port(), free_port(), free_port()
    events = f"--events-addr=http://127.0.0.1:{events_port}/"
    logs = work / "logs"
    logs.mkdir()
    controllers = [
        ControllerProcess("source_controller", plane.kubeconfig, logs, args=[
            f"--storage-path={work / 'artifacts'}", f"--storage-addr=127.0.0.1:{storage_port}",
            f"--storage-adv-addr=127.0.0.1:{storage_port}", events]),
        ControllerProcess("kustomize_controller", plane.kubeconfig, logs,
                          args=[f"--kustomize-path={find_binary('kustomize')}", events]),
        ControllerProcess("notification_controller", plane.kubeconfig, logs, args=[
            f"--events-addr=127.0.0.1:{events_port}",
            f"--receiver-addr=127.0.0.1:{receiver_port}"]),
    ]  # fmt: skip
    api = await make_client(str(plane.kubeconfig))
    kube = ResourceClient(api, field_manager="bench")
    try:
        for controller in controllers:
            controller.start()
        await kube.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace",
                                       "metadata": {"name": NAMESPACE}})  # fmt: skip
        await kube.create(SECRETS, {"apiVersion": "v1", "kind": "Secret",
                                    "metadata": {"name": "webhook", "namespace": NAMESPACE},
                                    "stringData": {"token": TOKEN}}, NAMESPACE)  # fmt: skip
        receiver = obj(RECEIVERS, "github", {
            "type": "github", "events": ["push"], "secretRef": {"name": "webhook"},
            "resources": [{"kind": "GitRepository", "name": "app"}]})  # fmt: skip
        await kube.create(RECEIVERS, receiver, NAMESPACE)
        repo = obj(GIT_REPOSITORIES, "app", {"url": server.repo_url("app"), "interval": "1h",
                                            "ref": {"branch": "main"}})  # fmt: skip
        await kube.create(GIT_REPOSITORIES, repo, NAMESPACE)
        sync = obj(KUSTOMIZATIONS, "app", {
            "interval": "1h", "path": "./app", "prune": True,
            "sourceRef": {"kind": "GitRepository", "name": "app"}})  # fmt: skip
        await kube.create(KUSTOMIZATIONS, sync, NAMESPACE)
        await wait_value(kube, "0")
        path = ""
        while not path:
            found = await kube.get(RECEIVERS, "github", NAMESPACE)
            path = (found.get("status") or {}).get("webhookPath", "")
            await asyncio.sleep(0.05)
        repos.set_push_webhook("app", f"http://127.0.0.1:{receiver_port}{path}", TOKEN)

        clone = work / "clone"
        git("clone", "--quiet", server.repo_url("app"), str(clone), cwd=work)
        print(f"== {pushes} pushes, each followed by the Git server's webhook call")
        webhook = await measure(kube, clone, 1, pushes, "webhook")

        repos.set_push_webhook("app", None)
        await kube.patch(GIT_REPOSITORIES, "app", {"spec": {"interval": POLL_INTERVAL}},
                         NAMESPACE)  # fmt: skip
        print(f"== {pushes} pushes, polling only (GitRepository interval {POLL_INTERVAL})")
        polling = await measure(kube, clone, 1 + pushes, pushes, "polling")

        print()
        print(
            f"push to applied, Receiver webhook: median {statistics.median(webhook):.2f}s "
            f"(min {min(webhook):.2f}s, max {max(webhook):.2f}s, {pushes} pushes)"
        )
        print(
            f"push to applied, polling {POLL_INTERVAL}:  median {statistics.median(polling):.2f}s "
            f"(min {min(polling):.2f}s, max {max(polling):.2f}s, {pushes} pushes)"
        )
        for controller in controllers:
            pid = controller.process.pid
            if pid is not None:
                print(f"{controller.name + ':':<26}{process_figures(pid)}")
    finally:
        await api.close()
        for controller in controllers:
            controller.stop()
        server.stop()


def main() -> int:
    pushes = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    with tempfile.TemporaryDirectory(prefix="eddy-bench-latency-") as tmp:
        work = Path(tmp)
        with ControlPlane(work / "plane", controller_manager=False) as plane:
            asyncio.run(plane.install_crds(ROOT / "manifests" / "crds"))
            asyncio.run(run(plane, work, pushes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
