"""Benchmark of the source-controller: N GitRepositories from creation to all Ready.

Starts a control plane, a Git smart-HTTP server over N local bare repositories and
the source-controller as its own process; prints the time until every
GitRepository is Ready and the controller's peak RSS. Counts: argv (default 100 1000).

EDDY_BENCH_FLAGS replaces the controller flags; EDDY_BENCH_LOG_LEVEL (default
error) and EDDY_BENCH_LOGS=<dir>, where the controller's logs are copied at the
end, help when a figure needs explaining.
"""

from __future__ import annotations

import asyncio
import os
import shutil
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
from eddy_testenv.gitserver import GitHTTPServer, GitRepos
from source_controller.kinds import GIT_REPOSITORIES

ROOT = Path(__file__).resolve().parent.parent
CREATORS = 16
# Each GitRepository costs three API writes (finalizer, status, Event): Flux's
# default 50 qps alone would need a minute for 1000, so the limit is raised as a
# user running 1000 sources would; every flag is printed with the figures.
CONTROLLER_FLAGS = os.environ.get(
    "EDDY_BENCH_FLAGS", "--concurrent=8 --kube-api-qps=300 --kube-api-burst=600"
).split()


LOG_LEVEL = os.environ.get("EDDY_BENCH_LOG_LEVEL", "error")


def make_repos(repos: GitRepos, count: int) -> None:
    """`count` bare repositories with a small manifest tree each (copies of one)."""
    template = repos.create("template", {
        f"apps/app{i}/deploy.yaml": f"kind: Deployment\nmetadata:\n  name: app{i}\n" * 5
        for i in range(20)
    })  # fmt: skip
    for i in range(count):
        shutil.copytree(template, repos.path(f"r{i:04d}"))


async def run_once(plane: ControlPlane, workdir: Path, count: int, git: GitHTTPServer) -> None:
    namespace = f"bench-{count}"
    api = await make_client(str(plane.kubeconfig))
    kube = ResourceClient(api, field_manager="bench")
    await kube.create(NAMESPACES, {"metadata": {"name": namespace}})
    storage = workdir / f"storage-{count}"
    port = free_port()
    proc = await start_controller(
        "source_controller", plane.kubeconfig, workdir / f"controller-{count}.log",
        [f"--storage-path={storage}", f"--storage-addr=127.0.0.1:{port}",
         "--watch-all-namespaces=false", f"--log-level={LOG_LEVEL}", *CONTROLLER_FLAGS],
        env={"RUNTIME_NAMESPACE": namespace},
    )  # fmt: skip
    try:
        async with ReadyCounter(kube, GIT_REPOSITORIES, namespace, count) as counter:
            await asyncio.sleep(2.0)  # let the controller start and sync its caches
            started = time.monotonic()
            bodies = (
                {
                    "apiVersion": GIT_REPOSITORIES.api_version,
                    "kind": GIT_REPOSITORIES.kind,
                    "metadata": {"name": f"repo-{i:04d}", "namespace": namespace},
                    "spec": {"url": git.repo_url(f"r{i:04d}"), "interval": "10m",
                             "ref": {"branch": "main"}},
                }
                for i in range(count)
            )  # fmt: skip
            await create_all(kube, GIT_REPOSITORIES, bodies, CREATORS)
            created = time.monotonic() - started
            await counter.wait(600)
            elapsed = time.monotonic() - started
        print_scale_figures("GitRepositories", count, created, elapsed, proc.pid)
    finally:
        await stop_controller(proc, 20)
        await api.close()


async def bench(plane: ControlPlane, workdir: Path, counts: list[int]) -> None:
    await plane.install_crds(ROOT / "manifests" / "crds")
    repos = GitRepos(workdir / "repos")
    make_repos(repos, max(counts))
    print(f"controller flags:       {' '.join(CONTROLLER_FLAGS)}")
    print(f"cores:                  {os.cpu_count()}")
    print()
    with GitHTTPServer(repos) as git:
        for count in counts:
            await run_once(plane, workdir, count, git)


def main() -> int:
    counts = [int(a) for a in sys.argv[1:]] or [100, 1000]
    logs = os.environ.get("EDDY_BENCH_LOGS")
    with tempfile.TemporaryDirectory(prefix="eddy-bench-") as tmp, ControlPlane() as plane:
        try:
            asyncio.run(bench(plane, Path(tmp), counts))
        finally:
            # The controller's log is the first thing to read when a figure looks off.
            if logs:
                Path(logs).mkdir(parents=True, exist_ok=True)
                for log in Path(tmp).glob("controller-*.log"):
                    shutil.copy(log, Path(logs) / log.name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
