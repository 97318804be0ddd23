"""The commit behind a GitRepository's revision: who made it, when, why, and its YAML files.

Fetched with eddy_git as the person running the command, with the credentials of
the GitRepository's Secret when their RBAC lets them read it.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dulwich.objects import ObjectID

import eddy_git
from eddy_git import GitAuth, GitError, redact_url
from eddy_runtime.resources import SECRETS

from .errors import CliError
from .kube import Cluster

# Enough for the manifests of any real repository, not for a repository of blobs.
MAX_BYTES = 64 * 1024 * 1024
YAML = (".yaml", ".yml")


@dataclass
class Commit:
    sha: str
    author: str
    date: str
    message: str
    files: dict[str, str] = field(default_factory=dict, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {"sha": self.sha, "author": self.author, "date": self.date, "message": self.message}


def commit_of(revision: str) -> str:
    """The commit sha in a Flux revision such as `main@sha1:<hex>` or `sha1:<hex>`."""
    found = re.search(r"sha1:([0-9a-f]{40})", revision) or re.fullmatch(r"[0-9a-f]{40}", revision)
    if not found:
        raise CliError(f"revision {revision!r} names no Git commit")
    return found.group(1) if found.groups() else found.group(0)


async def auth_for(cluster: Cluster, repo: Mapping[str, Any]) -> GitAuth:
    spec, meta = repo.get("spec") or {}, repo["metadata"]
    url = str(spec.get("url", ""))
    secret = (spec.get("secretRef") or {}).get("name")
    try:
        if not secret:
            return eddy_git.auth_without_secret(url)
        found = await cluster.client.get_or_none(SECRETS, secret, meta["namespace"])
        if found is None:
            raise CliError(f"secret {meta['namespace']}/{secret} of the GitRepository is gone")
        data = {k: base64.b64decode(v or "") for k, v in (found.get("data") or {}).items()}
        return eddy_git.auth_from_data(url, data, f"{meta['namespace']}/{secret}")
    except GitError as err:
        raise CliError(err.message) from err


def _read(url: str, auth: GitAuth, sha: str, timeout: float) -> Commit:
    with eddy_git.scratch_repo() as repo:
        with eddy_git.Remote(url, auth, timeout) as remote:
            # Whole history of every branch and tag: the commit may no longer be a tip.
            remote.fetch(
                repo,
                lambda refs: sorted(
                    {v for k, v in refs.items() if k.startswith(("refs/heads/", "refs/tags/"))}
                ),
                None,
            )
        if ObjectID(sha.encode()) not in repo.object_store:
            raise CliError(f"commit {sha} is no longer on any branch or tag of {redact_url(url)}")
        commit = eddy_git.peel(repo, sha)
        files: dict[str, str] = {}
        total = 0
        for path, _, blob in eddy_git.files(repo, commit.tree):
            if not path.endswith(YAML) and path.rsplit("/", 1)[-1] != "Kustomization":
                continue
            total += blob.raw_length()
            if total > MAX_BYTES:
                break
            files[path] = blob.as_raw_string().decode("utf-8", "replace")
        details = eddy_git.details_of(commit)
        return Commit(
            sha=sha,
            author=details.author,
            date=details.date,
            message=details.message,
            files=files,
        )


async def read_commit(cluster: Cluster, repo: Mapping[str, Any], revision: str) -> Commit:
    """The commit of `revision` in the GitRepository's repository, and its YAML files."""
    sha = commit_of(revision)
    url = str((repo.get("spec") or {}).get("url", ""))
    auth = await auth_for(cluster, repo)
    try:
        return await eddy_git.in_thread(
            60, f"fetching {redact_url(url)}", lambda: _read(url, auth, sha, 60)
        )
    except GitError as err:
        raise CliError(err.message) from err


def _checkout(url: str, auth: GitAuth, ref: str, dest: Path, timeout: float) -> str:
    with eddy_git.scratch_repo() as repo:
        with eddy_git.Remote(url, auth, timeout) as remote:
            refs = remote.refs()
            candidates = [f"refs/heads/{ref}", f"refs/tags/{ref}{eddy_git.PEELED}",
                          f"refs/tags/{ref}", ref]  # fmt: skip
            sha = next((refs[c] for c in candidates if c in refs), None)
            if sha is None and re.fullmatch(r"[0-9a-f]{40}", ref):
                # A commit by its sha: fetch the history of every branch to find it.
                remote.fetch(
                    repo, sorted({v for k, v in refs.items() if k.startswith("refs/heads/")}), None
                )
                sha = ref
            elif sha is None:
                raise CliError(
                    f"{redact_url(url)} has no branch or tag {ref!r}; pass a branch, a tag "
                    "or a full commit sha"
                )
            else:
                remote.fetch(repo, [sha], 1)
        if ObjectID(sha.encode()) not in repo.object_store:
            raise CliError(f"commit {sha} is not on any branch of {redact_url(url)}")
        commit = eddy_git.peel(repo, sha)
        eddy_git.write_tree(repo, commit.id.decode(), dest)
        return commit.id.decode()


async def checkout(cluster: Cluster, repo: Mapping[str, Any], ref: str, dest: Path) -> str:
    """Write the files of `ref` (branch, tag or sha) of the GitRepository's repository."""
    url = str((repo.get("spec") or {}).get("url", ""))
    auth = await auth_for(cluster, repo)
    try:
        return await eddy_git.in_thread(
            120, f"fetching {redact_url(url)}", lambda: _checkout(url, auth, ref, dest, 60)
        )
    except GitError as err:
        raise CliError(err.message) from err
