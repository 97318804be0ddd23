"""Summarize a source reconcile into Flux's conditions, one way for all three kinds.

Ready, Reconciling, Stalled, ArtifactInStorage and the failure conditions
(FetchFailed, StorageOperationFailed, ...) are what `flux get sources` and
`kubectl wait` read, so every kind writes them identically.
"""

from __future__ import annotations

from typing import Any

from eddy_api.common import (
    ARTIFACT_IN_STORAGE,
    BUILD_FAILED,
    FETCH_FAILED,
    INCLUDE_UNAVAILABLE,
    STORAGE_OPERATION_FAILED,
    Reason,
)
from eddy_runtime import conditions
from eddy_runtime.reconciler import StepError

from .failures import SourceError

FAILURE_CONDITIONS = (FETCH_FAILED, STORAGE_OPERATION_FAILED, INCLUDE_UNAVAILABLE, BUILD_FAILED)


def failure_condition(error: StepError) -> str:
    """The negative condition a failure sets; FetchFailed when the error names none."""
    return error.condition if isinstance(error, SourceError) else FETCH_FAILED


def mark_succeeded(status: dict[str, Any], message: str, generation: int | None) -> None:
    for kind in FAILURE_CONDITIONS:
        conditions.delete(status, kind)
    if status.get("artifact"):
        conditions.set_condition(
            status, ARTIFACT_IN_STORAGE, conditions.TRUE, Reason.SUCCEEDED, message, generation
        )
    else:
        conditions.delete(status, ARTIFACT_IN_STORAGE)
    conditions.mark_ready(status, message, Reason.SUCCEEDED, generation)


def mark_failed(status: dict[str, Any], error: StepError, generation: int | None) -> None:
    """Ready=False with the error's reason; the last artifact stays advertised."""
    condition = failure_condition(error)
    for kind in FAILURE_CONDITIONS:
        if kind != condition:
            conditions.delete(status, kind)
    if condition:
        conditions.set_condition(
            status, condition, conditions.TRUE, error.reason, error.message, generation
        )
    conditions.mark_failed(
        status, error.reason, error.message, generation, retrying=not error.stalled
    )
    if not status.get("artifact"):
        conditions.delete(status, ARTIFACT_IN_STORAGE)
