"""spec.proxySecretRef: a GitRepository fetches through the HTTP proxy its Secret names;
the proxy's own log shows the Git traffic, and wrong proxy credentials fail visibly."""

from __future__ import annotations

import pytest

from eddy_runtime.resources import ResourceClient
from eddy_testenv.gitserver import GitHTTPServer, GitRepos
from eddy_testenv.httpproxy import HTTPProxy
from eddy_testenv.observe import condition
from source_controller.kinds import GIT_REPOSITORIES as GR

from .conftest import RunningController
from .support import create_secret, failed, git_repository, ready

pytestmark = pytest.mark.integration


async def test_git_traffic_goes_through_the_proxy(
    kube: ResourceClient, namespace: str, git_repos: GitRepos, git_server: GitHTTPServer,
    http_proxy: HTTPProxy, source_controller: RunningController,
) -> None:  # fmt: skip
    repo = f"{namespace}-proxied"
    git_repos.create(repo)
    sha = git_repos.commit(repo, {"app.yaml": "kind: ConfigMap\n"})
    assert http_proxy.username is not None and http_proxy.password is not None
    await create_secret(kube, namespace, "proxy", {"address": http_proxy.address,
                                                   "username": http_proxy.username,
                                                   "password": http_proxy.password})  # fmt: skip
    await create_secret(kube, namespace, "bad-proxy", {"address": http_proxy.address,
                                                       "username": http_proxy.username,
                                                       "password": "not-it"})  # fmt: skip
    url = git_server.repo_url(repo)
    await kube.create(GR, git_repository("app", namespace, url, ref={"branch": "main"},
                                         proxySecretRef={"name": "proxy"}))  # fmt: skip
    obj = await ready(kube, GR, namespace, "app")
    assert obj["status"]["artifact"]["revision"] == f"main@sha1:{sha}"
    seen = http_proxy.requests()
    assert f"GET {url}/info/refs?service=git-upload-pack" in seen, seen
    assert f"POST {url}/git-upload-pack" in seen, seen

    await kube.create(GR, git_repository("refused", namespace, url, ref={"branch": "main"},
                                         proxySecretRef={"name": "bad-proxy"}))  # fmt: skip
    obj = await failed(kube, GR, namespace, "refused")
    assert condition(obj, "Ready")["reason"] == "GitOperationFailed"
    assert "artifact" not in obj["status"] and "not-it" not in str(obj["status"])
