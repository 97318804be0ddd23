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


def source_error(err: StepError) -> SourceError:
    """The SourceError behind a failed step; anything unexpected becomes a retryable one."""
    cause = err.__cause__
    if isinstance(cause, SourceError):
        return cause
    if isinstance(err, SourceError):  # pragma: no cover - run_steps always wraps
        return err
    return SourceError(err.reason, f"{err.step} failed: {err.message}", condition=FETCH_FAILED)


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


def mark_failed(status: dict[str, Any], error: SourceError, generation: int | None) -> None:
    """Ready=False with the error's reason; the last artifact stays advertised."""
    for kind in FAILURE_CONDITIONS:
        if kind != error.condition:
            conditions.delete(status, kind)
    if error.condition:
        conditions.set_condition(
            status, error.condition, conditions.TRUE, error.reason, error.message, generation
        )
    conditions.mark_failed(
        status, error.reason, error.message, generation, retrying=not error.stalled
    )
    if not status.get("artifact"):
        conditions.delete(status, ARTIFACT_IN_STORAGE)
