"""The HelmRelease controller as the runtime runs it: reconciler, watches, indexes.

A new chart artifact or a dependency turning Ready must reach the HelmReleases that
care within a second, so HelmCharts and HelmReleases are watched through indexes.
"""

from __future__ import annotations

from eddy_api.common import is_ready
from eddy_runtime import Controller, Manager, Watch, ref_key

from .chart import chart_key
from .dependencies import dependency_refs
from .objects import HELM_CHARTS, HELM_RELEASES, Obj
from .reconcile import HelmReleaseReconciler, Settings

CHART_INDEX = "chart"
DEPENDENCY_INDEX = "dependsOn"


def chart_keys(obj: Obj) -> list[str]:
    namespace, name = chart_key(obj)
    return [ref_key(HELM_CHARTS.kind, namespace, name)] if name else []


def dependency_keys(obj: Obj) -> list[str]:
    return [ref_key(HELM_RELEASES.kind, ns, name) for ns, name in dependency_refs(obj)]


def _artifact(obj: Obj | None) -> object:
    artifact = ((obj or {}).get("status") or {}).get("artifact") or {}
    return artifact.get("revision"), artifact.get("digest"), artifact.get("url")


def artifact_changed(old: Obj | None, new: Obj) -> bool:
    """A chart matters to its releases when its artifact or readiness changes."""
    return old is None or _artifact(old) != _artifact(new) or is_ready(old) != is_ready(new)


def became_ready(old: Obj | None, new: Obj) -> bool:
    return is_ready(new) and (old is None or not is_ready(old))


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
        indexes={CHART_INDEX: chart_keys, DEPENDENCY_INDEX: dependency_keys},
    )
    return ctl, reconciler
