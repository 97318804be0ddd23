"""Check out the submodules a commit names, at the commits its tree records (gitlinks).

A GitRepository with `recurseSubmodules` gets each submodule's files in its artifact,
as `git clone --recurse-submodules` would write them. Credentials go along only to the
parent repository's own server: a submodule elsewhere is fetched without them.
"""

from __future__ import annotations

import stat
from collections.abc import Callable, Sequence
from dataclasses import replace
from io import BytesIO
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from dulwich.config import ConfigFile, parse_submodules
from dulwich.objects import Blob, Commit, ObjectID, Tree
from dulwich.repo import BaseRepo

from .auth import GitAuth
from .errors import GitError, git_failed
from .scratch import scratch_repo
from .transport import PEELED, Remote, redact_url
from .tree import _safe_path, write_tree

# Submodules within submodules, as deep as this.
MAX_DEPTH = 5
MAX_SUBMODULES = 100


def _gitlinks(repo: BaseRepo, commit: Commit) -> dict[str, str]:
    """path -> commit sha of every gitlink in the commit's tree."""
    store = repo.object_store
    links: dict[str, str] = {}
    for entry in store.iter_tree_contents(commit.tree):
        if stat.S_IFMT(entry.mode) == 0o160000:
            links[entry.path.decode("utf-8", "surrogateescape")] = entry.sha.decode()
    return links


def _gitmodules(repo: BaseRepo, commit: Commit) -> list[tuple[str, str]]:
    """(path, url) of each submodule `.gitmodules` declares."""
    tree = repo.object_store[commit.tree]
    assert isinstance(tree, Tree)
    if b".gitmodules" not in tree:
        return []
    _, sha = tree[b".gitmodules"]
    blob = repo.object_store[sha]
    if not isinstance(blob, Blob):
        return []
    try:
        config = ConfigFile.from_file(BytesIO(blob.as_raw_string()))
        found = parse_submodules(config)
    except (ValueError, KeyError) as err:
        raise git_failed(f"cannot read .gitmodules of commit {commit.id.decode()}: {err}") from None
    return [(p.decode(errors="replace"), u.decode(errors="replace")) for p, u, _ in found]


def _resolve_url(parent: str, url: str) -> str:
    if url.startswith(("./", "../")):
        return urljoin(parent.rstrip("/") + "/", url)
    return url


def _same_server(a: str, b: str) -> bool:
    left, right = urlsplit(a), urlsplit(b)
    return (left.scheme, left.hostname, left.port) == (right.scheme, right.hostname, right.port)


def write_submodules(
    repo: BaseRepo,
    commit: Commit,
    url: str,
    auth: GitAuth,
    timeout: float,
    dest: Path,
    sparse: Sequence[str] = (),
    depth: int = 0,
    scratch: Path | None = None,
) -> list[str]:
    """Fetch and write every submodule of `commit` (recursively) under dest; returns
    their paths. A submodule that cannot be fetched fails the whole checkout."""
    declared = _gitmodules(repo, commit)
    if not declared:
        return []
    if depth >= MAX_DEPTH:
        raise git_failed(f"submodules nest deeper than {MAX_DEPTH} levels; stopping there")
    links = _gitlinks(repo, commit)
    prefixes = tuple(p.strip("/") + "/" for p in sparse if p.strip("/"))
    written: list[str] = []
    for path, sub_url in declared[:MAX_SUBMODULES]:
        if not _safe_path(path):
            raise git_failed(f".gitmodules names the unsafe path {path!r}")
        sha = links.get(path)
        if sha is None or (prefixes and not (path + "/").startswith(prefixes)):
            continue  # declared but not in the tree (or not wanted): git skips it too
        target = _resolve_url(url, sub_url)
        # Another server gets no credentials of this one; the proxy still applies.
        sub_auth = auth if _same_server(url, target) else replace(
            GitAuth(), proxy_url=auth.proxy_url, proxy_username=auth.proxy_username,
            proxy_password=auth.proxy_password,
        )  # fmt: skip
        try:
            written += _checkout_one(
                target, sub_auth, timeout, sha, dest / path, path, depth, scratch or dest.parent
            )
        except GitError as err:
            if err.message.startswith("submodule "):
                raise
            raise GitError(err.reason, f"submodule {path}: {err.message}") from err
    return written


def _checkout_one(
    url: str,
    auth: GitAuth,
    timeout: float,
    sha: str,
    dest: Path,
    path: str,
    depth: int,
    scratch: Path,
) -> list[str]:
    def every_ref(refs: dict[str, str]) -> list[str]:
        return sorted({v for k, v in refs.items() if not k.endswith(PEELED)})

    wants: Callable[..., list[str]] = every_ref
    with scratch_repo(scratch) as sub, Remote(url, auth, timeout) as remote:
        remote.fetch(sub, wants, None)
        oid = ObjectID(sha.encode())
        try:
            commit = sub.object_store[oid]
        except KeyError:
            commit = None
        if not isinstance(commit, Commit):
            raise git_failed(
                f"submodule {path}: commit {sha} is not in {redact_url(url)} (not on any "
                "branch or tag there)"
            )
        dest.mkdir(parents=True, exist_ok=True)
        write_tree(sub, sha, dest, (), remote.check)
        inner = write_submodules(sub, commit, url, auth, timeout, dest, (), depth + 1, scratch)
    return [path, *(f"{path}/{p}" for p in inner)]
