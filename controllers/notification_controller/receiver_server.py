"""The webhook endpoint: a verified call asks for an immediate reconcile of some objects.

`POST /hook/<sha256(token+name+namespace)>`, the path a Receiver's status names.
Each type is verified the way its sender signs (HMAC header, shared token, registry
payload, OIDC ID token); a refused call changes nothing. The Receiver's CEL filters
then pick which of its objects are annotated. Answers as Flux's: 200 done, 400 not
verified, 404 unknown path, 413 too large, 503 suspended or not ready, 500 when an
object could not be annotated or a filter could not be evaluated.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp import web

from eddy_runtime import Manager
from eddy_runtime.annotations import RECONCILE_REQUESTED_AT
from eddy_runtime.cel import CelError, Expression
from eddy_runtime.conditions import is_ready
from eddy_runtime.resources import ApiError
from eddy_runtime.secrets import read_secret

from . import oidc
from .objects import FLUX_KINDS, RECEIVERS, Obj, name_of, spec_of
from .receiver_cel import GENERIC_OIDC, ReceiverPrograms, compile_receiver, object_view

log = logging.getLogger("eddy.notification")

MAX_PAYLOAD_BYTES = 5 * 1024 * 1024
GOOGLE_TOKENINFO = "https://oauth2.googleapis.com/tokeninfo"


class Refused(Exception):
    """The call is not from who the Receiver trusts, or is not for it; answered 400."""


class Ignored(Exception):
    """A verified call that asks for nothing (GitHub's ping); answered 200."""


class FilterFailed(Exception):
    """A CEL filter could not be evaluated for an object; answered 500."""


def webhook_path(token: str, name: str, namespace: str) -> str:
    """Flux's path: /hook/ + hex sha256 of token, name and namespace concatenated."""
    return "/hook/" + hashlib.sha256(f"{token}{name}{namespace}".encode()).hexdigest()


def _hmac_ok(header: str, body: bytes, token: str) -> bool:
    """`sha1=`, `sha256=` or `sha512=` followed by the hex HMAC of the body."""
    algorithm, _, given = header.partition("=")
    digest = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha512": hashlib.sha512}.get(
        algorithm
    )
    if digest is None or not given:
        return False
    expected = hmac.new(token.encode(), body, digest).hexdigest()
    return hmac.compare_digest(expected, given.lower())


def _allowed(receiver: Obj, event: str, sender: str) -> None:
    wanted = spec_of(receiver).get("events") or []
    if wanted and not any(event.lower() == str(e).lower() for e in wanted):
        raise Refused(f"the {sender} event {event!r} is not in spec.events")


def _json_body(body: bytes, sender: str) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as err:
        raise Refused(f"the {sender} payload is not JSON") from err


class ReceiverServer:
    def __init__(self, manager: Manager, tokeninfo_url: str = GOOGLE_TOKENINFO) -> None:
        self.manager = manager
        self.tokeninfo_url = tokeninfo_url
        self.session: aiohttp.ClientSession | None = None
        self.issuer_keys = oidc.IssuerKeys()
        # Compiled CEL by Receiver uid and generation: compiled once per spec.
        self._programs: dict[tuple[str, int], ReceiverPrograms] = {}

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_PAYLOAD_BYTES)
        app.router.add_post("/hook/{digest}", self.handle)
        app.on_cleanup.append(self._cleanup)
        return app

    async def _cleanup(self, _: web.Application) -> None:
        if self.session is not None:
            await self.session.close()
        await self.issuer_keys.close()

    def programs(self, receiver: Obj) -> ReceiverPrograms:
        meta = receiver.get("metadata") or {}
        key = (str(meta.get("uid", "")), int(meta.get("generation") or 0))
        found = self._programs.get(key)
        if found is None:
            found = compile_receiver(receiver)
            if len(self._programs) > 1024:
                self._programs.clear()
            self._programs[key] = found
        return found

    def find(self, path: str) -> Obj | None:
        for receiver in self.manager.informer(RECEIVERS).objects():
            if (receiver.get("status") or {}).get("webhookPath") == path:
                return receiver
        return None

    async def handle(self, request: web.Request) -> web.Response:
        receiver = self.find(request.path)
        if receiver is None:
            return web.Response(status=404)
        namespace, name = name_of(receiver)
        where = f"receiver {namespace}/{name}"
        if spec_of(receiver).get("suspend") or not is_ready(receiver):
            log.info("%s: suspended or not ready, call refused", where)
            return web.Response(status=503)
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            log.info("%s: payload larger than %d bytes refused", where, MAX_PAYLOAD_BYTES)
            return web.Response(status=413)
        try:
            programs = self.programs(receiver)
        except CelError as err:
            log.error("%s: %s", where, err)
            return web.Response(status=500)
        claims: dict[str, Any] | None = None
        try:
            if spec_of(receiver).get("type") == GENERIC_OIDC:
                claims = await self.verify_oidc(programs, request)
            else:
                token = await self._token(receiver)
                await self.verify(receiver, request, body, token)
        except Ignored as why:
            log.info("%s: %s", where, why)
            return web.Response(status=200)
        except Refused as why:
            log.info("%s: call refused: %s", where, why)
            return web.Response(status=400)
        try:
            values = _filter_values(request, body, claims) if programs.filtering else {}
        except FilterFailed as err:
            log.error("%s: %s", where, err)
            return web.Response(status=500)
        failed = False
        for i, ref in enumerate(spec_of(receiver).get("resources") or []):
            try:
                await self.request_reconcile(ref, namespace, programs.filters_for(i), values)
            except (ApiError, Refused, FilterFailed) as err:
                failed = True
                log.error("%s: could not request a reconcile: %s", where, err)
        return web.Response(status=500 if failed else 200)

    async def verify_oidc(self, programs: ReceiverPrograms, request: web.Request) -> dict[str, Any]:
        """The verified claims of the call's bearer token, which passed its provider's checks."""
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme != "Bearer" or not token.strip():
            raise Refused("the Authorization header has no Bearer token")
        try:
            issuer = oidc.unverified_issuer(token.strip())
            provider = next((p for p in programs.providers if p.issuer == issuer), None)
            if provider is None:
                raise Refused(f"no oidcProvider is configured for issuer {issuer!r}")
            claims = await oidc.verify(
                self.issuer_keys, token.strip(), provider.issuer, provider.audience
            )
        except oidc.TokenRefused as err:
            raise Refused(str(err)) from err
        try:
            failures = provider.failures(claims)
        except CelError as err:
            raise Refused(f"the token's claims could not be checked: {err}") from err
        if failures:
            raise Refused("token validation failed: " + "; ".join(failures))
        return claims

    async def _token(self, receiver: Obj) -> str:
        namespace, _ = name_of(receiver)
        ref = str((spec_of(receiver).get("secretRef") or {}).get("name", ""))
        data = await read_secret(self.manager.client, namespace, ref)
        if data is None or not data.get("token"):
            raise Refused(f"Secret '{namespace}/{ref}' or its 'token' key is gone")
        return data["token"].decode(errors="replace")

    async def verify(self, receiver: Obj, request: web.Request, body: bytes, token: str) -> None:
        kind = str(spec_of(receiver).get("type", ""))
        headers = request.headers
        if kind == "generic":
            return
        if kind == "generic-hmac":
            if not _hmac_ok(headers.get("X-Signature", ""), body, token):
                raise Refused("the X-Signature header does not match the body")
        elif kind in ("github", "bitbucket"):
            signature = headers.get("X-Hub-Signature-256") or headers.get("X-Hub-Signature") or ""
            if not _hmac_ok(signature, body, token):
                raise Refused(f"the {kind} signature header does not match the body")
            event = headers.get("X-GitHub-Event" if kind == "github" else "X-Event-Key", "")
            if kind == "github" and event == "ping":
                raise Ignored("GitHub ping answered")
            _allowed(receiver, event, kind)
        elif kind == "gitlab":
            if not hmac.compare_digest(headers.get("X-Gitlab-Token", ""), token):
                raise Refused("the X-Gitlab-Token header does not match the token")
            _allowed(receiver, headers.get("X-Gitlab-Event", ""), "GitLab")
        elif kind == "harbor":
            if not hmac.compare_digest(headers.get("Authorization", ""), token):
                raise Refused("the Authorization header does not match the token")
        elif kind == "dockerhub":
            payload = _json_body(body, "DockerHub")
            if not isinstance(payload, dict) or not isinstance(payload.get("push_data"), dict):
                raise Refused("the DockerHub payload has no push_data")
        elif kind == "quay":
            payload = _json_body(body, "Quay")
            if not isinstance(payload, dict) or "docker_url" not in payload:
                raise Refused("the Quay payload has no docker_url")
        elif kind == "nexus":
            given = headers.get("X-Nexus-Webhook-Signature", "")
            expected = hmac.new(token.encode(), body, hashlib.sha1).hexdigest()
            if not given or not hmac.compare_digest(expected, given.lower()):
                raise Refused("the X-Nexus-Webhook-Signature header does not match the body")
            _json_body(body, "Nexus")
        elif kind == "acr":
            payload = _json_body(body, "ACR")
            target = payload.get("target", {}) if isinstance(payload, dict) else None
            if not isinstance(target, dict) or not isinstance(payload.get("action", ""), str):
                raise Refused("the ACR payload is not an event with an action and a target")
        elif kind == "cdevents":
            _cdevent(_json_body(body, "CDEvents"))
            _allowed(receiver, headers.get("Ce-Type", ""), "CDEvents")
        elif kind == "gcr":
            await self._google_caller(headers.get("Authorization", ""))
            _gcr_payload(_json_body(body, "GCR"))
        else:
            raise Refused(f"receiver type {kind!r} is not supported")

    async def _google_caller(self, authorization: str) -> None:
        """Google signs GCR push messages with an OIDC token; its tokeninfo checks it."""
        scheme, _, token = authorization.partition(" ")
        if scheme != "Bearer" or not token:
            raise Refused("the GCR call has no Bearer token")
        if self.session is None:
            self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        try:
            async with self.session.get(self.tokeninfo_url, params={"id_token": token}) as resp:
                info = await resp.json(content_type=None) if resp.status == 200 else None
        except (aiohttp.ClientError, TimeoutError, ValueError) as err:
            raise Refused(f"the GCR token could not be checked ({type(err).__name__})") from err
        if not isinstance(info, dict) or str(info.get("email_verified")).lower() != "true":
            raise Refused("the GCR token is not a verified Google identity")

    async def request_reconcile(
        self,
        ref: dict[str, Any],
        namespace: str,
        filters: list[Expression] | None = None,
        values: dict[str, Any] | None = None,
    ) -> None:
        kind = str(ref.get("kind", ""))
        resource = FLUX_KINDS.get(kind)
        if resource is None:
            raise Refused(f"kind {kind!r} cannot be reconciled by a Receiver")
        target_ns = str(ref.get("namespace") or namespace)
        if target_ns != namespace and self.manager.options.no_cross_namespace_refs:
            raise Refused(
                f"{kind} in namespace {target_ns!r}: cross-namespace references are disabled"
            )
        stamp = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        patch = {"metadata": {"annotations": {RECONCILE_REQUESTED_AT: stamp}}}
        name = str(ref.get("name", ""))
        if name != "*":
            if filters:
                obj = await self.manager.client.get(resource, name, target_ns)
                if not _accepted(obj, filters, values or {}):
                    log.info("%s '%s/%s' not annotated: a filter returned false",
                             kind, target_ns, name)  # fmt: skip
                    return
            await self.manager.client.patch(resource, name, patch, target_ns)
            return
        labels = ref.get("matchLabels") or {}
        if not labels:
            raise Refused(f"{kind} '*' needs matchLabels")
        selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        items, _ = await self.manager.client.list_all(resource, target_ns, label_selector=selector)
        for item in items:
            if filters and not _accepted(item, filters, values or {}):
                log.info("%s '%s/%s' not annotated: a filter returned false",
                         kind, target_ns, name_of(item)[1])  # fmt: skip
                continue
            await self.manager.client.patch(resource, name_of(item)[1], patch, target_ns)


def _filter_values(
    request: web.Request, body: bytes, claims: dict[str, Any] | None
) -> dict[str, Any]:
    """`req` (the body, when it is JSON; else empty) and, for generic-oidc, `claims`."""
    req: Any = {}
    if request.content_type == "application/json" or request.content_type.endswith("+json"):
        try:
            req = json.loads(body)
        except (ValueError, UnicodeDecodeError) as err:
            raise FilterFailed("the request body is not JSON; the filters cannot read it") from err
        if not isinstance(req, dict):
            raise FilterFailed("the request body is not a JSON object, so `req` cannot hold it")
    values: dict[str, Any] = {"req": req}
    if claims is not None:
        values["claims"] = claims
    return values


def _accepted(obj: Obj, filters: list[Expression], values: dict[str, Any]) -> bool:
    """True when every filter returns true for the object."""
    view = {**values, "res": object_view(obj)}
    try:
        return all(f.evaluate_bool(view) for f in filters)
    except CelError as err:
        raise FilterFailed(str(err)) from err


def _cdevent(payload: Any) -> None:
    """A CDEvent has a context (id, source, type, timestamp, specversion) and a subject."""
    context = payload.get("context") if isinstance(payload, dict) else None
    if not isinstance(context, dict) or not isinstance(payload.get("subject"), dict):
        raise Refused("the CDEvents payload needs context and subject")
    for key in ("id", "source", "type", "timestamp", "specversion"):
        if not context.get(key):
            raise Refused(f"the CDEvents payload has no context.{key}")
    if not str(context["type"]).startswith("dev.cdevents."):
        raise Refused("the CDEvents context.type must start with dev.cdevents.")


def _gcr_payload(payload: Any) -> None:
    """A Pub/Sub push whose message.data is base64 JSON of the registry notification."""
    message = payload.get("message") if isinstance(payload, dict) else None
    data = message.get("data") if isinstance(message, dict) else None
    try:
        inner = json.loads(base64.b64decode(str(data), validate=True))
    except (ValueError, TypeError) as err:
        raise Refused("the GCR payload has no base64 JSON message.data") from err
    if not isinstance(inner, dict) or "action" not in inner:
        raise Refused("the GCR notification has no action")
