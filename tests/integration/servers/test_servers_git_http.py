"""The Git HTTP server is real git: clone, push, basic auth and TLS seen by real clients.

The source-controller's tests trust this server to behave like a Git host, so
each promise is checked with the git CLI, dulwich and plain HTTP requests.
"""

from __future__ import annotations

import io
import os
import ssl
import subprocess
import urllib.error
import urllib.request
from base64 import b64encode
from pathlib import Path

import pytest

from eddy_testenv.gitserver import GitHTTPServer, GitRepo

pytestmark = pytest.mark.integration


def run_git(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "GIT_TERMINAL_PROMPT": "0", **(env or {})},
        check=False,
    )


def http_status(url: str, auth: tuple[str, str] | None = None, cafile: Path | None = None) -> int:
    request = urllib.request.Request(url)
    if auth:
        request.add_header("Authorization", "Basic " + b64encode(":".join(auth).encode()).decode())
    context = ssl.create_default_context(cafile=str(cafile)) if cafile else None
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            return int(response.status)
    except urllib.error.HTTPError as err:
        return err.code


def test_clone_without_auth(git_server: GitHTTPServer, git_repo: GitRepo, tmp_path: Path) -> None:
    sha = git_repo.commit({"deploy/app.yaml": "kind: ConfigMap\n"}, message="first")
    done = run_git("clone", git_server.repo_url(git_repo.name), str(tmp_path / "c"))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "c/deploy/app.yaml").read_text() == "kind: ConfigMap\n"
    head = run_git("-C", str(tmp_path / "c"), "rev-parse", "HEAD").stdout.strip()
    assert head == sha


def test_branches_and_tags_are_served(
    git_server: GitHTTPServer, git_repo: GitRepo, tmp_path: Path
) -> None:
    main = git_repo.commit({"a": "1"})
    git_repo.create_branch("dev")
    dev = git_repo.commit({"a": "2"}, branch="dev")
    git_repo.create_tag("v1.0.0", message="release 1.0.0")
    git_repo.create_tag("light", "dev")
    refs = run_git("ls-remote", git_server.repo_url(git_repo.name)).stdout
    assert f"{main}\trefs/heads/main" in refs
    assert f"{dev}\trefs/heads/dev" in refs
    assert f"{main}\trefs/tags/v1.0.0^{{}}" in refs
    assert f"{dev}\trefs/tags/light" in refs


def test_basic_auth(git_server_auth: GitHTTPServer, git_repo: GitRepo, tmp_path: Path) -> None:
    git_repo.commit({"a": "1"})
    server = git_server_auth
    assert server.username and server.password
    refs = f"{server.repo_url(git_repo.name)}/info/refs?service=git-upload-pack"
    assert http_status(refs) == 401
    assert http_status(refs, (server.username, "wrong")) == 401
    assert http_status(refs, (server.username, server.password)) == 200

    anonymous = run_git("clone", server.repo_url(git_repo.name), str(tmp_path / "anon"))
    assert anonymous.returncode != 0
    assert "could not read Username" in anonymous.stderr or "401" in anonymous.stderr

    wrong = server.repo_url(git_repo.name, credentials=True).replace(server.password, "nope")
    refused = run_git("clone", wrong, str(tmp_path / "wrong"))
    assert refused.returncode != 0
    assert "Authentication failed" in refused.stderr

    ok = run_git("clone", server.repo_url(git_repo.name, credentials=True), str(tmp_path / "ok"))
    assert ok.returncode == 0, ok.stderr


def test_push_and_read_back(
    git_server_auth: GitHTTPServer, git_repo: GitRepo, tmp_path: Path
) -> None:
    git_repo.commit({"app.yaml": "image: app:1.0\n"})
    url = git_server_auth.repo_url(git_repo.name, credentials=True)
    clone = tmp_path / "c"
    assert run_git("clone", url, str(clone)).returncode == 0
    (clone / "app.yaml").write_text("image: app:1.1\n")
    assert run_git("-C", str(clone), "commit", "-qam", "bump app to 1.1").returncode == 0
    pushed = run_git("-C", str(clone), "push", "origin", "main")
    assert pushed.returncode == 0, pushed.stderr
    newest = git_repo.log()[0]
    assert newest.message == "bump app to 1.1"
    assert newest.files == ("app.yaml",)
    assert git_repo.read_file("app.yaml") == b"image: app:1.1\n"


def test_tls_with_generated_ca(
    git_server_tls: GitHTTPServer, git_repo: GitRepo, tmp_path: Path
) -> None:
    git_repo.commit({"a": "1"})
    server = git_server_tls
    assert server.url.startswith("https://") and server.ca_file is not None
    url = server.repo_url(git_repo.name, credentials=True)
    untrusted = run_git("clone", url, str(tmp_path / "u"), env={"GIT_SSL_CAINFO": os.devnull})
    assert untrusted.returncode != 0
    assert "certificate" in untrusted.stderr.lower() or "ssl" in untrusted.stderr.lower()
    trusted = run_git(
        "clone", url, str(tmp_path / "t"), env={"GIT_SSL_CAINFO": str(server.ca_file)}
    )
    assert trusted.returncode == 0, trusted.stderr


def test_dulwich_clones_with_credentials(
    git_server_auth: GitHTTPServer, git_repo: GitRepo, tmp_path: Path
) -> None:
    from dulwich import porcelain

    sha = git_repo.commit({"kustomization.yaml": "resources: []\n"})
    server = git_server_auth
    assert server.username is not None and server.password is not None
    repo = porcelain.clone(
        server.repo_url(git_repo.name),
        str(tmp_path / "d"),
        username=server.username,
        password=server.password,
        errstream=io.BytesIO(),
    )
    try:
        assert repo.head().decode() == sha
        assert (tmp_path / "d/kustomization.yaml").read_text() == "resources: []\n"
    finally:
        repo.close()
