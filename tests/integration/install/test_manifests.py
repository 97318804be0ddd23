"""manifests/ builds with the pinned kustomize and installs into a real API server.

Everything but the CRDs is applied for real (into a namespace of its own); the CRDs,
already installed for the session, go through a server-side dry run.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from eddy_api.kinds import ALL_KINDS
from eddy_testenv import ControlPlane

from .support import (
    CONTROLLERS,
    Doc,
    delete_cluster_rbac,
    dump,
    get,
    kubectl,
    named,
    of_kind,
    pod_from,
    rename_cluster_rbac,
    token,
)
from .support import build_manifests as build

pytestmark = pytest.mark.integration


@pytest.fixture
def install_namespace(control_plane: ControlPlane) -> Iterator[str]:
    name = f"eddy-install-{token()}"
    yield name
    kubectl(control_plane.kubeconfig, "delete", "namespace", name, "--ignore-not-found",
            "--wait=false")  # fmt: skip


def test_base_installs_into_flux_system(tmp_path: Path) -> None:
    docs = build(tmp_path, "flux-system")
    assert named(docs, "Namespace", "flux-system")
    for doc in docs:
        if doc["kind"] not in ("Namespace", "CustomResourceDefinition", "ClusterRole",
                               "ClusterRoleBinding"):  # fmt: skip
            assert doc["metadata"]["namespace"] == "flux-system", doc["metadata"]["name"]
        assert doc["metadata"]["labels"]["app.kubernetes.io/part-of"] == "eddy"
    assert {d["metadata"]["name"] for d in of_kind(docs, "ServiceAccount")} == set(CONTROLLERS)
    assert {d["metadata"]["name"] for d in of_kind(docs, "Deployment")} == set(CONTROLLERS)
    assert len(of_kind(docs, "CustomResourceDefinition")) == len(ALL_KINDS)


def test_deployments_run_like_flux(tmp_path: Path) -> None:
    docs = build(tmp_path, "flux-system")
    for name in CONTROLLERS:
        deployment = named(docs, "Deployment", name)
        pod = deployment["spec"]["template"]["spec"]
        assert pod["serviceAccountName"] == name
        (container,) = pod["containers"]
        assert container["image"].startswith("ghcr.io/eddy-gitops/eddy:")
        assert container["command"] == [name]
        assert "--enable-leader-election" in container["args"]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert ports["http-prom"] == 8080 and ports["healthz"] == 9440
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "healthz"}
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "healthz"}
        env = {e["name"]: e for e in container["env"]}
        assert env["RUNTIME_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == (
            "metadata.namespace"
        )
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] is True
        assert security["capabilities"]["drop"] == ["ALL"]
        assert {m["mountPath"] for m in container["volumeMounts"]} >= {"/tmp"}

    source = named(docs, "Deployment", "source-controller")["spec"]["template"]["spec"]
    args = source["containers"][0]["args"]
    assert "--storage-adv-addr=source-controller.$(RUNTIME_NAMESPACE).svc.cluster.local." in args
    assert "--storage-path=/data" in args
    service = named(docs, "Service", "source-controller")
    assert service["spec"]["ports"] == [
        {"name": "http", "port": 80, "protocol": "TCP", "targetPort": "http"}
    ]
    assert service["spec"]["selector"] == {"app": "source-controller"}


def test_server_accepts_the_install(
    control_plane: ControlPlane, install_namespace: str, tmp_path: Path
) -> None:
    admin = control_plane.kubeconfig
    docs = build(tmp_path, install_namespace)
    crds = of_kind(docs, "CustomResourceDefinition")
    rest = rename_cluster_rbac(
        [d for d in docs if d["kind"] != "CustomResourceDefinition"], f"-{install_namespace}"
    )
    # The namespace enforces the restricted Pod Security level, so the Pods below
    # are admitted only if the Deployments' security settings meet it.
    namespace = named(rest, "Namespace", install_namespace)
    namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] = "restricted"

    kubectl(admin, "apply", "--server-side", "--dry-run=server", "--force-conflicts",
            "--field-manager=eddy-install-test", "-f", "-", stdin=dump(crds))  # fmt: skip
    try:
        kubectl(admin, "apply", "--server-side", "--field-manager=eddy-install-test",
                "-f", "-", stdin=dump(rest))  # fmt: skip

        deployments = get(admin, "deployments", f"--namespace={install_namespace}")
        assert {d["metadata"]["name"] for d in deployments["items"]} == set(CONTROLLERS)
        service = get(admin, "service", "source-controller", f"--namespace={install_namespace}")
        assert service["spec"]["ports"][0]["port"] == 80
        binding = get(admin, "clusterrolebinding", f"eddy-cluster-reconciler-{install_namespace}")
        assert binding["roleRef"]["name"] == "cluster-admin"
        assert {(s["name"], s["namespace"]) for s in binding["subjects"]} == {
            ("kustomize-controller", install_namespace),
            ("helm-controller", install_namespace),
        }

        pods: list[Doc] = [pod_from(d, install_namespace) for d in of_kind(rest, "Deployment")]
        kubectl(admin, "create", "--dry-run=server", "-f", "-", stdin=dump(pods))
        # The check bites: the same Pod allowed to escalate privileges is refused.
        pods[0]["spec"]["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = True
        refused = kubectl(admin, "create", "--dry-run=server", "-f", "-", stdin=dump(pods[:1]),
                          check=False)  # fmt: skip
        assert "violates PodSecurity" in refused, refused
    finally:
        delete_cluster_rbac(admin, rest)
