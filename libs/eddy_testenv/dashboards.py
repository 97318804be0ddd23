"""The panels of the Grafana dashboards eddy is checked against, as queries.

Flux's two published dashboards (fluxcd/flux2-monitoring-example: "Flux Cluster
Stats" and "Flux Control Plane") are listed by their panel titles and PromQL, with
the template variables written `{ns}` (the objects' namespace, `$namespace` of
the cluster dashboard) and `{op}` (the controllers' namespace: `$operator_namespace`
there, `$namespace` in the control plane dashboard). eddy's own dashboard is read
from manifests/monitoring. The monitoring test runs every query; the screenshot
tool draws them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

MONITORING = Path(__file__).resolve().parents[2] / "manifests" / "monitoring"

SOURCES = "GitRepository|HelmRepository|Bucket|OCIRepository"
RECONCILERS = "Kustomization|HelmRelease"


@dataclass(frozen=True)
class Panel:
    title: str
    type: str  # stat, timeseries, bargauge, table
    exprs: tuple[str, ...]
    unit: str = ""

    def filled(self, **values: str) -> Panel:
        exprs = tuple(
            e.replace("{ns}", values["ns"]).replace("{op}", values["op"]) for e in self.exprs
        )
        return Panel(self.title, self.type, exprs, self.unit)


def _avg_duration(kinds: str, by: str) -> str:
    sel = f'namespace=~"{{op}}",exported_namespace=~"{{ns}}",kind=~"{kinds}"'
    return (
        f"sum(rate(gotk_reconcile_duration_seconds_sum{{{sel}}}[5m])) by ({by})\n/\n"
        f"  sum(rate(gotk_reconcile_duration_seconds_count{{{sel}}}[5m])) by ({by})"
    )


def _info(kinds: str, extra: str = "") -> str:
    return (
        f'gotk_resource_info{{exported_namespace=~"{{ns}}", customresource_kind=~"{kinds}"{extra}}}'
    )


_FAILING = ', ready="False"'
FLUX_CLUSTER = (
    Panel("Cluster Reconcilers", "stat", (f"count({_info(RECONCILERS)})",)),
    Panel("Failing Reconcilers", "stat", (f"count({_info(RECONCILERS, _FAILING)})",)),
    Panel("Kubernetes Manifests Sources", "stat", (f"count({_info(SOURCES)})",)),
    Panel("Failing Sources", "stat", (f"count({_info(SOURCES, _FAILING)})",)),
    Panel("Reconciler ops avg. duration", "bargauge", (_avg_duration(RECONCILERS, "kind"),), "s"),
    Panel("Source ops avg. duration", "bargauge", (_avg_duration(SOURCES, "kind"),), "s"),
    Panel("Cluster reconciliation readiness", "table", (_info(RECONCILERS),)),
    Panel("Source acquisition readiness", "table", (_info(SOURCES),)),
    Panel(
        "Suspended Objects",
        "table",
        ('gotk_resource_info{exported_namespace=~"{ns}", suspended="true"}',),
    ),
    Panel(
        "Cluster reconciliation duration",
        "timeseries",
        (_avg_duration(RECONCILERS, "kind, name"),),
        "s",
    ),
    Panel(
        "Source acquisition duration", "timeseries", (_avg_duration(SOURCES, "kind, name"),), "s"
    ),
)

# The variables of the cluster dashboard: (label, series) for label_values().
FLUX_CLUSTER_VARIABLES = (
    ("namespace", "gotk_reconcile_duration_seconds_sum"),
    ("exported_namespace", "gotk_resource_info"),
)

_POD = 'namespace="{op}",pod=~".*-controller-.*"'


def _ops(controller: str, by: str = "") -> tuple[str, str]:
    tail = f" by ({by})" if by else ""
    return tuple(  # type: ignore[return-value]
        f'sum(increase(controller_runtime_reconcile_total{{controller="{controller}",{r}}}[1m])){tail}'
        for r in ('result!="error"', 'result="error"')
    )


def _quantile(q: str) -> str:
    return (
        f"histogram_quantile({q}, sum(rate(controller_runtime_reconcile_time_seconds_bucket"
        f'{{controller="helmrelease"}}[5m])) by (le))'
    )


FLUX_CONTROL_PLANE = (
    Panel(
        "Max Work Queue",
        "stat",
        (f"max(workqueue_longest_running_processor_seconds{{{_POD}}})",),
        "s",
    ),
    Panel(
        "API Requests", "stat", (f"sum(rate(rest_client_requests_total{{{_POD}}}[1m]))",), "reqps"
    ),
    Panel(
        "Kubernetes API Requests",
        "timeseries",
        (
            'sum(rate(rest_client_requests_total{namespace="{op}"}[1m]))',
            'sum(rate(rest_client_requests_total{namespace="{op}",code!~"2.."}[1m]))',
        ),
        "reqps",
    ),
    Panel("CPU Usage", "timeseries", (f"rate(process_cpu_seconds_total{{{_POD}}}[1m])",)),
    Panel(
        "Cluster Reconciliation Duration",
        "timeseries",
        ('workqueue_longest_running_processor_seconds{name="kustomization"}',),
        "s",
    ),
    Panel("Cluster Reconciliations ops/min", "timeseries", _ops("kustomization", "controller")),
    Panel("Git Repos ops/min", "timeseries", _ops("gitrepository")),
    Panel("OCI Repos ops/min", "timeseries", _ops("ocirepository")),
    Panel("Helm Repos ops/min", "timeseries", _ops("helmrepository")),
    Panel("Buckets ops/min", "timeseries", _ops("bucket")),
    Panel(
        "Helm Release Duration",
        "timeseries",
        tuple(_quantile(q) for q in ("0.50", "0.90", "0.99")),
        "s",
    ),
    Panel("Helm Releases ops/min", "timeseries", _ops("helmrelease", "controller")),
    Panel("Helm Charts ops/min", "timeseries", _ops("helmchart", "controller")),
)

# The control plane dashboard's variable: the namespaces of the controllers.
FLUX_CONTROL_PLANE_VARIABLE = "workqueue_work_duration_seconds_count"

# Panels of Flux's control plane dashboard that read series eddy does not serve:
# the Go runtime's (eddy is Python) and the kubelet's container memory.
FLUX_NOT_SERVED = (
    Panel("Controllers", "stat", (f"sum(go_info{{{_POD}}})",)),
    Panel("Memory", "stat", (f"sum(go_memstats_alloc_bytes{{{_POD}}})",)),
    Panel("Memory Usage", "timeseries", (
        'sum(container_memory_working_set_bytes{namespace="{op}",container!="POD",container!="",'
        'pod=~".*-controller-.*"}) by (pod)',
    )),
)  # fmt: skip


def eddy_dashboard(path: Path = MONITORING / "dashboards" / "eddy.json") -> tuple[Panel, ...]:
    """The panels of one of eddy's Grafana dashboards."""
    dashboard = json.loads(path.read_text())
    return tuple(
        Panel(
            p["title"],
            p["type"],
            tuple(t["expr"] for t in p.get("targets", [])),
            p.get("fieldConfig", {}).get("defaults", {}).get("unit", ""),
        )
        for p in dashboard["panels"]
    )
