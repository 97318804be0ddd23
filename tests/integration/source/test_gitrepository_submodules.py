"""spec.recurseSubmodules: the artifact holds each submodule's files at the commit the
parent records, nested ones too, from absolute and relative submodule URLs."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from eddy_runtime.resources import ResourceClient
from eddy_testenv.gitserver import GitHTTPServer, GitRepos, git
from eddy_testenv.observe import condition
from source_controller.kinds import GIT_REPOSITORIES as GR

from .conftest import RunningController
from .support import download, failed, git_repository, ready

pytestmark = pytest.mark.integration


def add_submodule(git_repos: GitRepos, repo: str, path: str, url: str, sha: str) -> str:
    """A commit on main adding a gitlink at `path` to `sha` and its .gitmodules entry."""
    bare = git_repos.path(repo)
    parent = git_repos.rev_parse(repo, "main")
    with tempfile.TemporaryDirectory(prefix="eddy-git-index-") as tmp:
        index = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        git("read-tree", parent, cwd=bare, env=index)
        old = git_repos.read_file(repo, ".gitmodules") if ".gitmodules" in git(
            "ls-tree", "--name-only", parent, cwd=bare) else b""  # fmt: skip
        modules = old + f'[submodule "{path}"]\n\tpath = {path}\n\turl = {url}\n'.encode()
        blob = git("hash-object", "-w", "--stdin", cwd=bare, input=modules).strip()
        info = f"100644 {blob}\t.gitmodules\n160000 {sha}\t{path}\n".encode()
        git("update-index", "--index-info", cwd=bare, input=info, env=index)
        tree = git("write-tree", cwd=bare, env=index).strip()
    commit = git("commit-tree", tree, "-p", parent, cwd=bare, input=b"add submodule").strip()
    git("update-ref", "refs/heads/main", commit, parent, cwd=bare)
    return commit


async def test_submodules_are_in_the_artifact(
    kube: ResourceClient, namespace: str, git_repos: GitRepos, git_server: GitHTTPServer,
    source_controller: RunningController, tmp_path: Path,
) -> None:  # fmt: skip
    app, lib, deep = f"{namespace}-app", f"{namespace}-lib", f"{namespace}-deep"
    git_repos.create(deep)
    deep_sha = git_repos.commit(deep, {"deep.txt": "deep v1\n"})
    git_repos.commit(deep, {"deep.txt": "deep v2, not recorded\n"})
    git_repos.create(lib)
    git_repos.commit(lib, {"lib.yaml": "kind: ConfigMap\n"})
    lib_sha = add_submodule(git_repos, lib, "third/deep", f"../{deep}.git", deep_sha)
    git_repos.create(app)
    git_repos.commit(app, {"app.yaml": "kind: Deployment\n"})
    add_submodule(git_repos, app, "vendor/lib", git_server.repo_url(lib), lib_sha)

    url = git_server.repo_url(app)
    await kube.create(GR, git_repository("app", namespace, url, ref={"branch": "main"},
                                         recurseSubmodules=True))  # fmt: skip
    obj = await ready(kube, GR, namespace, "app")
    assert obj["status"]["observedRecurseSubmodules"] is True
    files = await download(obj["status"]["artifact"], tmp_path / "artifact")
    assert files["app.yaml"] == b"kind: Deployment\n"
    assert files["vendor/lib/lib.yaml"] == b"kind: ConfigMap\n"
    assert files["vendor/lib/third/deep/deep.txt"] == b"deep v1\n"

    # Without it, the gitlinks stay empty, as before.
    await kube.create(GR, git_repository("plain", namespace, url, ref={"branch": "main"}))
    obj = await ready(kube, GR, namespace, "plain")
    files = await download(obj["status"]["artifact"], tmp_path / "plain")
    assert not [name for name in files if name.startswith("vendor/")]


async def test_a_submodule_that_cannot_be_fetched_fails_and_keeps_the_artifact(
    kube: ResourceClient, namespace: str, git_repos: GitRepos, git_server: GitHTTPServer,
    source_controller: RunningController,
) -> None:  # fmt: skip
    app = f"{namespace}-app"
    git_repos.create(app)
    git_repos.commit(app, {"app.yaml": "kind: Deployment\n"})
    url = git_server.repo_url(app)
    await kube.create(GR, git_repository("app", namespace, url, ref={"branch": "main"},
                                         recurseSubmodules=True))  # fmt: skip
    good = (await ready(kube, GR, namespace, "app"))["status"]["artifact"]
    missing = git_server.repo_url(f"{namespace}-missing")
    add_submodule(git_repos, app, "vendor/gone", missing, "1" * 40)
    await kube.patch(GR, "app", {"spec": {"interval": "2s"}}, namespace)
    obj = await failed(kube, GR, namespace, "app")
    assert "submodule vendor/gone: " in condition(obj, "Ready")["message"]
    assert obj["status"]["artifact"] == good
