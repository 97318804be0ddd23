"""Resolve a Provider's Secrets into one delivery, and send its requests.

The Provider reconciler and the event server read a Provider the same way, so a
Provider that is Ready is one whose alerts can actually be sent.
"""

from __future__ import annotations

import contextlib
import os
import ssl
import tempfile
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp
import yaml

from eddy_runtime.cel import CelError, Expression, compile_expression
from eddy_runtime.conditions import INVALID_CEL_EXPRESSION
from eddy_runtime.durations import seconds_or
from eddy_runtime.reconciler import StepError
from eddy_runtime.resources import ResourceClient
from eddy_runtime.secrets import read_secret

from .objects import Obj, name_of, spec_of
from .providers import DEFAULT_ADDRESS, Delivery, DeliveryError, Request

VALIDATION_FAILED = "ValidationFailed"
# Provider types that set commit statuses, whose id spec.commitStatusExpr may compute.
COMMIT_STATUS_TYPES = ("github", "gitlab", "gitea", "bitbucket")


def commit_status_expression(provider: Obj) -> Expression | None:
    """spec.commitStatusExpr compiled (None when unset); a StepError when it does not compile."""
    source = spec_of(provider).get("commitStatusExpr")
    if not source:
        return None
    try:
        return compile_expression(str(source), ("event", "provider", "alert"))
    except CelError as err:
        raise StepError(
            f"spec.commitStatusExpr: {err}", reason=INVALID_CEL_EXPRESSION, stalled=True
        ) from err


DEFAULT_TIMEOUT = 15.0
# Bytes of a service's answer read back, to tell a person what went wrong.
_ANSWER_LIMIT = 64 * 1024


@dataclass(frozen=True)
class Transport:
    timeout: float = DEFAULT_TIMEOUT
    ssl: ssl.SSLContext | None = None
    proxy: str | None = None
    proxy_auth: aiohttp.BasicAuth | None = None


async def _secret(client: ResourceClient, namespace: str, name: str, field: str) -> dict[str, str]:
    data = await read_secret(client, namespace, name)
    if data is None:
        raise StepError(
            f"Secret '{namespace}/{name}' not found: create it or fix {field}",
            reason=VALIDATION_FAILED,
        )
    return {k: v.decode(errors="replace") for k, v in data.items()}


async def resolve(client: ResourceClient, provider: Obj) -> tuple[Delivery, Transport]:
    """Everything a delivery needs; a StepError naming what is missing otherwise.

    Messages name Secrets and keys, never their values.
    """
    namespace, _ = name_of(provider)
    spec = spec_of(provider)
    kind = str(spec.get("type", ""))
    values: dict[str, str] = {}
    if spec.get("secretRef"):
        ref = str(spec["secretRef"].get("name", ""))
        values = await _secret(client, namespace, ref, "spec.secretRef")
    headers: dict[str, str] = {}
    if values.get("headers"):
        try:
            loaded = yaml.safe_load(values["headers"])
        except yaml.YAMLError:
            loaded = None
        if not isinstance(loaded, dict):
            raise StepError(
                "the 'headers' key of spec.secretRef must be a YAML map of header names to values",
                reason=VALIDATION_FAILED,
            )
        headers = {str(k): str(v) for k, v in loaded.items()}
    address = (
        values.get("address") or str(spec.get("address") or "") or DEFAULT_ADDRESS.get(kind, "")
    )
    if not address:
        raise StepError(
            "no address: set spec.address or the 'address' key of spec.secretRef",
            reason=VALIDATION_FAILED,
        )
    parts = urlsplit(address)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        where = "the 'address' key of spec.secretRef" if values.get("address") else "spec.address"
        raise StepError(f"{where} is not an http(s) URL", reason=VALIDATION_FAILED)
    token = values.get("token", "")
    if kind in ("generic-hmac", "opsgenie", "github", "gitlab", "gitea", "bitbucket") and not token:
        raise StepError(
            f"a {kind} Provider needs a 'token' key in spec.secretRef", reason=VALIDATION_FAILED
        )
    if kind == "pagerduty" and not spec.get("channel"):
        raise StepError(
            "a pagerduty Provider needs spec.channel: the routing key", reason=VALIDATION_FAILED
        )
    meta = provider.get("metadata") or {}
    expression = commit_status_expression(provider) if kind in COMMIT_STATUS_TYPES else None
    delivery = Delivery(
        type=kind,
        address=address,
        channel=str(spec.get("channel") or ""),
        username=values.get("username") or str(spec.get("username") or ""),
        token=token,
        password=values.get("password", ""),
        headers=headers,
        provider_uid=str(meta.get("uid", "")),
        status_expr=expression,
        provider=provider,
    )
    return delivery, await _transport(client, namespace, spec)


async def _transport(client: ResourceClient, namespace: str, spec: Obj) -> Transport:
    timeout = seconds_or(spec.get("timeout"), DEFAULT_TIMEOUT) or DEFAULT_TIMEOUT
    context = None
    if spec.get("certSecretRef"):
        ref = str(spec["certSecretRef"].get("name", ""))
        certs = await _secret(client, namespace, ref, "spec.certSecretRef")
        context = _tls_context(certs, f"{namespace}/{ref}")
    proxy = str(spec["proxy"]) if spec.get("proxy") else None
    auth: aiohttp.BasicAuth | None = None
    if spec.get("proxySecretRef"):
        ref = str(spec["proxySecretRef"].get("name", ""))
        values = await _secret(client, namespace, ref, "spec.proxySecretRef")
        if not values.get("address"):
            raise StepError(
                f"Secret '{namespace}/{ref}' of spec.proxySecretRef has no 'address' key",
                reason=VALIDATION_FAILED,
            )
        proxy = values["address"]
        if values.get("username"):
            auth = aiohttp.BasicAuth(values["username"], values.get("password", ""))
    return Transport(timeout, context, proxy, auth)


def _tls_context(certs: dict[str, str], where: str) -> ssl.SSLContext:
    ca = certs.get("ca.crt") or certs.get("caFile")
    cert = certs.get("tls.crt") or certs.get("certFile")
    key = certs.get("tls.key") or certs.get("keyFile")
    if not ca and not (cert and key):
        raise StepError(
            f"Secret '{where}' of spec.certSecretRef needs 'ca.crt', or 'tls.crt' and 'tls.key'",
            reason=VALIDATION_FAILED,
        )
    try:
        context = ssl.create_default_context(cadata=ca) if ca else ssl.create_default_context()
        if cert and key:
            _load_pair(context, cert, key)
    except (ssl.SSLError, ValueError) as err:
        raise StepError(
            f"Secret '{where}' of spec.certSecretRef holds no usable certificate: "
            f"{type(err).__name__}",
            reason=VALIDATION_FAILED,
        ) from err
    return context


def _load_pair(context: ssl.SSLContext, cert: str, key: str) -> None:
    # ssl loads a key pair from files only; they live as long as this call.
    with tempfile.TemporaryDirectory() as tmp:
        cert_path, key_path = os.path.join(tmp, "tls.crt"), os.path.join(tmp, "tls.key")
        for path, text in ((cert_path, cert), (key_path, key)):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(text)
        context.load_cert_chain(cert_path, key_path)


async def send(
    session: aiohttp.ClientSession, request: Request, transport: Transport, kind: str
) -> None:
    """Deliver one request; a DeliveryError that says what the service answered."""
    try:
        async with session.request(
            request.method,
            request.url,
            data=request.body,
            headers=request.headers,
            ssl=transport.ssl if transport.ssl is not None else True,
            proxy=transport.proxy,
            proxy_auth=transport.proxy_auth,
            timeout=aiohttp.ClientTimeout(total=transport.timeout),
        ) as resp:
            if resp.status >= 300:
                with contextlib.suppress(aiohttp.ClientError):
                    await resp.content.read(_ANSWER_LIMIT)
                raise DeliveryError(f"{kind} provider: the service answered HTTP {resp.status}")
    except TimeoutError as err:
        raise DeliveryError(f"{kind} provider: no answer within {transport.timeout:g}s") from err
    except aiohttp.ClientError as err:
        raise DeliveryError(f"{kind} provider: request failed ({type(err).__name__})") from err
