"""`eddy why` against objects the real source- and kustomize-controllers applied from Git."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from eddy_testenv import ControlPlane
from eddy_testenv.gitserver import GitHTTPServer, GitRepo
from eddy_testenv.helmrepo import HelmRepo
from eddy_testenv.registry import Registry

from ..install.support import dump, kubectl
from .support import eddy, one_error_line, run_controllers, wait_ready

pytestmark = pytest.mark.integration

SETTINGS = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: other
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  color: ${color}
  size: ${size:=small}
"""

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: registry.test/web:1.0.0
"""

KUSTOMIZATION = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - settings.yaml
  - web/deployment.yaml
patches:
  - path: web/replicas.yaml
    target:
      kind: Deployment
      name: web
"""

REPLICAS = """\
- op: add
  path: /spec/replicas
  value: 2
"""


@pytest.fixture(scope="module")
def controllers(control_plane: ControlPlane) -> Iterator[None]:
    with run_controllers(control_plane.kubeconfig, "source-controller", "kustomize-controller"):
        yield


@pytest.fixture
def applied(
    controllers: None,
    control_plane: ControlPlane,
    namespace: str,
    git_repo: GitRepo,
    git_server_auth: GitHTTPServer,
) -> str:
    """A Kustomization applied from a repository that needs credentials; the commit sha."""
    sha = git_repo.commit(
        {
            "clusters/dev/settings.yaml": SETTINGS,
            "clusters/dev/web/deployment.yaml": DEPLOYMENT,
            "clusters/dev/web/replicas.yaml": REPLICAS,
            "clusters/dev/kustomization.yaml": KUSTOMIZATION,
        },
        message="Add the web app\n\nWith its settings.",
    )
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "git-auth"},
        "data": {
            "username": base64.b64encode(git_server_auth.username.encode()).decode(),
            "password": base64.b64encode(git_server_auth.password.encode()).decode(),
        },
    }
    source = {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"name": "app"},
        "spec": {
            "interval": "10m",
            "url": git_server_auth.repo_url(git_repo.name),
            "ref": {"branch": "main"},
            "secretRef": {"name": "git-auth"},
        },
    }
    kustomization = {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": "dev"},
        "spec": {
            "interval": "10m",
            "path": "./clusters/dev",
            "prune": True,
            "targetNamespace": namespace,
            "sourceRef": {"kind": "GitRepository", "name": "app"},
            "images": [{"name": "registry.test/web", "newTag": "1.1.0"}],
            "postBuild": {"substitute": {"color": "blue"}},
        },
    }
    admin = control_plane.kubeconfig
    kubectl(
        admin,
        "apply",
        f"--namespace={namespace}",
        "-f",
        "-",
        stdin=dump([secret, source, kustomization]),
    )
    wait_ready(admin, "kustomization", "dev", namespace)
    return sha


def test_why_ends_at_the_line(
    control_plane: ControlPlane, namespace: str, applied: str, git_repo: GitRepo
) -> None:
    result = eddy(
        "-n",
        namespace,
        "why",
        "configmap/settings",
        "-o",
        "json",
        kubeconfig=control_plane.kubeconfig,
    )
    assert result.code == 0, result.stderr
    answer = result.json()
    assert answer["object"] == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "name": "settings",
        "namespace": namespace,
    }
    (link,) = answer["appliedBy"]
    assert (link["kind"], link["namespace"], link["name"]) == ("Kustomization", namespace, "dev")
    assert link["revision"] == f"main@sha1:{applied}"
    assert link["path"] == "./clusters/dev"
    assert answer["source"]["kind"] == "GitRepository" and answer["source"]["name"] == "app"
    (logged,) = git_repo.log(limit=1)
    commit = answer["commit"]
    assert commit["sha"] == applied
    assert commit["author"] == f"{logged.author_name} <{logged.author_email}>"
    assert commit["message"] == "Add the web app\n\nWith its settings."
    assert answer["definedAt"] == [{"path": "clusters/dev/settings.yaml", "line": 6}]
    changes = [(c["by"], c["detail"], c.get("line")) for c in answer["changes"]]
    assert ("substitution", "${color} from spec.postBuild.substitute.color = 'blue'", 11) in changes
    assert ("substitution", "${size} from the default 'small'", 12) in changes


def test_why_names_patches_and_image_overrides(
    control_plane: ControlPlane, namespace: str, applied: str
) -> None:
    result = eddy("-n", namespace, "why", "deploy/web", kubeconfig=control_plane.kubeconfig)
    assert result.code == 0, result.stderr
    text = result.stdout
    assert f"Deployment {namespace}/web" in text
    assert f"applied by     Kustomization {namespace}/dev" in text
    assert f"commit         {applied}" in text
    assert "defined at     clusters/dev/web/deployment.yaml:1" in text
    assert (
        "changed by     kustomize patch: patches[0]: web/replicas.yaml "
        "(clusters/dev/kustomization.yaml:7)"
    ) in text
    assert "images[0] sets registry.test/web to registry.test/web:1.1.0" in text
    assert f"spec.targetNamespace = '{namespace}'" in text


def test_why_of_an_object_eddy_did_not_apply(control_plane: ControlPlane, namespace: str) -> None:
    admin = control_plane.kubeconfig
    kubectl(admin, "create", "configmap", "by-hand", f"--namespace={namespace}")
    result = eddy("-n", namespace, "why", "cm/by-hand", "-o", "yaml", kubeconfig=admin)
    assert result.code == 1, result.stderr
    assert result.yaml()["appliedBy"] == []
    assert "not applied by eddy or Flux" in result.yaml()["notes"][0]


def test_why_of_what_does_not_exist(control_plane: ControlPlane, namespace: str) -> None:
    admin = control_plane.kubeconfig
    line = one_error_line(eddy("-n", namespace, "why", "configmap/nope", kubeconfig=admin))
    assert f"ConfigMap nope not found in namespace {namespace}" in line
    line = one_error_line(eddy("why", "gizmo/x", kubeconfig=admin))
    assert "the cluster serves no kind named 'gizmo'" in line


def test_why_when_git_refuses(control_plane: ControlPlane, namespace: str, applied: str) -> None:
    """The chain is still told when the commit cannot be read, and says why."""
    admin = control_plane.kubeconfig
    patch = {"data": {"password": base64.b64encode(b"wrong").decode()}}
    kubectl(
        admin,
        "patch",
        "secret",
        "git-auth",
        f"--namespace={namespace}",
        "--type=merge",
        "-p",
        json.dumps(patch),
    )
    result = eddy("-n", namespace, "why", "configmap/settings", "-o", "json", kubeconfig=admin)
    assert result.code == 0, result.stderr
    answer = result.json()
    assert answer["appliedBy"][0]["revision"] == f"main@sha1:{applied}"
    assert "commit" not in answer
    assert any("authentication failed" in n for n in answer["notes"]), answer["notes"]
    assert "wrong" not in result.stdout


def test_why_of_what_a_helm_release_installed(
    control_plane: ControlPlane, namespace: str, helm_repo: HelmRepo
) -> None:
    admin = control_plane.kubeconfig
    helm_repo.package("hello", "1.0.0")
    repository = {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "HelmRepository",
        "metadata": {"name": "charts"},
        "spec": {"interval": "10m", "url": helm_repo.url},
    }
    release = {
        "apiVersion": "helm.toolkit.fluxcd.io/v2",
        "kind": "HelmRelease",
        "metadata": {"name": "hello"},
        "spec": {
            "interval": "10m",
            "chart": {
                "spec": {
                    "chart": "hello",
                    "version": "1.0.0",
                    "sourceRef": {"kind": "HelmRepository", "name": "charts"},
                }
            },
            "values": {"greeting": "hi"},
            "valuesFrom": [{"kind": "ConfigMap", "name": "extra", "optional": True}],
        },
    }
    with run_controllers(admin, "source-controller", "helm-controller"):
        kubectl(
            admin, "apply", f"--namespace={namespace}", "-f", "-", stdin=dump([repository, release])
        )
        wait_ready(admin, "helmrelease", "hello", namespace)
        result = eddy(
            "-n", namespace, "why", "configmap/hello-hello", "-o", "json", kubeconfig=admin
        )
        kubectl(admin, "delete", "helmrelease", "hello", f"--namespace={namespace}")
    assert result.code == 0, result.stderr
    (link,) = result.json()["appliedBy"]
    assert link["kind"] == "HelmRelease" and link["name"] == "hello"
    assert link["chart"] == "hello 1.0.0"
    assert link["chartSource"] == f"HelmRepository {namespace}/charts"
    assert link["release"] == f"{namespace}/hello v1"
    assert link["values"] == ["spec.values", "ConfigMap extra"]


def test_why_through_an_oci_artifact(
    control_plane: ControlPlane,
    namespace: str,
    controllers: None,
    oci_registry_anonymous: Registry,
    tmp_path: Path,
) -> None:
    """Pushed by `eddy push artifact`, pulled by an OCIRepository: why names the origin."""
    admin = control_plane.kubeconfig
    (tmp_path / "settings.yaml").write_text(SETTINGS)
    url = oci_registry_anonymous.url(f"manifests/{namespace}:v1")
    sha = "0123456789abcdef0123456789abcdef01234567"
    pushed = eddy(
        "push",
        "artifact",
        url,
        "--path",
        str(tmp_path),
        "--insecure-registry",
        "--source",
        "https://git.example.com/app.git",
        "--revision",
        f"main@sha1:{sha}",
    )
    assert pushed.code == 0, pushed.stderr
    source = {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "OCIRepository",
        "metadata": {"name": "manifests"},
        "spec": {
            "interval": "10m",
            "url": url.rsplit(":", 1)[0],
            "ref": {"tag": "v1"},
            "insecure": True,
        },
    }
    kustomization = {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": "oci"},
        "spec": {
            "interval": "10m",
            "path": "./",
            "prune": True,
            "targetNamespace": namespace,
            "sourceRef": {"kind": "OCIRepository", "name": "manifests"},
            "postBuild": {"substitute": {"color": "red"}},
        },
    }
    kubectl(
        admin, "apply", f"--namespace={namespace}", "-f", "-", stdin=dump([source, kustomization])
    )
    wait_ready(admin, "kustomization", "oci", namespace)
    result = eddy("-n", namespace, "why", "configmap/settings", "-o", "json", kubeconfig=admin)
    assert result.code == 0, result.stderr
    answer = result.json()
    assert answer["source"]["kind"] == "OCIRepository"
    assert answer["source"]["originUrl"] == "https://git.example.com/app.git"
    assert answer["source"]["originRevision"] == f"main@sha1:{sha}"
    assert any("no commits of its own" in n for n in answer["notes"])
