"""Where the kinds of eddy's own install live in the API, without asking discovery.

Installing and uninstalling touch a fixed set of built-in kinds; CRDs name
their own resources.
"""

from __future__ import annotations

from typing import Any

from eddy_runtime.resources import CRDS, NAMESPACES, Resource

Doc = dict[str, Any]

KUSTOMIZATIONS = Resource("kustomize.toolkit.fluxcd.io", "v1", "kustomizations", "Kustomization")
HELM_RELEASES = Resource("helm.toolkit.fluxcd.io", "v2", "helmreleases", "HelmRelease")
SOURCES = {
    r.kind: r
    for r in (
        Resource("source.toolkit.fluxcd.io", "v1", "gitrepositories", "GitRepository"),
        Resource("source.toolkit.fluxcd.io", "v1", "ocirepositories", "OCIRepository"),
        Resource("source.toolkit.fluxcd.io", "v1", "buckets", "Bucket"),
        Resource("source.toolkit.fluxcd.io", "v1", "helmrepositories", "HelmRepository"),
        Resource("source.toolkit.fluxcd.io", "v1", "helmcharts", "HelmChart"),
        Resource("source.toolkit.fluxcd.io", "v1", "externalartifacts", "ExternalArtifact"),
    )
}
DEPLOYMENTS = Resource("apps", "v1", "deployments", "Deployment")
PODS = Resource("", "v1", "pods", "Pod")
BUILTIN = {
    r.kind: r
    for r in (
        NAMESPACES,
        CRDS,
        DEPLOYMENTS,
        PODS,
        Resource("", "v1", "services", "Service"),
        Resource("", "v1", "serviceaccounts", "ServiceAccount"),
        Resource("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False),
        Resource(
            "rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", False
        ),
        Resource("rbac.authorization.k8s.io", "v1", "roles", "Role"),
        Resource("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding"),
        Resource("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy"),
        Resource("", "v1", "secrets", "Secret"),
        KUSTOMIZATIONS,
        SOURCES["GitRepository"],
    )
}


def resource_of(doc: Doc) -> Resource:
    """The Resource of one of the install's documents."""
    return BUILTIN[doc["kind"]]


def served_by(crd: Doc) -> Resource:
    """The Resource a CRD serves, at its storage version."""
    spec = crd["spec"]
    versions = spec.get("versions") or []
    version = next((v["name"] for v in versions if v.get("storage")), versions[0]["name"])
    scoped = spec.get("scope", "Namespaced") == "Namespaced"
    return Resource(spec["group"], version, spec["names"]["plural"], spec["names"]["kind"], scoped)


def condition(obj: Doc, kind: str) -> Doc | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return dict(cond)
    return None


def is_true(obj: Doc, kind: str) -> bool:
    cond = condition(obj, kind)
    return cond is not None and cond.get("status") == "True"
