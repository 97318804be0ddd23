"""Which managedFields entries the kustomize-controller takes over before applying."""

from __future__ import annotations

from typing import Any

from eddy_kustomize.takeover import (
    LAST_APPLIED,
    managers_to_take_over,
    merges_only,
    takeover_patch,
    union_fields,
)

MANAGERS = managers_to_take_over("kustomize-controller", ["my-ci"])


def entry(manager: str, operation: str, fields: dict[str, Any], **rest: Any) -> dict[str, Any]:
    return {
        "manager": manager, "operation": operation, "apiVersion": "v1",
        "fieldsType": "FieldsV1", "fieldsV1": fields, "time": "2024-01-01T00:00:00Z", **rest,
    }  # fmt: skip


def live(*entries: dict[str, Any], annotations: dict[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "c", "resourceVersion": "42", "managedFields": list(entries)}
    if annotations:
        meta["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta}


OURS = entry("kustomize-controller", "Apply", {"f:data": {"f:a": {}}})


def test_kubectl_managers_fold_into_our_apply_entry() -> None:
    edit = entry("kubectl-edit", "Update", {"f:metadata": {"f:labels": {"f:x": {}}}})
    csa = entry("kubectl-client-side-apply", "Update", {"f:data": {"f:b": {}}})
    patch = takeover_patch(live(OURS, edit, csa), "kustomize-controller", MANAGERS)
    assert patch[0] == {"op": "test", "path": "/metadata/resourceVersion", "value": "42"}
    assert patch[1]["op"] == "replace" and patch[1]["path"] == "/metadata/managedFields"
    (merged,) = patch[1]["value"]
    assert (merged["manager"], merged["operation"]) == ("kustomize-controller", "Apply")
    assert merged["fieldsV1"] == {
        "f:data": {"f:a": {}, "f:b": {}},
        "f:metadata": {"f:labels": {"f:x": {}}},
    }


def test_other_controllers_and_subresources_are_left_alone() -> None:
    hpa = entry("kube-controller-manager", "Update", {"f:spec": {"f:replicas": {}}},
                subresource="scale")  # fmt: skip
    operator = entry("some-operator", "Update", {"f:metadata": {"f:annotations": {}}})
    kubectl_scale = entry("kubectl", "Update", {"f:spec": {"f:replicas": {}}}, subresource="scale")
    assert takeover_patch(live(OURS, hpa, operator, kubectl_scale), "kustomize-controller",
                          MANAGERS) == []  # fmt: skip


def test_our_own_update_entries_and_override_managers_are_taken_over() -> None:
    old = entry("kustomize-controller", "Update", {"f:data": {"f:old": {}}})
    ci = entry("my-ci", "Apply", {"f:data": {"f:ci": {}}})
    patch = takeover_patch(live(old, ci), "kustomize-controller", MANAGERS)
    (merged,) = patch[1]["value"]
    assert merged["operation"] == "Apply"
    assert merged["fieldsV1"] == {"f:data": {"f:old": {}, "f:ci": {}}}


def test_last_applied_annotation_is_removed() -> None:
    patch = takeover_patch(live(OURS, annotations={LAST_APPLIED: "{}"}), "kustomize-controller",
                           MANAGERS)  # fmt: skip
    assert patch[-1] == {
        "op": "remove",
        "path": "/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration",
    }


def test_merge_annotation_on_manifest_or_live_object() -> None:
    merge = {"metadata": {"annotations": {"kustomize.toolkit.fluxcd.io/ssa": "Merge"}}}
    plain: dict[str, Any] = {"metadata": {}}
    assert merges_only(merge, plain) and merges_only(plain, merge)
    assert not merges_only(plain, plain) and not merges_only(plain, None)


def test_union_of_field_sets() -> None:
    left: dict[str, Any] = {
        "f:spec": {"f:containers": {'k:{"name":"app"}': {".": {}, "f:image": {}}}}
    }
    right: dict[str, Any] = {"f:spec": {"f:containers": {'k:{"name":"app"}': {"f:env": {}}}}}
    assert union_fields(left, right) == {
        "f:spec": {"f:containers": {'k:{"name":"app"}': {".": {}, "f:image": {}, "f:env": {}}}}
    }
