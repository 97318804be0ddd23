"""The Prometheus text exposition and Flux's series."""

from __future__ import annotations

from eddy_runtime.metrics import ControllerMetrics, Counter, Histogram, Registry, parse_addr


def test_histogram_exposition() -> None:
    reg = Registry()
    hist = reg.register(Histogram("h_seconds", "help", ("kind",), buckets=(0.1, 1.0)))
    hist.observe(0.05, kind="A")
    hist.observe(0.5, kind="A")
    text = reg.expose()
    assert "# TYPE h_seconds histogram" in text
    assert 'h_seconds_bucket{kind="A",le="0.1"} 1' in text
    assert 'h_seconds_bucket{kind="A",le="1"} 2' in text
    assert 'h_seconds_bucket{kind="A",le="+Inf"} 2' in text
    assert 'h_seconds_count{kind="A"} 2' in text
    assert 'h_seconds_sum{kind="A"} 0.55' in text


def test_label_values_are_escaped() -> None:
    reg = Registry()
    counter = reg.register(Counter("c_total", "help", ("name",)))
    counter.inc(name='a"b\\c\nd')
    assert 'c_total{name="a\\"b\\\\c\\nd"} 1' in reg.expose()


def test_flux_condition_series() -> None:
    metrics = ControllerMetrics()
    obj = {
        "metadata": {"name": "podinfo", "namespace": "flux-system"},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    }
    metrics.record_conditions("GitRepository", obj)
    text = metrics.registry.expose()
    base = 'kind="GitRepository",name="podinfo",namespace="flux-system",type="Ready"'
    assert f'gotk_reconcile_condition{{{base},status="True"}} 1' in text
    assert f'gotk_reconcile_condition{{{base},status="False"}} 0' in text
    assert f'gotk_reconcile_condition{{{base},status="Unknown"}} 0' in text
    metrics.record_deleted("GitRepository", "flux-system", "podinfo")
    text = metrics.registry.expose()
    assert 'name="podinfo"' not in text


def test_missing_ready_reads_unknown_and_artifact_size_is_exported() -> None:
    metrics = ControllerMetrics()
    obj = {
        "metadata": {"name": "podinfo", "namespace": "flux-system"},
        "status": {"artifact": {"size": 1234}},
    }
    metrics.record_conditions("GitRepository", obj)
    text = metrics.registry.expose()
    ref = 'kind="GitRepository",name="podinfo",namespace="flux-system"'
    assert f'gotk_reconcile_condition{{{ref},type="Ready",status="Unknown"}} 1' in text
    assert 'type="Stalled"' not in text
    assert f"eddy_artifact_size_bytes{{{ref}}} 1234" in text


def test_controller_series_start_at_zero_like_controller_runtime() -> None:
    metrics = ControllerMetrics()
    metrics.controller_started("gitrepository", 4)
    text = metrics.registry.expose()
    for result in ("error", "requeue", "requeue_after", "success"):
        line = (
            f'controller_runtime_reconcile_total{{controller="gitrepository",result="{result}"}} 0'
        )
        assert line in text
    assert 'controller_runtime_max_concurrent_reconciles{controller="gitrepository"} 4' in text
    assert 'workqueue_retries_total{name="gitrepository",controller="gitrepository"} 0' in text
    assert "# TYPE process_cpu_seconds_total counter" in text
    assert "process_resident_memory_bytes " in text


def test_parse_addr() -> None:
    assert parse_addr(":8080") == ("0.0.0.0", 8080)
    assert parse_addr("127.0.0.1:0") == ("127.0.0.1", 0)
    assert parse_addr("[::1]:9440") == ("::1", 9440)
