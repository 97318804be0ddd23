"""Fixtures for the image-automation-controller tests: the controller and image pushes.

The controller runs in the test's event loop against the real control plane; images
go into the real registry through its HTTP API, a one-layer-free manifest per tag.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_asyncio

from eddy_runtime.manager import Manager
from eddy_testenv.managers import running_manager
from image_automation_controller.controller import NAME, Settings, controllers

pytestmark = pytest.mark.integration


StartController = Callable[[], Any]


@pytest_asyncio.fixture(loop_scope="session")
async def image_controller(control_plane: Any, namespace: str) -> AsyncIterator[Manager]:
    """The image-automation-controller, watching only the test's namespace."""
    async with running_manager(
        NAME,
        str(control_plane.kubeconfig),
        lambda m: controllers(m, Settings(requeue_dependency=1.0)),
        watch_all_namespaces=False,
        runtime_namespace=namespace,
    ) as manager:
        yield manager
