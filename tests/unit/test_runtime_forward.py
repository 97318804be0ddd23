"""The events forwarder: Flux's event body, and a full queue that drops instead of waiting."""

from __future__ import annotations

import socket

from eddy_runtime.forward import EventForwarder, flux_event

OBJ = {
    "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
    "kind": "Kustomization",
    "metadata": {
        "name": "app",
        "namespace": "apps",
        "uid": "u-1",
        "resourceVersion": "7",
        "annotations": {"event.toolkit.fluxcd.io/env": "prod", "other/key": "x"},
    },
}


def test_flux_event_body() -> None:
    meta = {"kustomize.toolkit.fluxcd.io/revision": "main@sha1:abc"}
    body = flux_event(OBJ, "error", "HealthCheckFailed", "boom", meta, "kc", "pod-1")
    assert body["involvedObject"] == {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "name": "app",
        "namespace": "apps",
        "uid": "u-1",
        "resourceVersion": "7",
    }
    assert body["metadata"] == {
        "kustomize.toolkit.fluxcd.io/revision": "main@sha1:abc",
        "event.toolkit.fluxcd.io/env": "prod",
    }
    assert (body["severity"], body["reason"], body["message"]) == (
        "error",
        "HealthCheckFailed",
        "boom",
    )
    assert (body["reportingController"], body["reportingInstance"]) == ("kc", "pod-1")


async def test_a_full_queue_drops_the_oldest_and_never_waits() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    forwarder = EventForwarder(f"http://127.0.0.1:{port}/", queue_size=4)
    for i in range(10):
        forwarder.submit(flux_event(OBJ, "info", f"R{i}", "m", None, "kc", "pod"))
    # The sender holds at most one event; the queue keeps the newest.
    assert forwarder.dropped >= 5
    reasons = [e["reason"] for e in list(forwarder.queue._queue)]  # type: ignore[attr-defined]
    assert reasons[-1] == "R9"
    await forwarder.close(flush_timeout=0.1)
    assert forwarder.posted == 0
