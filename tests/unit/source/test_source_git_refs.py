"""Which commit a GitRepository's spec.ref selects among a remote's refs, and its revision."""

from __future__ import annotations

import pytest

from source_controller.failures import SourceError
from source_controller.git.refs import pinned_revision, resolve

A, B, C, T = "a" * 40, "b" * 40, "c" * 40, "d" * 40
REFS = {
    "HEAD": A,
    "refs/heads/main": A,
    "refs/heads/dev": B,
    "refs/tags/v1.0.0": T,  # annotated: the tag object, peeled below
    "refs/tags/v1.0.0^{}": C,
    "refs/tags/v1.1.0": B,
    "refs/tags/latest": A,
    "refs/pull/7/head": C,
}


@pytest.mark.parametrize(
    ("ref", "commit", "revision", "depth"),
    [
        (None, None, None, None),
        ({"branch": "dev"}, B, f"dev@sha1:{B}", 1),
        ({"tag": "v1.0.0"}, C, f"v1.0.0@sha1:{C}", 1),
        ({"semver": "~1.0"}, C, f"v1.0.0@sha1:{C}", 1),
        ({"semver": ">=1.0.0"}, B, f"v1.1.0@sha1:{B}", 1),
        ({"name": "refs/pull/7/head"}, C, f"refs/pull/7/head@sha1:{C}", 1),
        ({"commit": C}, C, f"sha1:{C}", None),
        ({"commit": C, "branch": "main"}, C, f"main@sha1:{C}", None),
        ({"branch": "dev", "tag": "v1.1.0", "semver": "1.0.x"}, C, f"v1.0.0@sha1:{C}", 1),
    ],
)
def test_resolve(
    ref: dict[str, str] | None, commit: str | None, revision: str | None, depth: int | None
) -> None:
    if commit is None:
        # No ref means the master branch, which REFS does not have.
        with pytest.raises(SourceError, match="branch 'master' does not exist"):
            resolve(ref, REFS)
        return
    target = resolve(ref, REFS)
    assert (target.commit, target.revision, target.depth) == (commit, revision, depth)


def test_pinned_revision_needs_no_remote() -> None:
    assert pinned_revision({"commit": C.upper(), "branch": "main"}) == f"main@sha1:{C}"
    assert pinned_revision({"branch": "main"}) is None


@pytest.mark.parametrize(
    ("ref", "refs", "words", "stalled"),
    [
        ({"branch": "main"}, {}, "the repository is empty", False),
        ({"tag": "v9"}, REFS, "tag 'v9' does not exist", False),
        ({"semver": ">=5"}, REFS, "no tag matches", False),
        ({"semver": "what"}, REFS, "spec.ref.semver", True),
        ({"commit": "abc"}, REFS, "not a full 40-character", True),
        ({"commit": C, "branch": "gone"}, REFS, "branch 'gone' does not exist", False),
    ],
)
def test_failures(ref: dict[str, str], refs: dict[str, str], words: str, stalled: bool) -> None:
    with pytest.raises(SourceError, match=words) as caught:
        resolve(ref, refs)
    assert caught.value.stalled is stalled
