"""Git for the GitRepository reconciler: credentials, refs, fetch and checkout.

The Git client itself is eddy_git; this adds spec.ref resolution and reports its
failures as SourceErrors, which end in the FetchFailed condition.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from dulwich.objects import ObjectID, Tag

import eddy_git
from eddy_api.common import Reason
from eddy_git import GitAuth, redact_url
from eddy_runtime.resources import ResourceClient

from ..failures import SourceError, fetch_failed
from ..secrets import read_secret
from .refs import ResolvedRef, describe, pinned_revision, resolve

__all__ = [
    "GitAuth",
    "ResolvedRef",
    "auth_for",
    "checkout",
    "describe",
    "list_refs",
    "pinned_revision",
    "redact_url",
    "resolve",
]


@contextmanager
def _as_source_errors() -> Iterator[None]:
    try:
        yield
    except eddy_git.GitError as err:
        raise SourceError(
            err.reason, err.message, stalled=err.stalled, condition="FetchFailed"
        ) from err


async def auth_for(client: ResourceClient, namespace: str, url: str, secret: str | None) -> GitAuth:
    """Credentials for `url` from the named Secret, or none when no Secret is named."""
    with _as_source_errors():
        if not secret:
            return eddy_git.auth_without_secret(url)
    data = await read_secret(client, namespace, secret)
    with _as_source_errors():
        return eddy_git.auth_from_data(url, data, f"{namespace}/{secret}")


def _checkout(
    url: str,
    auth: GitAuth,
    timeout: float,
    choose: ResolvedRef | Callable[[Mapping[str, str]], ResolvedRef],
    dest: Path,
    sparse: Sequence[str],
    submodules: bool,
) -> tuple[ResolvedRef, eddy_git.CommitDetails]:
    chosen: list[ResolvedRef] = []

    def wants(refs: Mapping[str, str]) -> Sequence[str]:
        chosen.append(choose(refs) if callable(choose) else choose)
        return chosen[0].wants

    # The depth must be known before the refs are: every target resolved during
    # the fetch is shallow (pinned commits are always resolved beforehand).
    depth = 1 if callable(choose) else choose.depth
    with eddy_git.scratch_repo(dest.parent) as repo, eddy_git.Remote(url, auth, timeout) as remote:
        # One deadline for the fetch and the checkout.
        remote.fetch(repo, wants, depth)
        target = chosen[0]
        if target.pinned and ObjectID(target.commit.encode()) not in repo.object_store:
            raise fetch_failed(
                Reason.GIT_OPERATION_FAILED,
                f"commit {target.commit} is not in the fetched history; check "
                "spec.ref.commit (and spec.ref.branch, which must contain it)",
            )
        # Without an ls-remote first, an annotated tag is known by its tag object
        # only; the commit it names is read from what was fetched.
        try:
            tag = repo.object_store[ObjectID(target.wants[0].encode())] if target.wants else None
        except KeyError:
            tag = None
        commit = eddy_git.peel(repo, target.commit)
        target = target.peeled(commit.id.decode())
        eddy_git.write_tree(repo, target.commit, dest, sparse, remote.check)
        if submodules:
            eddy_git.write_submodules(
                repo, commit, url, auth, timeout, dest, sparse, scratch=dest.parent
            )
        details = eddy_git.details_of(commit)
        if isinstance(tag, Tag):
            details = replace(
                details, tag=tag.name.decode(errors="replace"), tag_signature=tag.signature,
                tag_signed=tag.raw_without_sig() if tag.signature else b"",
            )  # fmt: skip
        return target, details


async def list_refs(url: str, auth: GitAuth, timeout: float) -> Mapping[str, str]:
    """The remote's refs (ls-remote), in a worker thread, within `timeout`."""
    with _as_source_errors():
        return await eddy_git.list_refs(url, auth, timeout)


async def checkout(
    url: str,
    auth: GitAuth,
    timeout: float,
    choose: ResolvedRef | Callable[[Mapping[str, str]], ResolvedRef],
    dest: Path,
    sparse: Sequence[str] = (),
    submodules: bool = False,
) -> tuple[ResolvedRef, eddy_git.CommitDetails]:
    """Fetch a commit and write its files into dest (with `submodules`, theirs too);
    returns what was checked out and what the commit says (author, date, message).

    `choose` is a ResolvedRef already resolved (after list_refs), or a function that
    resolves one from the refs the fetch itself advertises, saving a round trip
    when there is no artifact to compare with anyway.
    """
    with _as_source_errors():
        return await eddy_git.in_thread(
            timeout,
            f"fetching {redact_url(url)}",
            lambda: _checkout(url, auth, timeout, choose, dest, sparse, submodules),
        )
