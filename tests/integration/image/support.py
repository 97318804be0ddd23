"""What the image tests share: kinds, object builders and reading conditions."""

from __future__ import annotations

import base64
import hashlib
import json
import urllib.request
from typing import Any

from eddy_runtime.resources import Obj
from eddy_testenv.registry import Registry
from eddy_testenv.waiting import eventually as eventually  # re-exported for the tests
from image_automation_controller.objects import (
    GIT_REPOSITORIES as GIT_REPOSITORIES,
)
from image_automation_controller.objects import (
    IMAGE_POLICIES as IMAGE_POLICIES,
)
from image_automation_controller.objects import (
    IMAGE_REPOSITORIES as IMAGE_REPOSITORIES,
)
from image_automation_controller.objects import (
    IMAGE_UPDATE_AUTOMATIONS as IMAGE_UPDATE_AUTOMATIONS,
)


def manifest(kind: str, name: str, namespace: str, spec: dict[str, Any]) -> Obj:
    group = (
        "source.toolkit.fluxcd.io/v1" if kind == "GitRepository" else "image.toolkit.fluxcd.io/v1"
    )
    return {
        "apiVersion": group,
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


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
