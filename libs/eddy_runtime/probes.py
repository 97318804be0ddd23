"""/healthz and /readyz for the kubelet's liveness and readiness probes.

Liveness says the event loop still answers; readiness says the caches have synced,
so a rolling update does not retire the old pod before the new one can work.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

Check = Callable[[], bool]


def probes_app(ready: Check, healthy: Check = lambda: True) -> web.Application:
    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok") if healthy() else web.Response(status=500, text="unhealthy")

    async def readyz(_: web.Request) -> web.Response:
        return web.Response(text="ok") if ready() else web.Response(status=503, text="not ready")

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app
