"""manifests/monitoring and the chart's copy of it agree, and say what the docs promise.

That the queries return data and the rules load is tested against a real Prometheus
in tests/e2e/test_monitoring.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "manifests" / "monitoring"
CHART = ROOT / "charts" / "eddy" / "monitoring"


def test_the_chart_ships_the_same_dashboards_and_rules() -> None:
    ours = sorted(p.name for p in (MONITORING / "dashboards").glob("*.json"))
    shipped = sorted(p.name for p in (CHART / "dashboards").glob("*.json"))
    assert shipped == ours, "run `make monitoring`"
    for name in ours:
        same = (MONITORING / "dashboards" / name).read_text() == (
            CHART / "dashboards" / name
        ).read_text()
        assert same, f"{name} differs from the chart's copy; run `make monitoring`"
    rule = yaml.safe_load((MONITORING / "prometheusrule.yaml").read_text())
    assert yaml.safe_load((CHART / "rules.yaml").read_text()) == rule["spec"], (
        "run `make monitoring`"
    )


def test_the_dashboard_covers_what_eddy_measures() -> None:
    dashboard = json.loads((MONITORING / "dashboards" / "eddy.json").read_text())
    exprs = " ".join(t["expr"] for p in dashboard["panels"] for t in p["targets"])
    for series in (
        "gotk_reconcile_duration_seconds_count",
        "gotk_reconcile_duration_seconds_bucket",
        "workqueue_depth",
        "eddy_revision_apply_delay_seconds_bucket",
        "eddy_drift_corrections_total",
        "eddy_artifact_size_bytes",
        "controller_runtime_reconcile_errors_total",
    ):
        assert series in exprs, series
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    assert all(p["datasource"]["uid"] == "${DS_PROMETHEUS}" for p in dashboard["panels"])
    assert "DS_PROMETHEUS" in variables


def test_the_alerts_are_the_documented_ones() -> None:
    rule = yaml.safe_load((MONITORING / "prometheusrule.yaml").read_text())
    alerts = {r["alert"]: r for g in rule["spec"]["groups"] for r in g["rules"]}
    assert set(alerts) == {
        "KustomizationNotReady", "HelmReleaseNotReady", "SourceFailing", "ReconcileErrors",
    }  # fmt: skip
    assert alerts["KustomizationNotReady"]["for"] == "10m"
    docs = (ROOT / "docs" / "monitoring.md").read_text()
    for name in alerts:
        assert f"`{name}`" in docs, f"docs/monitoring.md does not describe {name}"


def test_kube_state_metrics_config_names_every_kind_once() -> None:
    config = yaml.safe_load((MONITORING / "kube-state-metrics-config.yaml").read_text())
    kinds = [r["groupVersionKind"]["kind"] for r in config["spec"]["resources"]]
    assert len(kinds) == len(set(kinds))
    crds = {
        yaml.safe_load(p.read_text())["spec"]["names"]["kind"]
        for p in (ROOT / "manifests" / "crds").glob("*toolkit.fluxcd.io_*.yaml")
    }
    assert set(kinds) == crds
    for resource in config["spec"]["resources"]:
        (metric,) = resource["metrics"]
        assert resource["metricNamePrefix"] == "gotk" and metric["name"] == "resource_info"
        assert metric["each"]["info"]["labelsFromPath"]["name"] == ["metadata", "name"]
        assert metric["labelsFromPath"]["exported_namespace"] == ["metadata", "namespace"]
