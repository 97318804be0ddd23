"""Fixtures for the notification-controller tests: the controller and its two servers.

The controller runs in the test's event loop against the real control plane, its
events and webhook servers on free loopback ports.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio

from eddy_runtime.manager import Manager
from eddy_testenv.managers import running_manager
from notification_controller.controller import NAME, Settings, controllers


@pytest_asyncio.fixture(loop_scope="session")
async def notifier(control_plane: Any, namespace: str) -> AsyncIterator[Manager]:
    """The notification-controller, watching only the test's namespace."""
    settings = Settings(events_addr="127.0.0.1:0", receiver_addr="127.0.0.1:0")
    async with running_manager(
        NAME,
        str(control_plane.kubeconfig),
        lambda m: controllers(m, settings),
        watch_all_namespaces=False,
        runtime_namespace=namespace,
    ) as manager:
        yield manager
