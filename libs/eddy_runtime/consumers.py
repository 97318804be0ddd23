"""The controller of a kind that applies sources' artifacts and may depend on its own kind.

Kustomizations and HelmReleases are wired alike: a new artifact of the source an
object names, a dependency of it turning Ready (or changing at all, for one judged
by a readyExpr), or a change of a labelled ConfigMap or Secret it reads reaches it
through an index within a second; this builds that `Controller` once for both.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Self

from .config_watches import ConfigRefs, config_indexes, config_watches
from .dependencies import became_ready, changed, dependency_keys, expr_dependency_keys
from .flags import (
    ADDITIVE_CEL_DEPENDENCY_CHECK,
    DISABLE_CONFIG_WATCHERS,
    Options,
    feature_gates_from,
    kubeconfig_policy_from,
    options_from,
)
from .informer import IndexFunc
from .kubeconfig import KubeconfigPolicy
from .manager import Controller, Predicate, Watch
from .predicates import artifact_changed
from .reconciler import Reconciler
from .resources import Obj, Resource

SOURCE_INDEX = "source"
DEPENDENCY_INDEX = "dependsOn"
EXPR_DEPENDENCY_INDEX = "dependsOnReadyExpr"


@dataclass(frozen=True)
class ConsumerSettings:
    """What the flags set alike for each such kind; a controller's Settings adds its own."""

    requeue_dependency: float = 30.0
    no_cross_namespace_refs: bool = False
    default_service_account: str = ""
    workdir: str | None = None
    # What a kubeconfig from `spec.kubeConfig.secretRef` may ask for.
    kubeconfig: KubeconfigPolicy = field(default_factory=KubeconfigPolicy)
    # Flux's feature gates: a true readyExpr must also pass the Ready rule; no watches of
    # labelled ConfigMaps and Secrets.
    additive_cel_dependency_check: bool = False
    disable_config_watchers: bool = False

    @classmethod
    def from_flags(cls, args: argparse.Namespace) -> Self:
        """These settings from the parsed flags (--workdir included); the rest default."""
        options = options_from(args)
        gates = feature_gates_from(args)
        return cls(
            requeue_dependency=options.requeue_dependency,
            no_cross_namespace_refs=options.no_cross_namespace_refs,
            default_service_account=options.default_service_account,
            workdir=args.workdir,
            kubeconfig=kubeconfig_policy_from(args),
            additive_cel_dependency_check=gates[ADDITIVE_CEL_DEPENDENCY_CHECK],
            disable_config_watchers=gates[DISABLE_CONFIG_WATCHERS],
        )

    def configs_label_selector(self, options: Options) -> str | None:
        """The ConfigMaps and Secrets to watch (--watch-configs-label-selector), or None
        to watch none (--feature-gates=DisableConfigWatchers=true)."""
        return None if self.disable_config_watchers else options.watch_configs_label_selector


def source_consumer(
    name: str,
    resource: Resource,
    reconciler: Reconciler,
    sources: Iterable[Resource],
    source_keys: IndexFunc,
    config_refs: ConfigRefs,
    *,
    configs_label_selector: str | None,
    dependency_ready: Predicate = became_ready,
    trace_parent: Callable[[Obj], str | None] | None = None,
) -> Controller:
    """`resource`'s controller, watching `sources` (found by `source_keys`, the
    `ref_key`s of what an object uses), its own kind through spec.dependsOn, and the
    ConfigMaps and Secrets `config_refs` names that match `configs_label_selector`
    (None watches none: --feature-gates=DisableConfigWatchers).

    `dependency_ready` says when a dependency's change concerns its dependents.
    """
    configs = [] if configs_label_selector is None else config_watches(configs_label_selector)
    return Controller(
        name=name,
        resource=resource,
        reconciler=reconciler,
        watches=[
            *(Watch(r, index=SOURCE_INDEX, predicate=artifact_changed) for r in sources),
            Watch(resource, index=DEPENDENCY_INDEX, predicate=dependency_ready),
            Watch(resource, index=EXPR_DEPENDENCY_INDEX, predicate=changed),
            *configs,
        ],
        indexes={
            SOURCE_INDEX: source_keys,
            DEPENDENCY_INDEX: dependency_keys(resource),
            EXPR_DEPENDENCY_INDEX: expr_dependency_keys(resource),
            **config_indexes(config_refs),
        },
        trace_parent=trace_parent,
    )
