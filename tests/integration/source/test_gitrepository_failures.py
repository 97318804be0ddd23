"""GitRepository failures become status and Events; the last good artifact stays served."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import pytest

from eddy_runtime.resources import ResourceClient
from eddy_testenv.gitserver import GitHTTPServer, GitRepos
from eddy_testenv.observe import condition, events_for
from source_controller.kinds import GIT_REPOSITORIES as GR

from .conftest import RunningController
from .support import (
    PASSWORD,
    create_secret,
    download,
    failed,
    git_repository,
    ready,
    warning_reasons,
)

pytestmark = pytest.mark.integration


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_each_failure_is_status_with_reason_and_event(
    kube: ResourceClient,
    namespace: str,
    git_repos: GitRepos,
    git_server: GitHTTPServer,
    source_controller: RunningController,
) -> None:
    repo, empty = f"{namespace}-f", f"{namespace}-empty"
    git_repos.create(repo, {"a": "a"})
    git_repos.create_tag(repo, "v1.0.0")
    git_repos.create(empty)
    url = git_server.repo_url(repo)
    await create_secret(kube, namespace, "nokey", {"username": "x"})
    # name -> (spec, reason, words in the message, stalled)
    cases: dict[str, tuple[dict[str, object], str, str, bool]] = {
        "unreachable": (
            {"url": f"http://127.0.0.1:{closed_port()}/x.git", "ref": {"branch": "main"}},
            "GitOperationFailed", "cannot connect", False,
        ),
        "no-branch": ({"ref": {"branch": "nope"}}, "GitOperationFailed",
                      "branch 'nope' does not exist", False),
        "no-tag": ({"ref": {"tag": "v9"}}, "GitOperationFailed", "tag 'v9' does not exist", False),
        "no-semver": ({"ref": {"semver": ">=2.0.0"}}, "GitOperationFailed",
                      "no tag matches the semver range '>=2.0.0'", False),
        "bad-semver": ({"ref": {"semver": "not a range"}}, "InvalidConfiguration",
                       "spec.ref.semver", True),
        "empty": ({"url": git_server.repo_url(empty), "ref": {"branch": "main"}},
                  "GitOperationFailed", "the repository is empty", False),
        "missing-repo": ({"url": git_server.repo_url(f"{namespace}-missing")},
                         "GitOperationFailed", "not found", False),
        "no-secret": ({"secretRef": {"name": "absent"}}, "AuthenticationFailed",
                      f"secret '{namespace}/absent' not found", False),
        "ssh-no-key": ({"url": "ssh://git@127.0.0.1:1/x.git", "secretRef": {"name": "nokey"}},
                       "AuthenticationFailed", "has no 'identity' key", False),
        # Accepted for Flux manifests, not done by eddy: refused, never claimed.
        "proxy": ({"url": "ssh://git@127.0.0.1:1/x.git", "proxySecretRef": {"name": "proxy"}},
                  "InvalidConfiguration", "spec.proxySecretRef works with http and https URLs",
                  True),
        "provider": ({"provider": "github"}, "InvalidConfiguration",
                     "spec.provider 'github' is not supported", True),
    }  # fmt: skip
    for name, (spec, *_) in cases.items():
        body = git_repository(name, namespace, url, ref={"branch": "main"})
        body["spec"].update(spec)
        await kube.create(GR, body)
    for name, (_, reason, words, stalled) in cases.items():
        obj = await failed(kube, GR, namespace, name)
        ready_cond = condition(obj, "Ready")
        assert ready_cond["reason"] == reason, (name, ready_cond)
        assert words in ready_cond["message"], (name, ready_cond)
        if stalled:
            assert condition(obj, "Stalled")["status"] == "True", name
            assert not condition(obj, "Reconciling"), name
        else:
            assert condition(obj, "Reconciling")["reason"] == "ProgressingWithRetry", name
            assert not condition(obj, "Stalled"), name
        assert "artifact" not in obj["status"], name
        assert reason in await warning_reasons(kube, namespace, name), name


async def test_last_good_artifact_survives_a_failure(
    kube: ResourceClient,
    namespace: str,
    git_repos: GitRepos,
    git_server: GitHTTPServer,
    source_controller: RunningController,
    tmp_path: Path,
) -> None:
    repo = f"{namespace}-keep"
    git_repos.create(repo, {"a.yaml": "good\n"})
    await kube.create(GR, git_repository("keep", namespace, git_server.repo_url(repo),
                                         ref={"branch": "main"}))  # fmt: skip
    good = (await ready(kube, GR, namespace, "keep"))["status"]["artifact"]
    await kube.patch(GR, "keep", {"spec": {"ref": {"branch": "gone"}}}, namespace)
    obj = await failed(kube, GR, namespace, "keep")
    assert obj["status"]["artifact"] == good
    assert condition(obj, "ArtifactInStorage")["status"] == "True"
    assert await download(good, tmp_path / "still") == {"a.yaml": b"good\n"}


async def test_timeout_against_a_server_that_accepts_and_stalls(
    kube: ResourceClient,
    namespace: str,
    source_controller: RunningController,
) -> None:
    held: list[asyncio.StreamWriter] = []

    async def stall(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Take the request and never answer, keeping the connection open.
        held.append(writer)
        await reader.read(1 << 16)

    server = await asyncio.start_server(stall, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        url = f"http://flux:{PASSWORD}@127.0.0.1:{port}/stalled.git"
        await kube.create(GR, git_repository("stalled", namespace, url, ref={"branch": "main"},
                                             timeout="1s"))  # fmt: skip
        started = time.monotonic()
        obj = await failed(kube, GR, namespace, "stalled")
        assert time.monotonic() - started < 15
        assert held, "the controller never connected"
        ready_cond = condition(obj, "Ready")
        assert ready_cond["reason"] == "GitOperationFailed"
        assert "timed out after 1s; raise spec.timeout" in ready_cond["message"]
        assert f"http://127.0.0.1:{port}/stalled.git" in ready_cond["message"]
        assert condition(obj, "FetchFailed")["status"] == "True"
        assert condition(obj, "Reconciling")["reason"] == "ProgressingWithRetry"
        assert not condition(obj, "Stalled")
        assert "GitOperationFailed" in await warning_reasons(kube, namespace, "stalled")
        events = await events_for(kube, namespace, "stalled")
        assert PASSWORD not in str(obj["status"]) and PASSWORD not in str(events)
    finally:
        server.close()
        for writer in held:
            writer.close()
        await server.wait_closed()
