"""What goes into a GitRepository artifact: ignore rules, sparse checkout and includes."""

from __future__ import annotations

from pathlib import Path

import pytest

from eddy_runtime.resources import ResourceClient
from eddy_testenv.gitserver import GitHTTPServer, GitRepos
from eddy_testenv.observe import condition
from source_controller.kinds import GIT_REPOSITORIES as GR

from .conftest import RunningController
from .support import (
    download,
    eventually,
    failed,
    git_repository,
    handled,
    ready,
    request_reconcile,
    until_ready,
)

pytestmark = pytest.mark.integration


async def test_ignore_rules_and_sparse_checkout(
    kube: ResourceClient,
    namespace: str,
    git_repos: GitRepos,
    git_server: GitHTTPServer,
    source_controller: RunningController,
    tmp_path: Path,
) -> None:
    repo = f"{namespace}-ign"
    git_repos.create(repo, {
        ".github/workflows/ci.yml": "on: push\n",
        ".gitignore": "x\n",
        ".sourceignore": "*.md\n",
        "README.md": "readme\n",
        "keep.md": "kept\n",
        "apps/app.yaml": "app\n",
        "apps/secret/token": "t\n",
        "infra/db.yaml": "db\n",
    })  # fmt: skip
    url = git_server.repo_url(repo)
    await kube.create(GR, git_repository("ign", namespace, url, ref={"branch": "main"},
                                         ignore="apps/secret/\n!keep.md\n"))  # fmt: skip
    await kube.create(GR, git_repository("sparse", namespace, url, ref={"branch": "main"},
                                         sparseCheckout=["infra"]))  # fmt: skip
    obj = await ready(kube, GR, namespace, "ign")
    files = await download(obj["status"]["artifact"], tmp_path / "ign")
    assert sorted(files) == [".sourceignore", "apps/app.yaml", "infra/db.yaml", "keep.md"]
    assert obj["status"]["observedIgnore"] == "apps/secret/\n!keep.md\n"
    obj = await ready(kube, GR, namespace, "sparse")
    files = await download(obj["status"]["artifact"], tmp_path / "sparse")
    assert sorted(files) == ["infra/db.yaml"]

    # Changing only the ignore rules rebuilds the same revision with other content.
    before = (await kube.get(GR, "ign", namespace))["status"]["artifact"]
    await kube.patch(GR, "ign", {"spec": {"ignore": "infra/\n"}}, namespace)

    async def rebuilt() -> dict[str, object] | None:
        artifact = (await kube.get(GR, "ign", namespace))["status"]["artifact"]
        return artifact if artifact["digest"] != before["digest"] else None

    after = await eventually(rebuilt)
    assert after["revision"] == before["revision"]
    files = await download(after, tmp_path / "ign2")
    assert sorted(files) == [".sourceignore", "apps/app.yaml", "apps/secret/token"]


async def test_include_copies_another_artifact_and_follows_it(
    kube: ResourceClient,
    namespace: str,
    git_repos: GitRepos,
    git_server: GitHTTPServer,
    source_controller: RunningController,
    tmp_path: Path,
) -> None:
    app, lib = f"{namespace}-app", f"{namespace}-lib"
    git_repos.create(app, {"app.yaml": "app\n"})
    git_repos.create(lib, {"base/lib.yaml": "lib v1\n", "docs/x": "x\n"})
    await kube.create(GR, git_repository("lib", namespace, git_server.repo_url(lib),
                                         ref={"branch": "main"}))  # fmt: skip
    include = [{"repository": {"name": "lib"}, "fromPath": "base", "toPath": "vendor/lib"}]
    await kube.create(GR, git_repository("app", namespace, git_server.repo_url(app),
                                         ref={"branch": "main"}, include=include))  # fmt: skip
    # "app" may fail first (lib has no artifact yet), and follows when lib has one.
    obj = await until_ready(kube, GR, namespace, "app")
    files = await download(obj["status"]["artifact"], tmp_path / "one")
    assert files == {"app.yaml": b"app\n", "vendor/lib/lib.yaml": b"lib v1\n"}
    lib_artifact = (await kube.get(GR, "lib", namespace))["status"]["artifact"]
    assert obj["status"]["includedArtifacts"] == [lib_artifact]

    # A new commit in the included repository reaches the including artifact.
    git_repos.commit(lib, {"base/lib.yaml": "lib v2\n"})
    stamp = await request_reconcile(kube, GR, namespace, "lib")
    await handled(kube, GR, namespace, "lib", stamp)

    async def updated() -> dict[str, object] | None:
        current = (await kube.get(GR, "app", namespace))["status"]["artifact"]
        return current if current["digest"] != obj["status"]["artifact"]["digest"] else None

    artifact = await eventually(updated)
    files = await download(artifact, tmp_path / "two")
    assert files["vendor/lib/lib.yaml"] == b"lib v2\n"


async def test_include_of_a_missing_repository_is_reported(
    kube: ResourceClient,
    namespace: str,
    git_repos: GitRepos,
    git_server: GitHTTPServer,
    source_controller: RunningController,
) -> None:
    repo = f"{namespace}-inc"
    git_repos.create(repo, {"a": "a"})
    include = [{"repository": {"name": "absent"}}]
    await kube.create(GR, git_repository("inc", namespace, git_server.repo_url(repo),
                                         ref={"branch": "main"}, include=include))  # fmt: skip
    obj = await failed(kube, GR, namespace, "inc")
    assert condition(obj, "Ready")["reason"] == "IncludeUnavailable"
    assert condition(obj, "IncludeUnavailable")["status"] == "True"
    assert "/absent' has no artifact yet (it does not exist)" in condition(obj, "Ready")["message"]


async def test_include_onto_a_file_of_the_repository_is_reported(
    kube: ResourceClient,
    namespace: str,
    git_repos: GitRepos,
    git_server: GitHTTPServer,
    source_controller: RunningController,
) -> None:
    app, lib = f"{namespace}-app", f"{namespace}-lib"
    git_repos.create(app, {"vendor": "a file, not a directory\n"})
    git_repos.create(lib, {"lib.yaml": "lib\n"})
    await kube.create(GR, git_repository("lib", namespace, git_server.repo_url(lib),
                                         ref={"branch": "main"}))  # fmt: skip
    await until_ready(kube, GR, namespace, "lib")
    include = [{"repository": {"name": "lib"}, "toPath": "vendor"}]
    await kube.create(GR, git_repository("app", namespace, git_server.repo_url(app),
                                         ref={"branch": "main"}, include=include))  # fmt: skip
    obj = await failed(kube, GR, namespace, "app")
    ready_cond = condition(obj, "Ready")
    assert ready_cond["reason"] == "CopyFailed", ready_cond
    assert (
        "cannot copy into toPath 'vendor': a file of the repository is in the way"
        in (ready_cond["message"])
    )
    assert condition(obj, "IncludeUnavailable")["reason"] == "CopyFailed"
    # The repository may drop the file in its next commit: retried, not stalled.
    assert condition(obj, "Reconciling")["reason"] == "ProgressingWithRetry"
    assert not condition(obj, "Stalled")
