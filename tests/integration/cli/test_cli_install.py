"""`eddy install`, `check` and `uninstall` against a real API server.

The test control plane has no node yet, so the Deployments are created but never
become available: `check` and `install --wait` must say so, naming the Pods.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from eddy_cli.manifests import controllers
from eddy_testenv import ControlPlane
from eddy_testenv.process import find_binary

from ..install.support import kubectl, run
from .support import eddy, one_error_line

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def installed(control_plane: ControlPlane) -> Iterator[str]:
    """eddy installed (without waiting) into a namespace of its own."""
    namespace = f"eddy-cli-{secrets.token_hex(3)}"
    result = eddy(
        "-n",
        namespace,
        "install",
        "--no-wait",
        "--registry",
        "registry.test/eddy",
        "--tag",
        "9.9.9",
        kubeconfig=control_plane.kubeconfig,
    )
    assert result.code == 0, result.stderr
    try:
        yield namespace
    finally:
        eddy("-n", namespace, "uninstall", "--yes", kubeconfig=control_plane.kubeconfig)


def test_packaged_manifests_are_the_kustomize_build() -> None:
    built = [
        d
        for d in yaml.safe_load_all(
            run([find_binary("kustomize"), "build", str(ROOT / "manifests")])
        )
        if d
    ]
    packaged = ROOT / "libs" / "eddy_cli" / "data" / "eddy.yaml"
    shipped = [d for d in yaml.safe_load_all(packaged.read_text()) if d]
    assert shipped == built, "run `make install-yaml` after changing manifests/"


def test_export_changes_namespace_image_and_components() -> None:
    result = eddy(
        "-n",
        "gitops",
        "install",
        "--export",
        "--registry",
        "registry.test/x",
        "--tag",
        "1.2.3",
        "--components",
        "source-controller,kustomize-controller",
    )
    assert result.code == 0, result.stderr
    docs = [d for d in yaml.safe_load_all(result.stdout) if d]
    deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    assert set(deployments) == {"source-controller", "kustomize-controller"}
    for deployment in deployments.values():
        assert deployment["metadata"]["namespace"] == "gitops"
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert container["image"] == "registry.test/x/eddy:1.2.3"
    groups = {d["spec"]["group"] for d in docs if d["kind"] == "CustomResourceDefinition"}
    assert {
        "source.toolkit.fluxcd.io",
        "source.extensions.fluxcd.io",
        "kustomize.toolkit.fluxcd.io",
    } <= groups
    assert not groups & {"helm.toolkit.fluxcd.io", "image.toolkit.fluxcd.io"}
    for doc in docs:
        for subject in doc.get("subjects") or []:
            assert subject["namespace"] == "gitops"
            assert subject["name"] in ("source-controller", "kustomize-controller")
    assert [d["metadata"]["name"] for d in docs if d["kind"] == "Namespace"] == ["gitops"]


def test_components_need_the_source_controller() -> None:
    line = one_error_line(eddy("install", "--export", "--components", "helm-controller"))
    assert "add source-controller to --components" in line
    line = one_error_line(eddy("install", "--export", "--components", "notification"))
    assert "unknown component notification" in line


def test_install_applies_every_object(control_plane: ControlPlane, installed: str) -> None:
    found = json.loads(
        kubectl(
            control_plane.kubeconfig,
            "-n",
            installed,
            "get",
            "deployments,serviceaccounts,services",
            "-o",
            "json",
        )
    )
    names = {(i["kind"], i["metadata"]["name"]) for i in found["items"]}
    for name in controllers():
        assert ("Deployment", name) in names and ("ServiceAccount", name) in names
    assert ("Service", "source-controller") in names
    deployment = next(
        i
        for i in found["items"]
        if i["metadata"]["name"] == "helm-controller" and i["kind"] == "Deployment"
    )
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "registry.test/eddy/eddy:9.9.9"
    shown = json.loads(
        kubectl(
            control_plane.kubeconfig,
            "-n",
            installed,
            "get",
            "deployment",
            "helm-controller",
            "-o",
            "json",
            "--show-managed-fields",
        )
    )
    managers = {m["manager"] for m in shown["metadata"]["managedFields"]}
    assert "eddy" in managers
    binding = json.loads(
        kubectl(
            control_plane.kubeconfig,
            "get",
            "clusterrolebinding",
            "eddy-source-controller",
            "-o",
            "json",
        )
    )
    assert binding["subjects"][0]["namespace"] == installed


def test_check_reports_what_is_wrong(control_plane: ControlPlane, installed: str) -> None:
    result = eddy("-n", installed, "check", "-o", "json", kubeconfig=control_plane.kubeconfig)
    assert result.code == 1, result.stderr
    checks = {c["name"]: c for c in result.json()}
    assert checks["kubernetes"]["ok"] and checks["kubernetes"]["message"].startswith("v1.")
    crds = [c for name, c in checks.items() if name.startswith("crd/")]
    shipped = (ROOT / "manifests" / "crds").glob("*.yaml")
    assert len(crds) == len([p for p in shipped if p.name != "kustomization.yaml"])
    assert all(c["ok"] for c in crds)
    for name in controllers():
        deployment = checks[f"deployment/{name}"]
        assert not deployment["ok"]
        assert "not available (0/1 replicas ready)" in deployment["message"]
        assert checks[f"health/{name}"] == {
            "name": f"health/{name}",
            "ok": False,
            "message": "no running Pod to ask",
        }
    text = eddy("-n", installed, "check", kubeconfig=control_plane.kubeconfig)
    assert text.code == 1
    assert "✔ crd/kustomizations.kustomize.toolkit.fluxcd.io: established" in text.stderr
    assert "✗ deployment/source-controller: not available" in text.stderr


def test_check_pre_needs_only_the_cluster(control_plane: ControlPlane) -> None:
    result = eddy("-n", "nowhere", "check", "--pre", kubeconfig=control_plane.kubeconfig)
    assert result.code == 0, result.stderr
    assert "✔ kubernetes: v1." in result.stderr


def test_install_waits_and_says_why_not(control_plane: ControlPlane, installed: str) -> None:
    result = eddy(
        "-n",
        installed,
        "install",
        "--timeout",
        "3",
        "--registry",
        "registry.test/eddy",
        "--tag",
        "9.9.9",
        kubeconfig=control_plane.kubeconfig,
    )
    line = result.stderr.strip().splitlines()[-1]
    assert result.code == 2
    assert line.startswith("✗ not available within 3s: ")
    assert "source-controller: not available (0/1 replicas ready); source-controller-" in line
    assert "Pending: not scheduled to any node" in line


def test_check_of_a_missing_install(control_plane: ControlPlane) -> None:
    result = eddy("-n", "no-eddy-here", "check", "-o", "yaml", kubeconfig=control_plane.kubeconfig)
    assert result.code == 1
    checks = {c["name"]: c for c in result.yaml()}
    assert checks["deployment/source-controller"]["message"] == (
        "not found in namespace no-eddy-here; run `eddy install`"
    )


def test_uninstall_keeps_objects_and_crds(control_plane: ControlPlane) -> None:
    admin = control_plane.kubeconfig
    namespace = f"eddy-cli-{secrets.token_hex(3)}"
    assert eddy("-n", namespace, "install", "--no-wait", kubeconfig=admin).code == 0
    tenant = f"tenant-{secrets.token_hex(3)}"
    kubectl(admin, "create", "namespace", tenant)
    repo = {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"name": "app", "namespace": tenant, "finalizers": ["finalizers.fluxcd.io"]},
        "spec": {"url": "https://example.com/app.git", "interval": "1m"},
    }
    kubectl(admin, "apply", "-f", "-", stdin=json.dumps(repo))
    try:
        dry = eddy("-n", namespace, "uninstall", "--dry-run", kubeconfig=admin)
        assert dry.code == 0, dry.stderr
        assert "would delete Deployment/source-controller" in dry.stderr
        assert kubectl(admin, "-n", namespace, "get", "deployment", "source-controller")

        refused = eddy("-n", namespace, "uninstall", kubeconfig=admin)
        assert "pass --yes" in one_error_line(refused)

        done = eddy("-n", namespace, "uninstall", "--yes", kubeconfig=admin)
        assert done.code == 0, done.stderr
        assert "deleted Deployment/source-controller" in done.stderr
        assert "deleted Namespace/" in done.stderr
        left = kubectl(admin, "-n", namespace, "get", "deployments", "-o", "name", check=False)
        assert "source-controller" not in left
        kept = json.loads(kubectl(admin, "-n", tenant, "get", "gitrepository", "app", "-o", "json"))
        assert "finalizers" not in kept["metadata"]
        assert kubectl(admin, "get", "crd", "gitrepositories.source.toolkit.fluxcd.io")
        roles = kubectl(admin, "get", "clusterroles", "-o", "name")
        assert "eddy-source-controller" not in roles
    finally:
        kubectl(admin, "delete", "namespace", tenant, "--wait=false")
