"""The Widget controller as real processes: leader election, SIGKILL, SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from runtime_support import eventually, free_port
from widget_controller import WIDGETS

from conftest import widget
from eddy_runtime import conditions
from eddy_runtime.resources import LEASES, Obj, ResourceClient

pytestmark = pytest.mark.integration

HERE = Path(__file__).parent


class ControllerProcess:
    def __init__(self, proc: asyncio.subprocess.Process, metrics_port: int, log: Path) -> None:
        self.proc = proc
        self.metrics_port = metrics_port
        self.log = log

    @property
    def pid(self) -> int:
        return self.proc.pid

    async def metrics(self) -> str | None:
        """The metrics text, or None while the process is not serving yet."""
        try:
            async with (
                aiohttp.ClientSession() as http,
                http.get(f"http://127.0.0.1:{self.metrics_port}/metrics") as resp,
            ):
                return await resp.text()
        except aiohttp.ClientError:
            return None


Spawn = Callable[..., Any]


@pytest_asyncio.fixture(loop_scope="session")
async def spawn(
    control_plane: Any, namespace: str, tmp_path: Path, widgets_crd: None
) -> AsyncIterator[Spawn]:
    """Start the Widget controller as a child process; every one is killed at the end."""
    started: list[ControllerProcess] = []

    async def start(*flags: str) -> ControllerProcess:
        metrics_port = free_port()
        log = tmp_path / f"controller-{len(started)}.log"
        env = dict(os.environ, RUNTIME_NAMESPACE=namespace, PYTHONPATH=str(HERE))
        with log.open("wb") as out:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "widget_controller",
                f"--kubeconfig={control_plane.kubeconfig}",
                f"--metrics-addr=127.0.0.1:{metrics_port}",
                f"--health-addr=127.0.0.1:{free_port()}",
                "--watch-all-namespaces=false",
                *flags,
                env=env, stdout=out, stderr=out,
            )  # fmt: skip
        running = ControllerProcess(proc, metrics_port, log)
        started.append(running)
        return running

    yield start
    for running in started:
        if running.proc.returncode is None:
            running.proc.kill()
            await running.proc.wait()


async def status_of(kube: ResourceClient, namespace: str, name: str) -> dict[str, Any]:
    obj = await kube.get(WIDGETS, name, namespace)
    status: dict[str, Any] = obj.get("status") or {}
    return status


async def ready_by(kube: ResourceClient, namespace: str, name: str) -> int | None:
    obj = await kube.get(WIDGETS, name, namespace)
    if conditions.is_ready(obj):
        return int(obj["status"]["reconciledBy"])
    return None


LEASE_FLAGS = (
    "--enable-leader-election",
    "--leader-election-lease-duration=4s",
    "--leader-election-renew-deadline=3s",
    "--leader-election-retry-period=500ms",
)


async def test_only_the_leader_reconciles_and_a_standby_takes_over_after_sigkill(
    kube: ResourceClient, namespace: str, spawn: Spawn
) -> None:
    first = await spawn(*LEASE_FLAGS)
    second = await spawn(*LEASE_FLAGS)
    await kube.create(WIDGETS, widget("w", namespace))
    leader_pid = await eventually(lambda: ready_by(kube, namespace, "w"), timeout=20)
    leader, standby = (first, second) if leader_pid == first.pid else (second, first)
    assert leader.pid == leader_pid

    lease: Obj = await kube.get(LEASES, "widget-controller-leader-election", namespace)
    assert lease["spec"]["holderIdentity"]
    standby_metrics = await eventually(standby.metrics)
    assert 'controller_runtime_reconcile_total{controller="widget"' not in standby_metrics
    assert "leader_election_master_status{" not in standby_metrics

    leader.proc.send_signal(signal.SIGKILL)
    await leader.proc.wait()
    killed_at = time.monotonic()
    await kube.patch(WIDGETS, "w", {"spec": {"size": 2}}, namespace)

    async def taken_over() -> bool:
        status = await status_of(kube, namespace, "w")
        return status.get("observedGeneration") == 2 and status.get("reconciledBy") == standby.pid

    await eventually(taken_over, timeout=15)
    took = time.monotonic() - killed_at
    # Lease duration 4s; the standby polls every 500ms and needs a moment to start workers.
    assert took < 4 + 0.5 + 1.5, took
    lease = await kube.get(LEASES, "widget-controller-leader-election", namespace)
    assert lease["spec"]["leaseTransitions"] >= 1


async def reconciling(kube: ResourceClient, namespace: str, name: str) -> bool:
    return conditions.is_true(await status_of(kube, namespace, name), conditions.RECONCILING)


async def test_sigterm_lets_an_in_flight_reconcile_finish(
    kube: ResourceClient, namespace: str, spawn: Spawn
) -> None:
    ctl = await spawn("--graceful-shutdown-timeout=10s")
    await kube.create(WIDGETS, widget("w", namespace, sleep=2))
    await eventually(lambda: reconciling(kube, namespace, "w"), timeout=20)
    ctl.proc.send_signal(signal.SIGTERM)
    code = await asyncio.wait_for(ctl.proc.wait(), 10)
    assert code == 0
    assert await ready_by(kube, namespace, "w") == ctl.pid


async def test_sigterm_deadline_bounds_a_stuck_reconcile(
    kube: ResourceClient, namespace: str, spawn: Spawn
) -> None:
    ctl = await spawn("--graceful-shutdown-timeout=1s")
    await kube.create(WIDGETS, widget("w", namespace, sleep=60))
    await eventually(lambda: reconciling(kube, namespace, "w"), timeout=20)
    sent = time.monotonic()
    ctl.proc.send_signal(signal.SIGTERM)
    await asyncio.wait_for(ctl.proc.wait(), 10)
    assert time.monotonic() - sent < 4
    assert "cancelling them" in ctl.log.read_text()
