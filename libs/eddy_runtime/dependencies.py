"""dependsOn: an object waits until the objects of its kind that it names are Ready.

Kustomizations and HelmReleases share the rule: each dependency must exist and be
Ready for its current spec; the dependent is looked at again at `--requeue-dependency`
and, through an index, as soon as a dependency turns Ready.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from .conditions import is_ready
from .manager import Manager, ref_key
from .resources import Obj, Resource

Lookup = Callable[[str, str], Awaitable[Obj | None]]
# Why a Ready dependency still does not count for this dependent ("" when it does).
Pending = Callable[[Obj], str]


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


def dependency_keys(resource: Resource) -> Callable[[Obj], list[str]]:
    """The index function that maps an object to the `ref_key`s of its dependencies."""

    def keys(obj: Obj) -> list[str]:
        return [ref_key(resource.kind, ns, name) for ns, name in dependency_refs(obj)]

    return keys


def became_ready(old: Obj | None, new: Obj) -> bool:
    """A dependency matters to its dependents when it turns Ready."""
    return is_ready(new) and (old is None or not is_ready(old))


def cached_lookup(manager: Manager, resource: Resource) -> Lookup:
    """Find a dependency in the controller's cache, else ask the API server."""

    async def lookup(namespace: str, name: str) -> Obj | None:
        cached = manager.informer(resource).get(name, namespace)
        if cached is not None:
            return cached
        return await manager.client.get_or_none(resource, name, namespace)

    return lookup


async def check_dependencies(
    obj: Obj, lookup: Lookup, no_cross_namespace_refs: bool, pending: Pending | None = None
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
        why = pending(dep) if pending is not None else ""
        if why:
            raise DependencyNotReady(f"dependency '{namespace}/{name}' is not ready: {why}")
