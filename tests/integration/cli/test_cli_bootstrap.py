"""`eddy bootstrap git` against the local Git server, with the controllers running as processes.

The test control plane has no node, so the controllers the bootstrap installs
as Deployments run here as processes instead; they reconcile the sync
Kustomization from the commit the command pushed.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
import yaml

from eddy_testenv import ControlPlane
from eddy_testenv.controllers import ControllerProcess
from eddy_testenv.gitserver import GitHTTPServer, GitRepo, GitSSHServer

from ..install.support import get, kubectl
from .support import eddy, one_error_line, run_controllers

pytestmark = pytest.mark.integration


@pytest.fixture
def controllers(control_plane: ControlPlane) -> Iterator[list[ControllerProcess]]:
    with run_controllers(
        control_plane.kubeconfig, "source-controller", "kustomize-controller"
    ) as running:
        yield running


@pytest.fixture
def target(control_plane: ControlPlane) -> Iterator[str]:
    """The namespace to bootstrap into; uninstalled at the end, never pruned."""
    namespace = f"eddy-boot-{secrets.token_hex(3)}"
    yield namespace
    eddy("-n", namespace, "uninstall", "--yes", kubeconfig=control_plane.kubeconfig)


def _stop(controllers: list[ControllerProcess]) -> None:
    # Before anything is deleted: a running kustomize-controller would prune
    # what the sync Kustomization applied, CRDs included.
    for controller in controllers:
        controller.stop()


def test_bootstrap_commits_installs_and_syncs(
    control_plane: ControlPlane,
    controllers: list[ControllerProcess],
    target: str,
    git_repo: GitRepo,
    git_server_auth: GitHTTPServer,
) -> None:
    admin = control_plane.kubeconfig
    url = git_server_auth.repo_url(git_repo.name)
    auth = ["--username", git_server_auth.username, "--password", git_server_auth.password]
    try:
        args = [
            "-n",
            target,
            "bootstrap",
            "git",
            "--url",
            url,
            "--path",
            "./clusters/dev",
            *auth,
            "--timeout",
            "90",
        ]
        first = eddy(*args, kubeconfig=admin, timeout=180)
        assert first.code == 0, first.stderr
        head = git_repo.head()
        assert head and f"pushed commit {head}" in first.stderr
        (commit,) = git_repo.log(limit=5)
        assert sorted(commit.files) == [
            "clusters/dev/flux-system/gotk-components.yaml",
            "clusters/dev/flux-system/gotk-sync.yaml",
            "clusters/dev/flux-system/kustomization.yaml",
        ]
        sync = list(
            yaml.safe_load_all(git_repo.read_file("clusters/dev/flux-system/gotk-sync.yaml"))
        )
        source, kustomization = (d for d in sync if d)
        assert source["spec"] == {
            "interval": "1m0s",
            "ref": {"branch": "main"},
            "url": url,
            "secretRef": {"name": "flux-system"},
        }
        assert kustomization["spec"]["path"] == "./clusters/dev"
        components = git_repo.read_file("clusters/dev/flux-system/gotk-components.yaml").decode()
        assert git_server_auth.password not in components

        synced = get(admin, "kustomization", "flux-system", f"--namespace={target}")
        assert synced["status"]["lastAppliedRevision"] == f"main@sha1:{head}"
        deployment = get(admin, "deployment", "source-controller", f"--namespace={target}")
        labels = deployment["metadata"]["labels"]
        assert labels["kustomize.toolkit.fluxcd.io/name"] == "flux-system"
        assert labels["kustomize.toolkit.fluxcd.io/namespace"] == target

        again = eddy(*args, kubeconfig=admin, timeout=180)
        assert again.code == 0, again.stderr
        assert f"already up to date at commit {head}" in again.stderr
        assert git_repo.head() == head

        upgrade = eddy(*args, "--tag", "0.2.0", kubeconfig=admin, timeout=180)
        assert upgrade.code == 0, upgrade.stderr
        new_head = git_repo.head()
        assert new_head != head and git_repo.log(limit=2)[1].sha == head
        synced = get(admin, "kustomization", "flux-system", f"--namespace={target}")
        assert synced["status"]["lastAppliedRevision"] == f"main@sha1:{new_head}"
        deployment = get(admin, "deployment", "kustomize-controller", f"--namespace={target}")
        image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
        assert image == "ghcr.io/eddy-gitops/eddy:0.2.0"
    finally:
        _stop(controllers)


def test_bootstrap_refused_push(
    control_plane: ControlPlane, git_repo: GitRepo, git_server_auth: GitHTTPServer
) -> None:
    url = git_server_auth.repo_url(git_repo.name)
    result = eddy(
        "-n",
        "eddy-never",
        "bootstrap",
        "git",
        "--url",
        url,
        "--path",
        "clusters/x",
        "--username",
        "eddy",
        "--password",
        "wrong",
        kubeconfig=control_plane.kubeconfig,
    )
    line = one_error_line(result)
    assert "refused the credentials (HTTP 401)" in line and "wrong" not in line
    assert git_repo.head() is None


def test_bootstrap_bad_input(control_plane: ControlPlane) -> None:
    admin = control_plane.kubeconfig
    base = ["bootstrap", "git", "--url", "https://git.test/fleet.git"]
    line = one_error_line(eddy(*base, "--path", "../elsewhere", kubeconfig=admin))
    assert "leaves the repository" in line
    line = one_error_line(eddy(*base, "--path", "/abs", kubeconfig=admin))
    assert "relative to the repository root" in line
    line = one_error_line(
        eddy(
            "bootstrap",
            "git",
            "--url",
            "ssh://git@git.test/fleet.git",
            "--path",
            "clusters/x",
            kubeconfig=admin,
        )
    )
    assert "--private-key-file and --known-hosts-file" in line
    line = one_error_line(
        eddy("bootstrap", "git", "--url", "ftp://git.test/x", "--path", "c", kubeconfig=admin)
    )
    assert "not supported" in line


def test_bootstrap_over_ssh_without_waiting(
    control_plane: ControlPlane, git_repo: GitRepo, git_ssh_server: GitSSHServer
) -> None:
    """SSH auth for the push, and the Secret the cluster gets holds the same key."""
    admin = control_plane.kubeconfig
    namespace = f"eddy-boot-ssh-{secrets.token_hex(3)}"
    try:
        result = eddy(
            "-n",
            namespace,
            "bootstrap",
            "git",
            "--url",
            git_ssh_server.repo_url(git_repo.name),
            "--path",
            "clusters/ssh",
            "--private-key-file",
            str(git_ssh_server.client_key.private_key),
            "--known-hosts-file",
            str(git_ssh_server.known_hosts),
            "--no-wait",
            kubeconfig=admin,
            timeout=120,
        )
        assert result.code == 0, result.stderr
        assert git_repo.log(limit=1)[0].files
        secret = get(admin, "secret", "flux-system", f"--namespace={namespace}")
        assert set(secret["data"]) == {"identity", "known_hosts"}
        source = get(admin, "gitrepository", "flux-system", f"--namespace={namespace}")
        assert source["spec"]["url"] == git_ssh_server.repo_url(git_repo.name)
    finally:
        eddy("-n", namespace, "uninstall", "--yes", kubeconfig=admin)
        kubectl(admin, "delete", "namespace", namespace, "--ignore-not-found", "--wait=false")
