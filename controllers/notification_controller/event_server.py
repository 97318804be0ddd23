"""The events endpoint: every controller POSTs its events here, Alerts send them on.

Flux's path and answers: `POST /` with the event JSON, 202 once accepted, 400 for a
body that is not an event, 429 for a duplicate within the rate-limit window.
Deliveries run after the answer, so a slow service never holds up a controller.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import replace
from typing import Any

import aiohttp
from aiohttp import web

from eddy_runtime import Manager
from eddy_runtime.reconciler import StepError
from eddy_runtime.resources import ApiError

from . import alerts
from .delivery import resolve, send
from .objects import ALERTS, FLUX_KINDS, PROVIDERS, Obj, name_of, spec_of
from .providers import DeliveryError, build

log = logging.getLogger("eddy.notification")

# Flux caps an event message at 39,000 characters; metadata adds a little.
MAX_EVENT_BYTES = 256 * 1024


class EventServer:
    def __init__(self, manager: Manager, rate_limit_interval: float) -> None:
        self.manager = manager
        self.limiter = alerts.RateLimiter(rate_limit_interval)
        self.session: aiohttp.ClientSession | None = None
        self.deliveries: set[asyncio.Task[None]] = set()
        self.sent = 0
        self.failed = 0

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_EVENT_BYTES)
        app.router.add_post("/", self.handle)
        app.on_cleanup.append(self._cleanup)
        return app

    async def _cleanup(self, _: web.Application) -> None:
        if self.deliveries:
            await asyncio.wait(self.deliveries, timeout=10)
        if self.session is not None:
            await self.session.close()

    async def handle(self, request: web.Request) -> web.Response:
        try:
            event = json.loads(await request.read())
        except web.HTTPRequestEntityTooLarge:
            return web.Response(status=413, text="event too large\n")
        except (ValueError, UnicodeDecodeError):
            return web.Response(status=400, text="the body is not JSON\n")
        problem = _invalid(event)
        if problem:
            return web.Response(status=400, text=problem + "\n")
        if not self.limiter.allow(alerts.event_key(event)):
            return web.Response(status=429, text="duplicate event within the rate limit\n")
        task = asyncio.create_task(self.dispatch(event))
        self.deliveries.add(task)
        task.add_done_callback(self.deliveries.discard)
        return web.Response(status=202)

    async def dispatch(self, event: dict[str, Any]) -> None:
        labels: dict[str, str] | None = None
        for alert in list(self.manager.informer(ALERTS).objects()):
            if alerts.needs_labels(alert, event) and labels is None:
                labels = await self._labels(event)
            same_namespace = self.manager.options.no_cross_namespace_refs
            if not alerts.selects(alert, event, labels, same_namespace):
                continue
            await self._send(alert, alerts.enrich(alert, event))

    async def _send(self, alert: Obj, event: dict[str, Any]) -> None:
        namespace, name = name_of(alert)
        provider_name = str((spec_of(alert).get("providerRef") or {}).get("name", ""))
        provider = self.manager.informer(PROVIDERS).get_by_key(f"{namespace}/{provider_name}")
        where = f"alert {namespace}/{name} via provider {provider_name}"
        if provider is None or spec_of(provider).get("suspend"):
            log.info("%s: provider missing or suspended, event not sent", where)
            return
        try:
            delivery, transport = await resolve(self.manager.client, provider)
            request = build(replace(delivery, alert=alert), event)
            if request is None:
                return
            if self.session is None:
                self.session = aiohttp.ClientSession()
            await send(self.session, request, transport, delivery.type)
            self.sent += 1
            log.info("%s: sent %s", where, event.get("reason"))
        except (StepError, DeliveryError) as err:
            self.failed += 1
            log.error("%s: %s", where, err)
        except ApiError as err:
            self.failed += 1
            log.error("%s: reading the provider's Secrets failed: %s", where, err.reason)

    async def _labels(self, event: dict[str, Any]) -> dict[str, str]:
        involved = event.get("involvedObject") or {}
        resource = FLUX_KINDS.get(str(involved.get("kind", "")))
        if resource is None:
            return {}
        try:
            obj = await self.manager.client.get_or_none(
                resource, str(involved.get("name", "")), str(involved.get("namespace", ""))
            )
        except ApiError as err:
            log.warning("could not read the labels of the event's object: %s", err.reason)
            return {}
        return dict(((obj or {}).get("metadata") or {}).get("labels") or {})


def _invalid(event: Any) -> str:
    if not isinstance(event, dict):
        return "the body is not an event object"
    involved = event.get("involvedObject")
    if not isinstance(involved, dict):
        return "involvedObject is required"
    for key in ("kind", "name", "namespace"):
        if not involved.get(key):
            return f"involvedObject.{key} is required"
    for key in ("severity", "reason", "message"):
        if not isinstance(event.get(key), str):
            return f"{key} is required"
    if not isinstance(event.get("metadata") or {}, dict):
        return "metadata must be a map of strings"
    return ""
