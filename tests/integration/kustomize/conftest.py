"""Fixtures for the kustomize-controller tests: artifacts over HTTP, sources, controllers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_asyncio

from eddy_runtime.manager import Manager
from eddy_runtime.resources import ResourceClient
from eddy_testenv.managers import running_manager, test_options
from eddy_testenv.process import find_binary
from kustomize_controller.controller import NAME, Settings, controllers

from .support import KUSTOMIZATIONS, ArtifactServer, Sources

pytestmark = pytest.mark.integration


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def artifact_server() -> AsyncIterator[ArtifactServer]:
    server = ArtifactServer()
    await server.start()
    yield server
    await server.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def sources(kube: ResourceClient, artifact_server: ArtifactServer, namespace: str) -> Sources:
    return Sources(kube, artifact_server, namespace)


StartController = Callable[..., Any]


@pytest_asyncio.fixture(loop_scope="session")
async def start_controller(
    control_plane: Any, namespace: str, kube: ResourceClient
) -> AsyncIterator[StartController]:
    """Run the kustomize-controller in this process; at the end, delete the test's
    Kustomizations while it still runs, so their finalizers are honoured."""
    async with contextlib.AsyncExitStack() as stack:
        started: list[Manager] = []

        async def start(
            kubeconfig: str | None = None, settings: Settings | None = None, **overrides: Any
        ) -> Manager:
            values: dict[str, Any] = {
                "watch_all_namespaces": True,
                "runtime_namespace": namespace,
                **overrides,
            }
            options = test_options(**values)
            chosen = settings or Settings(
                kustomize=find_binary("kustomize"),
                sops=find_binary("sops"),
                requeue_dependency=options.requeue_dependency,
                no_cross_namespace_refs=options.no_cross_namespace_refs,
                default_service_account=options.default_service_account,
            )
            manager = await stack.enter_async_context(
                running_manager(
                    NAME,
                    kubeconfig or str(control_plane.kubeconfig),
                    lambda m: controllers(m, chosen),
                    **values,
                )
            )
            started.append(manager)
            return manager

        yield start
        if started:
            listed = await kube.list(KUSTOMIZATIONS, namespace)
            for item in listed.get("items") or []:
                await kube.delete(KUSTOMIZATIONS, item["metadata"]["name"], namespace)
            for _ in range(100):
                if not (await kube.list(KUSTOMIZATIONS, namespace)).get("items"):
                    break
                await asyncio.sleep(0.1)
