"""The kinds the helm-controller reads and writes, and the names it derives from them.

Release names, HelmChart names and ownership labels follow Flux's rules so that a
HelmRelease moved from Flux to eddy finds its release and its chart again.
"""

from __future__ import annotations

from typing import Any

from eddy_api.helm import NAME_LABEL, NAMESPACE_LABEL, HelmRelease
from eddy_runtime.resources import Resource

Obj = dict[str, Any]

HELM_RELEASES = Resource("helm.toolkit.fluxcd.io", "v2", "helmreleases", "HelmRelease")
HELM_CHARTS = Resource("source.toolkit.fluxcd.io", "v1", "helmcharts", "HelmChart")
OCI_REPOSITORIES = Resource("source.toolkit.fluxcd.io", "v1", "ocirepositories", "OCIRepository")
EXTERNAL_ARTIFACTS = Resource(
    "source.toolkit.fluxcd.io", "v1", "externalartifacts", "ExternalArtifact"
)
# The kinds spec.chartRef may name, by kind.
CHART_SOURCES = {r.kind: r for r in (HELM_CHARTS, OCI_REPOSITORIES, EXTERNAL_ARTIFACTS)}


def spec_of(obj: Obj) -> dict[str, Any]:
    found = obj.get("spec")
    return found if isinstance(found, dict) else {}


def typed(obj: Obj) -> HelmRelease:
    """The HelmRelease as eddy_api types it: the rules of its names live there, once."""
    return HelmRelease.from_dict(obj)


def release_name(obj: Obj) -> str:
    return typed(obj).release_name()


def release_namespace(obj: Obj) -> str:
    return typed(obj).release_namespace()


def helm_chart_name(obj: Obj) -> str:
    return typed(obj).helm_chart_name()


def helm_chart_namespace(obj: Obj) -> str:
    return typed(obj).helm_chart_namespace()


def owner_labels(obj: Obj) -> dict[str, str]:
    meta = obj["metadata"]
    return {NAME_LABEL: str(meta["name"]), NAMESPACE_LABEL: str(meta["namespace"])}


def describe(obj: Obj) -> str:
    meta = obj.get("metadata") or {}
    return f"{obj.get('kind', 'object')}/{meta.get('namespace')}/{meta.get('name')}"
