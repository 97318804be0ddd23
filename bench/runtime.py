"""Benchmark of eddy_runtime: 1000 Widgets from first create to all Ready, and peak RSS.

Starts its own control plane and the test Widget controller as a separate process,
so the figures are those of a real controller process against a real API server.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

from benchlib import ReadyCounter, create_all, process_figures, start_controller, stop_controller

from eddy_runtime.client import make_client
from eddy_runtime.resources import NAMESPACES, Resource, ResourceClient
from eddy_testenv import ControlPlane

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


async def bench(plane: ControlPlane, workdir: Path) -> None:
    await plane.install_crds(TESTS / "crds")
    api = await make_client(str(plane.kubeconfig))
    kube = ResourceClient(api, field_manager="bench")
    await kube.create(NAMESPACES, {"metadata": {"name": NAMESPACE}})
    proc = await start_controller(
        "widget_controller", plane.kubeconfig, workdir / "controller.log",
        ["--watch-all-namespaces=false", "--log-level=error", *CONTROLLER_FLAGS],
        env={"RUNTIME_NAMESPACE": NAMESPACE, "PYTHONPATH": str(TESTS)},
    )  # fmt: skip
    try:
        async with ReadyCounter(kube, WIDGETS, NAMESPACE, COUNT) as counter:
            await asyncio.sleep(2.0)  # let the controller start and sync its cache
            started = time.monotonic()
            bodies = (
                {
                    "apiVersion": WIDGETS.api_version,
                    "kind": WIDGETS.kind,
                    "metadata": {"name": f"w{i:04d}", "namespace": NAMESPACE},
                    "spec": {"size": i},
                }
                for i in range(COUNT)
            )
            await create_all(kube, WIDGETS, bodies, CREATORS)
            created = time.monotonic() - started
            await counter.wait(120)
            elapsed = time.monotonic() - started
        figures = process_figures(proc.pid)
        print(f"controller flags:      {' '.join(CONTROLLER_FLAGS)}")
        print(f"objects:               {COUNT}")
        print(f"created in:            {created:.2f} s")
        print(f"first create to Ready: {elapsed:.2f} s   (target < 15 s)")
        print(f"controller peak RSS:   {figures.peak_rss_mib:.1f} MiB (target < 150 MiB)")
        print(f"controller CPU:        {figures.cpu_s:.1f} s")
    finally:
        await stop_controller(proc, 10)
        await api.close()


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="eddy-bench-") as tmp, ControlPlane() as plane:
        asyncio.run(bench(plane, Path(tmp)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
