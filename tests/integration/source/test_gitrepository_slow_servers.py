"""Servers that trickle a byte every few seconds cannot hold up anyone else's fetch.

Twenty GitRepositories point at such a server; each fetch ends at its spec.timeout
and lets go of its connection, and a healthy repository created meanwhile becomes
Ready as fast as it would alone.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from eddy_runtime.resources import ResourceClient
from eddy_testenv.gitserver import GitHTTPServer, GitRepos
from eddy_testenv.trickle import TrickleServer
from source_controller.kinds import GIT_REPOSITORIES as GR

from .conftest import running_controller
from .support import condition, eventually, failed, git_repository, ready

pytestmark = pytest.mark.integration

SLOW = 20


async def test_slow_servers_do_not_delay_a_healthy_repository(
    kube: ResourceClient,
    namespace: str,
    control_plane: Any,
    tmp_path: Path,
    git_repos: GitRepos,
    git_server: GitHTTPServer,
) -> None:
    repo = f"{namespace}-healthy"
    git_repos.create(repo, {"app.yaml": "kind: ConfigMap\n"})
    with TrickleServer(every=2.0) as trickle:
        # Workers enough for every repository: what is measured is the Git work.
        async with running_controller(
            control_plane, namespace, tmp_path / "storage", concurrent=SLOW + 4
        ):
            for i in range(SLOW):
                body = git_repository(f"slow-{i}", namespace, trickle.url(f"slow-{i}.git"),
                                      ref={"branch": "main"}, timeout="10s")  # fmt: skip
                await kube.create(GR, body)

            async def all_connected() -> bool:
                return trickle.accepted >= SLOW

            await eventually(all_connected)
            started = time.monotonic()
            await kube.create(GR, git_repository("healthy", namespace, git_server.repo_url(repo),
                                                 ref={"branch": "main"}))  # fmt: skip
            await ready(kube, GR, namespace, "healthy")
            took = time.monotonic() - started
            still_waiting = trickle.open_connections
            print(f"healthy repository Ready in {took:.2f}s beside {still_waiting} slow fetches")
            assert still_waiting >= SLOW // 2, "the slow fetches ended before the measurement"
            assert took < 5, f"a healthy repository took {took:.1f}s beside slow servers"

            for i in range(SLOW):
                obj = await failed(kube, GR, namespace, f"slow-{i}")
                message = condition(obj, "Ready")["message"]
                assert "timed out after 10s" in message, message

            async def let_go() -> bool:
                return trickle.open_connections == 0

            # Every fetch stopped reading: no thread is left on the slow server.
            await eventually(let_go)
