"""The ConfigMaps and Secrets an object reads, as the indexes their watches use."""

from __future__ import annotations

import argparse

import pytest
from kubernetes_asyncio.client import ApiClient

import kustomize_controller.controller as kustomize_controller
from eddy_runtime.config_watches import (
    CONFIG_MAP_INDEX,
    SECRET_INDEX,
    config_indexes,
    config_watches,
    named_refs,
    secret_ref,
)
from eddy_runtime.flags import add_runtime_flags, options_from
from eddy_runtime.manager import Manager
from eddy_runtime.resources import CONFIG_MAPS, SECRETS, Obj

INDEXES = (CONFIG_MAP_INDEX, SECRET_INDEX)


def refs(obj: Obj) -> list[tuple[str, str]]:
    spec = obj["spec"]
    return [*named_refs(spec.get("valuesFrom")), *secret_ref(spec.get("kubeConfig"))]


def test_indexes_name_each_config_map_and_secret_once_in_the_objects_namespace() -> None:
    obj: Obj = {
        "metadata": {"name": "web", "namespace": "apps"},
        "spec": {
            "valuesFrom": [
                {"kind": "ConfigMap", "name": "base"},
                {"kind": "Secret", "name": "creds"},
                {"kind": "ConfigMap", "name": "base", "valuesKey": "other.yaml"},
                {"kind": "Bucket", "name": "odd"},
                {"kind": "ConfigMap"},
                "junk",
            ],
            "kubeConfig": {"secretRef": {"name": "remote"}},
        },
    }
    indexes = config_indexes(refs)
    assert list(indexes[CONFIG_MAP_INDEX](obj)) == ["ConfigMap/apps/base"]
    assert list(indexes[SECRET_INDEX](obj)) == ["Secret/apps/creds", "Secret/apps/remote"]
    assert list(indexes[SECRET_INDEX]({"metadata": {"namespace": "a"}, "spec": {}})) == []


def test_watches_select_by_label() -> None:
    watches = config_watches("reconcile.fluxcd.io/watch=Enabled")
    assert [(w.resource, w.index) for w in watches] == [
        (CONFIG_MAPS, CONFIG_MAP_INDEX),
        (SECRETS, SECRET_INDEX),
    ]
    assert {w.label_selector for w in watches} == {"reconcile.fluxcd.io/watch=Enabled"}
    assert named_refs(None) == [] and secret_ref({"secretRef": {}}) == []


@pytest.mark.parametrize("gates", [[], ["--feature-gates=DisableConfigWatchers=true"]])
async def test_the_kustomize_controller_watches_labelled_configs_unless_the_gate_says_not(
    gates: list[str],
) -> None:
    parser = argparse.ArgumentParser()
    add_runtime_flags(parser)
    kustomize_controller.add_flags(parser)
    args = parser.parse_args(["--watch-configs-label-selector=team=web", *gates])
    async with ApiClient() as api:
        manager = Manager("test", options_from(args), api, handle_signals=False)
        (ctl,) = kustomize_controller.controllers(manager, kustomize_controller.settings_from(args))
    watched = [(w.resource, w.label_selector) for w in ctl.watches if w.index in INDEXES]
    assert watched == ([] if gates else [(CONFIG_MAPS, "team=web"), (SECRETS, "team=web")])
