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


def signed_tag(git_repos: GitRepos, repo: str, key: GpgKey, tag: str) -> None:
    git("tag", "-s", f"-u{key.fingerprint}", "-m", f"release {tag}", tag, "main",
        cwd=git_repos.path(repo), env=key.env)  # fmt: skip


async def test_tag_mode_verifies_the_annotated_tag(
    kube: ResourceClient, namespace: str, git_repos: GitRepos, git_server: GitHTTPServer,
    source_controller: RunningController,
) -> None:  # fmt: skip
    repo = f"{namespace}-tags"
    git_repos.create(repo)
    sha = git_repos.commit(repo, {"app.yaml": "kind: ConfigMap\n"})
    git_repos.create_tag(repo, "v0.9.0", message="unsigned release")
    with gpg_key("releaser") as releaser:
        signed_tag(git_repos, repo, releaser, "v1.0.0")
        await create_secret(kube, namespace, "keys", {"releaser.asc": releaser.public})
        url = git_server.repo_url(repo)
        for mode in ("Tag", "TagAndHEAD"):
            await kube.create(GR, git_repository(
                mode.lower(), namespace, url, ref={"tag": "v1.0.0"},
                verify={"mode": mode, "secretRef": {"name": "keys"}},
            ))  # fmt: skip
        obj = await eventually(lambda: _verified(kube, namespace, "tag"), timeout=30)
        message = condition(obj, "SourceVerified")["message"]
        assert f"tag 'v1.0.0' (commit '{sha}') with key '{releaser.fingerprint}'" in message
        assert obj["status"]["artifact"]["revision"] == f"v1.0.0@sha1:{sha}"
        # The commit itself is not signed: TagAndHEAD fails on it.
        obj = await eventually(lambda: _unverified(kube, namespace, "tagandhead"), timeout=30)
        assert "the commit is not signed" in condition(obj, "SourceVerified")["message"]

        await kube.patch(GR, "tag", {"spec": {"ref": {"tag": "v0.9.0"}}}, namespace)
        obj = await eventually(lambda: _unverified(kube, namespace, "tag"), timeout=30)
        assert "tag 'v0.9.0'" in condition(obj, "SourceVerified")["message"]
        assert condition(obj, "Ready")["reason"] == "InvalidTagSignature"


async def _verified(kube: ResourceClient, namespace: str, name: str) -> dict[str, object] | None:
    obj = await kube.get(GR, name, namespace)
    return obj if condition(obj, "SourceVerified").get("status") == "True" else None


async def _unverified(kube: ResourceClient, namespace: str, name: str) -> dict[str, object] | None:
    obj = await kube.get(GR, name, namespace)
    current = (obj.get("status") or {}).get("observedGeneration") == obj["metadata"]["generation"]
    verified = condition(obj, "SourceVerified").get("status")
    return obj if current and verified == "False" else None
