"""What operators see: metrics, probes, Events, and logs without Secret data."""

from __future__ import annotations

import base64
import io
import logging

import aiohttp
import pytest
from runtime_support import eventually, ready_widget
from widget_controller import NAME, WIDGETS

from conftest import StartManager, widget
from eddy_runtime import logs
from eddy_runtime.resources import SECRETS, ResourceClient
from eddy_testenv.observe import events_for
from eddy_testenv.webhooks import webhook_server

pytestmark = pytest.mark.integration


async def test_metrics_and_probes_are_served(
    kube: ResourceClient, namespace: str, start_manager: StartManager
) -> None:
    running = await start_manager()
    await kube.create(WIDGETS, widget("w", namespace))
    await eventually(lambda: ready_widget(kube, namespace, "w"))
    manager = running.manager
    base = f'kind="Widget",name="w",namespace="{namespace}"'

    async with aiohttp.ClientSession() as http:

        async def scrape() -> str | None:
            url = f"http://127.0.0.1:{manager.metrics_port}/metrics"
            async with http.get(url) as resp:
                assert resp.status == 200
                assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
                text = await resp.text()
            ready = f'gotk_reconcile_condition{{{base},type="Ready",status="True"}} 1'
            return text if ready in text else None

        text = await eventually(scrape)
        assert f"gotk_reconcile_duration_seconds_bucket{{{base}," in text
        assert f"gotk_reconcile_duration_seconds_count{{{base}}} 1" in text
        queue = 'name="widget",controller="widget"'
        assert f'workqueue_depth{{{queue},priority=""}} 0' in text
        assert f"workqueue_queue_duration_seconds_count{{{queue}}} " in text
        assert f"workqueue_work_duration_seconds_count{{{queue}}} " in text
        assert f"workqueue_longest_running_processor_seconds{{{queue}}} " in text
        assert 'controller_runtime_reconcile_total{controller="widget",result="success"} 1' in text
        assert 'controller_runtime_reconcile_time_seconds_count{controller="widget"} 1' in text
        assert 'controller_runtime_reconcile_total{controller="widget",result="error"} 0' in text
        assert 'rest_client_requests_total{code="200",method="GET",host="127.0.0.1:' in text

        for path in ("/healthz", "/readyz"):
            async with http.get(f"http://127.0.0.1:{manager.health_port}{path}") as resp:
                assert resp.status == 200, path


async def test_events_are_recorded(
    kube: ResourceClient, namespace: str, start_manager: StartManager
) -> None:
    await start_manager()
    await kube.create(WIDGETS, widget("ok", namespace, events=True))
    await kube.create(WIDGETS, widget("broken", namespace, fail=True))

    async def event(name: str, reason: str) -> dict[str, object] | None:
        found = await events_for(kube, namespace, name)
        return next((e for e in found if e["reason"] == reason), None)

    ok = await eventually(lambda: event("ok", "ReconciliationSucceeded"))
    assert ok["type"] == "Normal"
    assert ok["source"] == {"component": NAME}
    assert ok["reportingComponent"] == NAME
    assert ok["involvedObject"]["kind"] == "Widget"  # type: ignore[index]
    broken = await eventually(lambda: event("broken", "ReconciliationFailed"))
    assert broken["type"] == "Warning"
    # Repeated failures fold into one Event with a count.
    folded = await eventually(lambda: _counted(kube, namespace, "broken"), timeout=10)
    assert folded >= 2


async def _counted(kube: ResourceClient, namespace: str, name: str) -> int | None:
    found = await events_for(kube, namespace, name)
    counts = [int(e.get("count") or 1) for e in found if e["reason"] == "ReconciliationFailed"]
    return max(counts) if counts and max(counts) >= 2 else None


async def test_secret_data_never_appears_in_a_log_line(
    kube: ResourceClient, namespace: str, start_manager: StartManager
) -> None:
    password = "correct-horse-battery-staple"
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "creds", "namespace": namespace},
        "stringData": {"password": password},
    }
    await kube.create(SECRETS, secret)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JSONFormatter(NAME))
    handler.addFilter(logs.RedactFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.DEBUG)
    try:
        await start_manager()
        await kube.create(WIDGETS, widget("w", namespace, secretRef="creds"))
        await eventually(lambda: ready_widget(kube, namespace, "w"))
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    out = stream.getvalue()
    assert "read the secret" in out
    assert logs.REDACTED in out
    assert password not in out
    assert base64.b64encode(password.encode()).decode() not in out


async def test_events_are_posted_to_the_events_address_in_flux_format(
    kube: ResourceClient, namespace: str, start_manager: StartManager
) -> None:
    async with webhook_server() as receiver:
        # The first post is answered 503: the forwarder retries it.
        receiver.statuses = [503]
        await start_manager(events_addr=receiver.url + "/")
        await kube.create(WIDGETS, widget("ok", namespace, events=True))
        await kube.create(WIDGETS, widget("broken", namespace, fail=True))

        def posted(name: str, reason: str) -> dict[str, object] | None:
            for request in receiver.requests:
                body = request.json()
                if body["involvedObject"]["name"] == name and body["reason"] == reason:
                    assert request.method == "POST" and request.path == "/"
                    assert request.headers["content-type"] == "application/json"
                    return body  # type: ignore[no-any-return]
            return None

        async def arrived(name: str, reason: str) -> dict[str, object] | None:
            return posted(name, reason)

        ok = await eventually(lambda: arrived("ok", "ReconciliationSucceeded"))
        assert ok["severity"] == "info"
        assert ok["message"] == "widget is ready"
        assert ok["reportingController"] == NAME
        assert ok["reportingInstance"]
        assert str(ok["timestamp"]).endswith("Z")
        involved = ok["involvedObject"]
        assert involved["kind"] == "Widget"  # type: ignore[index]
        assert involved["apiVersion"] == WIDGETS.api_version  # type: ignore[index]
        assert involved["namespace"] == namespace  # type: ignore[index]
        assert involved["uid"]  # type: ignore[index]
        broken = await eventually(lambda: arrived("broken", "ReconciliationFailed"))
        assert broken["severity"] == "error"
        # Sent in order: the refused first event is posted again before any other.
        assert receiver.requests[1].body == receiver.requests[0].body


async def test_no_events_address_posts_nothing(
    kube: ResourceClient, namespace: str, start_manager: StartManager
) -> None:
    running = await start_manager()
    assert running.manager.events.forwarder is None
    await kube.create(WIDGETS, widget("ok", namespace, events=True))
    await eventually(lambda: ready_widget(kube, namespace, "ok"))
