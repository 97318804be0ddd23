"""A commit whose tree names `..` or `.git` must not be checked out, let alone escape.

Git refuses such trees on checkout, but a server need not refuse them on push
(fsck is off by default), so a hostile repository can serve one; the trees here
are written with `hash-object --literally`, as an attacker would.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from eddy_runtime.resources import ResourceClient
from eddy_testenv.gitserver import GitHTTPServer, GitRepos, git
from eddy_testenv.observe import condition
from source_controller.kinds import GIT_REPOSITORIES as GR

from .conftest import RunningController
from .support import failed, git_repository

pytestmark = pytest.mark.integration


def write_tree(repo: Path, entries: list[tuple[str, str, str]]) -> str:
    """A tree object from (mode, name, sha) entries, names unchecked; its sha."""
    body = b"".join(
        mode.encode() + b" " + name.encode() + b"\0" + bytes.fromhex(sha)
        for mode, name, sha in entries
    )
    return git("hash-object", "-t", "tree", "--literally", "-w", "--stdin", cwd=repo,
               input=body).strip()  # fmt: skip


def crafted_commit(repos: GitRepos, name: str, top: str, escape: str) -> None:
    """`name` on main: one commit whose tree holds `<top>/../../<escape>`.

    With a top other than `..` one more `..` follows, so that the path climbs two
    levels above the checkout either way.
    """
    repo = repos.create(name)
    blob = git("hash-object", "-w", "--stdin", cwd=repo, input=b"escaped\n").strip()
    up = write_tree(repo, [("100644", escape, blob)])
    for _ in range(1 if top == ".." else 2):
        up = write_tree(repo, [("40000", "..", up)])
    root = write_tree(repo, [("40000", top, up), ("100644", "ok.yaml", blob)])
    commit = git("commit-tree", root, cwd=repo, input=b"crafted").strip()
    git("update-ref", "refs/heads/main", commit, cwd=repo)


@pytest.mark.parametrize("top", ["..", "app", ".git", ".GIT"])
async def test_a_tree_that_climbs_out_is_refused(
    kube: ResourceClient,
    namespace: str,
    git_repos: GitRepos,
    git_server: GitHTTPServer,
    source_controller: RunningController,
    top: str,
) -> None:
    repo = f"{namespace}-crafted"
    escape = f"eddy-escaped-{namespace}"
    crafted_commit(git_repos, repo, top, escape)
    await kube.create(GR, git_repository("crafted", namespace, git_server.repo_url(repo),
                                         ref={"branch": "main"}))  # fmt: skip
    obj = await failed(kube, GR, namespace, "crafted")
    ready_cond = condition(obj, "Ready")
    assert ready_cond["reason"] == "GitOperationFailed"
    assert "unsafe path" in ready_cond["message"]
    assert "artifact" not in obj["status"]
    # The checkout lives two levels below the temporary directory: `../../x` from
    # there would land here.
    assert not (Path(tempfile.gettempdir()) / escape).exists()
