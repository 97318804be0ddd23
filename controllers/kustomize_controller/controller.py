"""The Kustomization controller as the runtime runs it: reconciler, watches, indexes.

A new source revision or a dependency turning Ready must reach the Kustomizations
that care within a second, so both are watched and mapped through indexes.
"""

from __future__ import annotations

from eddy_api.common import is_ready
from eddy_runtime import Controller, Manager, Watch, ref_key

from .dependencies import dependency_refs
from .objects import GIT_REPOSITORIES, KUSTOMIZATIONS, Obj
from .reconcile import KustomizationReconciler, Settings
from .source import source_ref

SOURCE_INDEX = "source"
DEPENDENCY_INDEX = "dependsOn"


def source_keys(obj: Obj) -> list[str]:
    kind, namespace, name = source_ref(obj)
    return [ref_key(kind, namespace, name)] if kind and name else []


def dependency_keys(obj: Obj) -> list[str]:
    return [ref_key(KUSTOMIZATIONS.kind, ns, name) for ns, name in dependency_refs(obj)]


def _revision(obj: Obj | None) -> object:
    artifact = ((obj or {}).get("status") or {}).get("artifact") or {}
    return artifact.get("revision"), artifact.get("digest"), artifact.get("url")


def artifact_changed(old: Obj | None, new: Obj) -> bool:
    """A source matters to its users when its artifact or readiness changes."""
    return old is None or _revision(old) != _revision(new) or is_ready(old) != is_ready(new)


def became_ready(old: Obj | None, new: Obj) -> bool:
    """A dependency matters to its dependents when it turns Ready or applies a revision."""
    if not is_ready(new):
        return False
    if old is None or not is_ready(old):
        return True
    before = (old.get("status") or {}).get("lastAppliedRevision")
    return before != (new.get("status") or {}).get("lastAppliedRevision")


def controller(manager: Manager, settings: Settings) -> tuple[Controller, KustomizationReconciler]:
    sources = manager.informer(GIT_REPOSITORIES, manager.watch_namespace)
    reconciler = KustomizationReconciler(manager, sources, settings)
    ctl = Controller(
        name="kustomization",
        resource=KUSTOMIZATIONS,
        reconciler=reconciler,
        watches=[
            Watch(GIT_REPOSITORIES, index=SOURCE_INDEX, predicate=artifact_changed),
            Watch(KUSTOMIZATIONS, index=DEPENDENCY_INDEX, predicate=became_ready),
        ],
        indexes={SOURCE_INDEX: source_keys, DEPENDENCY_INDEX: dependency_keys},
    )
    return ctl, reconciler
