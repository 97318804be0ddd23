"""The kinds the helm-controller reads and writes, and the names it derives from them.

Release names, HelmChart names and ownership labels follow Flux's rules so that a
HelmRelease moved from Flux to eddy finds its release and its chart again.
"""

from __future__ import annotations

import hashlib
from typing import Any

from eddy_api.helm import NAME_LABEL, NAMESPACE_LABEL
from eddy_runtime.resources import Resource

Obj = dict[str, Any]

HELM_RELEASES = Resource("helm.toolkit.fluxcd.io", "v2", "helmreleases", "HelmRelease")
HELM_CHARTS = Resource("source.toolkit.fluxcd.io", "v1", "helmcharts", "HelmChart")

# Helm refuses release names longer than this.
MAX_RELEASE_NAME = 53
_HASH_CHARS = 12


def spec_of(obj: Obj) -> dict[str, Any]:
    found = obj.get("spec")
    return found if isinstance(found, dict) else {}


def release_name(obj: Obj) -> str:
    """spec.releaseName, else `[targetNamespace-]name`, shortened with a hash when too long."""
    spec = spec_of(obj)
    name = str(spec.get("releaseName") or "")
    if not name:
        target = spec.get("targetNamespace")
        name = f"{target}-{obj['metadata']['name']}" if target else obj["metadata"]["name"]
    return shorten(name)


def shorten(name: str) -> str:
    if len(name) <= MAX_RELEASE_NAME:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:_HASH_CHARS]
    return f"{name[: MAX_RELEASE_NAME - _HASH_CHARS - 1]}-{digest}"


def release_namespace(obj: Obj) -> str:
    return str(spec_of(obj).get("targetNamespace") or obj["metadata"]["namespace"])


def helm_chart_name(obj: Obj) -> str:
    """The HelmChart made for spec.chart is named `<namespace>-<name>` of the release."""
    meta = obj["metadata"]
    return f"{meta['namespace']}-{meta['name']}"


def helm_chart_namespace(obj: Obj) -> str:
    """A HelmChart lives beside its source, since its sourceRef cannot leave its namespace."""
    template = (spec_of(obj).get("chart") or {}).get("spec") or {}
    ref = template.get("sourceRef") or {}
    return str(ref.get("namespace") or obj["metadata"]["namespace"])


def owner_labels(obj: Obj) -> dict[str, str]:
    meta = obj["metadata"]
    return {NAME_LABEL: str(meta["name"]), NAMESPACE_LABEL: str(meta["namespace"])}


def describe(obj: Obj) -> str:
    meta = obj.get("metadata") or {}
    return f"{obj.get('kind', 'object')}/{meta.get('namespace')}/{meta.get('name')}"
