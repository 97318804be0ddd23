"""Which Alerts an event belongs to, and Flux's rate limit on duplicate events.

Pure rules over plain dicts: an Alert's eventSources, severity and message lists
select events; its eventMetadata and summary are added to what is sent.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Mapping
from typing import Any

from .objects import Obj, name_of, spec_of

Event = dict[str, Any]

# Flux's --rate-limit-interval default: the same event is sent at most once per window.
RATE_LIMIT_INTERVAL = 300.0


def _meta_value(event: Event, key: str) -> str | None:
    """The value of `<group>/<key>` metadata for the event's own API group."""
    involved = event.get("involvedObject") or {}
    group = str(involved.get("apiVersion", "")).rsplit("/", 1)[0]
    value = (event.get("metadata") or {}).get(f"{group}/{key}")
    return None if value is None else str(value)


def event_key(event: Event) -> str:
    """The identity of an event for rate limiting, made of what Flux uses: the object,
    the message, and the revision and token metadata when present."""
    involved = event.get("involvedObject") or {}
    parts = [
        "event",
        str(involved.get("name", "")),
        str(involved.get("namespace", "")),
        str(involved.get("kind", "")),
        str(event.get("message", "")),
    ]
    for key in ("revision", "token"):
        value = _meta_value(event, key)
        if value is not None:
            parts.append(value)
    return hashlib.sha256("/".join(parts).encode()).hexdigest()


class RateLimiter:
    """Allows each key once per interval; forgets keys older than that."""

    def __init__(self, interval: float = RATE_LIMIT_INTERVAL) -> None:
        self.interval = interval
        self._seen: dict[str, float] = {}

    def allow(self, key: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        if len(self._seen) > 10000:
            self._seen = {k: t for k, t in self._seen.items() if now - t < self.interval}
        last = self._seen.get(key)
        if last is not None and now - last < self.interval:
            return False
        self._seen[key] = now
        return True


def source_matches(
    source: Mapping[str, Any],
    alert_namespace: str,
    event: Event,
    labels: Mapping[str, str] | None,
    same_namespace_only: bool = False,
) -> bool:
    """Whether one eventSources entry selects the event's object.

    `labels` are the object's labels, needed only when the entry has matchLabels;
    with `same_namespace_only` (--no-cross-namespace-refs) an entry naming another
    namespace selects nothing.
    """
    involved = event.get("involvedObject") or {}
    if source.get("kind") != involved.get("kind"):
        return False
    namespace = source.get("namespace") or alert_namespace
    if same_namespace_only and namespace != alert_namespace:
        return False
    if namespace != "*" and namespace != involved.get("namespace"):
        return False
    name = source.get("name", "")
    if name != "*":
        return bool(name == involved.get("name"))
    wanted = source.get("matchLabels") or {}
    return all((labels or {}).get(k) == v for k, v in wanted.items())


def needs_labels(alert: Obj, event: Event) -> bool:
    involved = event.get("involvedObject") or {}
    return any(
        s.get("name") == "*" and s.get("matchLabels") and s.get("kind") == involved.get("kind")
        for s in spec_of(alert).get("eventSources") or []
    )


def cross_namespace_sources(alert: Obj) -> list[str]:
    """The eventSources entries that name another namespace than the Alert's."""
    namespace, _ = name_of(alert)
    return [
        f"spec.eventSources[{i}]"
        for i, s in enumerate(spec_of(alert).get("eventSources") or [])
        if s.get("namespace") and s.get("namespace") != namespace
    ]


def selects(
    alert: Obj,
    event: Event,
    labels: Mapping[str, str] | None = None,
    same_namespace_only: bool = False,
) -> bool:
    """Whether the Alert sends this event (suspend, severity, sources, message lists)."""
    spec = spec_of(alert)
    if spec.get("suspend"):
        return False
    if spec.get("eventSeverity") == "error" and event.get("severity") != "error":
        return False
    namespace, _ = name_of(alert)
    sources = spec.get("eventSources") or []
    if not any(source_matches(s, namespace, event, labels, same_namespace_only) for s in sources):
        return False
    message = str(event.get("message", ""))
    inclusion = spec.get("inclusionList") or []
    if inclusion and not any(_search(p, message) for p in inclusion):
        return False
    return not any(_search(p, message) for p in spec.get("exclusionList") or [])


def _search(pattern: str, text: str) -> bool:
    try:
        return re.search(pattern, text) is not None
    except re.error:
        # The Alert reconciler reports the bad pattern; it selects nothing meanwhile.
        return False


def bad_patterns(alert: Obj) -> list[str]:
    spec = spec_of(alert)
    bad = []
    for field in ("inclusionList", "exclusionList"):
        for index, pattern in enumerate(spec.get(field) or []):
            try:
                re.compile(pattern)
            except re.error as err:
                bad.append(f"spec.{field}[{index}] is not a valid regular expression: {err}")
    return bad


def enrich(alert: Obj, event: Event) -> Event:
    """The event as sent for this Alert: its eventMetadata and summary added (the event's
    own keys win), and the internal token left out."""
    spec = spec_of(alert)
    out = dict(event)
    meta = {k: str(v) for k, v in (event.get("metadata") or {}).items()}
    involved = event.get("involvedObject") or {}
    group = str(involved.get("apiVersion", "")).rsplit("/", 1)[0]
    meta.pop(f"{group}/token", None)
    extra = dict(spec.get("eventMetadata") or {})
    if spec.get("summary"):
        extra.setdefault("summary", str(spec["summary"]))
    for key, value in extra.items():
        meta.setdefault(str(key), str(value))
    if meta:
        out["metadata"] = meta
    else:
        out.pop("metadata", None)
    return out
