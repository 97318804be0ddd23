"""Fixtures for the image-automation-controller tests: the controller and image pushes.

The controller runs in the test's event loop against the real control plane; images
go into the real registry through its HTTP API, a one-layer-free manifest per tag.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import urllib.request
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_asyncio
from kubernetes_asyncio.client import ApiClient

from eddy_runtime.client import make_client
from eddy_runtime.flags import Options
from eddy_runtime.manager import Manager
from eddy_runtime.resources import ResourceClient
from eddy_testenv.registry import Registry
from image_automation_controller.__main__ import NAME
from image_automation_controller.controller import Reconcilers, Settings, controllers

pytestmark = pytest.mark.integration

MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"


def _send(registry: Registry, method: str, url: str, body: bytes, content_type: str) -> Any:
    headers = {"Content-Type": content_type}
    if registry.username and registry.password:
        raw = f"{registry.username}:{registry.password}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
    target = url if url.startswith("http") else registry.base_url + url
    req = urllib.request.Request(target, data=body, headers=headers, method=method)
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.headers


def push_image(registry: Registry, repository: str, tag: str) -> None:
    """Push a tiny image (a config blob and a manifest with no layers) as `repository:tag`."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "tag": tag}).encode()
    digest = "sha256:" + hashlib.sha256(config).hexdigest()
    started = _send(registry, "POST", f"/v2/{repository}/blobs/uploads/", b"", CONFIG_TYPE)
    location = started["Location"]
    sep = "&" if "?" in location else "?"
    _send(registry, "PUT", f"{location}{sep}digest={digest}", config, "application/octet-stream")
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": {"mediaType": CONFIG_TYPE, "digest": digest, "size": len(config)},
        "layers": [],
    }
    body = json.dumps(manifest).encode()
    _send(registry, "PUT", f"/v2/{repository}/manifests/{tag}", body, MANIFEST_TYPE)


@pytest_asyncio.fixture(loop_scope="session")
async def kube(api_client: ApiClient) -> ResourceClient:
    return ResourceClient(api_client, field_manager="image-tests")


StartController = Callable[[], Any]


@pytest_asyncio.fixture(loop_scope="session")
async def image_controller(control_plane: Any, namespace: str) -> AsyncIterator[Reconcilers]:
    """The image-automation-controller, watching only the test's namespace."""
    options = Options(
        metrics_addr="127.0.0.1:0",
        health_addr="127.0.0.1:0",
        watch_all_namespaces=False,
        runtime_namespace=namespace,
        min_retry_delay=0.1,
        max_retry_delay=2.0,
        graceful_shutdown_timeout=5.0,
        requeue_dependency=1.0,
    )
    api = await make_client(str(control_plane.kubeconfig))
    manager = Manager(NAME, options, api, handle_signals=False)
    found, reconcilers = controllers(manager, Settings(requeue_dependency=1.0))
    for ctl in found:
        manager.add(ctl)
    task = asyncio.create_task(manager.run())
    while not manager.ready():
        if task.done():
            task.result()
        await asyncio.sleep(0.05)
    try:
        yield reconcilers
    finally:
        manager.stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 10)
        await reconcilers.close()
        await api.close()
