"""Check out a branch, rewrite its YAML by the setter markers, commit and push.

Blocking by nature (sockets, packs), so `update` runs in a Git worker thread. The
Git client is eddy_git; what is here is the automation: which commit to build on,
what to change in it, and one retry when the branch moves during the push.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import eddy_git
from eddy_api.common import Reason
from eddy_git import Author, Diverged, GitAuth, GitError, redact_url

from .setters import Change, Image, is_yaml, update_text


@dataclass(frozen=True)
class Checkout:
    """What to start from: a branch or a tag (with push.branch) of the source."""

    branch: str = ""
    tag: str = ""

    def describe(self) -> str:
        return f"tag '{self.tag}'" if self.tag else f"branch '{self.branch}'"


@dataclass(frozen=True)
class Update:
    """One update: where to fetch from, what to change, how to commit and where to push."""

    url: str
    auth: GitAuth
    checkout: Checkout
    push_ref: str  # full ref name on the remote, e.g. refs/heads/main
    path: str
    images: dict[tuple[str, str], Image]
    namespace: str
    author: Author
    message: Callable[[list[Change]], str]
    timeout: float = 60.0
    push_options: tuple[str, ...] = ()


@dataclass
class UpdateResult:
    """What happened: the commit now at the head of push_ref and whether we made it."""

    head: str
    pushed: bool = False
    message: str = ""
    changes: list[Change] = field(default_factory=list)
    unknown: dict[tuple[str, str], str] = field(default_factory=dict)
    used: set[tuple[str, str]] = field(default_factory=set)


def _base(refs: dict[str, str], request: Update) -> str:
    """The commit to build on.

    When pushing to another branch that already exists, work continues on top of
    it, so earlier automated commits there are kept rather than reset.
    """
    checkout_ref = (
        f"refs/tags/{request.checkout.tag}"
        if request.checkout.tag
        else f"refs/heads/{request.checkout.branch}"
    )
    pushed = refs.get(request.push_ref)
    if pushed is not None and request.push_ref != checkout_ref:
        return pushed
    if request.checkout.tag:
        peeled = refs.get(checkout_ref + eddy_git.PEELED) or refs.get(checkout_ref)
        if peeled is None:
            raise GitError(
                Reason.GIT_OPERATION_FAILED,
                f"tag '{request.checkout.tag}' not found in "
                f"{redact_url(request.url)}; check spec.git.checkout.ref",
            )
        return peeled
    found = refs.get(checkout_ref)
    if found is None:
        raise GitError(
            Reason.GIT_OPERATION_FAILED,
            f"branch '{request.checkout.branch}' not found in "
            f"{redact_url(request.url)}; check spec.git.checkout.ref or the "
            "GitRepository's spec.ref",
        )
    return found


def _update_once(request: Update) -> UpdateResult:
    prefix = request.path.strip("/").removeprefix("./")
    prefix = "" if prefix in ("", ".") else prefix + "/"
    with (
        eddy_git.Remote(request.url, request.auth, request.timeout) as remote,
        eddy_git.scratch_repo() as repo,
    ):
        base = _base(remote.refs(), request)
        # Only the tip is needed to build on it: the server has the history.
        remote.fetch(repo, [base], depth=1)
        head = eddy_git.peel(repo, base)
        outcome = UpdateResult(head=head.id.decode())
        changed: list[tuple[str, int, bytes]] = []
        for name, mode, blob in eddy_git.files(repo, head.tree, prefix):
            if not is_yaml(name):
                continue
            try:
                text = blob.as_raw_string().decode("utf-8")
            except UnicodeDecodeError:
                continue
            result = update_text(text, request.images, name, request.namespace)
            for key, line in result.unknown.items():
                outcome.unknown.setdefault(key, f"{name}:{line}")
            outcome.used |= result.used
            if result.changes:
                changed.append((name, mode, result.text.encode("utf-8")))
                outcome.changes.extend(result.changes)
        if not changed:
            return outcome
        message = request.message(outcome.changes)
        commit = eddy_git.commit_files(repo, head, changed, request.author, message)
        remote.push(
            repo,
            request.push_ref,
            commit.id.decode(),
            expected=(head.id.decode(), base),
            options=request.push_options,
        )
    outcome.head = commit.id.decode()
    outcome.pushed = True
    outcome.message = message
    return outcome


def update(request: Update) -> UpdateResult:
    """Fetch, rewrite, commit and push; when the branch moved meanwhile, once more."""
    try:
        return _update_once(request)
    except Diverged:
        pass
    try:
        return _update_once(request)
    except Diverged:
        raise GitError(
            Reason.GIT_OPERATION_FAILED,
            f"the push to {request.push_ref} of "
            f"{redact_url(request.url)} was rejected twice because the branch kept "
            "moving (not a fast-forward); will try again",
        ) from None
