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
import signal
import sys
import tempfile
import time
from pathlib import Path

from eddy_runtime.client import make_client
from eddy_runtime.conditions import is_ready
from eddy_runtime.informer import Informer, object_key
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


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far: steadier than wall time on a busy host."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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
    log_path = workdir / f"controller-{count}.log"
    env = dict(os.environ, RUNTIME_NAMESPACE=namespace)
    with log_path.open("wb") as log:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "source_controller",
            f"--kubeconfig={plane.kubeconfig}",
            f"--storage-path={storage}", f"--storage-addr=127.0.0.1:{port}",
            f"--metrics-addr=127.0.0.1:{free_port()}",
            f"--health-addr=127.0.0.1:{free_port()}",
            "--watch-all-namespaces=false", f"--log-level={LOG_LEVEL}", *CONTROLLER_FLAGS,
            env=env, stdout=log, stderr=log,
        )  # fmt: skip
    watch_task: asyncio.Task[None] | None = None
    try:
        watcher = Informer(kube, GIT_REPOSITORIES, namespace)
        done = asyncio.Event()
        ready: set[str] = set()

        def tally(_: str, __: object, obj: dict[str, object]) -> None:
            key = object_key(obj)
            if is_ready(obj):
                ready.add(key)
            else:
                ready.discard(key)
            if len(ready) >= count:
                done.set()

        watcher.add_handler(tally)
        watch_task = asyncio.create_task(watcher.run())
        await watcher.synced.wait()
        await asyncio.sleep(2.0)  # let the controller start and sync its caches
        names = iter(range(count))
        started = time.monotonic()

        async def creator() -> None:
            for i in names:
                body = {
                    "apiVersion": GIT_REPOSITORIES.api_version,
                    "kind": GIT_REPOSITORIES.kind,
                    "metadata": {"name": f"repo-{i:04d}", "namespace": namespace},
                    "spec": {"url": git.repo_url(f"r{i:04d}"), "interval": "10m",
                             "ref": {"branch": "main"}},
                }  # fmt: skip
                await kube.create(GIT_REPOSITORIES, body)

        await asyncio.gather(*(creator() for _ in range(CREATORS)))
        created = time.monotonic() - started
        await asyncio.wait_for(done.wait(), 600)
        elapsed = time.monotonic() - started
        rss = peak_rss_mib(proc.pid)
        cpu = cpu_seconds(proc.pid)
        print(f"GitRepositories:        {count}")
        print(f"created in:             {created:.2f} s")
        print(f"first create to Ready:  {elapsed:.2f} s")
        print(f"controller peak RSS:    {rss:.1f} MiB")
        print(f"controller CPU:         {cpu:.1f} s ({1000 * cpu / count:.0f} ms per object)")
        print()
    finally:
        if watch_task is not None:
            watch_task.cancel()
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 20)
            except TimeoutError:
                proc.kill()
                await proc.wait()
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
