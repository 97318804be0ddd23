"""JSON logs, one object per line, carrying the reconciled object's identity.

Operators grep and ship controller logs by kind/namespace/name/revision; a redaction
rule runs on every record so a Secret's data can never reach a log line.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace

REDACTED = "<redacted>"
SECRET_FIELDS = ("data", "stringData")

# Set around each reconcile so every line logged inside it says which object it is about.
_object_context: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "eddy_log_object", default=None
)

_STANDARD_ATTRS = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys()
    | {"message", "asctime", "taskName"}
)


def redact(value: Any) -> Any:
    """A copy of `value` in which every Secret-shaped dict has its data replaced.

    A dict is Secret-shaped when its kind is Secret (a full object, or a list item of
    a SecretList); its `data` and `stringData` become "<redacted>" at any depth.
    """
    if isinstance(value, Mapping):
        is_secret = value.get("kind") == "Secret"
        out: dict[Any, Any] = {}
        for key, item in value.items():
            if is_secret and key in SECRET_FIELDS:
                out[key] = REDACTED
            else:
                out[key] = redact(item)
        return out
    if isinstance(value, tuple):
        return tuple(redact(v) for v in value)
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


class RedactFilter(logging.Filter):
    """Redacts Secret data in a record's arguments and extra fields before formatting."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            if isinstance(record.args, Mapping):
                record.args = redact(record.args)
            else:
                record.args = tuple(redact(a) for a in record.args)
        if isinstance(record.msg, Mapping | list):
            record.msg = redact(record.msg)
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD_ATTRS and isinstance(value, Mapping | list | tuple):
                record.__dict__[key] = redact(value)
        return True


@contextmanager
def object_context(kind: str, namespace: str, name: str, **extra: str) -> Iterator[None]:
    """Every log line inside this block carries the object's kind, namespace and name."""
    token = _object_context.set({"kind": kind, "namespace": namespace, "name": name, **extra})
    try:
        yield
    finally:
        _object_context.reset(token)


def set_revision(revision: str) -> None:
    """Add the revision being applied to the current object's log lines."""
    current = _object_context.get()
    if current is not None:
        current["revision"] = revision


def current_revision() -> str | None:
    """The revision the current object's log lines carry, if one was set."""
    current = _object_context.get()
    return current.get("revision") if current else None


def trace_ids() -> dict[str, str]:
    """trace_id and span_id of the span the caller runs in, as an OTLP receiver shows them."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return {}
    return {
        "trace_id": trace.format_trace_id(context.trace_id),
        "span_id": trace.format_span_id(context.span_id),
    }


class JSONFormatter(logging.Formatter):
    def __init__(self, controller: str = "") -> None:
        super().__init__()
        self.controller = controller

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "level": record.levelname.lower(),
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if self.controller:
            entry["controller"] = self.controller
        context = _object_context.get()
        if context:
            entry.update(context)
        entry.update(trace_ids())
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info and record.exc_info[1] is not None:
            entry["error"] = f"{type(record.exc_info[1]).__name__}: {record.exc_info[1]}"
        return json.dumps(entry, default=str, ensure_ascii=False)


class ConsoleFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        context = _object_context.get() or {}
        where = "/".join(v for v in (context.get("namespace"), context.get("name")) if v)
        line = f"{self.formatTime(record)} {record.levelname:<5} {record.name} {where} "
        line += record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            line += f" error={record.exc_info[1]}"
        return line


LEVELS = {"trace": 5, "debug": logging.DEBUG, "info": logging.INFO, "error": logging.ERROR}


def setup(level: str = "info", encoding: str = "json", controller: str = "") -> None:
    """Route the root logger to stderr as JSON (or console text) with redaction on."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JSONFormatter(controller) if encoding == "json" else ConsoleFormatter())
    handler.addFilter(RedactFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(LEVELS.get(level, logging.INFO))
    # Library debug output can echo request and response bodies, Secrets included.
    for noisy in ("kubernetes_asyncio", "aiohttp.access", "urllib3"):
        logging.getLogger(noisy).setLevel(max(logging.INFO, root.level))
