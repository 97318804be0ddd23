"""The Git SSH server is real OpenSSH: keys, passphrases and host-key checking hold.

Flux users authenticate GitRepositories with `identity` + `known_hosts` Secrets;
these tests prove the server accepts exactly what such a Secret allows.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from eddy_testenv.gitserver import GitRepo, GitSSHServer, ssh_keygen

pytestmark = pytest.mark.integration


def run_git(
    ssh_command: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "GIT_SSH_COMMAND": ssh_command, **(env or {})},
        check=False,
    )


def test_clone_and_push_with_key(
    git_ssh_server: GitSSHServer, git_repo: GitRepo, tmp_path: Path
) -> None:
    sha = git_repo.commit({"app.yaml": "v1\n"})
    url = git_ssh_server.repo_url(git_repo.name)
    assert url.startswith(f"ssh://{git_ssh_server.user}@127.0.0.1:{git_ssh_server.port}/")
    command = git_ssh_server.ssh_command()
    cloned = run_git(command, "clone", url, str(tmp_path / "c"))
    assert cloned.returncode == 0, cloned.stderr
    assert run_git(command, "-C", str(tmp_path / "c"), "rev-parse", "HEAD").stdout.strip() == sha

    (tmp_path / "c/app.yaml").write_text("v2\n")
    assert run_git(command, "-C", str(tmp_path / "c"), "commit", "-qam", "v2").returncode == 0
    pushed = run_git(command, "-C", str(tmp_path / "c"), "push", "origin", "main")
    assert pushed.returncode == 0, pushed.stderr
    assert git_repo.log()[0].message == "v2"


def test_unknown_host_key_is_refused(
    git_ssh_server: GitSSHServer, git_repo: GitRepo, tmp_path: Path
) -> None:
    git_repo.commit({"a": "1"})
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    refused = run_git(
        git_ssh_server.ssh_command(known_hosts=empty),
        "ls-remote",
        git_ssh_server.repo_url(git_repo.name),
    )
    assert refused.returncode != 0
    assert "Host key verification failed" in refused.stderr


def test_wrong_host_key_is_refused(
    git_ssh_server: GitSSHServer, git_repo: GitRepo, tmp_path: Path
) -> None:
    git_repo.commit({"a": "1"})
    impostor = ssh_keygen(tmp_path / "impostor")
    kind, key = impostor.identity_pub.decode().split()[:2]
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{git_ssh_server.port} {kind} {key}\n")
    refused = run_git(
        git_ssh_server.ssh_command(known_hosts=known),
        "ls-remote",
        git_ssh_server.repo_url(git_repo.name),
    )
    assert refused.returncode != 0
    assert "HOST IDENTIFICATION HAS CHANGED" in refused.stderr


def test_unauthorized_key_is_refused(
    git_ssh_server: GitSSHServer, git_repo: GitRepo, tmp_path: Path
) -> None:
    git_repo.commit({"a": "1"})
    stranger = ssh_keygen(tmp_path / "stranger")
    refused = run_git(
        git_ssh_server.ssh_command(stranger), "ls-remote", git_ssh_server.repo_url(git_repo.name)
    )
    assert refused.returncode != 0
    assert "Permission denied" in refused.stderr


def test_encrypted_key_needs_its_passphrase(
    git_ssh_server: GitSSHServer, git_repo: GitRepo, tmp_path: Path
) -> None:
    git_repo.commit({"a": "1"})
    key = git_ssh_server.encrypted_client_key
    assert key.passphrase
    # The private key really is encrypted: reading it without the passphrase fails.
    unlock = ["ssh-keygen", "-y", "-f", str(key.private_key)]
    assert subprocess.run([*unlock, "-P", ""], capture_output=True, timeout=10).returncode != 0
    derived = subprocess.run([*unlock, "-P", key.passphrase], capture_output=True, timeout=10)
    assert derived.stdout.split()[:2] == key.identity_pub.split()[:2]
    url = git_ssh_server.repo_url(git_repo.name)
    command = git_ssh_server.ssh_command(key)
    # BatchMode forbids prompting, so without the passphrase the key is unusable.
    assert run_git(command, "ls-remote", url).returncode != 0

    askpass = tmp_path / "askpass.sh"
    askpass.write_text(f"#!/bin/sh\necho '{key.passphrase}'\n")
    askpass.chmod(0o700)
    with_passphrase = run_git(
        command.replace("BatchMode=yes", "BatchMode=no"),
        "ls-remote",
        url,
        env={"SSH_ASKPASS": str(askpass), "SSH_ASKPASS_REQUIRE": "force", "DISPLAY": ":0"},
    )
    assert with_passphrase.returncode == 0, with_passphrase.stderr
    assert "refs/heads/main" in with_passphrase.stdout


def test_known_hosts_line_matches_ssh_keyscan(git_ssh_server: GitSSHServer) -> None:
    scanned = subprocess.run(
        [
            "ssh-keygen",
            "-F",
            f"[127.0.0.1]:{git_ssh_server.port}",
            "-f",
            str(git_ssh_server.known_hosts),
        ],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    assert scanned.returncode == 0
    assert git_ssh_server.known_hosts_line.startswith(
        f"[127.0.0.1]:{git_ssh_server.port} ssh-ed25519 "
    )
