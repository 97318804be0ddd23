"""The three image reconcilers as the runtime runs them: settings, watches and indexes.

A new scan reaches its policies, and a new latest image its automations, within a
second through watches, not at their next interval.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from eddy_runtime import Controller, Manager, Watch, ref_key
from eddy_runtime.conditions import is_ready
from eddy_runtime.flags import options_from
from eddy_runtime.informer import object_key

from .automation import ImageUpdateAutomationReconciler, source_ref
from .imagepolicy import ImagePolicyReconciler, repository_ref
from .objects import (
    GIT_REPOSITORIES,
    IMAGE_POLICIES,
    IMAGE_REPOSITORIES,
    IMAGE_UPDATE_AUTOMATIONS,
    Obj,
    name_of,
    status_of,
)
from .repository import ImageRepositoryReconciler, TagStore
from .traces import Handoffs

NAME = "image-automation-controller"
REPOSITORY_INDEX = "imageRepository"
SOURCE_INDEX = "source"


@dataclass(frozen=True)
class Settings:
    requeue_dependency: float = 30.0
    no_cross_namespace_refs: bool = False


def settings_from(args: argparse.Namespace) -> Settings:
    options = options_from(args)
    return Settings(options.requeue_dependency, options.no_cross_namespace_refs)


def repository_keys(policy: Obj) -> list[str]:
    namespace, name = repository_ref(policy)
    return [ref_key(IMAGE_REPOSITORIES.kind, namespace, name)] if name else []


def source_keys(automation: Obj) -> list[str]:
    kind, namespace, name = source_ref(automation)
    return [ref_key(kind, namespace, name)] if name else []


def scan_changed(old: Obj | None, new: Obj) -> bool:
    """Policies care about a repository when its tags or its readiness change."""
    if old is None:
        return True
    revision = (status_of(old).get("lastScanResult") or {}).get("revision")
    return revision != (status_of(new).get("lastScanResult") or {}).get("revision") or is_ready(
        old
    ) != is_ready(new)


def latest_changed(old: Obj | None, new: Obj) -> bool:
    return old is None or status_of(old).get("latestRef") != status_of(new).get("latestRef")


def spec_changed(old: Obj | None, new: Obj) -> bool:
    return old is None or (old.get("metadata") or {}).get("generation") != (
        new.get("metadata") or {}
    ).get("generation")


def controllers(manager: Manager, settings: Settings) -> list[Controller]:
    store, handoffs = TagStore(), Handoffs()
    repositories = ImageRepositoryReconciler(manager, store, handoffs)
    policies = ImagePolicyReconciler(
        manager,
        manager.informer(IMAGE_REPOSITORIES),
        store,
        handoffs,
        settings.requeue_dependency,
        settings.no_cross_namespace_refs,
    )
    automations = ImageUpdateAutomationReconciler(
        manager,
        manager.informer(GIT_REPOSITORIES),
        manager.informer(IMAGE_POLICIES),
        handoffs,
        settings.no_cross_namespace_refs,
        settings.requeue_dependency,
    )

    def automations_near(policy: Obj) -> list[str]:
        # Automations select policies by label within their namespace, so a policy
        # change concerns every automation there; each filters by its selector.
        namespace, _ = name_of(policy)
        cache = manager.informer(IMAGE_UPDATE_AUTOMATIONS)
        return [object_key(a) for a in cache.objects() if name_of(a)[0] == namespace]

    return [
        Controller(name="imagerepository", resource=IMAGE_REPOSITORIES, reconciler=repositories),
        Controller(
            name="imagepolicy",
            resource=IMAGE_POLICIES,
            reconciler=policies,
            watches=[Watch(IMAGE_REPOSITORIES, index=REPOSITORY_INDEX, predicate=scan_changed)],
            indexes={REPOSITORY_INDEX: repository_keys},
            trace_parent=policies.trace_parent,
        ),
        Controller(
            name="imageupdateautomation",
            resource=IMAGE_UPDATE_AUTOMATIONS,
            reconciler=automations,
            watches=[
                Watch(IMAGE_POLICIES, map=automations_near, predicate=latest_changed),
                Watch(GIT_REPOSITORIES, index=SOURCE_INDEX, predicate=spec_changed),
            ],
            indexes={SOURCE_INDEX: source_keys},
            trace_parent=automations.trace_parent,
        ),
    ]
