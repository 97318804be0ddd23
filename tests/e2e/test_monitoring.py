"""Flux's Grafana dashboards, eddy's own and eddy's alerts, against a real Prometheus.

The source-, kustomize- and helm-controller run as processes; kube-state-metrics
runs with eddy's custom resource state configuration (manifests/monitoring);
Prometheus scrapes them all every second with the labels a PodMonitor gives
(namespace, pod). Every panel query of Flux's published dashboards
(listed in eddy_testenv.dashboards) and of manifests/monitoring/dashboards/eddy.json
must return data, and the alert rules load, select the failing objects and fire
(with their `for` shortened), and failed reconciles are counted as
controller-runtime counts a reconcile that returns an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from eddy_runtime.resources import Resource, ResourceClient
from eddy_testenv import ControlPlane
from eddy_testenv.controllers import ControllerProcess
from eddy_testenv.dashboards import (
    FLUX_CLUSTER,
    FLUX_CLUSTER_VARIABLES,
    FLUX_CONTROL_PLANE,
    FLUX_CONTROL_PLANE_VARIABLE,
    FLUX_NOT_SERVED,
    MONITORING,
    eddy_dashboard,
)
from eddy_testenv.gitserver import GitHTTPServer, GitRepo
from eddy_testenv.prometheus import KubeStateMetrics, Prometheus, Target
from eddy_testenv.waiting import until

from .support import (
    DEPLOYMENT,
    GIT_REPOSITORIES,
    HELM_RELEASES,
    KUSTOMIZATIONS,
    SERVICE,
    controller_processes,
    is_ready,
    manifest,
    ready,
    settings_map,
    wait_for,
)

SUITE = "monitoring"
OPERATOR_NAMESPACE = "flux-system"


def alert_rules() -> dict[str, Any]:
    """The `groups` of eddy's PrometheusRule, as a Prometheus rule file."""
    rule = yaml.safe_load((MONITORING / "prometheusrule.yaml").read_text())
    return dict(rule["spec"])


def hurried(rules: dict[str, Any], wait: str = "1s") -> dict[str, Any]:
    """The same rules, each firing after `wait` instead of minutes: the test cannot wait."""
    groups = [
        {**group, "rules": [{**rule, "for": wait} for rule in group["rules"]]}
        for group in rules["groups"]
    ]
    return {**rules, "groups": groups}


@pytest.fixture(scope="module")
def processes(control_plane: ControlPlane) -> Iterator[dict[str, ControllerProcess]]:
    with tempfile.TemporaryDirectory(prefix="eddy-monitoring-") as tmp, controller_processes(
        control_plane.kubeconfig, Path(tmp), ["source", "kustomize", "helm"],
        selector=f"testing.eddy.dev/suite={SUITE}",
    ) as running:  # fmt: skip
        yield running


async def test_dashboards_and_alerts_have_data(
    processes: dict[str, ControllerProcess],
    control_plane: ControlPlane,
    kube: ResourceClient,
    namespace: str,
    git_repo: GitRepo,
    git_server: GitHTTPServer,
    tmp_path: Path,
) -> None:
    git_repo.commit(
        {"app/deployment.yaml": DEPLOYMENT, "app/service.yaml": SERVICE,
         "app/settings.yaml": settings_map("hello")}
    )  # fmt: skip
    url = git_server.repo_url(git_repo.name)

    def source(name: str, **spec: Any) -> dict[str, Any]:
        spec = {"interval": "10m", "url": url, "ref": {"branch": "main"}, **spec}
        return manifest(GIT_REPOSITORIES, name, namespace, spec, SUITE)

    def kustomization(name: str, **spec: Any) -> dict[str, Any]:
        spec = {"interval": "10m", "path": "./app", "prune": True,
                "sourceRef": {"kind": "GitRepository", "name": "app"}, **spec}  # fmt: skip
        return manifest(KUSTOMIZATIONS, name, namespace, spec, SUITE)

    # One of each state the dashboards count: ready, failing, suspended.
    await kube.create(GIT_REPOSITORIES, source("app"))
    # The failing ones retry every few seconds.
    gone = url.rsplit("/", 1)[0] + "/gone.git"
    await kube.create(GIT_REPOSITORIES, source("gone", url=gone, interval="3s"))
    await kube.create(
        GIT_REPOSITORIES, source("locked", secretRef={"name": "missing"}, interval="3s")
    )
    await kube.create(KUSTOMIZATIONS, kustomization("app", targetNamespace=namespace))
    await kube.create(KUSTOMIZATIONS, kustomization("broken", path="./missing", retryInterval="3s"))
    await kube.create(KUSTOMIZATIONS, kustomization("paused", suspend=True))
    chart = {"chart": "podinfo", "sourceRef": {"kind": "HelmRepository", "name": "missing"}}
    release = manifest(HELM_RELEASES, "web", namespace,
                       {"interval": "10m", "chart": {"spec": chart}}, SUITE)  # fmt: skip
    await kube.create(HELM_RELEASES, release)

    await wait_for("app is applied", lambda: kube_ready(kube, namespace))
    for res, name in ((GIT_REPOSITORIES, "gone"), (GIT_REPOSITORIES, "locked"),
                      (KUSTOMIZATIONS, "broken")):  # fmt: skip
        await wait_for(f"{name} fails", functools.partial(fails, kube, res, name, namespace))
    # Its chart's HelmRepository does not exist: Ready is False or Unknown, never True.
    await wait_for("web reports", functools.partial(reported, kube, namespace))

    pods = {name: f"{p.name}-{p.pid}" for name, p in processes.items()}
    ksm = KubeStateMetrics(control_plane.kubeconfig, workdir=tmp_path / "ksm")
    rules = tmp_path / "rules.yml"
    rules.write_text(yaml.safe_dump(hurried(alert_rules())))
    ksm.start()
    try:
        # What kube-state-metrics serves from Flux's configuration, for eddy's objects.
        info = await wait_for(
            "kube-state-metrics reports the Kustomization",
            lambda: asyncio.to_thread(resource_info, ksm, namespace, "Kustomization", "app"),
        )
        commit = (await kube.get(KUSTOMIZATIONS, "app", namespace))["status"]["lastAppliedRevision"]
        assert info["ready"] == "True"
        assert info["revision"] == commit
        assert info["source_name"] == "app"
        assert info["customresource_group"] == "kustomize.toolkit.fluxcd.io"
        broken = resource_info(ksm, namespace, "Kustomization", "broken")
        assert broken is not None and broken["ready"] == "False"
        paused = resource_info(ksm, namespace, "Kustomization", "paused")
        assert paused is not None and paused["suspended"] == "true"
        repo = resource_info(ksm, namespace, "GitRepository", "app")
        assert repo is not None and repo["revision"] == commit and repo["url"] == url

        targets = [
            Target("eddy", f"127.0.0.1:{p.metrics_port}",
                   {"namespace": OPERATOR_NAMESPACE, "pod": pods[name]})
            for name, p in processes.items()
        ]  # fmt: skip
        targets.append(Target("kube-state-metrics", ksm.address))
        with Prometheus(targets, [rules], workdir=tmp_path / "prometheus") as prometheus:
            health = await wait_for(
                "Prometheus scrapes every target",
                lambda: asyncio.to_thread(all_up, prometheus, len(targets)),
            )
            assert set(health.values()) == {"up"}

            fill = {"ns": namespace, "op": OPERATOR_NAMESPACE}
            panels = [p.filled(**fill) for p in (*FLUX_CLUSTER, *FLUX_CONTROL_PLANE)]
            panels += eddy_dashboard()
            queries = [q for p in panels for q in p.exprs]
            empty = await asyncio.to_thread(still_empty, prometheus, queries, 90.0)
            assert empty == [], f"these dashboard queries returned no data: {empty}"
            # The dashboards' variables offer the controllers' and the objects' namespaces.
            for label, series in FLUX_CLUSTER_VARIABLES:
                values = prometheus.api(f"label/{label}/values", **{"match[]": series})
                assert (OPERATOR_NAMESPACE if label == "namespace" else namespace) in values
            assert prometheus.query(FLUX_CONTROL_PLANE_VARIABLE)[0]["metric"]["namespace"] == (
                OPERATOR_NAMESPACE
            )
            for panel in FLUX_NOT_SERVED:
                assert prometheus.query(panel.filled(**fill).exprs[0]) == [], panel.title

            # The alerts load, and their expressions pick exactly the failing objects.
            groups = prometheus.rule_groups()
            loaded = {r["name"]: r for g in groups for r in g["rules"]}
            assert set(loaded) == {r["alert"] for g in alert_rules()["groups"] for r in g["rules"]}
            assert {r["health"] for r in loaded.values()} <= {"ok", "unknown"}
            exprs = {r["name"]: r["query"] for r in loaded.values()}

            def selected(alert: str) -> set[str]:
                found = prometheus.query(exprs[alert])
                return {s["metric"]["name"] for s in found
                        if s["metric"].get("exported_namespace") == namespace}  # fmt: skip

            # Not the suspended one, which never became Ready either.
            assert selected("KustomizationNotReady") == {"broken"}
            assert selected("SourceFailing") == {"gone", "locked"}
            assert selected("HelmReleaseNotReady") == {"web"}
            assert "controller_runtime_reconcile_errors_total" in exprs["ReconcileErrors"]

            # And they fire: each object that keeps failing, and the controllers whose
            # reconciles keep failing (the GitRepositories', the Kustomization's).
            expected = {
                "KustomizationNotReady": {"broken"},
                "SourceFailing": {"gone", "locked"},
                "HelmReleaseNotReady": {"web"},
                "ReconcileErrors": {"kustomization", "gitrepository"},
            }
            seen: dict[str, set[str]] = {}

            def firing() -> bool:
                seen.clear()
                for alert in prometheus.query('ALERTS{alertstate="firing"}'):
                    labels = alert["metric"]
                    if labels.get("exported_namespace", namespace) == namespace:
                        what = labels.get("name") or labels.get("controller", "")
                        seen.setdefault(labels["alertname"], set()).add(what)
                return all(want <= seen.get(alert, set()) for alert, want in expected.items())

            with contextlib.suppress(AssertionError):
                await wait_for("every alert fires", lambda: asyncio.to_thread(firing), 60)
            # Exactly the failing objects; the controllers with failing ones among others.
            assert {k: v for k, v in seen.items() if k != "ReconcileErrors"} == {
                k: v for k, v in expected.items() if k != "ReconcileErrors"
            }, seen
            assert expected["ReconcileErrors"] <= seen.get("ReconcileErrors", set()), seen
    finally:
        ksm.stop()

    # A failed pass counts once in controller_runtime_reconcile_errors_total and as
    # result="error", as a reconcile returning an error does in controller-runtime:
    # between two reads, `broken` is the only Kustomization reconciled, every pass of
    # it fails, and the counters grew by its passes.
    kustomize = processes["kustomize"]
    first = await asyncio.to_thread(failure_counts, kustomize, namespace)
    assert first is not None
    later = await wait_for(
        "broken fails twice more",
        lambda: asyncio.to_thread(failure_counts, kustomize, namespace, first[0] + 2),
    )
    grew = [b - a for a, b in zip(first, later, strict=True)]
    assert grew[0] >= 2
    assert grew == [grew[0]] * 3, f"passes of broken, errors, error results grew by {grew}"

    # A pass that waits is no error, as in Flux: `web` has only ever waited for its
    # chart, whose HelmRepository does not exist.
    helm = await asyncio.to_thread(processes["helm"].metrics)
    passes = sample(helm, "gotk_reconcile_duration_seconds_count", kind="HelmRelease",
                    name="web", namespace=namespace)  # fmt: skip
    assert passes >= 1
    assert sample(helm, "controller_runtime_reconcile_errors_total", controller="helmrelease") == 0


def failure_counts(
    process: ControllerProcess, namespace: str, at_least: float = 0
) -> tuple[float, float, float] | None:
    """From one read of the kustomize-controller's metrics: the passes of `broken`,
    controller_runtime_reconcile_errors_total and reconcile_total{result="error"}."""
    text = process.metrics()
    counts = (
        sample(text, "gotk_reconcile_duration_seconds_count", kind="Kustomization",
               name="broken", namespace=namespace),
        sample(text, "controller_runtime_reconcile_errors_total", controller="kustomization"),
        sample(text, "controller_runtime_reconcile_total", controller="kustomization",
               result="error"),
    )  # fmt: skip
    return counts if counts[0] >= at_least else None


def sample(text: str, metric: str, /, **labels: str) -> float:
    """The value of the series `metric` with `labels` in a /metrics text (0 if absent)."""
    for line in text.splitlines():
        if not line.startswith(metric + "{"):
            continue
        series, _, value = line.rpartition(" ")
        have = parse_labels(series[len(metric) + 1 : series.rindex("}")])
        if all(have.get(k) == v for k, v in labels.items()):
            return float(value)
    return 0.0


async def kube_ready(kube: ResourceClient, namespace: str) -> bool:
    return is_ready(await kube.get_or_none(KUSTOMIZATIONS, "app", namespace))


async def reported(kube: ResourceClient, namespace: str) -> bool:
    return ready(await kube.get_or_none(HELM_RELEASES, "web", namespace)).get("status") in (
        "False",
        "Unknown",
    )


async def fails(kube: ResourceClient, res: Resource, name: str, namespace: str) -> bool:
    return ready(await kube.get_or_none(res, name, namespace)).get("status") == "False"


def resource_info(
    ksm: KubeStateMetrics, namespace: str, kind: str, name: str
) -> dict[str, str] | None:
    """The labels of gotk_resource_info for one object, as kube-state-metrics serves them."""
    for line in ksm.metrics().splitlines():
        if not line.startswith("gotk_resource_info{"):
            continue
        labels = parse_labels(line[len("gotk_resource_info{") : line.rindex("}")])
        if (labels.get("customresource_kind"), labels.get("exported_namespace"),
                labels.get("name")) == (kind, namespace, name):  # fmt: skip
            return labels
    return None


LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def parse_labels(text: str) -> dict[str, str]:
    return {name: value.replace('\\"', '"') for name, value in LABEL.findall(text)}


def all_up(prometheus: Prometheus, count: int) -> dict[str, str] | None:
    health = prometheus.target_health()
    return health if len(health) == count and set(health.values()) == {"up"} else None


def still_empty(prometheus: Prometheus, queries: list[str], timeout: float) -> list[str]:
    """The queries that return no sample; asked again (Prometheus scrapes every
    second) until none is left or `timeout` passes."""
    empty = list(queries)

    def answered() -> bool:
        empty[:] = [q for q in empty if not prometheus.query(q)]
        return not empty

    with contextlib.suppress(AssertionError):
        until("every dashboard query returns data", answered, timeout=timeout, interval=1.0)
    return empty
