"""Git for the GitRepository reconciler: credentials, refs, fetch and checkout.

Everything blocking runs in worker threads through the async functions here.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from dulwich.object_store import DiskObjectStore
from dulwich.objects import ObjectID, Tag
from dulwich.repo import MemoryRepo

from eddy_api.common import Reason

from ..failures import fetch_failed
from .auth import GitAuth, auth_for
from .refs import Target, describe, pinned_revision, resolve
from .transport import Remote, redact_url, timed_out, write_tree

__all__ = [
    "GitAuth",
    "Target",
    "auth_for",
    "checkout",
    "describe",
    "list_refs",
    "pinned_revision",
    "redact_url",
    "resolve",
]


# Git work waits on the network far more than it computes: a pool of its own keeps
# slow servers from starving the default executor used for archives and files.
_POOL = ThreadPoolExecutor(max_workers=16, thread_name_prefix="eddy-git")


class _ScratchRepo(MemoryRepo):
    """A throwaway repository for one checkout: refs in memory, objects on disk.

    A full bare repository costs a dozen directories and several fsync'd files
    (config, description, shallow) that are deleted a moment later; at hundreds of
    repositories that bookkeeping outweighed the fetch itself. The fetched pack
    still goes to disk, so a large repository does not have to fit in memory.
    """

    def __init__(self, objects: Path) -> None:
        super().__init__()
        self.object_store = DiskObjectStore.init(objects)


def _list_refs(url: str, auth: GitAuth, timeout: float) -> dict[str, str]:
    with Remote(url, auth, timeout) as remote:
        return remote.refs()


def _checkout(
    url: str,
    auth: GitAuth,
    timeout: float,
    choose: Target | Callable[[Mapping[str, str]], Target],
    dest: Path,
    sparse: Sequence[str],
) -> Target:
    scratch = Path(tempfile.mkdtemp(prefix="eddy-git-", dir=dest.parent))
    try:
        repo = _ScratchRepo(scratch / "objects")
        try:
            with Remote(url, auth, timeout) as remote:
                target = remote.fetch(repo, choose)
            commit = ObjectID(target.commit.encode())
            if target.pinned and commit not in repo.object_store:
                raise fetch_failed(
                    Reason.GIT_OPERATION_FAILED,
                    f"commit {target.commit} is not in the fetched history; check "
                    "spec.ref.commit (and spec.ref.branch, which must contain it)",
                )
            # Without an ls-remote first, an annotated tag is known by its tag object
            # only; the commit it names is read from what was fetched.
            head = repo.object_store[commit]
            while isinstance(head, Tag):
                head = repo.object_store[head.object[1]]
            target = target.peeled(head.id.decode())
            write_tree(repo, target.commit, dest, sparse)
            return target
        finally:
            repo.close()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


async def _bounded(seconds: float, what: str, coro: object) -> object:
    try:
        return await asyncio.wait_for(coro, seconds)  # type: ignore[arg-type]
    except TimeoutError as err:
        raise fetch_failed(Reason.GIT_OPERATION_FAILED, f"{what} {timed_out(seconds)}") from err


async def list_refs(url: str, auth: GitAuth, timeout: float) -> Mapping[str, str]:
    """The remote's refs (ls-remote), in a worker thread, within `timeout`."""
    job = asyncio.get_running_loop().run_in_executor(_POOL, _list_refs, url, auth, timeout)
    found = await _bounded(timeout, f"listing refs of {redact_url(url)}", job)
    assert isinstance(found, dict)
    return found


async def checkout(
    url: str,
    auth: GitAuth,
    timeout: float,
    choose: Target | Callable[[Mapping[str, str]], Target],
    dest: Path,
    sparse: Sequence[str] = (),
) -> Target:
    """Fetch a commit and write its files into dest; returns what was checked out.

    `choose` is a Target already resolved (after list_refs), or a function that
    resolves one from the refs the fetch itself advertises, saving a round trip
    when there is no artifact to compare with anyway.
    """
    loop = asyncio.get_running_loop()
    job = loop.run_in_executor(_POOL, _checkout, url, auth, timeout, choose, dest, sparse)
    target = await _bounded(timeout, f"fetching {redact_url(url)}", job)
    assert isinstance(target, Target)
    return target
