"""dependsOn as every controller checks it: present, Ready for its spec, same namespace
when cross-namespace references are off, and whatever the controller adds."""

from __future__ import annotations

from typing import Any

import pytest

from eddy_runtime.dependencies import (
    DependencyNotReady,
    InvalidReadyExpr,
    became_ready,
    changed,
    check_dependencies,
    dependency_keys,
    dependency_refs,
    expr_dependency_keys,
)
from eddy_runtime.predicates import artifact_changed
from eddy_runtime.resources import Obj, Resource

THINGS = Resource("example.eddy.dev", "v1", "things", "Thing")


def thing(name: str, namespace: str = "apps", ready: bool | None = None, **spec: Any) -> Obj:
    obj: Obj = {"metadata": {"name": name, "namespace": namespace, "generation": 2}, "spec": spec}
    if ready is not None:
        obj["status"] = {
            "observedGeneration": 2,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        }
    return obj


def lookup_in(*objs: Obj) -> Any:
    found = {(o["metadata"]["namespace"], o["metadata"]["name"]): o for o in objs}

    async def lookup(namespace: str, name: str) -> Obj | None:
        return found.get((namespace, name))

    return lookup


def test_refs_default_to_the_objects_namespace_and_skip_nameless_entries() -> None:
    obj = thing("web", dependsOn=[{"name": "db"}, {"name": "crds", "namespace": "infra"}, {}])
    assert dependency_refs(obj) == [("apps", "db"), ("infra", "crds")]
    assert dependency_keys(THINGS)(obj) == ["Thing/apps/db", "Thing/infra/crds"]


async def test_every_dependency_must_exist_and_be_ready() -> None:
    obj = thing("web", dependsOn=[{"name": "db"}])
    with pytest.raises(DependencyNotReady, match="'apps/db' not found"):
        await check_dependencies(obj, lookup_in(), False)
    with pytest.raises(DependencyNotReady, match="'apps/db' is not ready"):
        await check_dependencies(obj, lookup_in(thing("db", ready=False)), False)
    stale = thing("db", ready=True)
    stale["metadata"]["generation"] = 3
    with pytest.raises(DependencyNotReady, match="is not ready"):
        await check_dependencies(obj, lookup_in(stale), False)
    await check_dependencies(obj, lookup_in(thing("db", ready=True)), False)


async def test_cross_namespace_dependencies_can_be_refused() -> None:
    obj = thing("web", dependsOn=[{"name": "crds", "namespace": "infra"}])
    ready = lookup_in(thing("crds", "infra", ready=True))
    await check_dependencies(obj, ready, False)
    with pytest.raises(DependencyNotReady, match="cross-namespace references are disabled"):
        await check_dependencies(obj, ready, True)


async def test_a_controller_can_hold_back_a_ready_dependency() -> None:
    obj = thing("web", dependsOn=[{"name": "db"}])
    ready = lookup_in(thing("db", ready=True))
    with pytest.raises(DependencyNotReady, match="'apps/db' is not ready: not yet"):
        await check_dependencies(obj, ready, False, lambda _: "not yet")
    await check_dependencies(obj, ready, False, lambda _: "")


VERSION_MATCHES = "dep.metadata.labels['v'] == self.metadata.labels['v']"


def labelled(obj: Obj, version: str) -> Obj:
    obj["metadata"]["labels"] = {"v": version}
    return obj


async def test_a_ready_expr_replaces_the_ready_rule() -> None:
    obj = labelled(thing("web", dependsOn=[{"name": "db", "readyExpr": VERSION_MATCHES}]), "2")
    # Not Ready, not even reconciled: the expression alone decides.
    await check_dependencies(obj, lookup_in(labelled(thing("db"), "2")), False)
    with pytest.raises(DependencyNotReady, match=r"according to readyExpr .*labels"):
        await check_dependencies(obj, lookup_in(labelled(thing("db", ready=True), "1")), False)
    # Nor does the controller's own rule apply.
    held = lookup_in(labelled(thing("db", ready=True), "2"))
    await check_dependencies(obj, held, False, lambda dep: "revision not applied")
    # A field that is not there yet is a wait, not an invalid expression.
    with pytest.raises(DependencyNotReady, match="readyExpr"):
        await check_dependencies(obj, lookup_in(thing("db")), False)
    with pytest.raises(DependencyNotReady, match="not found"):
        await check_dependencies(obj, lookup_in(), False)


async def test_with_the_additive_gate_a_ready_expr_must_hold_and_the_rule_too() -> None:
    obj = labelled(thing("web", dependsOn=[{"name": "db", "readyExpr": VERSION_MATCHES}]), "2")
    with pytest.raises(DependencyNotReady, match=r"'apps/db' is not ready$"):
        await check_dependencies(obj, lookup_in(labelled(thing("db"), "2")), False, additive=True)
    with pytest.raises(DependencyNotReady, match="according to readyExpr"):
        found = lookup_in(labelled(thing("db", ready=True), "1"))
        await check_dependencies(obj, found, False, additive=True)
    found = lookup_in(labelled(thing("db", ready=True), "2"))
    with pytest.raises(DependencyNotReady, match="revision not applied"):
        await check_dependencies(obj, found, False, lambda dep: "revision not applied", True)
    await check_dependencies(obj, found, False, additive=True)


@pytest.mark.parametrize(
    ("expr", "why"),
    [
        ("dep.metadata.(", "invalid CEL expression"),
        ("dep.generation == deps.generation", "undeclared reference to 'deps'"),
        ("dep.metadata.name", "must return a boolean"),
    ],
)
async def test_a_ready_expr_that_cannot_work_is_invalid_and_named(expr: str, why: str) -> None:
    obj = thing("web", dependsOn=[{"name": "other"}, {"name": "db", "readyExpr": expr}])
    found = lookup_in(thing("other", ready=True), thing("db", ready=True))
    with pytest.raises(InvalidReadyExpr, match="readyExpr") as raised:
        await check_dependencies(obj, found, False)
    assert why in str(raised.value) and expr in str(raised.value)


def test_only_dependencies_with_a_ready_expr_are_watched_for_any_change() -> None:
    obj = thing("web", dependsOn=[{"name": "db"}, {"name": "cache", "readyExpr": "true"}])
    assert expr_dependency_keys(THINGS)(obj) == ["Thing/apps/cache"]
    before = thing("cache")
    before["metadata"]["resourceVersion"] = "1"
    after = labelled(thing("cache"), "2")
    after["metadata"]["resourceVersion"] = "2"
    assert changed(None, after) and changed(before, after) and not changed(after, after)


def test_became_ready_only_on_the_turn() -> None:
    assert became_ready(None, thing("db", ready=True))
    assert became_ready(thing("db", ready=False), thing("db", ready=True))
    assert not became_ready(thing("db", ready=True), thing("db", ready=True))
    assert not became_ready(None, thing("db", ready=False))


def test_artifact_changed_on_a_new_revision_or_readiness() -> None:
    def source(revision: str, ready: bool) -> Obj:
        obj = thing("src", ready=ready)
        obj["status"]["artifact"] = {"revision": revision, "digest": "d", "url": "u"}
        return obj

    assert artifact_changed(None, source("a", True))
    assert artifact_changed(source("a", True), source("b", True))
    assert artifact_changed(source("a", True), source("a", False))
    assert not artifact_changed(source("a", True), source("a", True))
