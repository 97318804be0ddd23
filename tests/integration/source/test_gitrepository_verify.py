"""spec.verify: a GitRepository builds an artifact only from a commit signed (OpenPGP) by
a key its Secret holds; commits are signed by the real git and gpg."""

from __future__ import annotations

import pytest

from eddy_runtime.resources import ResourceClient
from eddy_testenv.gitserver import GitHTTPServer, GitRepos, git
from eddy_testenv.gpg import GpgKey, gpg_key
from eddy_testenv.observe import condition
from source_controller.kinds import GIT_REPOSITORIES as GR

from .conftest import RunningController
from .support import create_secret, eventually, git_repository, request_reconcile

pytestmark = pytest.mark.integration


def signed_commit(git_repos: GitRepos, repo: str, key: GpgKey, message: str) -> str:
    """A commit of main's tree on top of main, signed by `key` with `git commit-tree -S`."""
    path = git_repos.path(repo)
    tree = git("rev-parse", "main^{tree}", cwd=path).strip()
    sha = git("commit-tree", tree, "-p", "main", f"-S{key.fingerprint}", cwd=path,
              input=message.encode(), env=key.env).strip()  # fmt: skip
    git("update-ref", "refs/heads/main", sha, cwd=path)
    return sha


async def verified_state(
    kube: ResourceClient, namespace: str, status: str, text: str
) -> dict[str, object]:
    async def probe() -> dict[str, object] | None:
        obj = await kube.get(GR, "app", namespace)
        verified = condition(obj, "SourceVerified")
        if verified.get("status") == status and text in verified.get("message", ""):
            return obj
        return None

    return await eventually(probe, timeout=30)


async def test_only_commits_signed_by_a_trusted_key_become_artifacts(
    kube: ResourceClient, namespace: str, git_repos: GitRepos, git_server: GitHTTPServer,
    source_controller: RunningController,
) -> None:  # fmt: skip
    repo = f"{namespace}-signed"
    git_repos.create(repo)
    unsigned = git_repos.commit(repo, {"app.yaml": "kind: ConfigMap\n"})
    with gpg_key("trusted") as trusted, gpg_key("stranger") as stranger:
        await create_secret(kube, namespace, "keys", {"author.asc": trusted.public})
        verify = {"mode": "HEAD", "secretRef": {"name": "keys"}}
        await kube.create(GR, git_repository("app", namespace, git_server.repo_url(repo),
                                             ref={"branch": "main"}, verify=verify))  # fmt: skip
        obj = await verified_state(kube, namespace, "False", "the commit is not signed")
        assert unsigned in condition(obj, "SourceVerified")["message"]
        assert condition(obj, "Ready")["reason"] == "InvalidCommitSignature"
        assert "artifact" not in obj["status"]

        good = signed_commit(git_repos, repo, trusted, "signed by a trusted key")
        await request_reconcile(kube, GR, namespace, "app")
        obj = await verified_state(kube, namespace, "True", trusted.fingerprint)
        assert good in condition(obj, "SourceVerified")["message"]
        assert obj["status"]["artifact"]["revision"] == f"main@sha1:{good}"
        assert condition(obj, "Ready")["status"] == "True"

        bad = signed_commit(git_repos, repo, stranger, "signed by someone else")
        await request_reconcile(kube, GR, namespace, "app")
        obj = await verified_state(kube, namespace, "False", "does not hold")
        message = condition(obj, "SourceVerified")["message"]
        assert bad in message and f"Secret '{namespace}/keys'" in message, message
        assert condition(obj, "Ready")["status"] == "False"
        # The last verified artifact is still the one served.
        assert obj["status"]["artifact"]["revision"] == f"main@sha1:{good}"
