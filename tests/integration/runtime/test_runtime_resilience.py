"""Broken watches, 410 Gone, conflicts, bad objects and an API outage do not stop work."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from runtime_support import TcpProxy, eventually, kubeconfig_via, ready_widget
from widget_controller import WIDGETS

from conftest import StartManager, widget
from eddy_runtime import conditions
from eddy_runtime.resources import ResourceClient

pytestmark = pytest.mark.integration

OUTAGE_SECONDS = float(os.environ.get("EDDY_TEST_OUTAGE_SECONDS", "30"))


async def proxied(control_plane: Any, tmp_path: Path) -> tuple[TcpProxy, str]:
    url = urlparse(control_plane.server)
    proxy = TcpProxy(url.hostname or "127.0.0.1", url.port or 443)
    await proxy.start()
    path = kubeconfig_via(
        control_plane.kubeconfig, f"https://127.0.0.1:{proxy.port}", tmp_path / "kubeconfig"
    )
    return proxy, str(path)


async def test_broken_watch_and_410_recover_without_missing_a_change(
    kube: ResourceClient,
    namespace: str,
    start_manager: StartManager,
    control_plane: Any,
    tmp_path: Path,
) -> None:
    proxy, kubeconfig = await proxied(control_plane, tmp_path)
    try:
        running = await start_manager(kubeconfig)
        await kube.create(WIDGETS, widget("w", namespace, size=1))
        await eventually(lambda: ready_widget(kube, namespace, "w"))
        informer = running.manager.informer(WIDGETS)

        # A broken watch: the connection dies, a change happens, the watch resumes.
        proxy.drop_connections()
        await kube.patch(WIDGETS, "w", {"spec": {"size": 2}}, namespace)
        obj = await eventually(lambda: ready_widget(kube, namespace, "w"))
        assert obj["status"]["observedGeneration"] == 2

        # A 410: resume from a resourceVersion the server no longer has.
        relists = informer.relists
        informer.resource_version = "1"
        proxy.drop_connections()
        await kube.patch(WIDGETS, "w", {"spec": {"size": 3}}, namespace)
        obj = await eventually(lambda: ready_widget(kube, namespace, "w"))
        assert obj["status"]["observedGeneration"] == 3
        assert informer.relists > relists
        assert not running.manager.done
    finally:
        await proxy.stop()


async def test_conflicting_status_patch_is_retried(
    kube: ResourceClient, namespace: str, start_manager: StartManager
) -> None:
    running = await start_manager()
    await kube.create(WIDGETS, widget("w", namespace, conflict=True))
    await eventually(lambda: ready_widget(kube, namespace, "w"))
    assert running.manager.status.conflicts >= 1


async def test_bad_objects_and_raising_reconciler_do_not_stop_others(
    kube: ResourceClient, namespace: str, start_manager: StartManager
) -> None:
    running = await start_manager()
    await kube.create(WIDGETS, widget("bad-interval", namespace, interval="banana"))
    await kube.create(WIDGETS, widget("raises", namespace, fail=True))
    await kube.create(WIDGETS, widget("good", namespace))
    await eventually(lambda: ready_widget(kube, namespace, "good"))

    async def failed(name: str) -> dict[str, Any] | None:
        obj = await kube.get(WIDGETS, name, namespace)
        ready = conditions.get(obj.get("status") or {}, conditions.READY)
        return ready if ready and ready["status"] == "False" else None

    bad = await eventually(lambda: failed("bad-interval"))
    assert bad["reason"] == "InvalidInterval"
    assert "banana" in bad["message"]
    raised = await eventually(lambda: failed("raises"))
    assert raised["reason"] == "ReconciliationFailed"
    # An unexpected exception is a bug: status names the step, never the exception's text.
    assert raised["message"] == "internal error in step work; see the controller log"
    # Retried with backoff, not given up on.
    await eventually(
        lambda: asyncio.sleep(0, len(running.tracker.calls[f"{namespace}/raises"]) >= 2)
    )
    assert not running.manager.done


async def test_api_server_outage_is_survived(
    kube: ResourceClient,
    namespace: str,
    start_manager: StartManager,
    control_plane: Any,
    tmp_path: Path,
) -> None:
    proxy, kubeconfig = await proxied(control_plane, tmp_path)
    try:
        running = await start_manager(kubeconfig, max_retry_delay=2.0)
        await kube.create(WIDGETS, widget("before", namespace))
        await eventually(lambda: ready_widget(kube, namespace, "before"))

        await proxy.stop()  # the server is gone, as far as the controller can tell
        await kube.create(WIDGETS, widget("during", namespace))
        await kube.patch(WIDGETS, "before", {"spec": {"size": 9}}, namespace)
        await asyncio.sleep(OUTAGE_SECONDS)
        assert not running.manager.done
        await proxy.start()

        await eventually(lambda: ready_widget(kube, namespace, "during"), timeout=25)
        obj = await eventually(lambda: ready_widget(kube, namespace, "before"), timeout=10)
        assert obj["status"]["observedGeneration"] == 2
        assert not running.manager.done
    finally:
        await proxy.stop()
