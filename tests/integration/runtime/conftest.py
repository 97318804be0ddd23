"""Fixtures for the runtime's integration tests: the Widget CRD and in-process managers."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest_asyncio
from widget_controller import NAME, WIDGETS, Tracker, controller

from eddy_runtime.manager import Manager
from eddy_runtime.resources import Obj
from eddy_testenv.managers import running_manager

HERE = Path(__file__).parent


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def widgets_crd(control_plane: Any) -> None:
    await control_plane.install_crds(HERE / "crds")


@pytest_asyncio.fixture(autouse=True, loop_scope="session")
async def with_widgets(widgets_crd: None) -> None:
    """Every runtime test has the Widget CRD."""


def widget(name: str, namespace: str, **spec: Any) -> Obj:
    return {
        "apiVersion": WIDGETS.api_version,
        "kind": WIDGETS.kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


class Running:
    def __init__(self, manager: Manager, tracker: Tracker) -> None:
        self.manager = manager
        self.tracker = tracker


StartManager = Callable[..., Any]


@pytest_asyncio.fixture(loop_scope="session")
async def start_manager(
    control_plane: Any, namespace: str, widgets_crd: None
) -> AsyncIterator[StartManager]:
    """Start a manager running the Widget controller in this process, watching only
    the test's namespace; every one started is stopped at the end of the test."""
    async with contextlib.AsyncExitStack() as stack:

        async def start(kubeconfig: str | None = None, **overrides: Any) -> Running:
            tracker = Tracker()
            manager = await stack.enter_async_context(
                running_manager(
                    NAME,
                    kubeconfig or str(control_plane.kubeconfig),
                    lambda m: [controller(m, tracker)],
                    **{"watch_all_namespaces": False, "runtime_namespace": namespace, **overrides},
                )
            )
            return Running(manager, tracker)

        yield start
