"""The reconciler contract: `async def reconcile(obj) -> Result`, and named steps.

A controller implements one method; a reconcile reads top to bottom as a short list
of named steps, each traced and timed, stopping at the first that fails or requeues.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from . import tracing

log = logging.getLogger("eddy.reconciler")

Obj = dict[str, Any]


@dataclass(frozen=True)
class Result:
    """What a reconcile asks for next.

    requeue_after: reconcile again after this many seconds (jitter is added);
    None means wait for the next change. Raise an exception to retry with backoff.
    backoff: the pass failed and its status is written; retry after the work queue's
    exponential backoff for this object, but never later than `requeue_after`.
    """

    requeue_after: float | None = None
    backoff: bool = False

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


class StepError(Exception):
    """A step failed; carries the step name and a reason string for status and Events."""

    def __init__(self, step: str, reason: str, message: str) -> None:
        super().__init__(f"{step}: {message}")
        self.step = step
        self.reason = reason
        self.message = message


StepFunc = Callable[[], Awaitable[Result | None]]


@dataclass(frozen=True)
class Step:
    name: str
    run: StepFunc
    failure_reason: str = "ReconciliationFailed"


async def run_steps(steps: Sequence[Step]) -> Result | None:
    """Run steps in order; stop at the first that returns a Result or raises.

    An exception from a step is re-raised as StepError naming the step, so the
    caller can write one status patch that says which step failed and why.
    """
    for step in steps:
        started = time.perf_counter()
        with tracing.span(f"step {step.name}", step=step.name):
            try:
                outcome = await step.run()
            except StepError:
                raise
            except Exception as err:
                raise StepError(
                    step.name, step.failure_reason, str(err) or type(err).__name__
                ) from err
            finally:
                log.debug(
                    "step %s took %.3fs", step.name, time.perf_counter() - started,
                    extra={"step": step.name},
                )  # fmt: skip
        if outcome is not None:
            return outcome
    return None
