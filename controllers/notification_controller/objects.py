"""The Kubernetes kinds the notification-controller reads and writes.

Three kinds are its own; the Flux kinds a Receiver annotates and an Alert reads
labels of are looked up here by kind name.
"""

from __future__ import annotations

from typing import Any

from eddy_api.notification import GROUP
from eddy_runtime.resources import Resource

Obj = dict[str, Any]

PROVIDERS = Resource(GROUP, "v1beta3", "providers", "Provider")
ALERTS = Resource(GROUP, "v1beta3", "alerts", "Alert")
RECEIVERS = Resource(GROUP, "v1", "receivers", "Receiver")

_SOURCE = "source.toolkit.fluxcd.io"
_IMAGE = "image.toolkit.fluxcd.io"
FLUX_KINDS: dict[str, Resource] = {
    r.kind: r
    for r in (
        Resource(_SOURCE, "v1", "gitrepositories", "GitRepository"),
        Resource(_SOURCE, "v1", "ocirepositories", "OCIRepository"),
        Resource(_SOURCE, "v1", "helmrepositories", "HelmRepository"),
        Resource(_SOURCE, "v1", "helmcharts", "HelmChart"),
        Resource(_SOURCE, "v1", "buckets", "Bucket"),
        Resource(_SOURCE, "v1", "externalartifacts", "ExternalArtifact"),
        Resource(
            "source.extensions.fluxcd.io", "v1beta1", "artifactgenerators", "ArtifactGenerator"
        ),
        Resource("kustomize.toolkit.fluxcd.io", "v1", "kustomizations", "Kustomization"),
        Resource("helm.toolkit.fluxcd.io", "v2", "helmreleases", "HelmRelease"),
        Resource(_IMAGE, "v1", "imagerepositories", "ImageRepository"),
        Resource(_IMAGE, "v1", "imagepolicies", "ImagePolicy"),
        Resource(_IMAGE, "v1", "imageupdateautomations", "ImageUpdateAutomation"),
    )
}


def spec_of(obj: Obj) -> dict[str, Any]:
    found = obj.get("spec")
    return found if isinstance(found, dict) else {}


def name_of(obj: Obj) -> tuple[str, str]:
    """(namespace, name) of an object."""
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace", "")), str(meta.get("name", ""))
