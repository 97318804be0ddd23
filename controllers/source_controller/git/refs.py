"""Turn `spec.ref` and the refs a remote advertises into the commit to check out.

Pure logic, so it is tested without a server: which ref wins (commit, name, semver,
tag, branch), what to fetch and how deep, and Flux's revision string for it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from eddy_api.common import Reason
from eddy_artifacts.digest import Digest, Revision
from eddy_git import PEELED
from eddy_runtime.semver import InvalidVersion, parse_range, versions_of

from ..failures import fetch_failed, invalid_spec

DEFAULT_BRANCH = "master"
_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


@dataclass(frozen=True)
class ResolvedRef:
    """What to fetch and check out, and the revision it will be published as."""

    commit: str
    revision: str
    wants: tuple[str, ...]
    depth: int | None
    # When the commit is pinned it may be anywhere in the fetched history.
    pinned: bool = False

    def peeled(self, commit: str) -> ResolvedRef:
        """The same target at `commit`, for an annotated tag peeled after the fetch."""
        if commit == self.commit:
            return self
        name = self.revision.rpartition("@")[0] or None
        return replace(self, commit=commit, revision=_revision(name, commit))


def _revision(name: str | None, sha: str) -> str:
    algorithm = "sha256" if len(sha) == 64 else "sha1"
    return str(Revision(name or None, Digest(algorithm, sha)))


def describe(ref: Mapping[str, Any] | None) -> str:
    """The ref as a person would name it in a message."""
    ref = ref or {}
    for key in ("commit", "name", "semver", "tag", "branch"):
        if ref.get(key):
            return f"{key} '{ref[key]}'"
    return f"branch '{DEFAULT_BRANCH}'"


def pinned_revision(ref: Mapping[str, Any] | None) -> str | None:
    """The revision of a spec that pins a commit, known without asking the remote."""
    ref = ref or {}
    commit = str(ref.get("commit") or "").lower()
    if not commit:
        return None
    return _revision(ref.get("branch") or None, commit)


def resolve(ref: Mapping[str, Any] | None, refs: Mapping[str, str]) -> ResolvedRef:
    """The ResolvedRef for spec.ref against the remote's advertised refs."""
    ref = ref or {}
    if not any(not name.endswith(PEELED) for name in refs):
        raise fetch_failed(
            Reason.GIT_OPERATION_FAILED,
            "the repository is empty: it has no branches or tags yet; push a commit",
        )
    commit = str(ref.get("commit") or "").lower()
    if commit:
        if not _SHA.fullmatch(commit):
            raise invalid_spec(
                f"spec.ref.commit '{ref['commit']}' is not a full 40-character commit SHA"
            )
        branch = ref.get("branch")
        if branch:
            tip = refs.get(f"refs/heads/{branch}")
            if tip is None:
                raise _missing(f"branch '{branch}'")
            return ResolvedRef(commit, _revision(branch, commit), (tip,), None, pinned=True)
        heads = tuple(sorted({v for k, v in refs.items() if k.startswith("refs/heads/")}))
        return ResolvedRef(
            commit, _revision(None, commit), heads or tuple(refs.values()), None, True
        )
    if ref.get("name"):
        name = str(ref["name"])
        sha = refs.get(name)
        if sha is None:
            raise _missing(f"ref '{name}'")
        peeled = refs.get(name + PEELED, sha)
        return ResolvedRef(peeled, _revision(name, peeled), (sha,), 1)
    if ref.get("semver"):
        return _semver(str(ref["semver"]), refs)
    if ref.get("tag"):
        tag = str(ref["tag"])
        full = f"refs/tags/{tag}"
        sha = refs.get(full)
        if sha is None:
            raise _missing(f"tag '{tag}'")
        peeled = refs.get(full + PEELED, sha)
        return ResolvedRef(peeled, _revision(tag, peeled), (sha,), 1)
    branch = str(ref.get("branch") or DEFAULT_BRANCH)
    sha = refs.get(f"refs/heads/{branch}")
    if sha is None:
        raise _missing(f"branch '{branch}'")
    return ResolvedRef(sha, _revision(branch, sha), (sha,), 1)


def _missing(what: str) -> Exception:
    return fetch_failed(
        Reason.GIT_OPERATION_FAILED,
        f"{what} does not exist in the repository; check spec.ref or push it",
    )


def _semver(text: str, refs: Mapping[str, str]) -> ResolvedRef:
    try:
        wanted = parse_range(text)
    except InvalidVersion as err:
        raise invalid_spec(f"spec.ref.semver: {err}") from err
    names = (n for n in refs if n.startswith("refs/tags/") and not n.endswith(PEELED))
    tags = versions_of(names, lambda name: name[len("refs/tags/") :])
    best = wanted.best(tags)
    if best is None:
        raise fetch_failed(
            Reason.GIT_OPERATION_FAILED,
            f"no tag matches the semver range '{text}' (of {len(tags)} version tags)",
        )
    full = tags[best]
    sha = refs[full]
    peeled = refs.get(full + PEELED, sha)
    return ResolvedRef(peeled, _revision(full[len("refs/tags/") :], peeled), (sha,), 1)
