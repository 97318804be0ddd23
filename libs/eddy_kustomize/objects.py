"""Names and identities of the Kubernetes objects a Kustomization applies.

Status, Events and inventories all speak of objects as `Kind/namespace/name` and
`<namespace>_<name>_<group>_<kind>`; both spellings are produced only here.
"""

from __future__ import annotations

from typing import Any

from eddy_api.kustomize import NAME_LABEL, NAMESPACE_LABEL, inventory_id
from eddy_runtime.resources import Resource
from eddy_runtime.resources import describe as describe  # the runtime's, for every reader

Obj = dict[str, Any]

KUSTOMIZATIONS = Resource("kustomize.toolkit.fluxcd.io", "v1", "kustomizations", "Kustomization")
GIT_REPOSITORIES = Resource("source.toolkit.fluxcd.io", "v1", "gitrepositories", "GitRepository")
OCI_REPOSITORIES = Resource("source.toolkit.fluxcd.io", "v1", "ocirepositories", "OCIRepository")
BUCKETS = Resource("source.toolkit.fluxcd.io", "v1", "buckets", "Bucket")
EXTERNAL_ARTIFACTS = Resource(
    "source.toolkit.fluxcd.io", "v1", "externalartifacts", "ExternalArtifact"
)
# The source kinds a Kustomization may name in sourceRef, by kind.
SOURCES = {r.kind: r for r in (GIT_REPOSITORIES, OCI_REPOSITORIES, BUCKETS, EXTERNAL_ARTIFACTS)}

CRD_KIND = "CustomResourceDefinition"
NAMESPACE_KIND = "Namespace"


def split_api_version(api_version: str) -> tuple[str, str]:
    """("apps", "v1") for "apps/v1"; ("", "v1") for the core group."""
    group, _, version = api_version.rpartition("/")
    return group, version


def meta(obj: Obj) -> dict[str, Any]:
    found = obj.get("metadata")
    return found if isinstance(found, dict) else {}


def annotation(obj: Obj, key: str) -> str:
    return str((meta(obj).get("annotations") or {}).get(key, ""))


def object_id(obj: Obj) -> str:
    """The object's inventory id, as Flux writes it."""
    group, _ = split_api_version(str(obj.get("apiVersion", "")))
    m = meta(obj)
    return inventory_id(
        str(m.get("namespace") or ""), str(m.get("name", "")), group, str(obj.get("kind", ""))
    )


def owner_labels(name: str, namespace: str) -> dict[str, str]:
    """The labels that mark an object as applied by one Kustomization."""
    return {NAME_LABEL: name, NAMESPACE_LABEL: namespace}


def is_owned_by(obj: Obj, name: str, namespace: str) -> bool:
    labels = meta(obj).get("labels") or {}
    return all(labels.get(k) == v for k, v in owner_labels(name, namespace).items())
