"""Pytest fixtures: one control plane per session, one namespace per test.

Set EDDY_TEST_KUBECONFIG to run the same tests against an existing cluster
(kind, or a real one) instead of starting a local control plane.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.exceptions import ApiException

from eddy_runtime.resources import ResourceClient
from eddy_testenv.controlplane import ControlPlane
from eddy_testenv.kubeconfigs import RecordingHTTPS

NAMESPACE_LABEL = "testing.eddy.dev/namespace"


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def control_plane(request: pytest.FixtureRequest) -> AsyncIterator[ControlPlane]:
    existing = os.environ.get("EDDY_TEST_KUBECONFIG")
    # Started on the main thread on purpose: children are bound to the life of
    # the thread that forked them.
    plane = ControlPlane.existing(existing) if existing else ControlPlane()
    plane.start()
    try:
        crds = Path(request.config.rootpath) / "manifests" / "crds"
        if crds.is_dir() and any(crds.glob("*.y*ml")):
            await plane.install_crds(crds)
        yield plane
    finally:
        plane.stop()


@pytest.fixture(scope="session")
def remote_control_plane() -> Iterator[ControlPlane]:
    """A second, bare API server: the other cluster of `spec.kubeConfig` tests.

    Started on the main thread, like the first, so its children live as long as
    the session."""
    with ControlPlane(controller_manager=False) as plane:
        yield plane


@pytest.fixture
def recording_https() -> Iterator[RecordingHTTPS]:
    """An HTTPS listener that answers 401 and records the headers of every request."""
    with RecordingHTTPS() as listener:
        yield listener


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def api_client(control_plane: ControlPlane) -> AsyncIterator[client.ApiClient]:
    api = await config.new_client_from_config(config_file=str(control_plane.kubeconfig))
    try:
        yield api
    finally:
        await api.close()


@pytest_asyncio.fixture(loop_scope="session")
async def kube(api_client: client.ApiClient) -> ResourceClient:
    """The API as a test writes and reads it (what `kubectl` does for a person)."""
    return ResourceClient(api_client, field_manager="eddy-tests")


def _namespace_name(test_name: str) -> str:
    base = re.sub(r"[^a-z0-9-]+", "-", test_name.lower()).strip("-")[:40].strip("-")
    return f"{base or 'test'}-{secrets.token_hex(3)}"


@pytest_asyncio.fixture(loop_scope="session")
async def namespace(
    api_client: client.ApiClient, request: pytest.FixtureRequest
) -> AsyncIterator[str]:
    name = _namespace_name(request.node.name)
    core = client.CoreV1Api(api_client)
    await core.create_namespace(
        body={"metadata": {"name": name, "labels": {NAMESPACE_LABEL: "true"}}}
    )
    try:
        yield name
    finally:
        if not os.environ.get("EDDY_TEST_KEEP_NAMESPACES"):
            try:
                await core.delete_namespace(name)
            except ApiException as err:
                if err.status != 404:
                    raise
