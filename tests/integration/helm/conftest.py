"""Fixtures for the helm-controller tests: the source-controller as a process, the
helm-controller in this process, and a `helm` that reads what they released."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from eddy_runtime.manager import Manager
from eddy_runtime.resources import CRDS, ResourceClient
from eddy_testenv import ControlPlane, find_binary, free_port
from eddy_testenv.controllers import ControllerProcess
from eddy_testenv.managers import running_manager
from helm_controller.controller import NAME, Settings, controllers
from helm_controller.objects import HELM_RELEASES

from .support import HelmCLI

pytestmark = pytest.mark.integration


# Package scope: a source-controller watching every namespace must be gone before
# other suites, which publish their sources' status by hand, run.
@pytest.fixture(scope="package")
def source_controller(control_plane: ControlPlane) -> Iterator[ControllerProcess]:
    with tempfile.TemporaryDirectory(prefix="eddy-helm-it-") as tmp:
        workdir = Path(tmp)
        port = free_port()
        process = ControllerProcess(
            "source_controller",
            control_plane.kubeconfig,
            workdir,
            args=[
                f"--storage-path={workdir / 'artifacts'}",
                f"--storage-addr=127.0.0.1:{port}",
                f"--storage-adv-addr=127.0.0.1:{port}",
            ],
        )
        process.start()
        try:
            yield process
        finally:
            process.stop()


@contextlib.asynccontextmanager
async def running_helm_controller(
    control_plane: ControlPlane, namespace: str, kube: ResourceClient, **settings: Any
) -> AsyncIterator[Manager]:
    """A helm-controller in this process; at the end the namespace's HelmReleases are
    deleted while it still runs, so their finalizers uninstall the releases."""
    settings.setdefault("helm_server", find_binary("eddy-helm-server"))
    chosen = Settings(helm=find_binary("helm"), requeue_dependency=1.0, **settings)
    async with running_manager(
        NAME,
        str(control_plane.kubeconfig),
        lambda m: controllers(m, chosen),
        runtime_namespace=namespace,
    ) as manager:
        try:
            yield manager
        finally:
            for item in (await kube.list(HELM_RELEASES, namespace)).get("items") or []:
                await kube.delete(HELM_RELEASES, item["metadata"]["name"], namespace)
            for _ in range(200):
                if not (await kube.list(HELM_RELEASES, namespace)).get("items"):
                    break
                await asyncio.sleep(0.1)


@pytest_asyncio.fixture(loop_scope="session")
async def helm_controller(
    control_plane: ControlPlane,
    source_controller: ControllerProcess,
    namespace: str,
    kube: ResourceClient,
) -> AsyncIterator[Manager]:
    async with running_helm_controller(control_plane, namespace, kube) as manager:
        yield manager


@pytest.fixture(scope="session")
def helm_cli(control_plane: ControlPlane) -> Iterator[HelmCLI]:
    with tempfile.TemporaryDirectory(prefix="eddy-helm-cli-") as tmp:
        yield HelmCLI(control_plane.kubeconfig, Path(tmp))


@pytest_asyncio.fixture(loop_scope="session")
async def group(kube: ResourceClient, namespace: str) -> AsyncIterator[str]:
    """An API group of this test's own; its CRDs (gadgets, widgets), which no uninstall
    removes, go at the end."""
    name = f"{namespace}.crds.example.com"
    yield name
    for plural in ("gadgets", "widgets"):
        await kube.delete(CRDS, f"{plural}.{name}")
