"""The Kubernetes kinds the image-automation-controller reads and writes.

Three kinds are reconciled here and one (GitRepository) is only read, so their
Resource handles and the shared small helpers live in one place.
"""

from __future__ import annotations

from typing import Any

from eddy_runtime.resources import Resource

Obj = dict[str, Any]

GROUP = "image.toolkit.fluxcd.io"
IMAGE_REPOSITORIES = Resource(GROUP, "v1", "imagerepositories", "ImageRepository")
IMAGE_POLICIES = Resource(GROUP, "v1", "imagepolicies", "ImagePolicy")
IMAGE_UPDATE_AUTOMATIONS = Resource(GROUP, "v1", "imageupdateautomations", "ImageUpdateAutomation")
GIT_REPOSITORIES = Resource("source.toolkit.fluxcd.io", "v1", "gitrepositories", "GitRepository")


def spec_of(obj: Obj) -> dict[str, Any]:
    found = obj.get("spec")
    return found if isinstance(found, dict) else {}


def status_of(obj: Obj) -> dict[str, Any]:
    found = obj.get("status")
    return found if isinstance(found, dict) else {}


def name_of(obj: Obj) -> tuple[str, str]:
    """(namespace, name) of an object."""
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace", "")), str(meta.get("name", ""))
