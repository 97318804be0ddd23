"""Benchmark of the helm-controller in Flux's MTTP shape: N HelmReleases to Ready.

Each HelmRelease installs `helm create`'s chart, scaled to zero, from one local Helm
repository through its own HelmChart. Prints seconds to all Ready and, for the
helm-controller with every helm process it starts (the process tree is sampled)
and for the source-controller, CPU seconds and peak memory. Counts: argv (default
100 300 1000); each runs on a fresh control plane.

EDDY_BENCH_FLAGS replaces the controllers' flags; EDDY_BENCH_HELM_SERVER= (empty)
measures a helm process per action instead of eddy-helm-server; EDDY_BENCH_LOGS=<dir>
keeps the controllers' logs.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from benchlib import ReadyCounter, create_all, peak_rss_mib, start_controller, stop_controller

from eddy_runtime.client import make_client
from eddy_runtime.resources import NAMESPACES, Resource, ResourceClient
from eddy_testenv import ControlPlane, free_port
from eddy_testenv.helmrepo import HelmRepo, run_helm
from eddy_testenv.process import find_binary

ROOT = Path(__file__).resolve().parent.parent
HELM_RELEASES = Resource("helm.toolkit.fluxcd.io", "v2", "helmreleases", "HelmRelease")
HELM_REPOSITORIES = Resource("source.toolkit.fluxcd.io", "v1", "helmrepositories", "HelmRepository")
NAMESPACE = "bench"
CREATORS = 16
# The flags Flux's own helm-controller was measured with on this machine.
CONTROLLER_FLAGS = os.environ.get(
    "EDDY_BENCH_FLAGS", "--concurrent=10 --kube-api-qps=500 --kube-api-burst=1000"
).split()
HELM_SERVER = os.environ.get("EDDY_BENCH_HELM_SERVER")
if HELM_SERVER is None:
    HELM_SERVER = find_binary("eddy-helm-server")
FLUX = "Flux helm-controller, same machine and flags: N=300 -> 92 s, 79 CPU s, 214 MiB"
PAGE = os.sysconf("SC_PAGE_SIZE")
TICK = os.sysconf("SC_CLK_TCK")


def make_chart(repo: HelmRepo) -> None:
    """`helm create`'s chart, replicas 0, packaged into the repository."""
    src = repo.workdir / "src"
    src.mkdir(parents=True, exist_ok=True)
    run_helm("create", "podinfo", home=repo.helm_home, cwd=src)
    values_file = src / "podinfo" / "values.yaml"
    values = yaml.safe_load(values_file.read_text())
    values["replicaCount"] = 0
    values_file.write_text(yaml.safe_dump(values, sort_keys=False))
    repo.package_dir(src / "podinfo")


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            stat = Path(entry.path, "stat").read_text().rpartition(")")[2].split()
            tree.setdefault(int(stat[1]), []).append(int(entry.name))
    return tree


def _rss_bytes(pid: int) -> int:
    with contextlib.suppress(OSError, IndexError, ValueError):
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
    return 0


@dataclass
class TreeSampler:
    """Peak resident memory of a process and all its descendants, sampled."""

    pid: int
    every: float = 0.2
    peak: int = 0
    _task: asyncio.Task[None] | None = field(default=None, repr=False)

    def sample(self) -> None:
        tree = _children()
        total, todo = 0, [self.pid]
        while todo:
            pid = todo.pop()
            total += _rss_bytes(pid)
            todo.extend(tree.get(pid, []))
        self.peak = max(self.peak, total)

    async def _run(self) -> None:
        while True:
            await asyncio.to_thread(self.sample)
            await asyncio.sleep(self.every)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()


def _cpu(pid: int) -> tuple[float, float]:
    """User + system CPU of a process itself, and of the children it has waited for."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    own, children = (int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14]))
    return own / TICK, children / TICK


def cpu_seconds(pid: int) -> tuple[float, float]:
    """CPU of a process itself, and of all its descendants: those that ended and were
    waited for, and those still running (a long-running helm server)."""
    own, waited = _cpu(pid)
    tree = _children()
    todo, running = list(tree.get(pid, [])), 0.0
    while todo:
        child = todo.pop()
        with contextlib.suppress(OSError):
            running += sum(_cpu(child))
        todo.extend(tree.get(child, []))
    return own, waited + running


@dataclass
class Figures:
    count: int
    created: float
    elapsed: float
    helm_cpu: float
    helm_own_cpu: float
    helm_tree_mib: float
    helm_own_mib: float
    source_cpu: float
    source_mib: float


async def run_size(plane: ControlPlane, workdir: Path, repo: HelmRepo, count: int) -> Figures:
    api = await make_client(str(plane.kubeconfig))
    kube = ResourceClient(api, field_manager="bench")
    await kube.create(NAMESPACES, {"metadata": {"name": NAMESPACE}})
    env = {"RUNTIME_NAMESPACE": NAMESPACE}
    common = ["--watch-all-namespaces=false", "--log-level=error", *CONTROLLER_FLAGS]
    port = free_port()
    source = await start_controller(
        "source_controller", plane.kubeconfig, workdir / "source-controller.log",
        [f"--storage-path={workdir / 'storage'}", f"--storage-addr=127.0.0.1:{port}",
         f"--storage-adv-addr=127.0.0.1:{port}", *common], env,
    )  # fmt: skip
    helm = await start_controller(
        "helm_controller", plane.kubeconfig, workdir / "helm-controller.log",
        [f"--helm-path={find_binary('helm')}", f"--workdir={workdir}",
         f"--helm-server-path={HELM_SERVER}", *common], env,
    )  # fmt: skip
    sampler = TreeSampler(helm.pid)
    sampler.start()
    try:
        await kube.create(HELM_REPOSITORIES, {
            "apiVersion": HELM_REPOSITORIES.api_version, "kind": HELM_REPOSITORIES.kind,
            "metadata": {"name": "podinfo", "namespace": NAMESPACE},
            "spec": {"url": repo.url, "interval": "1h"},
        }, NAMESPACE)  # fmt: skip
        async with ReadyCounter(kube, HELM_RELEASES, NAMESPACE, count) as counter:
            await asyncio.sleep(2.0)  # let the controllers start and sync their caches
            started = time.monotonic()
            bodies = (
                {
                    "apiVersion": HELM_RELEASES.api_version, "kind": HELM_RELEASES.kind,
                    "metadata": {"name": f"podinfo-{i:04d}", "namespace": NAMESPACE},
                    "spec": {"interval": "1h", "chart": {"spec": {
                        "chart": "podinfo", "version": "*", "interval": "1h",
                        "sourceRef": {"kind": "HelmRepository", "name": "podinfo"}}}},
                }
                for i in range(count)
            )  # fmt: skip
            await create_all(kube, HELM_RELEASES, bodies, CREATORS)
            created = time.monotonic() - started
            await counter.wait(1800)
            elapsed = time.monotonic() - started
        sampler.sample()
        own, children = cpu_seconds(helm.pid)
        return Figures(
            count, created, elapsed, own + children, own, sampler.peak / 2**20,
            peak_rss_mib(helm.pid), sum(cpu_seconds(source.pid)), peak_rss_mib(source.pid),
        )  # fmt: skip
    finally:
        sampler.stop()
        await stop_controller(helm, 30)
        await stop_controller(source, 30)
        await api.close()


def report(f: Figures) -> None:
    print(f"HelmReleases:                      {f.count}")
    print(f"created in:                        {f.created:.1f} s")
    print(f"first create to all Ready:         {f.elapsed:.1f} s")
    print(f"helm-controller CPU (with helm):   {f.helm_cpu:.1f} s "
          f"({1000 * f.helm_cpu / f.count:.0f} ms per release; controller alone "
          f"{f.helm_own_cpu:.1f} s)")  # fmt: skip
    print(f"helm-controller peak, whole tree:  {f.helm_tree_mib:.1f} MiB "
          f"(controller alone {f.helm_own_mib:.1f} MiB)")  # fmt: skip
    print(f"source-controller CPU:             {f.source_cpu:.1f} s")
    print(f"source-controller peak RSS:        {f.source_mib:.1f} MiB")
    print(flush=True)


def main() -> int:
    counts = [int(a) for a in sys.argv[1:]] or [100, 300, 1000]
    logs = os.environ.get("EDDY_BENCH_LOGS")
    print(f"controller flags:                  {' '.join(CONTROLLER_FLAGS)}")
    print(f"cores:                             {os.cpu_count()}")
    print(f"helm:                              {HELM_SERVER or 'a helm process per action'}")
    print(FLUX)
    print()
    for count in counts:
        # A fresh control plane per size, so each run starts from an empty cluster.
        with (
            tempfile.TemporaryDirectory(prefix="eddy-bench-helm-") as tmp,
            ControlPlane() as plane,
            HelmRepo() as repo,
        ):
            asyncio.run(plane.install_crds(ROOT / "manifests" / "crds"))
            make_chart(repo)
            try:
                report(asyncio.run(run_size(plane, Path(tmp), repo, count)))
            finally:
                if logs:
                    Path(logs).mkdir(parents=True, exist_ok=True)
                    for log in Path(tmp).glob("*-controller.log"):
                        shutil.copy(log, Path(logs) / f"{count}-{log.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
