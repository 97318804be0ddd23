"""The in-cluster dashboard: off by default in the chart, as manifests/dashboard has it."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from eddy_testenv import ControlPlane, find_binary

from .support import CHART, MANIFESTS, Doc, dump, kubectl, load, named, of_kind, render_chart, token

pytestmark = pytest.mark.integration

ROOT = MANIFESTS.parent
SETTINGS = (
    "dashboard.enabled=true",
    "dashboard.oidc.issuerURL=https://dex.example.com",
    "dashboard.oidc.redirectURL=https://eddy.example.com/auth/callback",
)


def build_dashboard(workdir: Path, namespace: str) -> list[Doc]:
    """`kustomize build` of an overlay that puts manifests/dashboard into `namespace`."""
    overlay = workdir / "overlay"
    overlay.mkdir(parents=True, exist_ok=True)
    base = os.path.relpath(MANIFESTS / "dashboard", overlay)  # kustomize wants relative bases
    (overlay / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        f"namespace: {namespace}\nresources:\n  - {base}\n"
    )
    done = subprocess.run(
        [find_binary("kustomize"), "build", str(overlay)],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return load(done.stdout)


def test_chart_has_no_dashboard_unless_enabled() -> None:
    docs = render_chart("flux-system")
    assert not [d for d in docs if "dashboard" in d["metadata"]["name"]]


def test_chart_refuses_a_dashboard_without_oidc_settings() -> None:
    argv = [find_binary("helm"), "template", "eddy", str(CHART),
            "--set=dashboard.enabled=true"]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)
    assert done.returncode != 0
    assert "dashboard.oidc.issuerURL" in done.stderr


def test_chart_dashboard_matches_the_manifests(tmp_path: Path) -> None:
    chart = render_chart("flux-system", *SETTINGS)
    manifests = build_dashboard(tmp_path, "flux-system")
    for kind in ("ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Service", "NetworkPolicy"):
        ours = {d["metadata"]["name"] for d in of_kind(manifests, kind)}
        assert ours <= {d["metadata"]["name"] for d in of_kind(chart, kind)}, kind
    for role in of_kind(manifests, "ClusterRole"):
        assert named(chart, "ClusterRole", role["metadata"]["name"])["rules"] == role["rules"]
    impersonator = named(chart, "ClusterRole", "eddy-dashboard-impersonator")
    assert impersonator["rules"] == [
        {"apiGroups": [""], "resources": ["users", "groups"], "verbs": ["impersonate"]}
    ]
    (container,) = named(chart, "Deployment", "eddy-dashboard")["spec"]["template"]["spec"][
        "containers"
    ]
    assert container["command"] == ["eddy-dashboard"]
    assert "--oidc-issuer-url=https://dex.example.com" in container["args"]
    assert "--oidc-redirect-url=https://eddy.example.com/auth/callback" in container["args"]
    base = named(manifests, "Deployment", "eddy-dashboard")["spec"]["template"]["spec"]
    assert container["securityContext"] == base["containers"][0]["securityContext"]
    assert "--oidc-username-prefix=oidc:" in container["args"]
    assert container["args"] == base["containers"][0]["args"]
    # Both read the session key from the same optional Secret; the chart makes it.
    assert container["env"] == base["containers"][0]["env"]
    key = next(e for e in container["env"] if e["name"] == "EDDY_SESSION_KEY")
    assert key["valueFrom"]["secretKeyRef"] == {
        "name": "eddy-dashboard-session", "key": "key", "optional": True,
    }  # fmt: skip
    assert len(named(chart, "Secret", "eddy-dashboard-session")["data"]["key"]) >= 32
    scripts = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'^eddy-dashboard = "eddy_web', scripts, re.MULTILINE)


def test_server_accepts_the_dashboard(control_plane: ControlPlane, tmp_path: Path) -> None:
    namespace = f"eddy-dashboard-{token()}"
    kubectl(control_plane.kubeconfig, "create", "namespace", namespace)
    try:
        for docs in (render_chart(namespace, *SETTINGS), build_dashboard(tmp_path, namespace)):
            objects = [d for d in docs if d["kind"] != "CustomResourceDefinition"]
            out = kubectl(control_plane.kubeconfig, "apply", "--server-side", "--dry-run=server",
                          "--force-conflicts", "--field-manager=eddy-dashboard-test", "-f", "-",
                          stdin=dump(objects))  # fmt: skip
            assert len([line for line in out.splitlines() if line.strip()]) == len(objects), out
    finally:
        kubectl(control_plane.kubeconfig, "delete", "namespace", namespace, "--wait=false")
