"""Benchmark of the source-controller: N OCIRepositories from creation to all Ready.

Starts a control plane, a real OCI registry with N small Flux artifacts (one
repository each, pushed in Flux's format), and the source-controller as its own
process; prints the time until every OCIRepository is Ready and the controller's
peak RSS. Flux published 1m25s and 67 MiB for 1000 on a 16-core runner. Counts:
argv (default 1000).

EDDY_BENCH_FLAGS replaces the controller flags, as in source_scale.py.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

from benchlib import (
    ReadyCounter,
    create_all,
    print_scale_figures,
    start_controller,
    stop_controller,
)

from eddy_runtime.client import make_client
from eddy_runtime.resources import NAMESPACES, ResourceClient
from eddy_testenv import ControlPlane, free_port
from eddy_testenv.ociartifacts import push_files
from eddy_testenv.registry import Registry
from source_controller.kinds import OCI_REPOSITORIES

ROOT = Path(__file__).resolve().parent.parent
CREATORS = 16
PUSHERS = 8
CONTROLLER_FLAGS = os.environ.get(
    "EDDY_BENCH_FLAGS", "--concurrent=8 --kube-api-qps=300 --kube-api-burst=600"
).split()
LOG_LEVEL = os.environ.get("EDDY_BENCH_LOG_LEVEL", "error")
FILES = {f"apps/app{i}/deploy.yaml": f"kind: Deployment\nmetadata:\n  name: app{i}\n" * 5
         for i in range(5)}  # fmt: skip


async def push_all(registry: Registry, count: int) -> None:
    """One artifact per repository `bench/a<i>`, tagged latest, pushed concurrently."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)

    async def pusher() -> None:
        while not queue.empty():
            i = queue.get_nowait()
            await push_files(registry, f"bench/a{i:04d}", "latest", {**FILES, "id": str(i)})

    await asyncio.gather(*(pusher() for _ in range(PUSHERS)))


async def run_once(plane: ControlPlane, workdir: Path, count: int, registry: Registry) -> None:
    namespace = f"bench-oci-{count}"
    api = await make_client(str(plane.kubeconfig))
    kube = ResourceClient(api, field_manager="bench")
    await kube.create(NAMESPACES, {"metadata": {"name": namespace}})
    port = free_port()
    proc = await start_controller(
        "source_controller", plane.kubeconfig, workdir / f"controller-{count}.log",
        [f"--storage-path={workdir / f'storage-{count}'}", f"--storage-addr=127.0.0.1:{port}",
         "--watch-all-namespaces=false", f"--log-level={LOG_LEVEL}", *CONTROLLER_FLAGS],
        env={"RUNTIME_NAMESPACE": namespace},
    )  # fmt: skip
    try:
        async with ReadyCounter(kube, OCI_REPOSITORIES, namespace, count) as counter:
            await asyncio.sleep(2.0)  # let the controller start and sync its caches
            started = time.monotonic()
            bodies = (
                {
                    "apiVersion": OCI_REPOSITORIES.api_version, "kind": OCI_REPOSITORIES.kind,
                    "metadata": {"name": f"oci-{i:04d}", "namespace": namespace},
                    "spec": {"url": registry.url(f"bench/a{i:04d}"), "interval": "10m",
                             "insecure": True},
                }
                for i in range(count)
            )  # fmt: skip
            await create_all(kube, OCI_REPOSITORIES, bodies, CREATORS)
            created = time.monotonic() - started
            await counter.wait(900)
            elapsed = time.monotonic() - started
        print_scale_figures("OCIRepositories", count, created, elapsed, proc.pid)
    finally:
        await stop_controller(proc, 20)
        await api.close()


async def bench(plane: ControlPlane, workdir: Path, counts: list[int]) -> None:
    await plane.install_crds(ROOT / "manifests" / "crds")
    print(f"controller flags:       {' '.join(CONTROLLER_FLAGS)}")
    print(f"cores:                  {os.cpu_count()}")
    with Registry(workdir=workdir / "registry") as registry:
        started = time.monotonic()
        await push_all(registry, max(counts))
        print(f"pushed {max(counts)} artifacts in {time.monotonic() - started:.1f} s")
        print()
        for count in counts:
            await run_once(plane, workdir, count, registry)


def main() -> int:
    counts = [int(a) for a in sys.argv[1:]] or [1000]
    with tempfile.TemporaryDirectory(prefix="eddy-bench-") as tmp, ControlPlane() as plane:
        asyncio.run(bench(plane, Path(tmp), counts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
