"""Image automation pushing with the credentials the source-controller also reads.

SSH with an identity and known_hosts, and a bearer token over HTTP: the
GitRepository's Secret serves the automation's push as it serves the fetch.
"""

from __future__ import annotations

import base64
import secrets
from pathlib import Path
from typing import Any

from eddy_runtime.manager import Manager
from eddy_runtime.resources import SECRETS, Obj, ResourceClient
from eddy_testenv.gitserver import GitHTTPServer, GitRepo, GitRepos, GitSSHServer
from eddy_testenv.observe import condition
from eddy_testenv.registry import Registry

from .support import (
    GIT_REPOSITORIES,
    IMAGE_POLICIES,
    IMAGE_REPOSITORIES,
    IMAGE_UPDATE_AUTOMATIONS,
    eventually,
    manifest,
    push_image,
)

TOKEN = "t0ken-for-pushing"


async def secret(kube: ResourceClient, namespace: str, name: str, data: dict[str, bytes]) -> None:
    encoded = {k: base64.b64encode(v).decode() for k, v in data.items()}
    body = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "data": encoded}
    await kube.create(SECRETS, body, namespace)


async def policy_at(
    kube: ResourceClient, namespace: str, registry: Registry, tag: str, git_repo: GitRepo
) -> str:
    """An image with tags 1.0.0 and `tag`, the ImagePolicy `app` that picked `tag`, and
    a commit with the image at 1.0.0 under the policy's marker."""
    image = f"{registry.host}/apps/app-{secrets.token_hex(3)}"
    repository = image.partition("/")[2]
    for pushed in ("1.0.0", tag):
        push_image(registry, repository, pushed)
    await kube.create(IMAGE_REPOSITORIES, manifest("ImageRepository", "app", namespace, {
        "image": image, "interval": "1m", "insecure": True}), namespace)  # fmt: skip
    await kube.create(IMAGE_POLICIES, manifest("ImagePolicy", "app", namespace, {
        "imageRepositoryRef": {"name": "app"}, "policy": {"semver": {"range": ">=1.0.0"}}}),
        namespace)  # fmt: skip

    async def chosen() -> Obj | None:
        found = await kube.get_or_none(IMAGE_POLICIES, "app", namespace)
        latest = ((found or {}).get("status") or {}).get("latestRef") or {}
        return found if latest.get("tag") == tag else None

    await eventually(chosen)
    git_repo.commit({"app.yaml": f'image: {image}:1.0.0 # {{"$imagepolicy": "{namespace}:app"}}\n'})
    return image


async def automate(kube: ResourceClient, namespace: str, name: str, url: str, secret: str) -> None:
    """A GitRepository with spec.secretRef and an automation pushing to its main branch."""
    await kube.create(GIT_REPOSITORIES, manifest("GitRepository", name, namespace, {
        "url": url, "interval": "1m", "ref": {"branch": "main"},
        "secretRef": {"name": secret}}), namespace)  # fmt: skip
    await kube.create(IMAGE_UPDATE_AUTOMATIONS, manifest("ImageUpdateAutomation", name, namespace, {
        "sourceRef": {"kind": "GitRepository", "name": name}, "interval": "1m",
        "git": {"commit": {"author": {"name": "bot", "email": "bot@example.com"}},
                "push": {"branch": "main"}}}), namespace)  # fmt: skip


async def settled(kube: ResourceClient, namespace: str, name: str) -> dict[str, Any]:
    async def ready_or_not() -> dict[str, Any] | None:
        found = await kube.get_or_none(IMAGE_UPDATE_AUTOMATIONS, name, namespace)
        cond = condition(found)
        return cond if cond.get("status") in ("True", "False") else None

    return await eventually(ready_or_not)


async def test_push_over_ssh_with_identity_and_known_hosts(
    kube: ResourceClient,
    namespace: str,
    image_controller: Manager,
    oci_registry_anonymous: Registry,
    git_repo: GitRepo,
    git_ssh_server: GitSSHServer,
) -> None:
    ns = namespace
    image = await policy_at(kube, ns, oci_registry_anonymous, "1.3.0", git_repo)
    ssh = git_ssh_server
    known_hosts = (ssh.known_hosts_line + "\n").encode()
    await secret(kube, ns, "ssh", {"identity": ssh.client_key.identity, "known_hosts": known_hosts})
    # A host key that is not the server's: nothing may be pushed.
    other = ssh.known_hosts_line.split()[0] + (
        " ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n"
    )
    await secret(kube, ns, "wrong-host",
                 {"identity": ssh.client_key.identity, "known_hosts": other.encode()})  # fmt: skip
    url = ssh.repo_url(git_repo.name)
    await automate(kube, ns, "wrong-host", url, "wrong-host")
    refused = await settled(kube, ns, "wrong-host")
    assert (refused["status"], refused["reason"]) == ("False", "GitOperationFailed")
    assert "host key" in refused["message"]
    assert len(git_repo.log()) == 1

    await automate(kube, ns, "ssh", url, "ssh")
    ready = await settled(kube, ns, "ssh")
    assert ready["status"] == "True", ready
    head = git_repo.log()[0]
    assert f"image: {image}:1.3.0 # " in git_repo.read_file("app.yaml").decode()
    assert head.author_email == "bot@example.com"
    found = await kube.get_or_none(IMAGE_UPDATE_AUTOMATIONS, "ssh", ns)
    assert (found or {})["status"]["lastPushCommit"] == head.sha


async def test_push_with_a_bearer_token(
    kube: ResourceClient,
    namespace: str,
    image_controller: Manager,
    oci_registry_anonymous: Registry,
    git_repos: GitRepos,
    git_repo: GitRepo,
    tmp_path: Path,
) -> None:
    ns = namespace
    image = await policy_at(kube, ns, oci_registry_anonymous, "1.4.0", git_repo)
    await secret(kube, ns, "token", {"bearerToken": TOKEN.encode()})
    await secret(kube, ns, "wrong-token", {"bearerToken": b"not-" + TOKEN.encode()})
    with GitHTTPServer(git_repos, bearer_token=TOKEN, workdir=tmp_path / "git") as server:
        url = server.repo_url(git_repo.name)
        await automate(kube, ns, "wrong-token", url, "wrong-token")
        refused = await settled(kube, ns, "wrong-token")
        assert (refused["status"], refused["reason"]) == ("False", "AuthenticationFailed")
        assert "authentication failed (HTTP 401)" in refused["message"]
        assert TOKEN not in refused["message"]
        assert len(git_repo.log()) == 1

        await automate(kube, ns, "token", url, "token")
        ready = await settled(kube, ns, "token")
        assert ready["status"] == "True", ready
    assert f"image: {image}:1.4.0 # " in git_repo.read_file("app.yaml").decode()
    found = await kube.get_or_none(IMAGE_UPDATE_AUTOMATIONS, "token", ns)
    assert (found or {})["status"]["lastPushCommit"] == git_repo.log()[0].sha
