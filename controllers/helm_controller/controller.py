"""The HelmRelease controller as the runtime runs it: flags, settings, reconciler, watches.

A new chart artifact, a dependency turning Ready or a change of a labelled ConfigMap or
Secret in valuesFrom must reach the HelmReleases that care within a second, so
HelmCharts, HelmReleases, ConfigMaps and Secrets are watched through indexes.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from dataclasses import replace

from eddy_helm.helm import SERVER_NAME
from eddy_runtime import Controller, Manager, ref_key, tracing
from eddy_runtime.config_watches import named_refs, secret_ref
from eddy_runtime.consumers import source_consumer
from eddy_runtime.flags import (
    add_feature_gates_flag,
    add_kubeconfig_flags,
)
from eddy_runtime.informer import Informer

from .chart import chart_key
from .objects import CHART_SOURCES, HELM_RELEASES, Obj
from .reconcile import NAME, HelmReleaseReconciler, Settings

__all__ = ["NAME", "Settings", "add_flags", "controllers", "settings_from"]


def add_flags(parser: argparse.ArgumentParser) -> None:
    add_kubeconfig_flags(parser)
    add_feature_gates_flag(parser)
    parser.add_argument(
        "--helm-path",
        default="helm",
        metavar="PATH",
        help="The helm binary that installs, upgrades, tests and uninstalls releases. "
        "(default helm on PATH)",
    )
    parser.add_argument(
        "--helm-server-path",
        default=SERVER_NAME,
        metavar="PATH",
        help="Helm's library in one long-running process, used instead of a helm process per "
        "action when found; empty to always run --helm-path. (default eddy-helm-server on PATH)",
    )
    parser.add_argument(
        "--workdir",
        default=None,
        metavar="DIR",
        help="Where charts, values and kubeconfigs are written. (default the system temporary dir)",
    )


def settings_from(args: argparse.Namespace) -> Settings:
    return replace(
        Settings.from_flags(args), helm=args.helm_path, helm_server=args.helm_server_path
    )


def config_refs(obj: Obj) -> list[tuple[str, str]]:
    """The ConfigMaps and Secrets a release reads: valuesFrom and its kubeconfig's Secret."""
    spec = obj.get("spec") or {}
    return [*named_refs(spec.get("valuesFrom")), *secret_ref(spec.get("kubeConfig"))]


def chart_keys(obj: Obj) -> list[str]:
    kind, namespace, name = chart_key(obj)
    return [ref_key(kind, namespace, name)] if name else []


def trace_parent_from(caches: Mapping[str, Informer]) -> Callable[[Obj], str | None]:
    """A release of a chart revision not yet released continues the chart's trace.

    A HelmChart's revision is the chart version, done once status.history's latest
    release has it; a chart straight from an artifact (OCIRepository) is done once
    its digest was attempted.
    """

    def trace_parent(obj: Obj) -> str | None:
        kind, namespace, name = chart_key(obj)
        cache = caches.get(kind)
        source = cache.get(name, namespace) if cache and name else None
        artifact = ((source or {}).get("status") or {}).get("artifact")
        status = obj.get("status") or {}
        if kind == "HelmChart":
            latest = (status.get("history") or [{}])[0]
            return tracing.parent_of(artifact, latest.get("chartVersion"))
        digest = str((artifact or {}).get("revision", "")).rpartition("@")[2]
        if digest == status.get("lastAttemptedRevisionDigest"):
            return None
        return tracing.parent_of(artifact, None)

    return trace_parent


def controllers(manager: Manager, settings: Settings) -> list[Controller]:
    caches = {kind: manager.informer(resource) for kind, resource in CHART_SOURCES.items()}
    reconciler = HelmReleaseReconciler(manager, caches, settings)
    return [
        source_consumer(
            "helmrelease",
            HELM_RELEASES,
            reconciler,
            CHART_SOURCES.values(),
            chart_keys,
            config_refs,
            configs_label_selector=settings.configs_label_selector(manager.options),
            trace_parent=trace_parent_from(caches),
        )
    ]
