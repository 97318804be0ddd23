"""dependsOn: an object waits until the objects of its kind that it names are Ready.

Kustomizations and HelmReleases share the rule: each dependency must exist and be
Ready for its current spec, or, where the reference has a `readyExpr`, make that CEL
expression over `self` (the dependent) and `dep` true instead (as well, with Flux's
AdditiveCELDependencyCheck gate). The dependent is looked at again at
`--requeue-dependency` and, through an index, as soon as a dependency changes in a
way that may matter.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from .conditions import INVALID_CEL_EXPRESSION, is_ready
from .manager import Manager, ref_key
from .reconciler import StepError
from .resources import Obj, Resource

if TYPE_CHECKING:
    from .cel import Expression

Lookup = Callable[[str, str], Awaitable[Obj | None]]
# Why a Ready dependency still does not count for this dependent ("" when it does).
Pending = Callable[[Obj], str]


# The variables of a dependsOn[].readyExpr, as Flux names them.
READY_EXPR_VARIABLES = ("self", "dep")


class DependencyNotReady(Exception):
    """A dependency is missing or not Ready; the message names it."""


class InvalidReadyExpr(StepError):
    """A dependsOn[].readyExpr that cannot work until the spec is edited; names it.

    A step error of its own: Stalled with InvalidCELExpression in every controller.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message, reason=INVALID_CEL_EXPRESSION, stalled=True)


def _entries(obj: Obj) -> list[dict[str, Any]]:
    """The spec.dependsOn entries that name a dependency, in order."""
    return [
        dep
        for dep in (obj.get("spec") or {}).get("dependsOn") or []
        if isinstance(dep, dict) and dep.get("name")
    ]


def _ref(obj: Obj, dep: dict[str, Any]) -> tuple[str, str]:
    return str(dep.get("namespace") or obj["metadata"]["namespace"]), str(dep["name"])


def dependency_refs(obj: Obj) -> list[tuple[str, str]]:
    """(namespace, name) of each dependency; the namespace defaults to the object's."""
    return [_ref(obj, dep) for dep in _entries(obj)]


def dependency_keys(resource: Resource) -> Callable[[Obj], list[str]]:
    """The index function that maps an object to the `ref_key`s of its dependencies."""

    def keys(obj: Obj) -> list[str]:
        return [ref_key(resource.kind, ns, name) for ns, name in dependency_refs(obj)]

    return keys


def expr_dependency_keys(resource: Resource) -> Callable[[Obj], list[str]]:
    """Like dependency_keys, for only the dependencies judged by a readyExpr."""

    def keys(obj: Obj) -> list[str]:
        return [
            ref_key(resource.kind, *_ref(obj, dep)) for dep in _entries(obj) if dep.get("readyExpr")
        ]

    return keys


def became_ready(old: Obj | None, new: Obj) -> bool:
    """A dependency matters to its dependents when it turns Ready."""
    return is_ready(new) and (old is None or not is_ready(old))


def changed(old: Obj | None, new: Obj) -> bool:
    """A readyExpr may read any field of its dependency: any new version may matter."""
    if old is None:
        return True
    version = (old.get("metadata") or {}).get("resourceVersion")
    return bool(version != (new.get("metadata") or {}).get("resourceVersion"))


def cached_lookup(manager: Manager, resource: Resource) -> Lookup:
    """Find a dependency in the controller's cache, else ask the API server."""

    async def lookup(namespace: str, name: str) -> Obj | None:
        cached = manager.informer(resource).get(name, namespace)
        if cached is not None:
            return cached
        return await manager.client.get_or_none(resource, name, namespace)

    return lookup


def ready_exprs(obj: Obj) -> list[Expression | None]:
    """Each dependency's compiled readyExpr (None without one), in dependency_refs order.

    Raises InvalidReadyExpr for the first that does not compile, naming it.
    """
    refs = _entries(obj)
    if not any(d.get("readyExpr") for d in refs):
        return [None] * len(refs)
    # The CEL engine is loaded only by a process that meets an expression.
    from .cel import CelError, compile_expression

    compiled: list[Expression | None] = []
    for index, dep in enumerate(refs):
        source = dep.get("readyExpr")
        if not source:
            compiled.append(None)
            continue
        try:
            compiled.append(compile_expression(str(source), READY_EXPR_VARIABLES))
        except CelError as err:
            raise InvalidReadyExpr(f"spec.dependsOn[{index}].readyExpr: {err}") from err
    return compiled


def _expr_ready(expr: Expression, obj: Obj, dep: Obj, ref: str) -> None:
    from .cel import CelError

    try:
        result = expr.evaluate({"self": obj, "dep": dep})
    except CelError as err:
        raise DependencyNotReady(f"dependency '{ref}' readyExpr {expr.source!r}: {err}") from err
    if not isinstance(result, bool):
        raise InvalidReadyExpr(
            f"dependency '{ref}' readyExpr {expr.source!r} must return a boolean, "
            f"got {type(result).__name__}"
        )
    if not result:
        raise DependencyNotReady(
            f"dependency '{ref}' is not ready according to readyExpr {expr.source!r}"
        )


async def check_dependencies(
    obj: Obj,
    lookup: Lookup,
    no_cross_namespace_refs: bool,
    pending: Pending | None = None,
    additive: bool = False,
) -> None:
    """Raise DependencyNotReady for the first dependency that is not ready.

    A readyExpr that does not compile raises InvalidReadyExpr before any lookup. With
    `additive` (Flux's AdditiveCELDependencyCheck gate) a true readyExpr is not enough:
    the dependency must also pass the built-in rule.
    """
    own = obj["metadata"]["namespace"]
    exprs = ready_exprs(obj)
    for (namespace, name), expr in zip(dependency_refs(obj), exprs, strict=True):
        ref = f"{namespace}/{name}"
        if no_cross_namespace_refs and namespace != own:
            raise DependencyNotReady(
                f"dependency '{ref}' is in another namespace and cross-namespace "
                "references are disabled"
            )
        dep = await lookup(namespace, name)
        if dep is None:
            raise DependencyNotReady(f"dependency '{ref}' not found")
        if expr is not None:
            _expr_ready(expr, obj, dep, ref)
            if not additive:
                # The expression replaces the built-in rule (Ready, same revision).
                continue
        if not is_ready(dep):
            raise DependencyNotReady(f"dependency '{ref}' is not ready")
        why = pending(dep) if pending is not None else ""
        if why:
            raise DependencyNotReady(f"dependency '{ref}' is not ready: {why}")
