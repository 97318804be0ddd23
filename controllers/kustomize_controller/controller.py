"""The Kustomization controller as the runtime runs it: flags, settings, reconciler, watches.

A new source revision, a dependency turning Ready (or changing at all, for a
dependency judged by a readyExpr) or a change of a labelled ConfigMap or Secret it
reads must reach the Kustomizations that care within a second, so all are watched
and mapped through indexes.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from dataclasses import replace

from eddy_kustomize.objects import KUSTOMIZATIONS, SOURCES, Obj
from eddy_runtime import Controller, Manager, ref_key, tracing
from eddy_runtime.config_watches import named_refs, secret_ref
from eddy_runtime.consumers import source_consumer
from eddy_runtime.flags import (
    add_feature_gates_flag,
    add_kubeconfig_flags,
    parse_bool,
)
from eddy_runtime.informer import Informer

from .dependencies import became_ready
from .reconcile import NAME, KustomizationReconciler, Settings
from .source import source_ref

__all__ = ["NAME", "Settings", "add_flags", "controllers", "settings_from"]


def add_flags(parser: argparse.ArgumentParser) -> None:
    add_kubeconfig_flags(parser)
    add_feature_gates_flag(parser)
    parser.add_argument(
        "--no-remote-bases",
        type=parse_bool, nargs="?", const=True, default=False, metavar="BOOL",
        help="Disallow remote bases usage in Kustomize overlays. eddy never fetches "
        "remote bases, so this is always in effect; accepted for Flux's arguments.",
    )  # fmt: skip
    parser.add_argument(
        "--kustomize-path",
        default="kustomize",
        metavar="PATH",
        help="The kustomize binary used to build manifests. (default kustomize on PATH)",
    )
    parser.add_argument(
        "--sops-path",
        default="sops",
        metavar="PATH",
        help="The sops binary that decrypts SOPS-encrypted manifests (age and OpenPGP "
        "keys). (default sops on PATH)",
    )
    parser.add_argument(
        "--workdir",
        default=None,
        metavar="DIR",
        help="Where artifacts are extracted and built. (default the system temporary dir)",
    )
    parser.add_argument(
        "--override-manager",
        action="append",
        default=[],
        metavar="NAME",
        help="A field manager whose fields are taken over on apply, like kubectl's; "
        "may be repeated.",
    )


def settings_from(args: argparse.Namespace) -> Settings:
    return replace(
        Settings.from_flags(args),
        kustomize=args.kustomize_path,
        sops=args.sops_path,
        override_managers=tuple(args.override_manager),
    )


def source_keys(obj: Obj) -> list[str]:
    kind, namespace, name = source_ref(obj)
    return [ref_key(kind, namespace, name)] if kind and name else []


def config_refs(obj: Obj) -> list[tuple[str, str]]:
    """The ConfigMaps and Secrets a Kustomization reads: postBuild.substituteFrom, the
    decryption keys and its kubeconfig's Secret."""
    spec = obj.get("spec") or {}
    return [
        *named_refs((spec.get("postBuild") or {}).get("substituteFrom")),
        *secret_ref(spec.get("decryption")),
        *secret_ref(spec.get("kubeConfig")),
    ]


def trace_parent_from(caches: Mapping[str, Informer]) -> Callable[[Obj], str | None]:
    """Passes working toward a source revision not yet applied continue its trace.

    Dependency waits and retries of that revision join it; once it is applied,
    periodic passes over it are traces of their own.
    """

    def trace_parent(obj: Obj) -> str | None:
        kind, namespace, name = source_ref(obj)
        cache = caches.get(kind)
        source = cache.get(name, namespace) if cache and name else None
        artifact = ((source or {}).get("status") or {}).get("artifact")
        return tracing.parent_of(artifact, (obj.get("status") or {}).get("lastAppliedRevision"))

    return trace_parent


def controllers(manager: Manager, settings: Settings) -> list[Controller]:
    caches = {kind: manager.informer(resource) for kind, resource in SOURCES.items()}
    reconciler = KustomizationReconciler(manager, caches, settings)
    return [
        source_consumer(
            "kustomization",
            KUSTOMIZATIONS,
            reconciler,
            SOURCES.values(),
            source_keys,
            config_refs,
            configs_label_selector=settings.configs_label_selector(manager.options),
            dependency_ready=became_ready,
            trace_parent=trace_parent_from(caches),
        )
    ]
