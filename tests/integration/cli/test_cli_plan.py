"""`eddy plan` against a Kustomization the real controllers applied: exit codes, diffs, prunes."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from eddy_testenv import ControlPlane
from eddy_testenv.gitserver import GitHTTPServer, GitRepo
from eddy_testenv.process import find_binary
from eddy_testenv.registry import Registry

from ..install.support import dump, kubectl
from .support import eddy, one_error_line, registry_secret, run_controllers, wait_ready

pytestmark = pytest.mark.integration


def config_map(name: str, greeting: str) -> str:
    return (
        f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n"
        f"data:\n  greeting: {greeting}\n  color: ${{color}}\n"
    )


FILES = {
    "apps/settings.yaml": config_map("settings", "hello"),
    "apps/old.yaml": config_map("old", "bye"),
    "apps/secret.yaml": (
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: token\n"
        f"data:\n  token: {base64.b64encode(b'first').decode()}\n"
    ),
}


@pytest.fixture(scope="module")
def controllers(control_plane: ControlPlane) -> Iterator[None]:
    with run_controllers(control_plane.kubeconfig, "source-controller", "kustomize-controller"):
        yield


@pytest.fixture
def synced(
    controllers: None,
    control_plane: ControlPlane,
    namespace: str,
    git_repo: GitRepo,
    git_server: GitHTTPServer,
) -> str:
    git_repo.commit(FILES, message="apps")
    source = {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"name": "flux-system"},
        "spec": {
            "interval": "10m",
            "url": git_server.repo_url(git_repo.name),
            "ref": {"branch": "main"},
        },
    }
    kustomization = {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": "apps"},
        "spec": {
            "interval": "10m",
            "path": "./apps",
            "prune": True,
            "targetNamespace": namespace,
            "sourceRef": {"kind": "GitRepository", "name": "flux-system"},
            "postBuild": {"substitute": {"color": "blue"}},
        },
    }
    admin = control_plane.kubeconfig
    kubectl(
        admin, "apply", f"--namespace={namespace}", "-f", "-", stdin=dump([source, kustomization])
    )
    wait_ready(admin, "kustomization", "apps", namespace)
    return namespace


def checkout(root: Path, files: dict[str, str | None]) -> Path:
    for name, text in {**FILES, **files}.items():
        if text is not None:
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(text)
    return root


def plan(kubeconfig: Path, namespace: str, *args: str) -> tuple[int, str, str]:
    result = eddy(
        "-n",
        namespace,
        "plan",
        f"--kustomize-path={find_binary('kustomize')}",
        *args,
        kubeconfig=kubeconfig,
    )
    return result.code, result.stdout, result.stderr


def test_no_change_exits_0(control_plane: ControlPlane, synced: str, tmp_path: Path) -> None:
    root = checkout(tmp_path, {})
    code, out, err = plan(control_plane.kubeconfig, synced, "--source-dir", str(root))
    assert code == 0, err
    assert f"Kustomization {synced}/apps (./apps): no changes (3 objects unchanged)" in out


def test_changes_field_by_field_and_prunes(
    control_plane: ControlPlane, synced: str, tmp_path: Path
) -> None:
    root = checkout(
        tmp_path,
        {
            "apps/settings.yaml": config_map("settings", "hi"),
            "apps/old.yaml": None,
            "apps/new.yaml": config_map("new", "welcome"),
            "apps/secret.yaml": (
                "apiVersion: v1\nkind: Secret\nmetadata:\n  name: token\n"
                f"data:\n  token: {base64.b64encode(b'second').decode()}\n"
            ),
        },
    )
    code, out, err = plan(control_plane.kubeconfig, synced, "--source-dir", str(root), "-o", "json")
    assert code == 1, err
    (ks,) = json.loads(out)["kustomizations"]
    changes = {c["object"]: c for c in ks["changes"]}
    assert changes[f"ConfigMap/{synced}/settings"]["fields"] == [
        {"path": "data.greeting", "live": "hello", "new": "hi"}
    ]
    assert changes[f"ConfigMap/{synced}/new"]["action"] == "created"
    assert changes[f"ConfigMap/{synced}/old"]["action"] == "pruned"
    assert changes[f"Secret/{synced}/token"]["fields"] == [
        {"path": "data.token", "live": "***", "new": "***"}
    ]
    assert base64.b64encode(b"second").decode() not in out
    # Nothing was written: the live object still says hello.
    live = kubectl(
        control_plane.kubeconfig,
        "get",
        "configmap",
        "settings",
        "-n",
        synced,
        "-o",
        "jsonpath={.data.greeting}",
    )
    assert live == "hello"

    code, markdown, _ = plan(
        control_plane.kubeconfig, synced, "--source-dir", str(root), "--output", "markdown"
    )
    assert code == 1
    assert markdown.startswith("### eddy plan: 4 changes in 1 Kustomization")
    assert (
        f"| update | `ConfigMap/{synced}/settings` | `data.greeting`: `hello` → `hi` |" in markdown
    )
    assert f"| prune | `ConfigMap/{synced}/old` | pruned |" in markdown


def test_a_revision_of_the_repository(
    control_plane: ControlPlane, synced: str, git_repo: GitRepo
) -> None:
    git_repo.create_branch("feature")
    sha = git_repo.commit({"apps/settings.yaml": config_map("settings", "howdy")}, branch="feature")
    code, out, err = plan(control_plane.kubeconfig, synced, "--revision", "feature")
    assert code == 1, err
    assert f"~ ConfigMap/{synced}/settings configured" in out
    assert "data.greeting: hello → howdy" in out
    code, out, err = plan(control_plane.kubeconfig, synced, "--revision", "main", "-o", "yaml")
    assert code == 0, err
    assert sha not in out


def test_a_build_error_exits_2(control_plane: ControlPlane, synced: str, tmp_path: Path) -> None:
    root = checkout(tmp_path, {"apps/kustomization.yaml": "resources:\n  - ../../etc\n"})
    code, out, err = plan(control_plane.kubeconfig, synced, "--source-dir", str(root))
    assert code == 2, err
    assert "points outside the source artifact" in out


def test_bad_input(control_plane: ControlPlane, namespace: str, tmp_path: Path) -> None:
    admin = control_plane.kubeconfig
    line = one_error_line(eddy("plan", kubeconfig=admin))
    assert "either --source-dir DIR or --revision REF" in line
    line = one_error_line(
        eddy(
            "-n",
            namespace,
            "plan",
            f"--kustomize-path={find_binary('kustomize')}",
            "--source-dir",
            str(tmp_path),
            kubeconfig=admin,
        )
    )
    assert f"GitRepository {namespace}/flux-system not found" in line


def apply_oci_app(admin: Path, namespace: str, source_spec: dict[str, Any]) -> None:
    """OCIRepository `app` (`source_spec`, every 10m) and Kustomization `oci-app` of it."""
    source = {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "OCIRepository",
        "metadata": {"name": "app"},
        "spec": {"interval": "10m", **source_spec},
    }
    kustomization = {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": "oci-app"},
        "spec": {"interval": "10m", "path": "./", "prune": True, "targetNamespace": namespace,
                 "sourceRef": {"kind": "OCIRepository", "name": "app"},
                 "postBuild": {"substitute": {"color": "green"}}},
    }  # fmt: skip
    kubectl(admin, "apply", f"--namespace={namespace}", "-f", "-",
            stdin=dump([source, kustomization]))  # fmt: skip


def test_an_oci_repository_source(
    controllers: None, control_plane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    """What pushing a directory as the OCIRepository's next artifact would apply."""
    admin = control_plane.kubeconfig
    apply_oci_app(admin, namespace, {"url": "oci://127.0.0.1:9/manifests/app",
                                     "ref": {"tag": "latest"}})  # fmt: skip
    (tmp_path / "settings.yaml").write_text(config_map("settings", "hello"))
    code, out, err = plan(
        admin, namespace, "--source-kind", "OCIRepository", "--source", "app",
        "--source-dir", str(tmp_path),
    )  # fmt: skip
    assert code == 1, err + out
    assert f"Kustomization {namespace}/oci-app (./): 1 changes" in out
    assert f"+ ConfigMap/{namespace}/settings created" in out
    line = one_error_line(
        eddy("-n", namespace, "plan", f"--kustomize-path={find_binary('kustomize')}",
             "--source-kind", "OCIRepository", "--source", "app", "--revision", "main",
             kubeconfig=admin)
    )  # fmt: skip
    assert "cannot reach registry 127.0.0.1:9" in line


def push(registry: Registry, url: str, root: Path) -> str:
    """`eddy push artifact` of a directory; the manifest's digest."""
    result = eddy("push", "artifact", url, "--path", str(root), "--insecure-registry",
                  "--creds", f"{registry.username}:{registry.password}", "-o", "json")  # fmt: skip
    assert result.code == 0, result.stderr
    return str(result.json()["digest"])


def test_a_tag_or_digest_of_an_oci_repository(
    controllers: None,
    control_plane: ControlPlane,
    namespace: str,
    oci_registry: Registry,
    oci_repository: str,
    tmp_path: Path,
) -> None:
    """--revision pulls another tag (or digest) of the OCIRepository's artifact, with the
    credentials of its spec.secretRef, and plans it."""
    admin = control_plane.kubeconfig
    for tag, greeting in (("v1", "hello"), ("v2", "hola")):
        (tmp_path / tag).mkdir()
        (tmp_path / tag / "settings.yaml").write_text(config_map("settings", greeting))
    first = push(oci_registry, oci_registry.url(f"{oci_repository}:v1"), tmp_path / "v1")
    push(oci_registry, oci_registry.url(f"{oci_repository}:v2"), tmp_path / "v2")
    registry_secret(admin, namespace, oci_registry)
    apply_oci_app(admin, namespace, {"url": oci_registry.url(oci_repository), "insecure": True,
                                     "secretRef": {"name": "registry"},
                                     "ref": {"tag": "v1"}})  # fmt: skip
    wait_ready(admin, "kustomization", "oci-app", namespace)
    oci = ("--source-kind", "OCIRepository", "--source", "app")
    kustomize = f"--kustomize-path={find_binary('kustomize')}"

    code, out, err = plan(admin, namespace, *oci, "--revision", "v2", "-o", "json")
    assert code == 1, err + out
    found = json.loads(out)
    assert found["revision"].startswith("v2@sha256:")
    (ks,) = found["kustomizations"]
    assert ks["changes"] == [
        {"action": "configured", "object": f"ConfigMap/{namespace}/settings",
         "fields": [{"path": "data.greeting", "live": "hello", "new": "hola"}]},
    ]  # fmt: skip

    for revision in (first, f"v1@{first}"):
        code, out, err = plan(admin, namespace, *oci, "--revision", revision)
        assert code == 0, err + out
        assert f"Kustomization {namespace}/oci-app (./): no changes" in out

    line = one_error_line(
        eddy("-n", namespace, "plan", kustomize, *oci, "--revision", "v9", kubeconfig=admin)
    )  # fmt: skip
    assert f"cannot pull {oci_registry.host}/{oci_repository}:v9" in line
    line = one_error_line(
        eddy("-n", namespace, "plan", kustomize, *oci, "--revision", "v1@sha256:nope",
             kubeconfig=admin)
    )  # fmt: skip
    assert "is neither a tag nor a digest" in line


def test_a_bucket_has_no_revision_to_fetch(control_plane: ControlPlane, namespace: str) -> None:
    line = one_error_line(
        eddy("-n", namespace, "plan", "--source-kind", "Bucket", "--source", "app",
             "--revision", "v1", kubeconfig=control_plane.kubeconfig)
    )  # fmt: skip
    assert line == (
        "✗ a Bucket keeps no revisions to fetch; give the files you would upload with "
        "--source-dir DIR"
    )
