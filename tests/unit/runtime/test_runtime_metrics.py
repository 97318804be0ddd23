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
    metrics.record_deleted("GitRepository", "flux-system", "podinfo")
    text = metrics.registry.expose()
    assert f'gotk_reconcile_condition{{{base},status="Deleted"}} 1' in text
    assert f'{base},status="True"' not in text


def test_parse_addr() -> None:
    assert parse_addr(":8080") == ("0.0.0.0", 8080)
    assert parse_addr("127.0.0.1:0") == ("127.0.0.1", 0)
    assert parse_addr("[::1]:9440") == ("::1", 9440)
