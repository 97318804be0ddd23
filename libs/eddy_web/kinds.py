"""The kinds the dashboard shows, grouped by the view that shows them.

Derived from eddy_api's list of served kinds, so a kind added there appears here.
"""

from __future__ import annotations

from eddy_api.kinds import ALL_KINDS
from eddy_runtime.resources import EVENTS, Resource

APPS = ("Kustomization", "HelmRelease")
SOURCES = ("GitRepository", "OCIRepository", "Bucket", "HelmRepository", "HelmChart")
IMAGES = ("ImageRepository", "ImagePolicy", "ImageUpdateAutomation")

RESOURCES: dict[str, Resource] = {
    cls.INFO.kind: Resource(
        cls.INFO.group, cls.INFO.storage_version, cls.INFO.plural, cls.INFO.kind
    )
    for cls in ALL_KINDS
}
WATCHED: tuple[Resource, ...] = tuple(
    RESOURCES[kind] for kind in (*APPS, *SOURCES, *IMAGES) if kind in RESOURCES
)

SELF_SUBJECT_ACCESS_REVIEWS = Resource(
    "authorization.k8s.io", "v1", "selfsubjectaccessreviews", "SelfSubjectAccessReview",
    namespaced=False,
)  # fmt: skip


def view_of(kind: str) -> str:
    """ "apps", "sources" or "images": which list shows objects of `kind`."""
    if kind in APPS:
        return "apps"
    if kind in SOURCES:
        return "sources"
    return "images"


__all__ = ["APPS", "EVENTS", "IMAGES", "RESOURCES", "SOURCES", "WATCHED", "view_of"]
