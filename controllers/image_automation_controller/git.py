"""Check out a branch, rewrite its YAML by the setter markers, commit and push, with dulwich.

Blocking by nature (sockets, packs), so `update` runs in a worker thread. Nothing
touches a working tree: blobs are read and written in an in-memory object store.
"""

from __future__ import annotations

import functools
import ssl
import stat
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit, urlunsplit

import urllib3
from dulwich.client import GitClient, HTTPUnauthorized, Urllib3HttpGitClient
from dulwich.errors import GitProtocolError, HangupException, NotGitRepository
from dulwich.object_store import commit_tree_changes
from dulwich.objects import Blob, Commit, ObjectID, Tag, Tree
from dulwich.refs import Ref
from dulwich.repo import MemoryRepo

from .setters import Change, Image, is_yaml, update_text

GIT_OPERATION_FAILED = "GitOperationFailed"
AUTHENTICATION_FAILED = "AuthenticationFailed"


class GitError(Exception):
    """A Git step failed; the reason is Flux's, the message says what to check."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class _Diverged(Exception):
    """The branch moved on the server since it was fetched: refetch and try again."""


@dataclass(frozen=True)
class GitAuth:
    username: str | None = None
    password: str | None = None
    ca_cert: bytes | None = None

    def __repr__(self) -> str:
        return "GitAuth(<redacted>)"


@dataclass(frozen=True)
class Checkout:
    """What to start from: a branch or a tag (with push.branch) of the source."""

    branch: str = ""
    tag: str = ""

    def describe(self) -> str:
        return f"tag '{self.tag}'" if self.tag else f"branch '{self.branch}'"


@dataclass(frozen=True)
class Author:
    name: str
    email: str

    def identity(self) -> bytes:
        return f"{self.name} <{self.email}>".encode()


@dataclass(frozen=True)
class Job:
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
class Outcome:
    """What happened: the commit now at the head of push_ref and whether we made it."""

    head: str
    pushed: bool = False
    message: str = ""
    changes: list[Change] = field(default_factory=list)
    unknown: dict[tuple[str, str], str] = field(default_factory=dict)
    used: set[tuple[str, str]] = field(default_factory=set)


def redact_url(url: str) -> str:
    parts = urlsplit(url)
    if "@" in parts.netloc:
        return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    return url


@functools.lru_cache(maxsize=32)
def _tls_context(ca_cert: bytes | None) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if ca_cert:
        try:
            context.load_verify_locations(cadata=ca_cert.decode())
        except (ssl.SSLError, ValueError, UnicodeDecodeError) as err:
            raise GitError(
                AUTHENTICATION_FAILED, f"ca.crt is not a PEM certificate: {err}"
            ) from err
    return context


def _client(url: str, auth: GitAuth, timeout: float) -> tuple[GitClient, bytes]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise GitError(
            GIT_OPERATION_FAILED,
            f"the GitRepository URL scheme '{parts.scheme}' is "
            "not supported by image automation yet; use http(s)://",
        )
    pool = urllib3.PoolManager(
        ssl_context=_tls_context(auth.ca_cert) if parts.scheme == "https" else None,
        timeout=urllib3.Timeout(connect=timeout, read=timeout),
        retries=urllib3.Retry(total=None, connect=0, read=0, redirect=3, status=0, other=0),
    )
    username, password = auth.username, auth.password
    if username is None and password is None and parts.username is not None:
        username, password = unquote(parts.username), unquote(parts.password or "")
    # The base URL never carries credentials, so no dulwich message can show them.
    base = urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], "/", "", ""))
    client = Urllib3HttpGitClient(
        base, pool_manager=pool, username=username, password=password, timeout=timeout
    )
    return client, parts.path.encode()


@contextmanager
def _errors(doing: str, url: str) -> Iterator[None]:
    where = redact_url(url)
    try:
        yield
    except (GitError, _Diverged):
        raise
    except HTTPUnauthorized as err:
        raise GitError(
            AUTHENTICATION_FAILED,
            f"{doing} {where}: authentication failed (HTTP "
            "401); check username and password in the GitRepository's "
            "spec.secretRef",
        ) from err
    except NotGitRepository as err:
        raise GitError(GIT_OPERATION_FAILED, f"{doing} {where}: repository not found") from err
    except (HangupException, GitProtocolError, urllib3.exceptions.HTTPError, OSError) as err:
        detail = str(err) or type(err).__name__
        if "403" in detail:
            detail = "access denied (HTTP 403); the credentials may not allow pushing"
        raise GitError(GIT_OPERATION_FAILED, f"{doing} {where}: {detail}") from err


def _base(refs: dict[Ref, ObjectID], job: Job) -> tuple[ObjectID, str]:
    """The commit to build on and how it was found.

    When pushing to another branch that already exists, work continues on top of
    it, so earlier automated commits there are kept rather than reset.
    """
    checkout_ref = (
        f"refs/tags/{job.checkout.tag}" if job.checkout.tag else f"refs/heads/{job.checkout.branch}"
    )
    pushed = refs.get(Ref(job.push_ref.encode()))
    if pushed is not None and job.push_ref != checkout_ref:
        return pushed, job.push_ref
    if job.checkout.tag:
        peeled = refs.get(Ref(f"{checkout_ref}^{{}}".encode())) or refs.get(
            Ref(checkout_ref.encode())
        )
        if peeled is None:
            raise GitError(
                GIT_OPERATION_FAILED,
                f"tag '{job.checkout.tag}' not found in "
                f"{redact_url(job.url)}; check spec.git.checkout.ref",
            )
        return peeled, checkout_ref
    found = refs.get(Ref(checkout_ref.encode()))
    if found is None:
        raise GitError(
            GIT_OPERATION_FAILED,
            f"branch '{job.checkout.branch}' not found in "
            f"{redact_url(job.url)}; check spec.git.checkout.ref or the "
            "GitRepository's spec.ref",
        )
    return found, checkout_ref


def _yaml_files(repo: MemoryRepo, tree: ObjectID, path: str) -> Iterator[tuple[str, int, Blob]]:
    prefix = path.strip("/").removeprefix("./")
    prefix = "" if prefix in ("", ".") else prefix + "/"
    store = repo.object_store
    for entry in store.iter_tree_contents(tree):
        name = entry.path.decode("utf-8", "surrogateescape")
        if not stat.S_ISREG(entry.mode) or not name.startswith(prefix) or not is_yaml(name):
            continue
        blob = store[entry.sha]
        if isinstance(blob, Blob):
            yield name, entry.mode, blob


def _attempt(job: Job) -> Outcome:
    client, path = _client(job.url, job.auth, job.timeout)
    with _errors("cannot list refs of", job.url):
        refs = dict(client.get_refs(path).refs)
    clean = {k: v for k, v in refs.items() if v is not None}
    base, _ = _base(clean, job)
    repo = MemoryRepo()
    with _errors("cannot fetch from", job.url):
        client.fetch(path, repo, lambda _refs, depth=None: [base])
    head = repo.object_store[base]
    while isinstance(head, Tag):
        head = repo.object_store[head.object[1]]
    if not isinstance(head, Commit):
        raise GitError(GIT_OPERATION_FAILED, f"{base.decode()} is not a commit")
    outcome = Outcome(head=head.id.decode())
    edits: list[tuple[bytes, int | None, ObjectID | None]] = []
    for name, mode, blob in _yaml_files(repo, head.tree, job.path):
        try:
            text = blob.as_raw_string().decode("utf-8")
        except UnicodeDecodeError:
            continue
        result = update_text(text, job.images, name, job.namespace)
        for key, line in result.unknown.items():
            outcome.unknown.setdefault(key, f"{name}:{line}")
        outcome.used |= result.used
        if result.changes:
            new = Blob.from_string(result.text.encode("utf-8"))
            repo.object_store.add_object(new)
            edits.append((name.encode(), mode, new.id))
            outcome.changes.extend(result.changes)
    if not edits:
        return outcome
    tree = commit_tree_changes(repo.object_store, head.tree, edits)
    if not isinstance(repo.object_store[tree], Tree):  # pragma: no cover - dulwich contract
        raise GitError(GIT_OPERATION_FAILED, "could not build the updated tree")
    commit = Commit()
    commit.tree = tree
    commit.parents = [head.id]
    commit.author = commit.committer = job.author.identity()
    commit.author_time = commit.commit_time = int(time.time())
    commit.author_timezone = commit.commit_timezone = 0
    message = job.message(outcome.changes)
    commit.message = (message if message.endswith("\n") else message + "\n").encode()
    repo.object_store.add_object(commit)
    target = Ref(job.push_ref.encode())

    def update_refs(remote: dict[Ref, ObjectID]) -> dict[Ref, ObjectID]:
        current = remote.get(target)
        # A branch that moved since the fetch: pushing would drop the new commits.
        if current is not None and current != head.id and current != base:
            raise _Diverged()
        return {target: commit.id}

    with _errors("cannot push to", job.url):
        sent = client.send_pack(
            path,
            update_refs,
            repo.generate_pack_data,  # type: ignore[arg-type]
            push_options=[o.encode() for o in job.push_options] or None,
        )
    for ref, error in (sent.ref_status or {}).items():
        if error is None:
            continue
        if "fast-forward" in error or "fetch first" in error:
            raise _Diverged()
        raise GitError(
            GIT_OPERATION_FAILED, f"the server rejected the push to {ref.decode()}: {error}"
        )
    outcome.head = commit.id.decode()
    outcome.pushed = True
    outcome.message = message
    return outcome


def update(job: Job) -> Outcome:
    """Fetch, rewrite, commit and push; when the branch moved meanwhile, once more."""
    try:
        return _attempt(job)
    except _Diverged:
        pass
    try:
        return _attempt(job)
    except _Diverged:
        raise GitError(
            GIT_OPERATION_FAILED,
            f"the push to {job.push_ref} of "
            f"{redact_url(job.url)} was rejected twice because the branch kept "
            "moving (not a fast-forward); will try again",
        ) from None
