"""Benchmark of eddy_runtime: 1000 Widgets from first create to all Ready, and peak RSS.

Starts its own control plane and the test Widget controller as a separate process,
so the figures are those of a real controller process against a real API server.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

from eddy_runtime.client import make_client
from eddy_runtime.conditions import is_ready
from eddy_runtime.informer import Informer, object_key
from eddy_runtime.resources import NAMESPACES, Resource, ResourceClient
from eddy_testenv import ControlPlane, free_port

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests" / "integration" / "runtime"
WIDGETS = Resource("testing.eddy.dev", "v1", "widgets", "Widget")
COUNT = int(os.environ.get("EDDY_BENCH_OBJECTS", "1000"))
NAMESPACE = "bench"
CREATORS = 16
# Flux's defaults (50 qps, burst 100) alone need ~18 s for 1000 status patches; a
# controller sized for 1000 objects raises them, as Flux users do with the same flags.
CONTROLLER_FLAGS = os.environ.get(
    "EDDY_BENCH_FLAGS", "--concurrent=8 --kube-api-qps=200 --kube-api-burst=300"
).split()


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def bench(plane: ControlPlane, workdir: Path) -> None:
    await plane.install_crds(TESTS / "crds")
    api = await make_client(str(plane.kubeconfig))
    kube = ResourceClient(api, field_manager="bench")
    await kube.create(NAMESPACES, {"metadata": {"name": NAMESPACE}})
    log_path = workdir / "controller.log"
    env = dict(os.environ, RUNTIME_NAMESPACE=NAMESPACE, PYTHONPATH=str(TESTS))
    with log_path.open("wb") as log:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "widget_controller",
            f"--kubeconfig={plane.kubeconfig}",
            f"--metrics-addr=127.0.0.1:{free_port()}",
            f"--health-addr=127.0.0.1:{free_port()}",
            "--watch-all-namespaces=false", "--log-level=error", *CONTROLLER_FLAGS,
            env=env, stdout=log, stderr=log,
        )  # fmt: skip
    try:
        # Watch readiness the way a user would see it, through the API.
        watcher = Informer(kube, WIDGETS, NAMESPACE)
        done = asyncio.Event()

        ready: set[str] = set()

        def count(_: str, __: object, obj: dict[str, object]) -> None:
            key = object_key(obj)
            if is_ready(obj):
                ready.add(key)
            else:
                ready.discard(key)
            if len(ready) >= COUNT:
                done.set()

        watcher.add_handler(count)
        watch_task = asyncio.create_task(watcher.run())
        await watcher.synced.wait()
        await asyncio.sleep(2.0)  # let the controller start and sync its cache

        names = iter(range(COUNT))
        started = time.monotonic()

        async def creator() -> None:
            for i in names:
                body = {
                    "apiVersion": WIDGETS.api_version,
                    "kind": WIDGETS.kind,
                    "metadata": {"name": f"w{i:04d}", "namespace": NAMESPACE},
                    "spec": {"size": i},
                }
                await kube.create(WIDGETS, body)

        await asyncio.gather(*(creator() for _ in range(CREATORS)))
        created = time.monotonic() - started
        await asyncio.wait_for(done.wait(), 120)
        elapsed = time.monotonic() - started
        rss = peak_rss_mib(proc.pid)
        watch_task.cancel()
        print(f"controller flags:      {' '.join(CONTROLLER_FLAGS)}")
        print(f"objects:               {COUNT}")
        print(f"created in:            {created:.2f} s")
        print(f"first create to Ready: {elapsed:.2f} s   (target < 15 s)")
        print(f"controller peak RSS:   {rss:.1f} MiB (target < 150 MiB)")
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        await api.close()


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="eddy-bench-") as tmp, ControlPlane() as plane:
        asyncio.run(bench(plane, Path(tmp)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
