"""GitRepository across a controller restart: an unchanged ref means no clone, no rebuild.

The stored artifact and status.artifact survive the process; only the Git server's
request log can show that nothing was downloaded, so the test reads it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from eddy_runtime.resources import ResourceClient
from eddy_testenv.gitserver import GitHTTPServer, GitRepos
from eddy_testenv.managers import settled
from eddy_testenv.observe import events_for
from source_controller.kinds import GIT_REPOSITORIES as GR

from .conftest import running_controller
from .support import download, eventually, git_repository, handled, ready
from .support import request_reconcile as request

pytestmark = pytest.mark.integration


async def new_artifact_count(kube: ResourceClient, namespace: str, name: str) -> int:
    events = await events_for(kube, namespace, name)
    return sum(e.get("count") or 1 for e in events if e["reason"] == "NewArtifact")


async def test_restart_keeps_the_artifact_without_cloning_or_rebuilding(
    kube: ResourceClient,
    control_plane: Any,
    namespace: str,
    git_repos: GitRepos,
    git_server: GitHTTPServer,
    tmp_path: Path,
) -> None:
    repo = f"{namespace}-restart"
    git_repos.create(repo, {"app.yaml": "kind: ConfigMap\n"})
    root = tmp_path / "storage"
    async with running_controller(control_plane, namespace, root) as first:
        await kube.create(GR, git_repository("app", namespace, git_server.repo_url(repo),
                                             ref={"branch": "main"}))  # fmt: skip
        artifact = (await ready(kube, GR, namespace, "app"))["status"]["artifact"]
        assert artifact["url"].startswith(first.base_url)

        async def announced() -> bool:
            return await new_artifact_count(kube, namespace, "app") == 1

        await eventually(announced)
    assert git_server.fetches(repo) == 1
    stored = root / artifact["path"]
    mtime = stored.stat().st_mtime_ns

    # A new process, the same storage: the ref has not moved, so the remote is only
    # asked where it points; the artifact stays, served at the new address.
    async with running_controller(control_plane, namespace, root) as second:
        stamp = await request(kube, GR, namespace, "app")
        obj = await handled(kube, GR, namespace, "app", stamp)
        assert obj["status"]["artifact"] == {
            **artifact,
            "url": f"{second.base_url}/{artifact['path']}",
        }
        assert git_server.fetches(repo) == 1
        assert stored.stat().st_mtime_ns == mtime
        files = await download(obj["status"]["artifact"], tmp_path / "after-restart")
        assert files == {"app.yaml": b"kind: ConfigMap\n"}

        # Storage lost (an emptyDir after a reschedule): the same revision is fetched
        # and rebuilt to the same digest, and consumers hear of nothing new.
        stored.unlink()
        stamp = await request(kube, GR, namespace, "app")
        obj = await handled(kube, GR, namespace, "app", stamp)
        rebuilt = obj["status"]["artifact"]
        assert (rebuilt["revision"], rebuilt["digest"]) == (
            artifact["revision"],
            artifact["digest"],
        )
        assert stored.is_file()
        assert git_server.fetches(repo) == 2
        await settled(second.manager, "gitrepository", obj)  # its Events are recorded
        assert await new_artifact_count(kube, namespace, "app") == 1
