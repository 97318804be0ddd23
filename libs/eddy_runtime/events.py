"""Record Kubernetes Events (core/v1) about reconciled objects, as Flux does.

`kubectl describe` and `flux events` show what a controller did and why it failed;
repeated identical events are folded into one with a count instead of piling up.
With `--events-addr` each event is also posted to the notification-controller.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import time
from typing import Any

import aiohttp

from .conditions import now_rfc3339
from .forward import ERROR, INFO, EventForwarder, flux_event
from .resources import EVENTS, ApiError, Obj, ResourceClient

log = logging.getLogger("eddy.events")

NORMAL = "Normal"
WARNING = "Warning"

# Flux's reason strings that the runtime or every controller uses.
RECONCILIATION_SUCCEEDED = "ReconciliationSucceeded"
RECONCILIATION_FAILED = "ReconciliationFailed"
NEW_ARTIFACT = "NewArtifact"
HEALTH_CHECK_FAILED = "HealthCheckFailed"
DEPENDENCY_NOT_READY = "DependencyNotReady"

# Identical events within this window update the first one's count.
_FOLD_WINDOW = 600.0
_MESSAGE_LIMIT = 1024
# Flux's eventv1.Event allows messages up to 39,000 characters.
_FORWARD_LIMIT = 39000


class EventRecorder:
    """Posts Events with source.component / reportingController named like Flux's."""

    def __init__(
        self,
        client: ResourceClient,
        controller: str,
        instance: str = "",
        events_addr: str = "",
    ) -> None:
        self.client = client
        self.controller = controller
        self.instance = instance or os.environ.get("POD_NAME") or socket.gethostname()
        self._recent: dict[tuple[str, str, str, str], tuple[str, int, float]] = {}
        # The notification-controller reads the same flag as its listen address
        # (":9090"); only a URL is somewhere to post to.
        forward = events_addr.startswith(("http://", "https://"))
        self.forwarder = EventForwarder(events_addr) if forward else None

    async def close(self) -> None:
        if self.forwarder is not None:
            await self.forwarder.close()

    async def event(
        self,
        obj: Obj,
        event_type: str,
        reason: str,
        message: str,
        annotations: dict[str, str] | None = None,
    ) -> None:
        """Record one Event; failures are logged, never raised into the reconcile."""
        if self.forwarder is not None:
            severity = ERROR if event_type == WARNING else INFO
            self.forwarder.submit(
                flux_event(
                    obj, severity, reason, message[:_FORWARD_LIMIT], annotations,
                    self.controller, self.instance,
                )
            )  # fmt: skip
        try:
            await self._record(obj, event_type, reason, message[:_MESSAGE_LIMIT], annotations)
        except (ApiError, aiohttp.ClientError, OSError, TimeoutError) as err:
            log.warning("could not record event %s: %s", reason, err)

    async def normal(self, obj: Obj, reason: str, message: str) -> None:
        await self.event(obj, NORMAL, reason, message)

    async def warning(self, obj: Obj, reason: str, message: str) -> None:
        await self.event(obj, WARNING, reason, message)

    async def _record(
        self,
        obj: Obj,
        event_type: str,
        reason: str,
        message: str,
        annotations: dict[str, str] | None,
    ) -> None:
        meta = obj.get("metadata") or {}
        namespace = meta.get("namespace") or "default"
        fold_key = (str(meta.get("uid", "")), event_type, reason, message)
        now = time.monotonic()
        recent = self._recent.get(fold_key)
        stamp = now_rfc3339()
        if recent is not None and now - recent[2] < _FOLD_WINDOW:
            name, count, _ = recent
            patch = {"count": count + 1, "lastTimestamp": stamp}
            try:
                await self.client.patch(EVENTS, name, patch, namespace)
                self._recent[fold_key] = (name, count + 1, now)
                return
            except ApiError as err:
                if not err.not_found:
                    raise
        name = f"{meta.get('name', 'object')}.{secrets.token_hex(8)}"
        event: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": {
                "apiVersion": obj.get("apiVersion", ""),
                "kind": obj.get("kind", ""),
                "name": meta.get("name", ""),
                "namespace": meta.get("namespace", ""),
                "uid": meta.get("uid", ""),
                "resourceVersion": meta.get("resourceVersion", ""),
            },
            "type": event_type,
            "reason": reason,
            "message": message,
            "count": 1,
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "source": {"component": self.controller},
            "reportingComponent": self.controller,
            "reportingInstance": self.instance,
        }
        if annotations:
            event["metadata"]["annotations"] = annotations
        await self.client.create(EVENTS, event, namespace)
        if len(self._recent) > 4096:
            self._recent = {k: v for k, v in self._recent.items() if now - v[2] < _FOLD_WINDOW}
        self._recent[fold_key] = (name, 1, now)
