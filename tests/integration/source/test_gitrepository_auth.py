"""GitRepository authentication against real servers: basic, bearer, TLS with a CA, SSH."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from eddy_runtime.resources import ResourceClient
from eddy_testenv.gitserver import GitHTTPServer, GitRepos, GitSSHServer
from eddy_testenv.observe import condition, events_for
from source_controller.kinds import GIT_REPOSITORIES as GR

from .conftest import RunningController
from .support import (
    create_secret,
    download,
    eventually,
    failed,
    git_repository,
    ready,
    warning_reasons,
)

pytestmark = pytest.mark.integration


async def test_basic_auth_and_wrong_password(
    kube: ResourceClient,
    namespace: str,
    git_repos: GitRepos,
    git_server_auth: GitHTTPServer,
    source_controller: RunningController,
) -> None:
    repo = f"{namespace}-private"
    git_repos.create(repo, {"a.yaml": "a: 1\n"})
    url = git_server_auth.repo_url(repo)
    creds = {"username": git_server_auth.username, "password": git_server_auth.password}
    await create_secret(kube, namespace, "good", creds)
    await create_secret(kube, namespace, "bad", {**creds, "password": "nope"})
    await kube.create(GR, git_repository("good", namespace, url, ref={"branch": "main"},
                                         secretRef={"name": "good"}))  # fmt: skip
    await kube.create(GR, git_repository("bad", namespace, url, ref={"branch": "main"},
                                         secretRef={"name": "bad"}))  # fmt: skip
    await kube.create(GR, git_repository("none", namespace, url, ref={"branch": "main"}))
    await ready(kube, GR, namespace, "good")
    for name in ("bad", "none"):
        obj = await failed(kube, GR, namespace, name)
        ready_cond = condition(obj, "Ready")
        assert ready_cond["reason"] == "GitOperationFailed"
        assert "authentication failed" in ready_cond["message"]
        assert str(creds["password"]) not in str(obj) and "nope" not in str(obj)
        assert condition(obj, "FetchFailed")["status"] == "True"
        assert condition(obj, "Reconciling")["status"] == "True"


async def test_https_with_custom_ca(
    kube: ResourceClient,
    namespace: str,
    git_repos: GitRepos,
    git_server_tls: GitHTTPServer,
    source_controller: RunningController,
) -> None:
    repo = f"{namespace}-tls"
    git_repos.create(repo, {"a.yaml": "a: 1\n"})
    url = git_server_tls.repo_url(repo)
    assert url.startswith("https://") and git_server_tls.ca_file is not None
    creds = {"username": git_server_tls.username, "password": git_server_tls.password}
    await create_secret(
        kube, namespace, "with-ca", {**creds, "ca.crt": git_server_tls.ca_file.read_bytes()}
    )
    await create_secret(kube, namespace, "no-ca", creds)
    await kube.create(GR, git_repository("trusted", namespace, url, ref={"branch": "main"},
                                         secretRef={"name": "with-ca"}))  # fmt: skip
    await kube.create(GR, git_repository("untrusted", namespace, url, ref={"branch": "main"},
                                         secretRef={"name": "no-ca"}))  # fmt: skip
    await ready(kube, GR, namespace, "trusted")
    obj = await failed(kube, GR, namespace, "untrusted")
    assert "TLS verification failed" in condition(obj, "Ready")["message"]
    assert "ca.crt" in condition(obj, "Ready")["message"]


async def test_ssh_keys_passphrase_and_host_keys(
    kube: ResourceClient,
    namespace: str,
    git_repos: GitRepos,
    git_ssh_server: GitSSHServer,
    source_controller: RunningController,
) -> None:
    repo = f"{namespace}-ssh"
    git_repos.create(repo)
    sha = git_repos.commit(repo, {"a.yaml": "a: 1\n"})
    url = git_ssh_server.repo_url(repo)
    known_hosts = git_ssh_server.known_hosts_line + "\n"
    plain, encrypted = git_ssh_server.client_key, git_ssh_server.encrypted_client_key
    assert encrypted.passphrase is not None
    await create_secret(kube, namespace, "plain",
                        {"identity": plain.identity, "known_hosts": known_hosts})  # fmt: skip
    await create_secret(kube, namespace, "encrypted", {
        "identity": encrypted.identity, "password": encrypted.passphrase,
        "known_hosts": known_hosts,
    })  # fmt: skip
    # A host key that is not the server's: the connection must be refused.
    other = git_ssh_server.known_hosts_line.split()[0] + (
        " ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n"
    )
    await create_secret(kube, namespace, "wrong-host",
                        {"identity": plain.identity, "known_hosts": other})  # fmt: skip
    await create_secret(kube, namespace, "no-known-hosts", {"identity": plain.identity})
    for name in ("plain", "encrypted", "wrong-host", "no-known-hosts"):
        await kube.create(GR, git_repository(name, namespace, url, ref={"branch": "main"},
                                             secretRef={"name": name}))  # fmt: skip
    for name in ("plain", "encrypted"):
        obj = await ready(kube, GR, namespace, name)
        assert obj["status"]["artifact"]["revision"] == f"main@sha1:{sha}"
    obj = await failed(kube, GR, namespace, "wrong-host")
    assert condition(obj, "Ready")["reason"] == "GitOperationFailed"
    assert "host key" in condition(obj, "Ready")["message"]
    obj = await failed(kube, GR, namespace, "no-known-hosts")
    assert condition(obj, "Ready")["reason"] == "AuthenticationFailed"
    assert "'known_hosts'" in condition(obj, "Ready")["message"]


TOKEN = "t0ken-of-the-bearer"


async def test_bearer_token_and_wrong_token(
    kube: ResourceClient,
    namespace: str,
    git_repos: GitRepos,
    source_controller: RunningController,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    repo = f"{namespace}-bearer"
    git_repos.create(repo)
    sha = git_repos.commit(repo, {"a.yaml": "a: 1\n"})
    await create_secret(kube, namespace, "token", {"bearerToken": TOKEN})
    await create_secret(kube, namespace, "wrong-token", {"bearerToken": "not-" + TOKEN})
    with GitHTTPServer(git_repos, bearer_token=TOKEN, workdir=tmp_path / "git") as server:
        url = server.repo_url(repo)
        for name in ("token", "wrong-token"):
            await kube.create(GR, git_repository(name, namespace, url, ref={"branch": "main"},
                                                 secretRef={"name": name}))  # fmt: skip
        await kube.create(GR, git_repository("anonymous", namespace, url, ref={"branch": "main"}))
        obj = await ready(kube, GR, namespace, "token")
        assert obj["status"]["artifact"]["revision"] == f"main@sha1:{sha}"
        assert await download(obj["status"]["artifact"], tmp_path / "a") == {"a.yaml": b"a: 1\n"}
        for name in ("wrong-token", "anonymous"):
            obj = await failed(kube, GR, namespace, name)
            ready_cond = condition(obj, "Ready")
            assert ready_cond["reason"] == "GitOperationFailed", name
            assert "authentication failed (HTTP 401)" in ready_cond["message"], name
            assert condition(obj, "Reconciling")["reason"] == "ProgressingWithRetry", name
    await warning_reasons(kube, namespace, "wrong-token")
    seen = [str(obj) for obj in (await kube.list(GR, namespace))["items"]]
    seen += [str(event) for event in await events_for(kube, namespace, "token")]
    seen += [str(event) for event in await events_for(kube, namespace, "wrong-token")]
    seen.append(caplog.text)
    assert not [text for text in seen if TOKEN in text]


async def test_credentials_in_the_url_stay_out_of_status_events_and_logs(
    kube: ResourceClient,
    namespace: str,
    git_repos: GitRepos,
    git_server_auth: GitHTTPServer,
    source_controller: RunningController,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    repo = f"{namespace}-inurl"
    git_repos.create(repo, {"a.yaml": "a: 1\n"})
    url = git_server_auth.repo_url(repo, credentials=True)
    missing = git_server_auth.repo_url(f"{namespace}-absent", credentials=True)
    password = str(git_server_auth.password)
    assert password in url
    await kube.create(GR, git_repository("inurl", namespace, url, ref={"branch": "main"}))
    await kube.create(GR, git_repository("absent", namespace, missing, ref={"branch": "main"}))
    await ready(kube, GR, namespace, "inurl")
    obj = await failed(kube, GR, namespace, "absent")
    assert "not found" in condition(obj, "Ready")["message"]
    await warning_reasons(kube, namespace, "absent")

    async def announced() -> list[str]:
        events = await events_for(kube, namespace, "inurl")
        return [e["message"] for e in events if e["reason"] == "NewArtifact"]

    message = (await eventually(announced))[0]
    assert git_server_auth.repo_url(repo) in message
    statuses = [str(o.get("status")) for o in (await kube.list(GR, namespace))["items"]]
    events = [
        str(e) for name in ("inurl", "absent") for e in await events_for(kube, namespace, name)
    ]
    assert not [text for text in [*statuses, *events, caplog.text] if password in text]


async def test_a_bearer_token_with_a_line_break_is_refused_without_showing_it(
    kube: ResourceClient,
    namespace: str,
    git_repos: GitRepos,
    git_server: GitHTTPServer,
    source_controller: RunningController,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # `echo $TOKEN > file; kubectl create secret --from-file` leaves a newline.
    caplog.set_level(logging.DEBUG)
    repo = f"{namespace}-newline"
    git_repos.create(repo, {"a.yaml": "a: 1\n"})
    await create_secret(kube, namespace, "newline", {"bearerToken": TOKEN + "\n"})
    await kube.create(GR, git_repository("newline", namespace, git_server.repo_url(repo),
                                         ref={"branch": "main"},
                                         secretRef={"name": "newline"}))  # fmt: skip
    obj = await failed(kube, GR, namespace, "newline")
    ready_cond = condition(obj, "Ready")
    assert ready_cond["reason"] == "AuthenticationFailed", ready_cond
    assert "'bearerToken'" in ready_cond["message"] and "line break" in ready_cond["message"]
    assert condition(obj, "Reconciling")["reason"] == "ProgressingWithRetry"
    await warning_reasons(kube, namespace, "newline")
    events = await events_for(kube, namespace, "newline")
    assert not [t for t in (str(obj["status"]), str(events), caplog.text) if TOKEN in t]
