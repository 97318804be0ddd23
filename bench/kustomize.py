"""Benchmark of the kustomize-controller in Flux's MTTP shape: N Kustomizations to Ready.

Each Kustomization applies a Deployment scaled to zero, a ServiceAccount, a Service and
an Ingress from one GitRepository; prints seconds to all Ready and the controller's peak
RSS and CPU seconds (its own, and that of the kustomize builds it ran).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path

from aiohttp import web
from benchlib import (
    ProcessFigures,
    ReadyCounter,
    create_all,
    process_figures,
    start_controller,
    stop_controller,
)

from eddy_artifacts import build_archive_async
from eddy_runtime.client import make_client
from eddy_runtime.conditions import now_rfc3339
from eddy_runtime.resources import NAMESPACES, Resource, ResourceClient
from eddy_testenv import ControlPlane, free_port
from eddy_testenv.process import find_binary

ROOT = Path(__file__).resolve().parent.parent
KUSTOMIZATIONS = Resource("kustomize.toolkit.fluxcd.io", "v1", "kustomizations", "Kustomization")
GIT_REPOSITORIES = Resource("source.toolkit.fluxcd.io", "v1", "gitrepositories", "GitRepository")
SIZES = [int(n) for n in os.environ.get("EDDY_BENCH_SIZES", "100,500,1000").split(",")]
WAIT = os.environ.get("EDDY_BENCH_WAIT", "false").lower() == "true"
NAMESPACE = "bench"
CREATORS = 16
# Flux's defaults (50 qps) would cap 1000 Kustomizations at ~2 minutes of API calls
# alone; like the runtime benchmark, the controller is given a larger budget.
CONTROLLER_FLAGS = os.environ.get(
    "EDDY_BENCH_FLAGS", "--concurrent=10 --kube-api-qps=500 --kube-api-burst=1000"
).split()

APP = {
    "app/deployment.yaml": """apiVersion: apps/v1
kind: Deployment
metadata:
  name: podinfo
spec:
  replicas: 0
  selector:
    matchLabels: {app: podinfo}
  template:
    metadata:
      labels: {app: podinfo}
    spec:
      serviceAccountName: podinfo
      containers:
        - name: podinfo
          image: ghcr.io/stefanprodan/podinfo:6.7.0
          ports: [{containerPort: 9898}]
""",
    "app/serviceaccount.yaml": """apiVersion: v1
kind: ServiceAccount
metadata:
  name: podinfo
""",
    "app/service.yaml": """apiVersion: v1
kind: Service
metadata:
  name: podinfo
spec:
  # Headless: the local control plane's Service range has room for ~250 addresses.
  clusterIP: None
  selector: {app: podinfo}
  ports: [{port: 9898}]
""",
    "app/ingress.yaml": """apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: podinfo
spec:
  rules:
    - host: podinfo.example.com
      http:
        paths:
          - path: /
            pathType: Prefix
            backend:
              service: {name: podinfo, port: {number: 9898}}
""",
}


async def serve_artifact(workdir: Path) -> tuple[web.AppRunner, str, str, int]:
    tree = workdir / "tree"
    for name, text in APP.items():
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        (tree / name).write_text(text)
    info = await build_archive_async(tree, workdir / "www" / "app.tar.gz")
    app = web.Application()
    app.router.add_static("/", workdir / "www")
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}/app.tar.gz", str(info.digest), info.size


async def publish_source(kube: ResourceClient, url: str, digest: str, size: int) -> None:
    repo = await kube.create(GIT_REPOSITORIES, {
        "apiVersion": GIT_REPOSITORIES.api_version, "kind": GIT_REPOSITORIES.kind,
        "metadata": {"name": "podinfo", "namespace": NAMESPACE},
        "spec": {"url": "https://example.invalid/podinfo.git", "interval": "1h"},
    })  # fmt: skip
    revision = f"main@sha1:{hashlib.sha1(digest.encode()).hexdigest()}"
    generation = repo["metadata"]["generation"]
    status = {
        "observedGeneration": generation,
        "artifact": {"path": "gitrepository/bench/podinfo/app.tar.gz", "url": url,
                     "revision": revision, "digest": digest, "lastUpdateTime": now_rfc3339(),
                     "size": size},
        "conditions": [{"type": "Ready", "status": "True", "reason": "Succeeded",
                        "message": f"stored artifact for revision '{revision}'",
                        "lastTransitionTime": now_rfc3339(), "observedGeneration": generation}],
    }  # fmt: skip
    await kube.patch_status(GIT_REPOSITORIES, "podinfo", {"status": status}, NAMESPACE)


async def run_size(plane: ControlPlane, workdir: Path, count: int) -> tuple[float, ProcessFigures]:
    api = await make_client(str(plane.kubeconfig))
    kube = ResourceClient(api, field_manager="bench")
    namespace_body = {"metadata": {"name": NAMESPACE}}
    await kube.create(NAMESPACES, namespace_body)
    runner, url, digest, size = await serve_artifact(workdir)
    await publish_source(kube, url, digest, size)
    proc = await start_controller(
        "kustomize_controller", plane.kubeconfig, workdir / "controller.log",
        [f"--kustomize-path={find_binary('kustomize')}", "--log-level=error", *CONTROLLER_FLAGS],
    )  # fmt: skip
    try:
        async with ReadyCounter(kube, KUSTOMIZATIONS, NAMESPACE, count) as counter:
            await asyncio.sleep(2.0)  # let the controller start and sync its caches
            started = time.monotonic()
            bodies = (
                {
                    "apiVersion": KUSTOMIZATIONS.api_version, "kind": KUSTOMIZATIONS.kind,
                    "metadata": {"name": f"app-{i:04d}", "namespace": NAMESPACE},
                    "spec": {"interval": "1h", "prune": True, "wait": WAIT, "path": "./app",
                             "targetNamespace": NAMESPACE, "namePrefix": f"app-{i:04d}-",
                             "sourceRef": {"kind": "GitRepository", "name": "podinfo"}},
                }
                for i in range(count)
            )  # fmt: skip
            await create_all(kube, KUSTOMIZATIONS, bodies, CREATORS)
            await counter.wait(900)
            elapsed = time.monotonic() - started
        return elapsed, process_figures(proc.pid)
    finally:
        await stop_controller(proc, 30)
        await runner.cleanup()
        await api.close()


def main() -> int:
    print(f"controller flags: {' '.join(CONTROLLER_FLAGS)}   wait: {str(WAIT).lower()}")
    print("Flux (16-core runner, kind): 100 -> 28 s / 32 MiB, 500 -> 122 s / 122 MiB, "
          "1000 -> 256 s / 175 MiB")  # fmt: skip
    for count in SIZES:
        # A fresh control plane per size, so each run starts from an empty cluster.
        with tempfile.TemporaryDirectory(prefix="eddy-bench-") as tmp, ControlPlane() as plane:
            asyncio.run(plane.install_crds(ROOT / "manifests" / "crds"))
            elapsed, figures = asyncio.run(run_size(plane, Path(tmp), count))
        print(f"N={count:<5} all Ready in {elapsed:7.1f} s   controller {figures}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
