"""Fixtures for the image-automation-controller tests: the controller and image pushes.

The controller runs in the test's event loop against the real control plane; images
go into the real registry through its HTTP API, a one-layer-free manifest per tag.
"""

from __future__ import annotations

import base64
import hashlib
import json
import urllib.request
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_asyncio
from kubernetes_asyncio.client import ApiClient

from eddy_runtime.manager import Manager
from eddy_runtime.resources import ResourceClient
from eddy_testenv.managers import running_manager
from eddy_testenv.registry import Registry
from image_automation_controller.controller import NAME, Settings, controllers

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
