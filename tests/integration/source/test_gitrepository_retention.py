"""Artifact retention: previous artifacts age out after the TTL even when nothing changes."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from eddy_runtime.resources import ResourceClient
from eddy_testenv.gitserver import GitHTTPServer, GitRepos
from source_controller.kinds import GIT_REPOSITORIES as GR
from source_controller.storage import Retention

from .conftest import running_controller
from .support import eventually, git_repository, handled, ready, request_reconcile

pytestmark = pytest.mark.integration

TTL = 4.0


async def test_previous_artifact_removed_after_ttl_without_a_new_revision(
    kube: ResourceClient,
    control_plane: Any,
    namespace: str,
    git_repos: GitRepos,
    git_server: GitHTTPServer,
    tmp_path: Path,
) -> None:
    repo = f"{namespace}-ttl"
    git_repos.create(repo)
    first = git_repos.commit(repo, {"a": "1"})
    root = tmp_path / "storage"
    retention = Retention(records=2, ttl=TTL)
    async with running_controller(control_plane, namespace, root, retention) as controller:
        await kube.create(GR, git_repository("ttl", namespace, git_server.repo_url(repo),
                                             ref={"branch": "main"}))  # fmt: skip
        await ready(kube, GR, namespace, "ttl")
        made = time.monotonic()
        second = git_repos.commit(repo, {"a": "2"})
        stamp = await request_reconcile(kube, GR, namespace, "ttl")
        obj = await handled(kube, GR, namespace, "ttl", stamp)
        assert obj["status"]["artifact"]["revision"] == f"main@sha1:{second}"
        folder = controller.storage.absolute(f"gitrepository/{namespace}/ttl")

        def names() -> list[str]:
            return sorted(p.name for p in folder.iterdir())

        # Within the TTL the previous artifact is one of the two records kept.
        assert names() == sorted([f"{first}.tar.gz", f"{second}.tar.gz"])

        # Past the TTL, a reconcile that changes nothing still collects it.
        await asyncio.sleep(max(0.0, made + TTL + 0.5 - time.monotonic()))
        stamp = await request_reconcile(kube, GR, namespace, "ttl")
        await handled(kube, GR, namespace, "ttl", stamp)

        async def collected() -> bool:
            return names() == [f"{second}.tar.gz"]

        await eventually(collected, timeout=10)
