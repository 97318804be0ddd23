"""What every benchmark shares: a controller process, its figures, and a Ready count.

Each benchmark creates N objects and measures until all are Ready; starting the
controller, counting Ready through a watch and reading peak RSS are done here once.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType

from eddy_runtime.conditions import is_ready
from eddy_runtime.informer import Informer, object_key
from eddy_runtime.resources import Obj, Resource, ResourceClient
from eddy_testenv import free_port


def peak_rss_mib(pid: int) -> float:
    """The process's peak resident set (VmHWM) so far, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far: steadier than wall time on a busy host."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def start_controller(
    module: str,
    kubeconfig: Path,
    log_path: Path,
    args: Sequence[str],
    env: dict[str, str] | None = None,
) -> asyncio.subprocess.Process:
    """`python -m module` with its own metrics and probe ports, logging to log_path."""
    with log_path.open("wb") as log:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", module,
            f"--kubeconfig={kubeconfig}",
            f"--metrics-addr=127.0.0.1:{free_port()}",
            f"--health-addr=127.0.0.1:{free_port()}",
            *args,
            env={**os.environ, **(env or {})}, stdout=log, stderr=log,
        )  # fmt: skip


async def stop_controller(proc: asyncio.subprocess.Process, timeout: float = 20.0) -> None:
    if proc.returncode is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()


class ReadyCounter:
    """Counts a namespace's objects that are Ready, the way a user sees them: by watch."""

    def __init__(self, kube: ResourceClient, resource: Resource, namespace: str, want: int):
        self.want = want
        self.ready: set[str] = set()
        self._done = asyncio.Event()
        self._informer = Informer(kube, resource, namespace)
        self._informer.add_handler(self._count)
        self._task: asyncio.Task[None] | None = None

    def _count(self, _: str, __: object, obj: Obj) -> None:
        key = object_key(obj)
        if is_ready(obj):
            self.ready.add(key)
        else:
            self.ready.discard(key)
        if len(self.ready) >= self.want:
            self._done.set()

    async def __aenter__(self) -> ReadyCounter:
        self._task = asyncio.create_task(self._informer.run())
        await self._informer.synced.wait()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._task is not None:
            self._task.cancel()

    async def wait(self, timeout: float) -> None:
        """Until `want` objects are Ready; on timeout, say how far it got and show one."""
        try:
            await asyncio.wait_for(self._done.wait(), timeout)
        except TimeoutError:
            stuck = [o for o in self._informer.objects() if not is_ready(o)]
            sample = stuck[0].get("status") if stuck else None
            raise SystemExit(
                f"only {len(self.ready)}/{self.want} Ready after {timeout:.0f} s; e.g. {sample}"
            ) from None


async def create_all(
    kube: ResourceClient, resource: Resource, bodies: Iterable[Obj], creators: int
) -> None:
    """Create the objects with `creators` concurrent clients, as a busy user would."""
    pending = iter(bodies)

    async def creator() -> None:
        for body in pending:
            await kube.create(resource, body)

    await asyncio.gather(*(creator() for _ in range(creators)))


def print_scale_figures(label: str, count: int, created: float, elapsed: float, pid: int) -> None:
    """The figures of one scale run, in the layout every source benchmark prints."""
    rss, cpu = peak_rss_mib(pid), cpu_seconds(pid)
    print(f"{label + ':':<24}{count}")
    print(f"created in:             {created:.2f} s")
    print(f"first create to Ready:  {elapsed:.2f} s")
    print(f"controller peak RSS:    {rss:.1f} MiB")
    print(f"controller CPU:         {cpu:.1f} s ({1000 * cpu / count:.0f} ms per object)")
    print()
