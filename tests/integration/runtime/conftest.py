"""Fixtures for the runtime's integration tests: the Widget CRD and in-process managers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest_asyncio
from kubernetes_asyncio.client import ApiClient
from widget_controller import NAME, WIDGETS, Tracker, controller

from eddy_runtime.client import make_client
from eddy_runtime.flags import Options
from eddy_runtime.manager import Manager
from eddy_runtime.resources import Obj, ResourceClient

HERE = Path(__file__).parent


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def widgets_crd(control_plane: Any) -> None:
    await control_plane.install_crds(HERE / "crds")


@pytest_asyncio.fixture(loop_scope="session")
async def kube(api_client: ApiClient, widgets_crd: None) -> ResourceClient:
    return ResourceClient(api_client, field_manager="runtime-tests")


def widget(name: str, namespace: str, **spec: Any) -> Obj:
    return {
        "apiVersion": WIDGETS.api_version,
        "kind": WIDGETS.kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


class Running:
    def __init__(self, manager: Manager, tracker: Tracker, task: asyncio.Task[int]) -> None:
        self.manager = manager
        self.tracker = tracker
        self.task = task


StartManager = Callable[..., Any]


@pytest_asyncio.fixture(loop_scope="session")
async def start_manager(
    control_plane: Any, namespace: str, widgets_crd: None
) -> AsyncIterator[StartManager]:
    """Start a manager running the Widget controller in this process, watching only
    the test's namespace; every one started is stopped at the end of the test."""
    started: list[tuple[Running, ApiClient]] = []

    async def start(kubeconfig: str | None = None, **overrides: Any) -> Running:
        values: dict[str, Any] = {
            "metrics_addr": "127.0.0.1:0",
            "health_addr": "127.0.0.1:0",
            "watch_all_namespaces": False,
            "runtime_namespace": namespace,
            "min_retry_delay": 0.1,
            "max_retry_delay": 2.0,
            "graceful_shutdown_timeout": 5.0,
        }
        values.update(overrides)
        api = await make_client(kubeconfig or str(control_plane.kubeconfig))
        manager = Manager(NAME, Options(**values), api, handle_signals=False)
        tracker = Tracker()
        manager.add(controller(manager, tracker))
        task = asyncio.create_task(manager.run())
        running = Running(manager, tracker, task)
        started.append((running, api))
        while not manager.ready():
            if task.done():
                task.result()
            await asyncio.sleep(0.05)
        return running

    yield start
    for running, api in started:
        running.manager.stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(running.task, 10)
        await api.close()
