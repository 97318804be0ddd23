"""Fixtures for the source-controller's integration tests: Git servers and the controller.

Git servers (smart HTTP, with basic auth, with TLS, and OpenSSH) run once per session
on loopback; each test gets the controller in its own event loop, watching only the
test's namespace, with its own storage directory and artifact server.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from kubernetes_asyncio.client import ApiClient

from eddy_runtime.client import make_client
from eddy_runtime.flags import Options
from eddy_runtime.manager import Manager
from eddy_runtime.resources import ResourceClient
from eddy_testenv.gitserver import GitHTTPServer, GitRepos, GitSSHServer
from eddy_testenv.helmrepo import HelmRepo
from source_controller.__main__ import NAME, register
from source_controller.artifact_server import start_artifact_server
from source_controller.storage import Retention, Storage

pytestmark = pytest.mark.integration

USERNAME = "flux"
# Long enough that no test sees an artifact age out unless it asks for that.
RETENTION = Retention(records=2, ttl=3600.0)
PASSWORD = "s3cr3t-pass"


@pytest.fixture(scope="session")
def git_repos() -> Iterator[GitRepos]:
    with tempfile.TemporaryDirectory(prefix="eddy-source-repos-") as root:
        yield GitRepos(Path(root))


@pytest.fixture(scope="session")
def git_http(git_repos: GitRepos) -> Iterator[GitHTTPServer]:
    with GitHTTPServer(git_repos) as server:
        yield server


@pytest.fixture(scope="session")
def git_http_auth(git_repos: GitRepos) -> Iterator[GitHTTPServer]:
    with GitHTTPServer(git_repos, username=USERNAME, password=PASSWORD) as server:
        yield server


@pytest.fixture(scope="session")
def git_https(git_repos: GitRepos) -> Iterator[GitHTTPServer]:
    with GitHTTPServer(git_repos, username=USERNAME, password=PASSWORD, tls=True) as server:
        yield server


@pytest.fixture(scope="session")
def git_ssh(git_repos: GitRepos) -> Iterator[GitSSHServer]:
    with GitSSHServer(git_repos) as server:
        yield server


@pytest_asyncio.fixture(loop_scope="session")
async def kube(api_client: ApiClient) -> ResourceClient:
    return ResourceClient(api_client, field_manager="source-tests")


@dataclass
class RunningController:
    manager: Manager
    storage: Storage
    port: int
    task: asyncio.Task[int]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextlib.asynccontextmanager
async def running_controller(
    control_plane: Any,
    namespace: str,
    storage_root: Path,
    retention: Retention = RETENTION,
) -> AsyncIterator[RunningController]:
    """The source-controller in this event loop, watching `namespace`, storing in root.

    Usable more than once on the same storage root, as a restarted controller.
    """
    await asyncio.to_thread(storage_root.mkdir, exist_ok=True)
    runner, port = await start_artifact_server(storage_root, "127.0.0.1:0")
    storage = Storage(storage_root, f"127.0.0.1:{port}", retention)
    options = Options(
        metrics_addr="127.0.0.1:0",
        health_addr="127.0.0.1:0",
        watch_all_namespaces=False,
        runtime_namespace=namespace,
        min_retry_delay=0.1,
        max_retry_delay=2.0,
        graceful_shutdown_timeout=5.0,
        concurrent=4,
    )
    api = await make_client(str(control_plane.kubeconfig))
    manager = Manager(NAME, options, api, handle_signals=False)
    register(manager, storage)
    task = asyncio.create_task(manager.run())
    while not manager.ready():
        if task.done():
            task.result()
        await asyncio.sleep(0.05)
    try:
        yield RunningController(manager, storage, port, task)
    finally:
        manager.stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 10)
        await api.close()
        await runner.cleanup()


@pytest_asyncio.fixture(loop_scope="session")
async def source_controller(
    control_plane: Any, namespace: str, tmp_path: Path
) -> AsyncIterator[RunningController]:
    """The source-controller in this event loop, watching the test's namespace."""
    async with running_controller(control_plane, namespace, tmp_path / "storage") as running:
        yield running


@pytest.fixture
def helm_repos() -> Iterator[Callable[..., HelmRepo]]:
    """Start chart repositories for this test: `helm_repos(username=…, tls=True)`."""
    started: list[HelmRepo] = []

    def start(**options: Any) -> HelmRepo:
        repo = HelmRepo(**options)
        repo.start()
        started.append(repo)
        return repo

    try:
        yield start
    finally:
        for repo in started:
            repo.stop()
