"""Fixtures for the source-controller's integration tests: the controller.

Git, Helm and OCI servers come from eddy_testenv's fixtures; each test gets the
controller in its own event loop, watching only the test's namespace, with its own
storage directory and artifact server.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from eddy_runtime.manager import Controller, Manager
from eddy_testenv.managers import running_manager
from source_controller.controller import (
    NAME,
    Settings,
    index_cache,
    serve_storage,
    source_controllers,
)
from source_controller.storage import Retention, Storage

pytestmark = pytest.mark.integration

# Long enough that no test sees an artifact age out unless it asks for that.
RETENTION = Retention(records=2, ttl=3600.0)


@dataclass
class RunningController:
    manager: Manager
    storage: Storage

    @property
    def port(self) -> int:
        assert self.storage.server is not None
        return self.storage.server.port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextlib.asynccontextmanager
async def running_controller(
    control_plane: Any,
    namespace: str,
    storage_root: Path,
    retention: Retention = RETENTION,
    concurrent: int = 4,
    helm_cache_max_size: int = 0,
) -> AsyncIterator[RunningController]:
    """The source-controller in this event loop, watching `namespace`, storing in root.

    Usable more than once on the same storage root, as a restarted controller.
    """
    settings = Settings(
        str(storage_root), "127.0.0.1:0", "127.0.0.1:0", retention,
        helm_cache_max_size=helm_cache_max_size,
    )  # fmt: skip
    storages: list[Storage] = []

    def build(manager: Manager) -> list[Controller]:
        storages.append(serve_storage(manager, settings))
        cache = index_cache(manager, settings)
        return source_controllers(manager, storages[0], cache=cache)

    async with running_manager(
        NAME,
        str(control_plane.kubeconfig),
        build,
        watch_all_namespaces=False,
        runtime_namespace=namespace,
        concurrent=concurrent,
    ) as manager:
        yield RunningController(manager, storages[0])


@pytest_asyncio.fixture(loop_scope="session")
async def source_controller(
    control_plane: Any, namespace: str, tmp_path: Path
) -> AsyncIterator[RunningController]:
    """The source-controller in this event loop, watching the test's namespace."""
    async with running_controller(control_plane, namespace, tmp_path / "storage") as running:
        yield running
