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
from dataclasses import dataclass
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


@dataclass(frozen=True)
class ProcessFigures:
    """What one process has cost so far: CPU is steadier than wall time on a busy host."""

    peak_rss_mib: float
    cpu_s: float  # user + system of the process itself
    children_cpu_s: float  # of the programs it ran and waited for (kustomize, helm, git)

    def __str__(self) -> str:
        text = f"peak RSS {self.peak_rss_mib:.1f} MiB, CPU {self.cpu_s:.1f} s"
        if self.children_cpu_s >= 0.05:
            text += f" (+ {self.children_cpu_s:.1f} s in the programs it ran)"
        return text


def process_figures(pid: int) -> ProcessFigures:
    """Peak RSS and user + system CPU seconds of a live process, read from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    tick = os.sysconf("SC_CLK_TCK")
    # After the ")" that ends the command name, utime, stime, cutime and cstime are
    # fields 11 to 14 (counting from 0 at the process state).
    own = (int(fields[11]) + int(fields[12])) / tick
    children = (int(fields[13]) + int(fields[14])) / tick
    return ProcessFigures(peak_rss_mib(pid), own, children)


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
    figures = process_figures(pid)
    per_object = 1000 * figures.cpu_s / count
    print(f"{label + ':':<24}{count}")
    print(f"created in:             {created:.2f} s")
    print(f"first create to Ready:  {elapsed:.2f} s")
    print(f"controller peak RSS:    {figures.peak_rss_mib:.1f} MiB")
    print(f"controller CPU:         {figures.cpu_s:.1f} s ({per_object:.0f} ms per object)")
    print(f"  in programs it ran:   {figures.children_cpu_s:.1f} s")
    print()
