"""The pure rules of HelmRelease drift detection: selectors, ignore rules, the patch
that puts an object back, and the summary line Flux's users know."""

from __future__ import annotations

import pytest

from eddy_helm.manifest import inventory, release_objects
from eddy_runtime.resources import Resource
from eddy_runtime.selectors import SelectorError, parse_selector
from helm_controller.drift import (
    Drift,
    DriftError,
    IgnoreRule,
    _comparable,
    ignore_rules,
    json_patch,
)

DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "apps", "labels": {"tier": "front"}},
    "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "c", "image": "a"}]}}},
}


@pytest.mark.parametrize(
    ("selector", "labels", "matches"),
    [
        ("", {}, True),
        ("app=web", {"app": "web"}, True),
        ("app==web,tier", {"app": "web"}, False),
        ("app!=web", {}, True),
        ("!legacy", {"legacy": "x"}, False),
        ("tier in (front, back)", {"tier": "back"}, True),
        ("tier notin (front,back),app", {"tier": "mid", "app": "a"}, True),
    ],
)
def test_label_selectors_match_as_the_api_server_does(
    selector: str, labels: dict[str, str], matches: bool
) -> None:
    assert parse_selector(selector)(labels) is matches


def test_a_selector_that_does_not_parse_is_an_error() -> None:
    with pytest.raises(SelectorError, match="cannot parse"):
        parse_selector("tier in front")


def test_ignore_rules_select_by_kind_and_labels() -> None:
    rule = IgnoreRule(("/spec/replicas",), {"kind": "Deployment", "labelSelector": "tier=front"})
    assert rule.selects(DEPLOYMENT)
    assert not IgnoreRule(("/x",), {"kind": "StatefulSet"}).selects(DEPLOYMENT)
    assert not IgnoreRule(("/x",), {"group": "batch"}).selects(DEPLOYMENT)


def test_ignore_rules_are_checked() -> None:
    spec = {"driftDetection": {"ignore": [{"paths": ["spec/replicas"]}]}}
    with pytest.raises(DriftError, match=r"ignore\[0\]\.paths: 'spec/replicas' is not a JSON"):
        ignore_rules(spec)
    spec = {"driftDetection": {"ignore": [{"paths": ["/a"], "target": {"labelSelector": "a in"}}]}}
    with pytest.raises(DriftError, match=r"ignore\[0\]\.target\.labelSelector"):
        ignore_rules(spec)


def test_the_patch_puts_changed_fields_back_and_ignored_paths_are_left_out() -> None:
    live = {**DEPLOYMENT, "spec": {**DEPLOYMENT["spec"], "replicas": 5, "paused": True}}
    want = {**DEPLOYMENT, "metadata": {**DEPLOYMENT["metadata"], "annotations": {"a/b": "1"}}}
    patch = json_patch(live, want)
    assert {"op": "replace", "path": "/spec/replicas", "value": 2} in patch
    assert {"op": "remove", "path": "/spec/paused"} in patch
    assert {"op": "add", "path": "/metadata/annotations", "value": {"a/b": "1"}} in patch
    ignored = ["/spec/replicas", "/spec/paused"]
    left = json_patch(_comparable(live, ignored), _comparable(DEPLOYMENT, ignored))
    assert left == []


def test_the_summary_counts_as_flux_does() -> None:
    resource = Resource("apps", "v1", "deployments", "Deployment")
    drift = Drift(DEPLOYMENT, resource, patch=[{"op": "replace", "path": "/spec/replicas"}])
    assert drift.summary() == "Deployment/apps/web changed (0 additions, 1 changes, 0 removals)"
    assert Drift(DEPLOYMENT, resource, removed=True).summary() == "Deployment/apps/web removed"


def test_the_inventory_lists_each_object_once() -> None:
    objects = release_objects(
        "---\n# Source: a\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: n}\n"
        "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: n}\n---\n"
    )
    assert inventory(objects) == {
        "entries": [{"id": "n_c__ConfigMap", "v": "v1"}, {"id": "n_web_apps_Deployment", "v": "v1"}]
    }
