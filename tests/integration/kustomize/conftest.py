"""Fixtures for the kustomize-controller tests: artifacts over HTTP, sources, controllers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio
from kubernetes_asyncio.client import ApiClient

from eddy_runtime.client import make_client
from eddy_runtime.flags import Options
from eddy_runtime.manager import Manager
from eddy_runtime.resources import ResourceClient
from eddy_testenv.process import find_binary
from kustomize_controller.controller import controller
from kustomize_controller.reconcile import NAME, KustomizationReconciler, Settings

from .support import KUSTOMIZATIONS, ArtifactServer, Sources

pytestmark = pytest.mark.integration


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def artifact_server() -> AsyncIterator[ArtifactServer]:
    server = ArtifactServer()
    await server.start()
    yield server
    await server.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def kube(api_client: ApiClient) -> ResourceClient:
    return ResourceClient(api_client, field_manager="kustomize-tests")


@pytest_asyncio.fixture(loop_scope="session")
async def sources(kube: ResourceClient, artifact_server: ArtifactServer, namespace: str) -> Sources:
    return Sources(kube, artifact_server, namespace)


@dataclass
class Running:
    manager: Manager
    reconciler: KustomizationReconciler
    task: asyncio.Task[int]
    api: ApiClient


StartController = Callable[..., Any]


@pytest_asyncio.fixture(loop_scope="session")
async def start_controller(
    control_plane: Any, namespace: str, kube: ResourceClient
) -> AsyncIterator[StartController]:
    """Run the kustomize-controller in this process; at the end, delete the test's
    Kustomizations while it still runs, so their finalizers are honoured."""
    started: list[Running] = []

    async def start(
        kubeconfig: str | None = None, settings: Settings | None = None, **overrides: Any
    ) -> Running:
        values: dict[str, Any] = {
            "metrics_addr": "127.0.0.1:0",
            "health_addr": "127.0.0.1:0",
            "watch_all_namespaces": True,
            "runtime_namespace": namespace,
            "min_retry_delay": 0.1,
            "max_retry_delay": 2.0,
            "graceful_shutdown_timeout": 5.0,
            "requeue_dependency": 1.0,
        }
        values.update(overrides)
        options = Options(**values)
        api = await make_client(kubeconfig or str(control_plane.kubeconfig))
        manager = Manager(NAME, options, api, handle_signals=False)
        chosen = settings or Settings(
            kustomize=find_binary("kustomize"),
            requeue_dependency=options.requeue_dependency,
            no_cross_namespace_refs=options.no_cross_namespace_refs,
            default_service_account=options.default_service_account,
        )
        ctl, reconciler = controller(manager, chosen)
        manager.add(ctl)
        task = asyncio.create_task(manager.run())
        running = Running(manager, reconciler, task, api)
        started.append(running)
        while not manager.ready():
            if task.done():
                task.result()
            await asyncio.sleep(0.05)
        return running

    yield start
    if started:
        listed = await kube.list(KUSTOMIZATIONS, namespace)
        for item in listed.get("items") or []:
            await kube.delete(KUSTOMIZATIONS, item["metadata"]["name"], namespace)
        for _ in range(100):
            if not (await kube.list(KUSTOMIZATIONS, namespace)).get("items"):
                break
            await asyncio.sleep(0.1)
    for running in started:
        running.manager.stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(running.task, 10)
        await running.reconciler.close()
        await running.api.close()
