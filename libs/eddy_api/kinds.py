"""Every kind eddy serves, in one list, with lookups by name.

The CRD generator, the docs check and the controllers' wiring all iterate this
list, so adding a kind here is what makes it exist everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from eddy_api import helm, image, kustomize, notification, source, sourceext
from eddy_api.resource import Resource

ALL_KINDS: tuple[type[Resource], ...] = (
    source.KINDS + sourceext.KINDS + kustomize.KINDS + helm.KINDS + image.KINDS + notification.KINDS
)


def by_kind(kind: str) -> type[Resource]:
    """The class of a kind name, e.g. `by_kind("GitRepository")`."""
    for cls in ALL_KINDS:
        if cls.INFO.kind == kind:
            return cls
    raise KeyError(f"eddy does not serve the kind {kind!r}")


def for_object(obj: Mapping[str, Any]) -> type[Resource] | None:
    """The class of a plain object, matched on kind and apiVersion; None if not served."""
    for cls in ALL_KINDS:
        if cls.INFO.matches(obj):
            return cls
    return None
