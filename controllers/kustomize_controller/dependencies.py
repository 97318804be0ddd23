"""dependsOn: a Kustomization waits until the ones it names are Ready at their latest spec.

Apps that need a CRD, a namespace or a database first say so in dependsOn; the
dependent is re-checked at `--requeue-dependency` and when a dependency turns Ready.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from eddy_api.common import is_ready

from .objects import Obj
from .source import source_ref

Lookup = Callable[[str, str], Awaitable[Obj | None]]


class DependencyNotReady(Exception):
    """A dependency is missing or not Ready; the message names it."""


def dependency_refs(obj: Obj) -> list[tuple[str, str]]:
    """(namespace, name) of each dependency; the namespace defaults to the object's."""
    own = obj["metadata"]["namespace"]
    refs: list[tuple[str, str]] = []
    for dep in (obj.get("spec") or {}).get("dependsOn") or []:
        if isinstance(dep, dict) and dep.get("name"):
            refs.append((str(dep.get("namespace") or own), str(dep["name"])))
    return refs


async def check_dependencies(
    obj: Obj, lookup: Lookup, no_cross_namespace_refs: bool, source_revision: str = ""
) -> None:
    """Raise DependencyNotReady for the first dependency that is not ready."""
    own = obj["metadata"]["namespace"]
    for namespace, name in dependency_refs(obj):
        if no_cross_namespace_refs and namespace != own:
            raise DependencyNotReady(
                f"dependency '{namespace}/{name}' is in another namespace and cross-namespace "
                "references are disabled"
            )
        dep = await lookup(namespace, name)
        if dep is None:
            raise DependencyNotReady(f"dependency '{namespace}/{name}' not found")
        if not is_ready(dep):
            raise DependencyNotReady(f"dependency '{namespace}/{name}' is not ready")
        # On the same source, a dependency must have applied the revision we are about to.
        applied = (dep.get("status") or {}).get("lastAppliedRevision")
        if source_revision and source_ref(dep) == source_ref(obj) and applied != source_revision:
            raise DependencyNotReady(
                f"dependency '{namespace}/{name}' is not ready: revision {source_revision} "
                "is not applied yet"
            )
