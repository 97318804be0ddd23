"""Pytest fixtures for the real Git, Helm, OCI, S3, OTLP servers (and an HTTP proxy) tests use.

Servers are started once per session and only when a test asks for them; each
test gets its own fresh repository so tests never see each other's commits.
"""

from __future__ import annotations

import re
import secrets
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from eddy_testenv.gitserver import GitHTTPServer, GitRepo, GitRepos, GitSSHServer
from eddy_testenv.helmrepo import HelmRepo
from eddy_testenv.httpproxy import HTTPProxy
from eddy_testenv.jaeger import Jaeger
from eddy_testenv.registry import Registry
from eddy_testenv.s3server import S3Server

GIT_USERNAME = "eddy"
REGISTRY_USERNAME = "eddy"


@pytest.fixture(scope="session")
def git_repos() -> Iterator[GitRepos]:
    """The bare repositories every Git server fixture serves."""
    with tempfile.TemporaryDirectory(prefix="eddy-git-repos-") as root:
        yield GitRepos(Path(root))


@pytest.fixture
def git_repo(git_repos: GitRepos, request: pytest.FixtureRequest) -> GitRepo:
    """A fresh, empty repository named after the test (commit to create `main`)."""
    base = re.sub(r"[^a-z0-9-]+", "-", request.node.name.lower()).strip("-")[:40]
    name = f"{base or 'repo'}-{secrets.token_hex(3)}"
    git_repos.create(name)
    return GitRepo(git_repos, name)


@pytest.fixture(scope="session")
def git_server(git_repos: GitRepos) -> Iterator[GitHTTPServer]:
    """git smart HTTP without authentication."""
    with GitHTTPServer(git_repos) as server:
        yield server


@pytest.fixture(scope="session")
def git_server_auth(git_repos: GitRepos) -> Iterator[GitHTTPServer]:
    """git smart HTTP requiring basic auth (`username` / `password` attributes)."""
    with GitHTTPServer(git_repos, username=GIT_USERNAME, password=secrets.token_hex(8)) as server:
        yield server


@pytest.fixture(scope="session")
def git_server_tls(git_repos: GitRepos) -> Iterator[GitHTTPServer]:
    """git smart HTTPS with basic auth; its CA certificate is at `ca_file`."""
    with GitHTTPServer(
        git_repos, username=GIT_USERNAME, password=secrets.token_hex(8), tls=True
    ) as server:
        yield server


@pytest.fixture(scope="session")
def git_ssh_server(git_repos: GitRepos) -> Iterator[GitSSHServer]:
    """OpenSSH serving the same repositories; keys and known_hosts as attributes."""
    with GitSSHServer(git_repos) as server:
        yield server


@pytest.fixture
def helm_repo() -> Iterator[HelmRepo]:
    """An empty chart repository over plain HTTP, just for this test."""
    with HelmRepo() as repo:
        yield repo


@pytest.fixture
def helm_repo_factory() -> Iterator[Callable[..., HelmRepo]]:
    """Start chart repositories with other options: `helm_repo_factory(username=…, tls=True)`."""
    started: list[HelmRepo] = []

    def start(
        *, username: str | None = None, password: str | None = None, tls: bool = False
    ) -> HelmRepo:
        repo = HelmRepo(username=username, password=password, tls=tls)
        repo.start()
        started.append(repo)
        return repo

    try:
        yield start
    finally:
        for repo in started:
            repo.stop()


@pytest.fixture(scope="session")
def oci_registry() -> Iterator[Registry]:
    """An OCI registry over plain HTTP requiring basic auth (`username` / `password`)."""
    with Registry(username=REGISTRY_USERNAME, password=secrets.token_hex(8)) as registry:
        yield registry


@pytest.fixture(scope="session")
def oci_registry_tls() -> Iterator[Registry]:
    """An OCI registry over HTTPS with basic auth; its CA certificate is at `ca_file`."""
    with Registry(username=REGISTRY_USERNAME, password=secrets.token_hex(8), tls=True) as registry:
        yield registry


@pytest.fixture(scope="session")
def oci_registry_anonymous() -> Iterator[Registry]:
    """An OCI registry over plain HTTP that anyone may pull from and push to."""
    with Registry() as registry:
        yield registry


@pytest.fixture
def oci_repository(request: pytest.FixtureRequest) -> str:
    """A registry path (`charts/<test name>-<random>`) no other test pushes to."""
    base = re.sub(r"[^a-z0-9-]+", "-", request.node.name.lower()).strip("-")[:40]
    return f"charts/{base or 'test'}-{secrets.token_hex(3)}"


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """An S3-compatible server (S3Proxy) over HTTP and HTTPS, requiring signed requests."""
    with S3Server() as server:
        yield server


@pytest.fixture
def s3_bucket(s3_server: S3Server, request: pytest.FixtureRequest) -> str:
    """A new, empty bucket on `s3_server` that no other test uses."""
    base = re.sub(r"[^a-z0-9-]+", "-", request.node.name.lower()).strip("-")[:40]
    name = f"{base or 'test'}-{secrets.token_hex(3)}".strip("-")
    s3_server.create_bucket(name)
    return name


@pytest.fixture(scope="session")
def http_proxy() -> Iterator[HTTPProxy]:
    """An HTTP proxy (tinyproxy) that requires basic auth and logs what it carried."""
    with HTTPProxy(username="proxy", password=secrets.token_hex(8)) as proxy:
        yield proxy


@pytest.fixture(scope="session")
def jaeger() -> Iterator[Jaeger]:
    """Jaeger with in-memory storage: spans in over OTLP/HTTP, traces out of its query API."""
    with Jaeger() as running:
        yield running
