"""dependsOn: a HelmRelease waits until the HelmReleases it names are Ready.

Charts that need CRDs or a database from another release say so in dependsOn; the
dependent is looked at again at `--requeue-dependency` and when a dependency turns Ready.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from eddy_api.common import is_ready

from .objects import Obj

Lookup = Callable[[str, str], Awaitable[Obj | None]]


class DependencyNotReady(Exception):
    """A dependency is missing or not Ready; the message names it."""


def dependency_refs(obj: Obj) -> list[tuple[str, str]]:
    """(namespace, name) of each dependency; the namespace defaults to the object's."""
    own = obj["metadata"]["namespace"]
    return [
        (str(dep.get("namespace") or own), str(dep["name"]))
        for dep in (obj.get("spec") or {}).get("dependsOn") or []
        if isinstance(dep, dict) and dep.get("name")
    ]


async def check_dependencies(obj: Obj, lookup: Lookup, no_cross_namespace_refs: bool) -> None:
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
