"""The three image reconcilers as the runtime runs them: watches and indexes.

A new scan reaches its policies, and a new latest image its automations, within a
second through watches, not at their next interval.
"""

from __future__ import annotations

from dataclasses import dataclass

from eddy_runtime import Controller, Manager, Watch, ref_key
from eddy_runtime.conditions import is_ready
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

REPOSITORY_INDEX = "imageRepository"
SOURCE_INDEX = "source"
AUTOMATIONS = "imageupdateautomation"


@dataclass(frozen=True)
class Settings:
    requeue_dependency: float = 30.0
    no_cross_namespace_refs: bool = False


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


@dataclass
class Reconcilers:
    repositories: ImageRepositoryReconciler
    policies: ImagePolicyReconciler
    automations: ImageUpdateAutomationReconciler

    async def close(self) -> None:
        await self.repositories.close()


def controllers(manager: Manager, settings: Settings) -> tuple[list[Controller], Reconcilers]:
    store = TagStore()
    selector = manager.options.watch_label_selector
    repositories = manager.informer(IMAGE_REPOSITORIES, manager.watch_namespace, selector)
    policies = manager.informer(IMAGE_POLICIES, manager.watch_namespace, selector)
    sources = manager.informer(GIT_REPOSITORIES, manager.watch_namespace)
    built = Reconcilers(
        ImageRepositoryReconciler(manager, store),
        ImagePolicyReconciler(
            manager,
            repositories,
            store,
            settings.requeue_dependency,
            settings.no_cross_namespace_refs,
        ),
        ImageUpdateAutomationReconciler(
            manager,
            sources,
            policies,
            settings.no_cross_namespace_refs,
            settings.requeue_dependency,
        ),
    )

    def automations_near(policy: Obj) -> list[str]:
        # Automations select policies by label within their namespace, so a policy
        # change concerns every automation there; each filters by its selector.
        namespace, _ = name_of(policy)
        cache = manager.cache(AUTOMATIONS)
        return [object_key(a) for a in cache.objects() if name_of(a)[0] == namespace]

    found = [
        Controller(
            name="imagerepository", resource=IMAGE_REPOSITORIES, reconciler=built.repositories
        ),
        Controller(
            name="imagepolicy",
            resource=IMAGE_POLICIES,
            reconciler=built.policies,
            watches=[
                Watch(
                    IMAGE_REPOSITORIES,
                    index=REPOSITORY_INDEX,
                    predicate=scan_changed,
                    label_selector=selector,
                )
            ],
            indexes={REPOSITORY_INDEX: repository_keys},
        ),
        Controller(
            name=AUTOMATIONS,
            resource=IMAGE_UPDATE_AUTOMATIONS,
            reconciler=built.automations,
            watches=[
                Watch(
                    IMAGE_POLICIES,
                    map=automations_near,
                    predicate=latest_changed,
                    label_selector=selector,
                ),
                Watch(GIT_REPOSITORIES, index=SOURCE_INDEX, predicate=spec_changed),
            ],
            indexes={SOURCE_INDEX: source_keys},
        ),
    ]
    return found, built
