"""GitRepository against a real control plane and real Git servers: refs, revisions, storage."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from eddy_artifacts.digest import file_digest
from eddy_runtime.resources import ResourceClient
from eddy_testenv.gitserver import GitHTTPServer, GitRepos
from eddy_testenv.observe import condition, events_for
from source_controller.kinds import GIT_REPOSITORIES as GR

from .conftest import RunningController
from .support import download, eventually, failed, git_repository, handled, ready, request_reconcile

pytestmark = pytest.mark.integration


async def test_branch_artifact_new_commit_and_retention(
    kube: ResourceClient,
    namespace: str,
    git_repos: GitRepos,
    git_server: GitHTTPServer,
    source_controller: RunningController,
    tmp_path: Path,
) -> None:
    repo = f"{namespace}-app"
    git_repos.create(repo)
    first = git_repos.commit(repo, {"deploy/app.yaml": "kind: ConfigMap\n"}, message="one")
    await kube.create(GR, git_repository("app", namespace, git_server.repo_url(repo),
                                         ref={"branch": "main"}))  # fmt: skip
    obj = await ready(kube, GR, namespace, "app")
    artifact = obj["status"]["artifact"]
    assert artifact["revision"] == f"main@sha1:{first}"
    assert artifact["path"] == f"gitrepository/{namespace}/app/{first}.tar.gz"
    assert artifact["url"] == f"{source_controller.base_url}/{artifact['path']}"
    stored = source_controller.storage.absolute(artifact["path"])
    assert artifact["digest"] == str(file_digest(stored))
    assert artifact["size"] == stored.stat().st_size
    # The commit's author, date and message travel with the artifact.
    assert artifact["metadata"]["commit.eddy.dev/author"] == "eddy test <test@eddy.invalid>"
    assert artifact["metadata"]["commit.eddy.dev/message"] == "one"
    assert artifact["metadata"]["commit.eddy.dev/date"].endswith("Z")
    assert condition(obj, "ArtifactInStorage")["status"] == "True"
    assert "stored artifact for revision" in condition(obj, "Ready")["message"]
    files = await download(artifact, tmp_path / "one")
    assert files == {"deploy/app.yaml": b"kind: ConfigMap\n"}
    new_artifact = await new_artifact_events(kube, namespace, "app", 1)
    assert first in new_artifact[0]["message"]

    # Nothing changed upstream: a requested reconcile must not fetch or rebuild.
    mtime = stored.stat().st_mtime_ns
    assert git_server.fetches(repo) == 1
    stamp = await request_reconcile(kube, GR, namespace, "app")
    again = await handled(kube, GR, namespace, "app", stamp)
    assert again["status"]["artifact"] == artifact
    assert stored.stat().st_mtime_ns == mtime
    assert git_server.fetches(repo) == 1

    # A new commit becomes a new revision, and a third one ages the first out.
    second = git_repos.commit(repo, {"deploy/app.yaml": "kind: Secret\n"}, message="two")
    stamp = await request_reconcile(kube, GR, namespace, "app")
    obj = await handled(kube, GR, namespace, "app", stamp)
    assert obj["status"]["artifact"]["revision"] == f"main@sha1:{second}"
    assert obj["status"]["artifact"]["metadata"]["commit.eddy.dev/message"] == "two"
    third = git_repos.commit(repo, {"extra.txt": "3"}, message="three")
    stamp = await request_reconcile(kube, GR, namespace, "app")
    obj = await handled(kube, GR, namespace, "app", stamp)
    assert obj["status"]["artifact"]["revision"] == f"main@sha1:{third}"
    folder = source_controller.storage.absolute(f"gitrepository/{namespace}/app")
    kept = sorted([f"{second}.tar.gz", f"{third}.tar.gz"])

    async def collected() -> bool:  # garbage collection follows the status patch
        return sorted(p.name for p in folder.iterdir()) == kept

    await eventually(collected)
    await new_artifact_events(kube, namespace, "app", 3)

    # Deleting the GitRepository removes its artifacts, then the object.
    await kube.delete(GR, "app", namespace)

    async def gone() -> bool:
        return await kube.get_or_none(GR, "app", namespace) is None and not folder.exists()

    await eventually(gone)


async def test_every_ref_type(
    kube: ResourceClient,
    namespace: str,
    git_repos: GitRepos,
    git_server: GitHTTPServer,
    source_controller: RunningController,
) -> None:
    repo = f"{namespace}-refs"
    git_repos.create(repo, {"v": "1.0.0"})
    v1 = git_repos.create_tag(repo, "v1.0.0", message="release 1.0.0")
    git_repos.commit(repo, {"v": "1.1.0"})
    v11 = git_repos.create_tag(repo, "v1.1.0")
    git_repos.commit(repo, {"v": "2.0.0-rc.1"})
    git_repos.create_tag(repo, "v2.0.0-rc.1")
    head = git_repos.commit(repo, {"v": "main"})
    dev = git_repos.create_branch(repo, "dev", start="v1.0.0")
    url = git_server.repo_url(repo)
    cases = {
        "branch": ({"branch": "dev"}, f"dev@sha1:{dev}"),
        "default": (None, None),
        "tag": ({"tag": "v1.0.0"}, f"v1.0.0@sha1:{v1}"),
        "semver": ({"semver": ">=1.0.0 <2.0.0"}, f"v1.1.0@sha1:{v11}"),
        "name": ({"name": "refs/heads/main"}, f"refs/heads/main@sha1:{head}"),
        "commit": ({"commit": v11}, f"sha1:{v11}"),
        "commit-branch": ({"branch": "main", "commit": v1}, f"main@sha1:{v1}"),
    }
    for name, (ref, _) in cases.items():
        spec = {"ref": ref} if ref else {}
        await kube.create(GR, git_repository(name, namespace, url, **spec))
    results = await asyncio.gather(
        *(
            ready(kube, GR, namespace, name) if name != "default" else _settle(kube, namespace)
            for name in cases
        )
    )
    for (name, (_, revision)), obj in zip(cases.items(), results, strict=True):
        if revision is not None:
            assert obj["status"]["artifact"]["revision"] == revision, name
    # No ref means the master branch, which this repository does not have.
    default = results[1]
    assert condition(default, "Ready")["reason"] == "GitOperationFailed"
    assert "branch 'master' does not exist" in condition(default, "Ready")["message"]


async def _settle(kube: ResourceClient, namespace: str) -> object:
    return await failed(kube, GR, namespace, "default")


async def new_artifact_events(
    kube: ResourceClient, namespace: str, name: str, count: int
) -> list[dict[str, Any]]:
    """The NewArtifact Events, once there are `count` of them (they follow status)."""

    async def probe() -> list[dict[str, Any]] | None:
        found = [e for e in await events_for(kube, namespace, name) if e["reason"] == "NewArtifact"]
        return found if len(found) == count else None

    return await eventually(probe)
