"""charts/eddy renders with the pinned helm, matches manifests/, and the server accepts it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from eddy_api.kinds import ALL_KINDS
from eddy_testenv import ControlPlane

from .support import (
    CHART,
    CONTROLLERS,
    MANIFESTS,
    Doc,
    build_manifests,
    dump,
    kubectl,
    named,
    of_kind,
    render_chart,
    token,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def chart_namespace(control_plane: ControlPlane) -> Iterator[str]:
    name = f"eddy-chart-{token()}"
    kubectl(control_plane.kubeconfig, "create", "namespace", name)
    yield name
    kubectl(control_plane.kubeconfig, "delete", "namespace", name, "--wait=false")


def rules(docs: list[Doc]) -> dict[str, list[Doc]]:
    return {d["metadata"]["name"]: d["rules"] for d in of_kind(docs, "ClusterRole")}


def test_chart_crds_are_the_generated_ones() -> None:
    generated = {p.name: p.read_text() for p in (MANIFESTS / "crds").glob("*_*.yaml")}
    shipped = {p.name: p.read_text() for p in (CHART / "crds").glob("*.yaml")}
    assert shipped == generated, "copy manifests/crds/*_*.yaml into charts/eddy/crds/"


def test_chart_grants_what_the_manifests_grant(tmp_path: Path) -> None:
    chart = render_chart("flux-system")
    manifests = build_manifests(tmp_path, "flux-system")
    assert rules(chart) == rules(manifests)
    for kind in ("ServiceAccount", "Deployment", "Service", "Role", "NetworkPolicy"):
        names = {d["metadata"]["name"] for d in of_kind(chart, kind)}
        assert names == {d["metadata"]["name"] for d in of_kind(manifests, kind)}, kind
    for name in CONTROLLERS:
        chart_spec = named(chart, "Deployment", name)["spec"]["template"]["spec"]
        base_spec = named(manifests, "Deployment", name)["spec"]["template"]["spec"]
        assert chart_spec["containers"][0]["args"] == [
            "--watch-all-namespaces=true" if a == "--watch-all-namespaces" else a
            for a in base_spec["containers"][0]["args"]
        ]
        for key in ("securityContext", "volumes", "serviceAccountName"):
            assert chart_spec[key] == base_spec[key], (name, key)


def test_values_choose_controllers_and_settings() -> None:
    docs = render_chart(
        "eddy",
        "controllers.helm.enabled=false",
        "controllers.imageAutomation.enabled=false",
        "controllers.notification.enabled=false",
        "leaderElection=false",
        "logLevel=debug",
        "image.tag=dev",
        "extraEnv[0].name=OTEL_EXPORTER_OTLP_ENDPOINT",
        "extraEnv[0].value=http://collector.monitoring:4318",
    )
    deployments = {d["metadata"]["name"]: d for d in of_kind(docs, "Deployment")}
    assert set(deployments) == {"source-controller", "kustomize-controller"}
    assert {d["metadata"]["name"] for d in of_kind(docs, "ClusterRole")} == {
        "eddy-source-controller",
        "eddy-kustomize-controller",
    }
    reconciler = named(docs, "ClusterRoleBinding", "eddy-cluster-reconciler")
    assert [s["name"] for s in reconciler["subjects"]] == ["kustomize-controller"]
    for deployment in deployments.values():
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert container["image"] == "ghcr.io/eddy-gitops/eddy:dev"
        assert "--log-level=debug" in container["args"]
        assert "--enable-leader-election" not in container["args"]
        # Without a notification-controller there is nowhere to post events.
        assert not any(a.startswith("--events-addr") for a in container["args"])
        assert deployment["spec"]["strategy"] == {"type": "Recreate"}
        # Tracing is switched on by the environment (docs/monitoring.md).
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://collector.monitoring:4318"
        assert "RUNTIME_NAMESPACE" in env


def test_server_accepts_the_chart(control_plane: ControlPlane, chart_namespace: str) -> None:
    docs = render_chart(chart_namespace)
    assert len(of_kind(docs, "CustomResourceDefinition")) == len(ALL_KINDS)
    # Nothing is stored: cluster-scoped names may equal those of a real install.
    out = kubectl(control_plane.kubeconfig, "apply", "--server-side", "--dry-run=server",
                  "--force-conflicts", "--field-manager=eddy-chart-test", "-f", "-",
                  stdin=dump(docs))  # fmt: skip
    applied = [line for line in out.splitlines() if line.strip()]
    assert len(applied) == len(docs), out
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    pod = named(docs, "Deployment", "source-controller")["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == f"ghcr.io/eddy-gitops/eddy:{chart['appVersion']}"
