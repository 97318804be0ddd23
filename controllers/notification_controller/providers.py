"""What each Provider type sends: the HTTP request a service's public API documents.

One function per service family turns a Flux event into (method, URL, headers, JSON
body); `send` delivers it. Requests are pure data so each can be checked exactly.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

from eddy_runtime.cel import CelError, Expression

Event = dict[str, Any]

# Colours the chat services show beside an alert.
_SLACK_COLOURS = {"info": "good", "error": "danger"}
_DISCORD_COLOURS = {"info": 0x2EB67D, "error": 0xE01E5A}
_OPSGENIE_MESSAGE_LIMIT = 130


class DeliveryError(Exception):
    """A delivery failed; the message names the Provider type and status, never a secret."""


@dataclass(frozen=True)
class Delivery:
    """A Provider with its Secret values resolved: everything one delivery needs."""

    type: str
    address: str = ""
    channel: str = ""
    username: str = ""
    token: str = ""
    password: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    provider_uid: str = ""
    # spec.commitStatusExpr, compiled; it reads `event`, `provider` and `alert`.
    status_expr: Expression | None = None
    provider: dict[str, Any] = field(default_factory=dict)
    alert: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Request:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def build(delivery: Delivery, event: Event) -> Request | None:
    """The request for one event, or None when this event has nothing to send here
    (a commit status needs a revision)."""
    builder = BUILDERS.get(delivery.type)
    if builder is None:
        raise DeliveryError(f"provider type {delivery.type!r} is not supported")
    return builder(delivery, event)


# --- what every message says -------------------------------------------------


def subject(event: Event) -> str:
    """`Kind/namespace/name`, the object an event is about."""
    involved = event.get("involvedObject") or {}
    return f"{involved.get('kind', '')}/{involved.get('namespace', '')}/{involved.get('name', '')}"


def metadata(event: Event) -> dict[str, str]:
    return {str(k): str(v) for k, v in sorted((event.get("metadata") or {}).items())}


def _short_key(key: str) -> str:
    """`kustomize.toolkit.fluxcd.io/revision` reads as `revision` in a chat message."""
    return key.rsplit("/", 1)[-1]


def revision_of(event: Event) -> str:
    for key, value in (event.get("metadata") or {}).items():
        if str(key).endswith("/revision") or key == "revision":
            return str(value)
    return ""


def commit_sha(revision: str) -> str:
    """The commit of a Flux revision: `main@sha1:<sha>`, `sha1:<sha>`, `main/<sha>`, `<sha>`."""
    tail = revision.rsplit("@", 1)[-1]
    tail = tail.split(":", 1)[1] if ":" in tail else tail.rsplit("/", 1)[-1]
    return tail if re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", tail) else ""


def _request(url: str, payload: Any, delivery: Delivery, **headers: str) -> Request:
    merged = {"Content-Type": "application/json", **delivery.headers, **headers}
    body = json.dumps(payload, separators=(",", ":"), sort_keys=False).encode()
    return Request("POST", url, merged, body)


def _bearer(delivery: Delivery) -> dict[str, str]:
    if delivery.token:
        return {"Authorization": f"Bearer {delivery.token}"}
    if delivery.username and delivery.password:
        pair = f"{delivery.username}:{delivery.password}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode()}
    return {}


# --- webhooks ---------------------------------------------------------------


def generic(delivery: Delivery, event: Event) -> Request:
    """The event itself, as Flux's generic provider posts it."""
    headers = {"gotk-component": str(event.get("reportingController", ""))}
    return _request(delivery.address, event, delivery, **headers)


def generic_hmac(delivery: Delivery, event: Event) -> Request:
    """The generic request signed with HMAC-SHA256 of the body in `X-Signature`."""
    plain = generic(delivery, event)
    digest = hmac.new(delivery.token.encode(), plain.body, hashlib.sha256).hexdigest()
    return Request(
        plain.method, plain.url, {**plain.headers, "X-Signature": f"sha256={digest}"}, plain.body
    )


# --- chat -------------------------------------------------------------------


def slack(delivery: Delivery, event: Event) -> Request:
    """Slack's incoming webhook or chat.postMessage (with a bot token as Bearer)."""
    attachment: dict[str, Any] = {
        "color": _SLACK_COLOURS.get(str(event.get("severity")), "good"),
        "author_name": subject(event),
        "text": event.get("message", ""),
        "mrkdwn_in": ["text"],
    }
    fields = [
        {"title": _short_key(k), "value": v, "short": False} for k, v in metadata(event).items()
    ]
    if fields:
        attachment["fields"] = fields
    payload: dict[str, Any] = {
        "text": f"{subject(event)}: {event.get('reason', '')}",
        "attachments": [attachment],
    }
    if delivery.channel:
        payload["channel"] = delivery.channel
    if delivery.username:
        payload["username"] = delivery.username
    headers = {"Authorization": f"Bearer {delivery.token}"} if delivery.token else {}
    return _request(delivery.address, payload, delivery, **headers)


def msteams(delivery: Delivery, event: Event) -> Request:
    """A Teams Workflows webhook message carrying an Adaptive Card."""
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": f"{subject(event)}: {event.get('reason', '')}",
            "weight": "bolder",
            "size": "medium",
            "wrap": True,
            "color": "attention" if event.get("severity") == "error" else "good",
        },
        {"type": "TextBlock", "text": event.get("message", ""), "wrap": True},
    ]
    facts = [{"title": _short_key(k), "value": v} for k, v in metadata(event).items()]
    if facts:
        body.append({"type": "FactSet", "facts": facts})
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    }
    payload = {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "content": card}
        ],
    }
    return _request(delivery.address, payload, delivery)


def discord(delivery: Delivery, event: Event) -> Request:
    """Discord's Execute Webhook with one embed."""
    embed: dict[str, Any] = {
        "title": f"{subject(event)}: {event.get('reason', '')}",
        "description": event.get("message", ""),
        "color": _DISCORD_COLOURS.get(str(event.get("severity")), 0),
    }
    fields = [
        {"name": _short_key(k), "value": v, "inline": False} for k, v in metadata(event).items()
    ]
    if fields:
        embed["fields"] = fields
    payload: dict[str, Any] = {"embeds": [embed]}
    if delivery.username:
        payload["username"] = delivery.username
    return _request(delivery.address, payload, delivery)


def googlechat(delivery: Delivery, event: Event) -> Request:
    """A Google Chat incoming webhook text message."""
    lines = [f"*{subject(event)}: {event.get('reason', '')}*", str(event.get("message", ""))]
    lines += [f"{_short_key(k)}: {v}" for k, v in metadata(event).items()]
    return _request(delivery.address, {"text": "\n".join(lines)}, delivery)


# --- alerting and incident services ------------------------------------------


def alertmanager(delivery: Delivery, event: Event) -> Request:
    """Alertmanager API v2 `POST /api/v2/alerts`: a list of one postable alert."""
    involved = event.get("involvedObject") or {}
    labels = {
        "alertname": f"Flux{involved.get('kind', '')}{event.get('reason', '')}",
        "severity": str(event.get("severity", "")),
        "reason": str(event.get("reason", "")),
        "kind": str(involved.get("kind", "")),
        "name": str(involved.get("name", "")),
        "namespace": str(involved.get("namespace", "")),
        "reportingController": str(event.get("reportingController", "")),
    }
    annotations = {"message": str(event.get("message", ""))}
    for key, value in metadata(event).items():
        annotations[_short_key(key)] = value
    alert = {
        "labels": labels,
        "annotations": annotations,
        "startsAt": event.get("timestamp") or _now(),
    }
    return _request(delivery.address, [alert], delivery, **_bearer(delivery))


def grafana(delivery: Delivery, event: Event) -> Request:
    """Grafana's annotations API, `POST /api/annotations`."""
    involved = event.get("involvedObject") or {}
    tags = [
        "flux",
        str(event.get("reason", "")),
        str(involved.get("kind", "")),
        str(involved.get("name", "")),
        str(involved.get("namespace", "")),
    ]
    tags += [f"{_short_key(k)}: {v}" for k, v in metadata(event).items()]
    payload = {
        "time": _millis(event),
        "text": f"{subject(event)}: {event.get('message', '')}",
        "tags": tags,
    }
    return _request(delivery.address, payload, delivery, **_bearer(delivery))


def opsgenie(delivery: Delivery, event: Event) -> Request:
    """Opsgenie Alert API `POST /v2/alerts` with a GenieKey."""
    message = f"{subject(event)}: {event.get('reason', '')}"
    payload: dict[str, Any] = {
        "message": message[:_OPSGENIE_MESSAGE_LIMIT],
        "description": str(event.get("message", "")),
        "alias": subject(event),
        "details": {_short_key(k): v for k, v in metadata(event).items()},
        "priority": "P3" if event.get("severity") == "error" else "P5",
    }
    return _request(delivery.address, payload, delivery, Authorization=f"GenieKey {delivery.token}")


def pagerduty(delivery: Delivery, event: Event) -> Request:
    """PagerDuty Events API v2 `POST /v2/enqueue`; the channel is the routing key.

    An error triggers an incident keyed by the object; an info event resolves it.
    """
    involved = event.get("involvedObject") or {}
    dedup = subject(event)
    payload: dict[str, Any] = {"routing_key": delivery.channel, "dedup_key": dedup}
    if event.get("severity") == "error":
        payload["event_action"] = "trigger"
        payload["payload"] = {
            "summary": f"{dedup}: {event.get('message', '')}"[:1024],
            "source": str(event.get("reportingController", "")),
            "severity": "error",
            "timestamp": event.get("timestamp") or _now(),
            "component": str(involved.get("name", "")),
            "group": str(involved.get("namespace", "")),
            "class": str(involved.get("kind", "")),
            "custom_details": {"reason": event.get("reason", ""), **metadata(event)},
        }
    else:
        payload["event_action"] = "resolve"
    base = (delivery.address or "https://events.pagerduty.com").rstrip("/")
    return _request(f"{base}/v2/enqueue", payload, delivery)


# --- commit statuses --------------------------------------------------------


def status_id(delivery: Delivery, event: Event) -> str:
    """The commit status's id: spec.commitStatusExpr's result, or as Flux names it, one per
    object and Provider: `kind/name/<first part of the Provider's uid>`, lowercased."""
    if delivery.status_expr is not None:
        values = {"event": event, "provider": delivery.provider, "alert": delivery.alert}
        try:
            found = delivery.status_expr.evaluate(values)
        except CelError as err:
            raise DeliveryError(f"spec.commitStatusExpr: {err}") from err
        if not isinstance(found, str) or not found:
            raise DeliveryError("spec.commitStatusExpr must return a non-empty string")
        return found
    involved = event.get("involvedObject") or {}
    uid = delivery.provider_uid.split("-")[0]
    return f"{involved.get('kind', '')}/{involved.get('name', '')}/{uid}".lower()


def _repository(address: str) -> tuple[str, str, str]:
    """(scheme://host, owner/…/repo path) of a repository URL such as https://host/org/app."""
    parts = urlsplit(address)
    path = parts.path.strip("/").removesuffix(".git")
    if not parts.scheme or not parts.netloc or path.count("/") < 1:
        raise DeliveryError(
            "the address must be the repository's URL, e.g. https://github.com/org/repo"
        )
    return parts.scheme, parts.netloc, path


def _commit(event: Event) -> str:
    return commit_sha(revision_of(event))


def github(delivery: Delivery, event: Event) -> Request | None:
    """GitHub `POST /repos/{owner}/{repo}/statuses/{sha}` (api.github.com, or /api/v3)."""
    sha = _commit(event)
    if not sha:
        return None
    scheme, host, path = _repository(delivery.address)
    api = "https://api.github.com" if host == "github.com" else f"{scheme}://{host}/api/v3"
    payload = {
        "state": "failure" if event.get("severity") == "error" else "success",
        "context": status_id(delivery, event),
        "description": _description(event),
    }
    return _request(
        f"{api}/repos/{path}/statuses/{sha}",
        payload,
        delivery,
        Authorization=f"Bearer {delivery.token}",
        Accept="application/vnd.github+json",
    )


def gitlab(delivery: Delivery, event: Event) -> Request | None:
    """GitLab `POST /api/v4/projects/{url-encoded path}/statuses/{sha}`."""
    sha = _commit(event)
    if not sha:
        return None
    scheme, host, path = _repository(delivery.address)
    payload = {
        "state": "failed" if event.get("severity") == "error" else "success",
        "name": status_id(delivery, event),
        "description": _description(event),
    }
    url = f"{scheme}://{host}/api/v4/projects/{quote(path, safe='')}/statuses/{sha}"
    return _request(url, payload, delivery, **{"PRIVATE-TOKEN": delivery.token})


def gitea(delivery: Delivery, event: Event) -> Request | None:
    """Gitea `POST /api/v1/repos/{owner}/{repo}/statuses/{sha}`."""
    sha = _commit(event)
    if not sha:
        return None
    scheme, host, path = _repository(delivery.address)
    payload = {
        "state": "failure" if event.get("severity") == "error" else "success",
        "context": status_id(delivery, event),
        "description": _description(event),
    }
    url = f"{scheme}://{host}/api/v1/repos/{path}/statuses/{sha}"
    return _request(url, payload, delivery, Authorization=f"token {delivery.token}")


def bitbucket(delivery: Delivery, event: Event) -> Request | None:
    """Bitbucket Cloud `POST /2.0/repositories/{workspace}/{repo}/commit/{sha}/statuses/build`.

    The token is `<username>:<app password>`, sent as basic authentication.
    """
    sha = _commit(event)
    if not sha:
        return None
    scheme, host, path = _repository(delivery.address)
    if ":" not in delivery.token:
        raise DeliveryError("the bitbucket token must be '<username>:<app password>'")
    api = "https://api.bitbucket.org" if host == "bitbucket.org" else f"{scheme}://{host}"
    key = status_id(delivery, event)
    payload = {
        "state": "FAILED" if event.get("severity") == "error" else "SUCCESSFUL",
        "key": hashlib.sha256(key.encode()).hexdigest()[:40],
        "name": key,
        "url": delivery.address,
        "description": _description(event),
    }
    auth = "Basic " + base64.b64encode(delivery.token.encode()).decode()
    url = f"{api}/2.0/repositories/{path}/commit/{sha}/statuses/build"
    return _request(url, payload, delivery, Authorization=auth)


def _description(event: Event) -> str:
    return str(event.get("message", ""))[:140]


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _millis(event: Event) -> int:
    stamp = str(event.get("timestamp") or "")
    try:
        when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        when = datetime.now(UTC)
    return int(when.timestamp() * 1000)


BUILDERS: dict[str, Callable[[Delivery, Event], Request | None]] = {
    "generic": generic,
    "generic-hmac": generic_hmac,
    "slack": slack,
    "msteams": msteams,
    "discord": discord,
    "googlechat": googlechat,
    "alertmanager": alertmanager,
    "grafana": grafana,
    "opsgenie": opsgenie,
    "pagerduty": pagerduty,
    "github": github,
    "gitlab": gitlab,
    "gitea": gitea,
    "bitbucket": bitbucket,
}
# Where the address is optional because the service has one public endpoint.
DEFAULT_ADDRESS = {"pagerduty": "https://events.pagerduty.com"}
