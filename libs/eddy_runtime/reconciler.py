"""The reconciler contract: `async def reconcile(obj) -> Result`, named steps, one error type.

A controller implements one method; a reconcile reads top to bottom as a short list
of named steps (an `Attempt`), each traced and timed, stopping at the first that
fails or requeues, then one summary.
A step fails by raising `StepError` (reason, message, retry or stall); anything else
it raises (but the API server's own refusals) is a bug, reported as an internal error
with the traceback in the log only.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from . import tracing
from .resources import ApiError

log = logging.getLogger("eddy.reconciler")

Obj = dict[str, Any]

# The reason of a failed step when neither the error nor the step names one.
RECONCILIATION_FAILED = "ReconciliationFailed"


@dataclass(frozen=True)
class Result:
    """What a reconcile asks for next.

    requeue_after: reconcile again after this many seconds (jitter is added);
    None means wait for the next change. Raise an exception to retry with backoff.
    backoff: the pass failed and its status is written; retry after the work queue's
    exponential backoff for this object, but never later than `requeue_after`.
    failed: the pass failed (its status says why) and `requeue_after` schedules the
    retry; metrics count it as an error, as controller-runtime counts a returned error.
    """

    requeue_after: float | None = None
    backoff: bool = False
    failed: bool = False

    @staticmethod
    def done() -> Result:
        return Result()

    @staticmethod
    def after(seconds: float) -> Result:
        return Result(requeue_after=seconds)

    @staticmethod
    def retry(at_most: float | None = None) -> Result:
        """A failure already reported in status: back off, as an exception would."""
        return Result(requeue_after=at_most, backoff=True)


class Reconciler(Protocol):
    async def reconcile(self, obj: Obj) -> Result: ...


@runtime_checkable
class Closable(Protocol):
    """A reconciler that holds something (sessions, a directory) the Manager must release."""

    async def close(self) -> None: ...


class StepError(Exception):
    """A step failed for a reason a person can act on.

    reason: the Flux reason for status and Events; empty means the failing step's own.
    message: what happened and how to fix it; never a secret, never a traceback.
    stalled: only an edit of the spec can fix it (Stalled, no retry); else retried.
    retry_in: a fixed delay the spec asks for instead of the work queue's backoff.
    step: the name of the step that failed, filled in by `run_steps`.
    Controllers subclass it for their own failures (a build, a health check ...).
    """

    def __init__(
        self,
        message: str,
        *,
        reason: str = "",
        stalled: bool = False,
        retry_in: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason
        self.stalled = stalled
        self.retry_in = retry_in
        self.step = ""


# Reason of a refused field that eddy accepts for Flux's sake but does not act on yet.
UNSUPPORTED_FIELD = "UnsupportedField"


def refuse_unsupported(paths: Sequence[str], kind: str, reason: str = UNSUPPORTED_FIELD) -> None:
    """Stall, naming them, when the spec sets fields eddy does not act on yet.

    `paths` are what `eddy_api.schema.unhonoured_in_use` found (less what the
    controller does honour); nothing is done, so nothing applied before is touched.
    """
    if not paths:
        return
    raise StepError(
        f"{', '.join(paths)}: not supported by eddy yet; remove "
        f"{'it' if len(paths) == 1 else 'them'} from the {kind} "
        "(see the fields not yet honoured in eddy's API documentation)",
        reason=reason,
        stalled=True,
    )


def internal_error(step: str, reason: str = RECONCILIATION_FAILED) -> StepError:
    """What status and Events say about an unexpected exception: nothing it carried."""
    err = StepError(f"internal error in step {step}; see the controller log", reason=reason)
    err.step = step
    return err


StepFunc = Callable[[], Awaitable[Result | None]]


@dataclass(frozen=True)
class Step:
    name: str
    run: StepFunc
    failure_reason: str = RECONCILIATION_FAILED


async def run_steps(steps: Sequence[Step]) -> Result | None:
    """Run steps in order; stop at the first that returns a Result or raises.

    A StepError passes through, with the step's name and (when it has none) the
    step's failure reason filled in; so does the API server's refusal (forbidden,
    invalid ...), whose words are written for people. Any other exception is a bug:
    its traceback goes to the log and it becomes the generic internal error, because
    its text may carry a URL or a value that must not reach status or Events.
    """
    for step in steps:
        started = time.perf_counter()
        with tracing.span(f"step {step.name}", step=step.name) as current:
            try:
                outcome = await step.run()
            except StepError as err:
                err.step = err.step or step.name
                err.reason = err.reason or step.failure_reason
                tracing.ended(current, tracing.ERROR, err.message, err.reason)
                raise
            except ApiError as err:
                refused = StepError(str(err), reason=step.failure_reason)
                refused.step = step.name
                tracing.ended(current, tracing.ERROR, refused.message, refused.reason)
                raise refused from err
            except Exception as err:
                log.error(
                    "internal error in step %s", step.name, exc_info=err,
                    extra={"step": step.name},
                )  # fmt: skip
                internal = internal_error(step.name, step.failure_reason)
                tracing.ended(current, tracing.ERROR, internal.message, internal.reason)
                raise internal from err
            else:
                tracing.ended(current, tracing.SUCCESS if outcome is None else tracing.WAITING)
            finally:
                log.debug(
                    "step %s took %.3fs", step.name, time.perf_counter() - started,
                    extra={"step": step.name},
                )  # fmt: skip
        if outcome is not None:
            return outcome
    return None


class Attempt:
    """One reconcile of one object: its named steps, then one summary of how they went.

    A controller's attempt lists `steps()` and says how a pass ends: `failed` (a step
    raised StepError), `requeued` (a step returned a Result: it waits for something),
    `succeeded`. `cleanup` runs in every case. Status is written in those three.
    """

    def steps(self) -> Sequence[Step]:
        raise NotImplementedError

    async def failed(self, err: StepError) -> Result:
        raise NotImplementedError

    async def requeued(self, result: Result) -> Result:
        return result

    async def succeeded(self) -> Result:
        raise NotImplementedError

    async def cleanup(self) -> None:
        return None

    async def run(self) -> Result:
        try:
            waiting = await run_steps(self.steps())
        except StepError as err:
            return dataclasses.replace(await self.failed(err), failed=True)
        finally:
            await self.cleanup()
        if waiting is not None:
            return await self.requeued(waiting)
        return await self.succeeded()
