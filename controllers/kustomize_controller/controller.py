"""The Kustomization controller as the runtime runs it: reconciler, watches, indexes.

A new source revision or a dependency turning Ready must reach the Kustomizations
that care within a second, so both are watched and mapped through indexes.
"""

from __future__ import annotations

from eddy_runtime import Controller, Manager, Watch, ref_key
from eddy_runtime.dependencies import dependency_keys
from eddy_runtime.predicates import artifact_changed

from .dependencies import became_ready
from .objects import GIT_REPOSITORIES, KUSTOMIZATIONS, Obj
from .reconcile import KustomizationReconciler, Settings
from .source import source_ref

SOURCE_INDEX = "source"
DEPENDENCY_INDEX = "dependsOn"


def source_keys(obj: Obj) -> list[str]:
    kind, namespace, name = source_ref(obj)
    return [ref_key(kind, namespace, name)] if kind and name else []


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
        indexes={SOURCE_INDEX: source_keys, DEPENDENCY_INDEX: dependency_keys(KUSTOMIZATIONS)},
    )
    return ctl, reconciler
