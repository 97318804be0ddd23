"""Condition helpers on a plain `status` dict, with Flux/kstatus semantics.

Every controller summarizes its steps as Ready/Reconciling/Stalled the same way, so
`kubectl wait --for=condition=Ready` and the flux CLI read eddy as they read Flux.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

READY = "Ready"
RECONCILING = "Reconciling"
STALLED = "Stalled"

TRUE = "True"
FALSE = "False"
UNKNOWN = "Unknown"

# Reasons the runtime itself writes; kind-specific reasons belong to each controller.
PROGRESSING = "Progressing"
PROGRESSING_WITH_RETRY = "ProgressingWithRetry"
RECONCILIATION_SUCCEEDED = "ReconciliationSucceeded"
RECONCILIATION_FAILED = "ReconciliationFailed"
SUCCEEDED = "Succeeded"
FAILED = "Failed"
DEPENDENCY_NOT_READY = "DependencyNotReady"
INVALID_CEL_EXPRESSION = "InvalidCELExpression"
INVALID_CONFIGURATION = "InvalidConfiguration"

Condition = dict[str, Any]


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def conditions(status: dict[str, Any]) -> list[Condition]:
    found = status.get("conditions")
    return found if isinstance(found, list) else []


def get(status: dict[str, Any], type_: str) -> Condition | None:
    for cond in conditions(status):
        if isinstance(cond, dict) and cond.get("type") == type_:
            return cond
    return None


def is_true(status: dict[str, Any], type_: str) -> bool:
    cond = get(status, type_)
    return cond is not None and cond.get("status") == TRUE


def is_ready(obj: dict[str, Any]) -> bool:
    """True when the object's Ready condition is True and describes its current spec."""
    status = obj.get("status") or {}
    cond = get(status, READY)
    if cond is None or cond.get("status") != TRUE:
        return False
    generation = obj.get("metadata", {}).get("generation")
    return generation is None or status.get("observedGeneration") == generation


def set_condition(
    status: dict[str, Any],
    type_: str,
    cond_status: str,
    reason: str,
    message: str,
    generation: int | None = None,
) -> None:
    """Set one condition; lastTransitionTime moves only when its status flips."""
    existing = get(status, type_)
    new: Condition = {
        "type": type_,
        "status": cond_status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": now_rfc3339(),
    }
    if generation is not None:
        new["observedGeneration"] = generation
    if existing is not None and existing.get("status") == cond_status:
        new["lastTransitionTime"] = existing.get("lastTransitionTime", new["lastTransitionTime"])
    listed = [c for c in conditions(status) if not (isinstance(c, dict) and c.get("type") == type_)]
    listed.append(new)
    # Ready first, then the kstatus abnormal-true conditions, then the rest by type:
    # a stable order keeps "did status change" comparisons honest.
    order = {READY: 0, RECONCILING: 1, STALLED: 2}
    listed.sort(key=lambda c: (order.get(str(c.get("type")), 3), str(c.get("type"))))
    status["conditions"] = listed


def delete(status: dict[str, Any], type_: str) -> None:
    kept = [c for c in conditions(status) if not (isinstance(c, dict) and c.get("type") == type_)]
    if kept:
        status["conditions"] = kept
    else:
        status.pop("conditions", None)


def mark_reconciling(
    status: dict[str, Any], reason: str, message: str, generation: int | None = None
) -> None:
    """Work is in progress: Reconciling=True, Ready=Unknown unless already decided False."""
    set_condition(status, RECONCILING, TRUE, reason, message, generation)
    ready = get(status, READY)
    if ready is None or ready.get("status") == TRUE:
        set_condition(status, READY, UNKNOWN, reason, message, generation)


def mark_ready(
    status: dict[str, Any],
    message: str,
    reason: str = SUCCEEDED,
    generation: int | None = None,
) -> None:
    """Success: Ready=True, and Reconciling/Stalled go away as kstatus expects."""
    set_condition(status, READY, TRUE, reason, message, generation)
    delete(status, RECONCILING)
    delete(status, STALLED)


def mark_failed(
    status: dict[str, Any],
    reason: str,
    message: str,
    generation: int | None = None,
    retrying: bool = True,
) -> None:
    """A failure that will be retried keeps Reconciling=True; one that will not is Stalled."""
    set_condition(status, READY, FALSE, reason, message, generation)
    if retrying:
        set_condition(status, RECONCILING, TRUE, PROGRESSING_WITH_RETRY, message, generation)
        delete(status, STALLED)
    else:
        set_condition(status, STALLED, TRUE, reason, message, generation)
        delete(status, RECONCILING)
