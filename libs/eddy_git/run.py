"""Run blocking Git work off the event loop, in a pool of its own, within a deadline.

Git work waits on the network far more than it computes: a pool of its own keeps
slow servers from starving the default executor used for archives and files.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from .auth import GitAuth
from .errors import git_failed, timed_out
from .transport import Remote, redact_url

T = TypeVar("T")

_POOL = ThreadPoolExecutor(max_workers=16, thread_name_prefix="eddy-git")


async def in_thread(seconds: float | None, what: str, work: Callable[[], T]) -> T:
    """`work()` in a Git worker thread; GitOperationFailed when `seconds` run out first.

    `what` says what was being done, for that message ("fetching <url>").
    """
    job = asyncio.get_running_loop().run_in_executor(_POOL, work)
    try:
        return await asyncio.wait_for(job, seconds)
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
