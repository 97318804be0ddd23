"""The HelmRelease controller as the runtime runs it: reconciler, watches, indexes.

A new chart artifact or a dependency turning Ready must reach the HelmReleases that
care within a second, so HelmCharts and HelmReleases are watched through indexes.
"""

from __future__ import annotations

from eddy_runtime import Controller, Manager, Watch, ref_key
from eddy_runtime.dependencies import became_ready, dependency_keys
from eddy_runtime.predicates import artifact_changed

from .chart import chart_key
from .objects import HELM_CHARTS, HELM_RELEASES, Obj
from .reconcile import HelmReleaseReconciler, Settings

CHART_INDEX = "chart"
DEPENDENCY_INDEX = "dependsOn"


def chart_keys(obj: Obj) -> list[str]:
    namespace, name = chart_key(obj)
    return [ref_key(HELM_CHARTS.kind, namespace, name)] if name else []


def controller(manager: Manager, settings: Settings) -> tuple[Controller, HelmReleaseReconciler]:
    charts = manager.informer(HELM_CHARTS, manager.watch_namespace)
    reconciler = HelmReleaseReconciler(manager, charts, settings)
    ctl = Controller(
        name="helmrelease",
        resource=HELM_RELEASES,
        reconciler=reconciler,
        watches=[
            Watch(HELM_CHARTS, index=CHART_INDEX, predicate=artifact_changed),
            Watch(HELM_RELEASES, index=DEPENDENCY_INDEX, predicate=became_ready),
        ],
        indexes={CHART_INDEX: chart_keys, DEPENDENCY_INDEX: dependency_keys(HELM_RELEASES)},
    )
    return ctl, reconciler
