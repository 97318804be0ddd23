"""The step error of the source kinds: the runtime's, plus the condition it sets.

Every failure ends in status (Ready=False with this reason), an Event and a log
line; `stalled` marks the ones that cannot succeed until someone edits the spec.
"""

from __future__ import annotations

from eddy_api.common import Reason
from eddy_runtime.reconciler import StepError


class SourceError(StepError):
    """A step failed for a reason a person can act on, shown in one failure condition."""

    def __init__(
        self, reason: str, message: str, *, stalled: bool = False, condition: str = ""
    ) -> None:
        super().__init__(message, reason=reason, stalled=stalled)
        # The negative-polarity condition this failure sets (FetchFailed, ...).
        self.condition = condition


def fetch_failed(reason: str, message: str, *, stalled: bool = False) -> SourceError:
    return SourceError(reason, message, stalled=stalled, condition="FetchFailed")


def storage_failed(message: str) -> SourceError:
    return SourceError(Reason.STORAGE_OPERATION_FAILED, message, condition="StorageOperationFailed")


def invalid_spec(message: str, reason: str = "InvalidConfiguration") -> SourceError:
    # Retrying an invalid spec cannot help: only an edit can.
    return SourceError(reason, message, stalled=True, condition="FetchFailed")
