"""Pure rules of the kustomize-controller: inventory ids, ordering, kstatus health."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from eddy_kustomize.apply import ChangeSet
from eddy_kustomize.build import resolve_path
from eddy_kustomize.confine import check_confined
from eddy_kustomize.generate import BuildError, write_kustomization
from eddy_kustomize.objects import describe, object_id
from eddy_kustomize.ordering import in_apply_order, in_delete_order
from eddy_runtime import kstatus as health
from kustomize_controller import inventory


def obj(kind: str, name: str, namespace: str = "", api: str = "v1", **rest: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    return {"apiVersion": api, "kind": kind, "metadata": meta, **rest}


def test_inventory_ids_match_flux() -> None:
    assert object_id(obj("Deployment", "web", "apps", "apps/v1")) == "apps_web_apps_Deployment"
    assert object_id(obj("Namespace", "apps")) == "_apps__Namespace"
    changes = ChangeSet()
    changes.add(obj("Deployment", "web", "apps", "apps/v1"), "created")
    changes.add(obj("ConfigMap", "c", "apps"), "unchanged")
    entries = inventory.from_changes(changes.changes)
    assert inventory.to_status(entries) == {
        "entries": [
            {"id": "apps_c__ConfigMap", "v": "v1"},
            {"id": "apps_web_apps_Deployment", "v": "v1"},
        ]
    }
    parsed = inventory.entries_of({"inventory": inventory.to_status(entries)})
    assert parsed == entries
    assert parsed[1].api_version == "apps/v1"
    assert inventory.stale(parsed, parsed[:1]) == parsed[1:]
    assert describe(parsed[1].as_object()) == "Deployment/apps/web"
    planned = [obj("ConfigMap", "c", "apps"), obj("Deployment", "web", "apps", "apps/v1")]
    assert inventory.from_objects(planned) == entries


def test_ordering_puts_definitions_first() -> None:
    objects = [
        obj("Deployment", "d", "x", "apps/v1"),
        obj("Widget", "w", "x", "example.dev/v1"),
        obj("Namespace", "x"),
        obj("CustomResourceDefinition", "widgets.example.dev", api="apiextensions.k8s.io/v1"),
        obj("ServiceAccount", "sa", "x"),
    ]
    kinds = [o["kind"] for o in in_apply_order(objects)]
    assert kinds == ["CustomResourceDefinition", "Namespace", "ServiceAccount", "Deployment",
                     "Widget"]  # fmt: skip
    assert [o["kind"] for o in in_delete_order(objects)] == list(reversed(kinds))


def deploy_status(desired: int, **status: Any) -> dict[str, Any]:
    return obj(
        "Deployment", "d", "x", "apps/v1",
        spec={"replicas": desired}, status={"observedGeneration": 1, **status},
    ) | {"metadata": {"name": "d", "namespace": "x", "generation": 1}}  # fmt: skip


@pytest.mark.parametrize(
    ("subject", "state"),
    [
        (deploy_status(0, conditions=[{"type": "Available", "status": "True"}]), health.CURRENT),
        (deploy_status(2, replicas=2, updatedReplicas=2, readyReplicas=1, availableReplicas=1),
         health.IN_PROGRESS),
        (deploy_status(1, conditions=[{"type": "Progressing", "status": "False",
                                       "reason": "ProgressDeadlineExceeded"}]), health.FAILED),
        (obj("Deployment", "d", "x", "apps/v1", spec={"replicas": 1}), health.IN_PROGRESS),
        (obj("Job", "j", "x", "batch/v1",
             status={"conditions": [{"type": "Complete", "status": "True"}]}), health.CURRENT),
        (obj("Job", "j", "x", "batch/v1",
             status={"conditions": [{"type": "Failed", "status": "True"}]}), health.FAILED),
        (obj("Pod", "p", "x", status={"phase": "Pending"}), health.IN_PROGRESS),
        (obj("Pod", "p", "x", status={"phase": "Running",
                                       "conditions": [{"type": "Ready", "status": "True"}]}),
         health.CURRENT),
        (obj("PersistentVolumeClaim", "c", "x", status={"phase": "Bound"}), health.CURRENT),
        (obj("Service", "s", "x", spec={"type": "LoadBalancer"}), health.IN_PROGRESS),
        (obj("Service", "s", "x", spec={"type": "ClusterIP"}), health.CURRENT),
        (obj("CustomResourceDefinition", "c", api="apiextensions.k8s.io/v1",
             status={"conditions": [{"type": "Established", "status": "True"}]}), health.CURRENT),
        (obj("DaemonSet", "ds", "x", "apps/v1",
             status={"observedGeneration": 1, "desiredNumberScheduled": 2,
                     "currentNumberScheduled": 2, "updatedNumberScheduled": 2,
                     "numberAvailable": 1, "numberReady": 2}), health.IN_PROGRESS),
        (obj("StatefulSet", "s", "x", "apps/v1", spec={"replicas": 1},
             status={"observedGeneration": 1, "readyReplicas": 1, "currentReplicas": 1,
                     "updatedReplicas": 1, "currentRevision": "a", "updateRevision": "a"}),
         health.CURRENT),
        (obj("Kustomization", "k", "x", "kustomize.toolkit.fluxcd.io/v1",
             status={"conditions": [{"type": "Ready", "status": "False"}]}), health.IN_PROGRESS),
        (obj("HelmRelease", "h", "x", "helm.toolkit.fluxcd.io/v2",
             status={"conditions": [{"type": "Ready", "status": "False"},
                                    {"type": "Stalled", "status": "True"}]}), health.FAILED),
        (obj("ConfigMap", "c", "x"), health.CURRENT),
        (None, health.NOT_FOUND),
    ],
)  # fmt: skip
def test_kstatus_rules(subject: dict[str, Any] | None, state: str) -> None:
    assert health.assess(subject).state == state


def test_generation_not_observed_is_in_progress() -> None:
    ks = obj("Kustomization", "k", "x", "kustomize.toolkit.fluxcd.io/v1",
             status={"observedGeneration": 1,
                     "conditions": [{"type": "Ready", "status": "True"}]})  # fmt: skip
    ks["metadata"]["generation"] = 2
    assert health.assess(ks).state == health.IN_PROGRESS


def test_generated_kustomization_and_confinement(tmp_path: Path) -> None:
    root = tmp_path / "source"
    (root / "app" / "sub").mkdir(parents=True)
    (root / "app" / "a.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n")
    (root / "app" / "notes.txt").write_text("ignored")
    (root / "app" / "sub" / "kustomization.yaml").write_text("resources: []\n")
    path = write_kustomization(root / "app", root, {"targetNamespace": "t"})
    text = path.read_text()
    assert "a.yaml" in text and "sub" in text and "notes.txt" not in text
    assert "namespace: t" in text
    check_confined(root / "app", root)

    (root / "app" / "sub" / "kustomization.yaml").write_text("resources: [../../../x]\n")
    with pytest.raises(BuildError, match="outside the source artifact"):
        check_confined(root / "app", root)
    (root / "app" / "sub" / "kustomization.yaml").write_text(
        "resources: [github.com/org/repo//base]\n"
    )
    with pytest.raises(BuildError, match="remote resource"):
        check_confined(root / "app", root)
    with pytest.raises(BuildError, match="outside"):
        resolve_path(root, "../..")
    with pytest.raises(BuildError, match="does not exist"):
        resolve_path(root, "./missing")
    (root / "bad").mkdir()
    (root / "bad" / "b.yaml").write_text("just: [a, list\n")
    with pytest.raises(BuildError, match=r"bad/b\.yaml"):
        write_kustomization(root / "bad", root, {})
