"""Take over the fields that kubectl and client-side apply own, before server-side apply.

Server-side apply removes only fields its manager owned, so a label added with
`kubectl edit` would outlive Git. Renaming those managers to ours, as Flux does,
makes the next apply own them and drop what Git no longer sets.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from typing import Any

from eddy_api.kustomize import SSA_ANNOTATION, SSA_MERGE

from .objects import Obj, annotation, meta

APPLY = "Apply"
UPDATE = "Update"

# Annotation written by client-side `kubectl apply`: left behind, a later
# `kubectl apply` would diff against it and believe it still owns those fields.
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"

# (manager name prefix, operation): who counts as "a person with kubectl". The
# prefix catches kubectl-edit, kubectl-client-side-apply, kubectl-label, kubectl-patch …
# `before-first-apply` holds whatever existed before an object's first apply.
# Other controllers (an HPA, a mutating operator) are left alone on purpose.
PERSON_MANAGERS: tuple[tuple[str, str], ...] = (
    ("kubectl", APPLY),
    ("kubectl", UPDATE),
    ("before-first-apply", UPDATE),
)


def managers_to_take_over(
    controller: str, overrides: Iterable[str] = ()
) -> tuple[tuple[str, str], ...]:
    """kubectl's managers, this controller's own Update entries (from before it used
    server-side apply), and any extra names an operator asked to override."""
    extra = [(name, op) for name in overrides if name for op in (APPLY, UPDATE)]
    return (*PERSON_MANAGERS, (controller, UPDATE), *extra)


def merges_only(desired: Obj, live: Obj | None) -> bool:
    """`ssa: Merge` on the manifest or the live object: fields set by others stay."""
    return annotation(desired, SSA_ANNOTATION) == SSA_MERGE or (
        live is not None and annotation(live, SSA_ANNOTATION) == SSA_MERGE
    )


def union_fields(left: dict[str, Any], right: dict[str, Any]) -> dict[str, Any]:
    """The union of two `fieldsV1` tries (nested dicts whose leaves are `{}`)."""
    merged = copy.deepcopy(left)
    for key, value in right.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = union_fields(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _matches(entry: dict[str, Any], managers: Sequence[tuple[str, str]]) -> bool:
    if entry.get("subresource"):
        # Writes through /scale or /status belong to controllers, not to a manifest.
        return False
    name = str(entry.get("manager", ""))
    return any(name.startswith(p) and entry.get("operation") == op for p, op in managers)


def takeover_patch(
    live: Obj, controller: str, managers: Sequence[tuple[str, str]]
) -> list[dict[str, Any]]:
    """A JSON patch that hands the matching managers' fields to `controller`'s Apply
    entry (and drops kubectl's last-applied annotation); empty when nothing matches.

    The patch first tests the resourceVersion, so it never overwrites managedFields
    that changed since `live` was read.
    """
    m = meta(live)
    entries: list[dict[str, Any]] = [e for e in m.get("managedFields") or [] if isinstance(e, dict)]
    ours = next(
        (e for e in entries if e.get("manager") == controller and e.get("operation") == APPLY
         and not e.get("subresource")),
        None,
    )  # fmt: skip
    taken = [e for e in entries if e is not ours and _matches(e, managers)]
    taken_ids = {id(e) for e in taken}
    has_last_applied = LAST_APPLIED in (m.get("annotations") or {})
    if not taken and not has_last_applied:
        return []
    ops: list[dict[str, Any]] = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": m.get("resourceVersion")}
    ]
    if taken:
        merged = copy.deepcopy(ours) if ours is not None else {
            "manager": controller, "operation": APPLY,
            "apiVersion": taken[0].get("apiVersion") or live.get("apiVersion"),
            "fieldsType": "FieldsV1", "fieldsV1": {},
        }  # fmt: skip
        for entry in taken:
            merged["fieldsV1"] = union_fields(
                merged.get("fieldsV1") or {}, entry.get("fieldsV1") or {}
            )
            if entry.get("time", "") > merged.get("time", ""):
                merged["time"] = entry["time"]
        kept = [e for e in entries if e is not ours and id(e) not in taken_ids]
        ops.append({"op": "replace", "path": "/metadata/managedFields", "value": [*kept, merged]})
    if has_last_applied:
        key = LAST_APPLIED.replace("~", "~0").replace("/", "~1")
        ops.append({"op": "remove", "path": f"/metadata/annotations/{key}"})
    return ops
