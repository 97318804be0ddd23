"""Run blocking Git work off the event loop, each operation in a thread of its own.

Git work waits on the network far more than it computes. A shared pool would let
a tenant's slow servers hold every thread and stall everyone's fetches; a thread
per operation cannot be starved, and the deadline of each operation (see bounds)
cuts its connections, so the threads of slow servers end with their deadline.
The number of threads is bounded by the reconciles running at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading
from collections.abc import Callable, Mapping
from typing import TypeVar

from .auth import GitAuth
from .errors import git_failed, timed_out
from .transport import Remote, redact_url

T = TypeVar("T")


def _settle(future: asyncio.Future[T], result: T | None, error: BaseException | None) -> None:
    if future.done():  # the caller stopped waiting
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)  # type: ignore[arg-type]


async def in_thread(seconds: float | None, what: str, work: Callable[[], T]) -> T:
    """`work()` in a new Git thread; GitOperationFailed when `seconds` run out first.

    `what` says what was being done, for that message ("fetching <url>").
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()
    context = contextvars.copy_context()

    def run() -> None:
        result: T | None = None
        error: BaseException | None = None
        try:
            result = context.run(work)
        except BaseException as err:
            error = err
        with contextlib.suppress(RuntimeError):  # the loop has closed meanwhile
            loop.call_soon_threadsafe(_settle, future, result, error)

    threading.Thread(target=run, name="eddy-git", daemon=True).start()
    try:
        return await asyncio.wait_for(future, seconds)
    except TimeoutError as err:
        assert seconds is not None
        raise git_failed(f"{what} {timed_out(seconds)}") from err


def _list_refs(url: str, auth: GitAuth, timeout: float) -> dict[str, str]:
    with Remote(url, auth, timeout) as remote:
        return remote.refs()


async def list_refs(url: str, auth: GitAuth, timeout: float) -> Mapping[str, str]:
    """The remote's refs (ls-remote), in a worker thread, within `timeout`."""
    return await in_thread(
        timeout, f"listing refs of {redact_url(url)}", lambda: _list_refs(url, auth, timeout)
    )
