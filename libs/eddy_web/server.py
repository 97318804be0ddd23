"""The dashboard's HTTP server: pages, the JSON API, live streams and actions.

One aiohttp application serves the shipped assets and answers the browser's
requests by calling the Kubernetes API as the person who is logged in.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import secrets
import sys
import webbrowser
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiohttp import web
from kubernetes_asyncio.client import Configuration

from eddy_runtime.client import kubeconfig_impersonation, load_configuration, person_client
from eddy_runtime.informer import Informer
from eddy_runtime.resources import ApiError, ResourceClient
from eddy_web import actions, controllers, detail
from eddy_web.hub import Hub
from eddy_web.kinds import RESOURCES
from eddy_web.oidc import LoginError, OIDCLogin, OIDCSettings
from eddy_web.sessions import (
    COOKIE,
    CSRF_HEADER,
    Identity,
    Session,
    Sessions,
    SessionTooLarge,
    safe_target,
    same_secret,
    session_key,
)

log = logging.getLogger("eddy.web")

STATIC = Path(__file__).parent / "static"
HEARTBEAT_SECONDS = 15.0
# Watches one application's page may hold open: its kinds and namespaces.
MAX_WATCHES = 24
PAGES = ("/", "/apps", "/sources", "/images", "/overview")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Options:
    host: str = "127.0.0.1"
    port: int = 9000
    kubeconfig: str = ""
    context: str = ""
    # In-cluster: people log in with OIDC and every API call impersonates them.
    oidc: OIDCSettings | None = None
    secure_cookies: bool = True
    open_browser: bool = False
    # The secret sessions are sealed with, shared by replicas; None: one per process.
    session_secret: bytes | None = None
    # Local mode: the secret in the link that logs the browser in.
    login_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))


class Dashboard:
    """State shared by every request: API configuration, sessions, one hub per person."""

    def __init__(self, options: Options, configuration: Configuration, kube_as: str) -> None:
        self.options = options
        self.configuration = configuration
        self.kube_as = kube_as
        self.sessions = Sessions(session_key(options.session_secret))
        self.hubs: dict[Identity, Hub] = {}
        self.oidc = OIDCLogin(options.oidc) if options.oidc else None
        self._reaper: asyncio.Task[None] | None = None

    def client(self, identity: Identity) -> ResourceClient:
        user = identity.user or self.kube_as
        return ResourceClient(person_client(self.configuration, user, identity.groups))

    async def hub(self, identity: Identity) -> Hub:
        hub = self.hubs.get(identity)
        if hub is None:
            hub = self.hubs[identity] = Hub(self.client(identity))
        await hub.start()
        return hub

    async def reap(self) -> None:
        """Close the informers of people who closed their pages a while ago."""
        while True:
            await asyncio.sleep(60)
            for identity, hub in list(self.hubs.items()):
                if hub.idle:
                    del self.hubs[identity]
                    await hub.close()

    async def close(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
        for hub in list(self.hubs.values()):
            await hub.close()
        self.hubs.clear()
        if self.oidc is not None:
            await self.oidc.close()

    @property
    def local_url(self) -> str:
        return (
            f"http://{self.options.host}:{self.options.port}/login?token={self.options.login_token}"
        )


DASHBOARD = web.AppKey("dashboard", Dashboard)
SESSION = "eddy.session"


def _session(request: web.Request) -> Session:
    session: Session = request[SESSION]
    return session


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda d: json.dumps(d, default=str))


def _error(status: int, message: str) -> web.Response:
    return _json({"error": message}, status)


# -- authentication -------------------------------------------------------------


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    dash = request.app[DASHBOARD]
    path = request.path
    if path.startswith(("/static/", "/auth/", "/login", "/healthz")):
        return await handler(request)
    session = dash.sessions.get(request.cookies.get(COOKIE))
    if session is None:
        if path.startswith("/api/"):
            return _error(401, "not logged in: reload the page to log in again")
        if dash.oidc is not None:
            raise web.HTTPFound(f"/auth/login?next={_safe_next(request.path_qs)}")
        return web.Response(
            status=401,
            content_type="text/html",
            text=(STATIC / "locked.html").read_text(),
        )
    request[SESSION] = session
    if request.method not in ("GET", "HEAD") and not session.csrf_ok(
        request.headers.get(CSRF_HEADER)
    ):
        return _error(403, "missing or wrong CSRF token: reload the page and try again")
    return await handler(request)


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    )
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    return response


def _safe_next(target: str) -> str:
    return quote(safe_target(target, "/"))


def set_session_cookie(response: web.StreamResponse, dash: Dashboard, session_id: str) -> None:
    response.set_cookie(
        COOKIE, session_id, httponly=True, secure=dash.options.secure_cookies,
        samesite="Lax", path="/",
    )  # fmt: skip


async def local_login(request: web.Request) -> web.StreamResponse:
    """The link `eddy dashboard` prints: proves the browser belongs to its user."""
    dash = request.app[DASHBOARD]
    token = request.query.get("token", "")
    if dash.oidc is not None or not same_secret(dash.options.login_token, token):
        return web.Response(
            status=401, content_type="text/html", text=(STATIC / "locked.html").read_text()
        )
    session_id, _ = dash.sessions.create(Identity())
    response = web.HTTPFound("/apps")
    set_session_cookie(response, dash, session_id)
    return response


async def oidc_login(request: web.Request) -> web.StreamResponse:
    dash = request.app[DASHBOARD]
    if dash.oidc is None:
        raise web.HTTPNotFound()
    return await dash.oidc.start(request, dash.options.secure_cookies)


async def oidc_callback(request: web.Request) -> web.StreamResponse:
    dash = request.app[DASHBOARD]
    if dash.oidc is None:
        raise web.HTTPNotFound()
    identity, target = await dash.oidc.finish(request)
    try:
        session_id, _ = dash.sessions.create(identity)
    except SessionTooLarge as err:
        raise LoginError(str(err)) from err
    response = web.HTTPFound(target)
    set_session_cookie(response, dash, session_id)
    dash.oidc.clear_state(response)
    return response


async def logout(request: web.Request) -> web.StreamResponse:
    dash = request.app[DASHBOARD]
    dash.sessions.drop(request.cookies.get(COOKIE))
    response = web.HTTPFound("/auth/login" if dash.oidc else "/")
    response.del_cookie(COOKIE, path="/")
    return response


# -- pages and API -----------------------------------------------------------------


async def page(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


async def healthz(request: web.Request) -> web.StreamResponse:
    return web.Response(text="ok")


async def session_info(request: web.Request) -> web.StreamResponse:
    dash = request.app[DASHBOARD]
    session = _session(request)
    identity = session.identity
    return _json(
        {
            "user": identity.user or dash.kube_as or "",
            "groups": list(identity.groups),
            "csrf": session.csrf,
            "mode": "oidc" if dash.oidc else "local",
        }
    )


async def stream(request: web.Request) -> web.StreamResponse:
    """Server-sent events: a snapshot of every row, then each change as it happens."""
    dash = request.app[DASHBOARD]
    hub = await dash.hub(_session(request).identity)
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    queue = hub.subscribe()
    try:
        snapshot = json.dumps(hub.snapshot(), separators=(",", ":"), default=str)
        await response.write(f"event: snapshot\ndata: {snapshot}\n\n".encode())
        while hub.subscribed(queue):
            try:
                data = await asyncio.wait_for(queue.get(), HEARTBEAT_SECONDS)
            except TimeoutError:
                await response.write(b": keep-alive\n\n")
                continue
            await response.write(f"event: change\ndata: {data}\n\n".encode())
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        hub.unsubscribe(queue)
    return response


def _target(request: web.Request) -> tuple[str, str, str]:
    kind = request.match_info["kind"]
    if kind not in RESOURCES:
        raise web.HTTPNotFound(text=f"eddy does not serve the kind {kind}")
    return kind, request.match_info["namespace"], request.match_info["name"]


async def object_detail(request: web.Request) -> web.StreamResponse:
    dash = request.app[DASHBOARD]
    kind, namespace, name = _target(request)
    identity = _session(request).identity
    hub = await dash.hub(identity)
    try:
        found = await detail.describe(hub, kind, namespace, name)
    except ApiError as err:
        return _error(err.status if err.status >= 400 else 502, err.message or str(err))
    if found is None:
        return _error(404, f"{kind} {namespace}/{name} not found, or you may not see it")
    return _json(found)


async def watch_object(request: web.Request) -> web.StreamResponse:
    """Server-sent events: "changed" soon after any object of an application's tree changes.

    Watches (as the person) the kinds and namespaces of the application's inventory
    and what its workloads own, for as long as the page is open.
    """
    dash = request.app[DASHBOARD]
    kind, namespace, name = _target(request)
    hub = await dash.hub(_session(request).identity)
    obj = hub.get(kind, namespace, name)
    pairs = await detail.watched_resources(hub.client, obj) if obj is not None else set()
    changed = asyncio.Event()
    informers = [Informer(hub.client, res, ns or None) for res, ns in sorted(
        pairs, key=lambda p: (p[0].plural, p[1]))][:MAX_WATCHES]  # fmt: skip

    def mark(event: str, old: Any, new: Any) -> None:
        changed.set()

    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    await response.prepare(request)
    tasks = []
    try:
        for informer in informers:
            tasks.append(asyncio.create_task(informer.run()))
        # The initial lists are not changes.
        if informers:
            await asyncio.wait(
                [asyncio.create_task(i.synced.wait()) for i in informers], timeout=30
            )
        for informer in informers:
            informer.add_handler(mark)
        await response.write(b"event: ready\ndata: {}\n\n")
        while True:
            try:
                await asyncio.wait_for(changed.wait(), HEARTBEAT_SECONDS)
            except TimeoutError:
                await response.write(b": keep-alive\n\n")
                continue
            # A rollout changes many objects at once: one message for the burst.
            await asyncio.sleep(0.2)
            changed.clear()
            await response.write(b"event: changed\ndata: {}\n\n")
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return response


async def act(request: web.Request) -> web.StreamResponse:
    dash = request.app[DASHBOARD]
    kind, namespace, name = _target(request)
    action = request.match_info["action"]
    hub = await dash.hub(_session(request).identity)
    try:
        done = await actions.run(hub, kind, namespace, name, action)
    except actions.ActionError as err:
        return _error(err.status, str(err))
    except ApiError as err:
        status = err.status if err.status >= 400 else 502
        if status == 403:
            message = (
                f"You may not {action} {kind} {namespace}/{name}: your Kubernetes role "
                f"allows viewing only. ({err.message})"
            )
        else:
            message = err.message or str(err)
        return _error(status, message)
    return _json({"ok": True, "message": done})


async def controller_health(request: web.Request) -> web.StreamResponse:
    dash = request.app[DASHBOARD]
    hub = await dash.hub(_session(request).identity)
    return _json(await controllers.health(hub.client))


def build_app(dash: Dashboard) -> web.Application:
    app = web.Application(middlewares=[security_headers, authenticate])
    app[DASHBOARD] = dash
    for path in PAGES:
        app.router.add_get(path, page)
    for prefix in ("/apps/", "/sources/", "/images/"):
        app.router.add_get(prefix + "{tail:.+}", page)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/login", local_login)
    app.router.add_get("/auth/login", oidc_login)
    app.router.add_get("/auth/callback", oidc_callback)
    app.router.add_get("/auth/logout", logout)
    app.router.add_get("/api/session", session_info)
    app.router.add_get("/api/stream", stream)
    app.router.add_get("/api/controllers", controller_health)
    app.router.add_get("/api/objects/{kind}/{namespace}/{name}", object_detail)
    app.router.add_get("/api/objects/{kind}/{namespace}/{name}/watch", watch_object)
    app.router.add_post("/api/objects/{kind}/{namespace}/{name}/{action}", act)
    app.router.add_static("/static/", STATIC, append_version=False)

    async def lifecycle(app: web.Application) -> Any:
        dash._reaper = asyncio.create_task(dash.reap())
        yield
        await dash.close()

    app.cleanup_ctx.append(lifecycle)
    return app


async def create(options: Options) -> tuple[Dashboard, web.Application]:
    if options.oidc is not None:
        configuration = await load_configuration(options.kubeconfig, options.context)
        kube_as = ""
    else:
        configuration = await load_configuration(options.kubeconfig, options.context)
        kube_as = await asyncio.to_thread(
            kubeconfig_impersonation, options.kubeconfig, options.context
        )
    dash = Dashboard(options, configuration, kube_as)
    return dash, build_app(dash)


async def serve(options: Options, ready: Callable[[Dashboard], None] | None = None) -> None:
    dash, app = await create(options)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=2)
    await runner.setup()
    site = web.TCPSite(runner, options.host, options.port)
    await site.start()
    if options.port == 0:
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        options.port = sockets[0].getsockname()[1]
    if ready is not None:
        ready(dash)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="eddy-dashboard",
        description="Serve eddy's dashboard. Locally it uses your kubeconfig and listens "
        "on 127.0.0.1; in a cluster, people log in with OIDC and act as themselves.",
    )
    add_arguments(p)
    return p


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--address", default="127.0.0.1", help="Address to listen on.")
    p.add_argument("--port", type=int, default=9000, help="Port to listen on (0: any free).")
    p.add_argument("--kubeconfig", default="", help="Kubeconfig file (default $KUBECONFIG).")
    p.add_argument("--context", default="", help="Kubeconfig context to use.")
    p.add_argument("--open", action="store_true", help="Open the dashboard in a browser.")
    p.add_argument(
        "--insecure-cookies",
        action="store_true",
        help="Send cookies over plain HTTP too (only behind a TLS-terminating proxy "
        "that talks HTTP to the dashboard on a trusted network).",
    )
    p.add_argument(
        "--session-key-file",
        default="",
        help="File holding the secret that seals session cookies ($EDDY_SESSION_KEY "
        "otherwise); give every replica the same one. Without it each process makes its "
        "own, and a restart logs everyone out.",
    )
    OIDCSettings.add_arguments(p)


def _session_secret(args: argparse.Namespace) -> bytes | None:
    if args.session_key_file:
        try:
            with open(args.session_key_file, "rb") as handle:
                secret = handle.read()
        except OSError as err:
            raise SystemExit(f"cannot read --session-key-file: {err.strerror}") from err
    else:
        secret = os.environ.get("EDDY_SESSION_KEY", "").encode()
    if not secret.strip():
        if args.oidc_issuer_url:
            log.warning(
                "no --session-key-file or $EDDY_SESSION_KEY: sessions last until this "
                "process restarts and work on this replica only"
            )
        return None
    try:
        session_key(secret)
    except ValueError as err:
        raise SystemExit(str(err)) from err
    return secret


def options_from(args: argparse.Namespace) -> Options:
    return Options(
        host=args.address,
        port=args.port,
        kubeconfig=args.kubeconfig,
        context=args.context,
        oidc=OIDCSettings.from_args(args),
        secure_cookies=not args.insecure_cookies,
        open_browser=args.open,
        session_secret=_session_secret(args),
    )


def run(options: Options) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    def ready(dash: Dashboard) -> None:
        if dash.oidc is None:
            print(f"eddy dashboard: open {dash.local_url}", flush=True)
            if options.open_browser:
                with contextlib.suppress(Exception):
                    webbrowser.open(dash.local_url)
        else:
            print(f"eddy dashboard: serving on {options.host}:{options.port}", flush=True)

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(options, ready))
    return 0


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    sys.exit(run(options_from(args)))
