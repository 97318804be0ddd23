"""Git for the GitRepository reconciler: credentials, refs, fetch and checkout.

Everything blocking runs in worker threads through the async functions here.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from dulwich.objects import ObjectID
from dulwich.repo import Repo

from eddy_api.common import Reason

from ..failures import fetch_failed
from .auth import GitAuth, auth_for
from .refs import Target, describe, pinned_revision, resolve
from .transport import Remote, write_tree

__all__ = [
    "GitAuth",
    "Target",
    "auth_for",
    "checkout",
    "describe",
    "list_refs",
    "pinned_revision",
    "resolve",
]


def _list_refs(url: str, auth: GitAuth, timeout: float) -> dict[str, str]:
    with Remote(url, auth, timeout) as remote:
        return remote.refs()


def _checkout(
    url: str, auth: GitAuth, timeout: float, target: Target, dest: Path, sparse: Sequence[str]
) -> int:
    scratch = Path(tempfile.mkdtemp(prefix="eddy-git-", dir=dest.parent))
    try:
        repo = Repo.init_bare(str(scratch))
        try:
            with Remote(url, auth, timeout) as remote:
                remote.fetch(repo, target.wants, target.depth)
            if target.pinned and ObjectID(target.commit.encode()) not in repo.object_store:
                raise fetch_failed(
                    Reason.GIT_OPERATION_FAILED,
                    f"commit {target.commit} is not in the fetched history; check "
                    "spec.ref.commit (and spec.ref.branch, which must contain it)",
                )
            return write_tree(repo, target.commit, dest, sparse)
        finally:
            repo.close()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


async def _bounded(seconds: float, what: str, coro: object) -> object:
    try:
        return await asyncio.wait_for(coro, seconds)  # type: ignore[arg-type]
    except TimeoutError as err:
        raise fetch_failed(
            Reason.GIT_OPERATION_FAILED,
            f"{what} timed out after {seconds:g}s; raise spec.timeout or check the server",
        ) from err


async def list_refs(url: str, auth: GitAuth, timeout: float) -> Mapping[str, str]:
    """The remote's refs (ls-remote), in a worker thread, within `timeout`."""
    found = await _bounded(
        timeout, f"listing refs of {url}", asyncio.to_thread(_list_refs, url, auth, timeout)
    )
    assert isinstance(found, dict)
    return found


async def checkout(
    url: str,
    auth: GitAuth,
    timeout: float,
    target: Target,
    dest: Path,
    sparse: Sequence[str] = (),
) -> int:
    """Fetch target's commit and write its files into dest; returns the file count."""
    count = await _bounded(
        timeout,
        f"fetching {url}",
        asyncio.to_thread(_checkout, url, auth, timeout, target, dest, sparse),
    )
    assert isinstance(count, int)
    return count
