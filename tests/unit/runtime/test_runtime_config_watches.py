"""The ConfigMaps and Secrets an object reads, as the indexes their watches use."""

from __future__ import annotations

from eddy_runtime.config_watches import (
    CONFIG_MAP_INDEX,
    SECRET_INDEX,
    config_indexes,
    config_watches,
    named_refs,
    secret_ref,
)
from eddy_runtime.resources import CONFIG_MAPS, SECRETS, Obj


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
