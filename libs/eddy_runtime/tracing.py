"""OpenTelemetry spans per reconcile and per step, exported only when OTEL_* says so.

Traces show where a slow reconcile spends its time, and one revision's road through
every controller: a source records the W3C trace context of the pass that stored a
revision in its artifact's metadata (`TRACEPARENT`), and a consumer's pass on that
revision continues the trace. Off by default so a controller without a collector
pays nothing for them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource as OtelResource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from . import logs

log = logging.getLogger("eddy.tracing")

# The key of status.artifact.metadata that carries the W3C traceparent of the pass
# that stored the artifact. Flux's clients read only the keys they know.
TRACEPARENT = "eddy.dev/traceparent"

# The annotation an image automation leaves on the GitRepository it pushed to: the
# commit it pushed and the W3C traceparent of the pass that pushed it, separated by a
# space. The source-controller's fetch of that commit continues the trace.
COMMIT_TRACEPARENT = "eddy.dev/commit-traceparent"

# A span's outcome attribute: how the reconcile or step ended.
SUCCESS, ERROR, WAITING = "success", "error", "waiting"

_propagator = TraceContextTextMapPropagator()

_tracer: trace.Tracer = trace.get_tracer("eddy")


def _exporter_names() -> list[str]:
    names = os.environ.get("OTEL_TRACES_EXPORTER", "").strip()
    if not names:
        # The SDK's default is otlp; eddy only turns it on when an endpoint is given.
        endpoint = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
        )
        return ["otlp"] if endpoint else []
    return [n.strip() for n in names.split(",") if n.strip() and n.strip() != "none"]


def _exporter(name: str) -> SpanExporter | None:
    if name == "console":
        return ConsoleSpanExporter()
    if name == "otlp":
        protocol = os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
        try:
            if protocol == "grpc":
                from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (  # type: ignore[import-not-found]
                    OTLPSpanExporter,
                )
            else:
                from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
                    OTLPSpanExporter,
                )
        except ImportError:
            log.warning("OTLP trace export asked for, but no OTLP exporter package is installed")
            return None
        exporter: SpanExporter = OTLPSpanExporter()
        return exporter
    log.warning("unknown OTEL_TRACES_EXPORTER %r ignored", name)
    return None


def setup(service_name: str) -> bool:
    """Install a tracer provider when the environment asks for export; True if it did."""
    global _tracer
    exporters = [e for e in (_exporter(n) for n in _exporter_names()) if e is not None]
    if not exporters:
        return False
    attributes = {"service.name": os.environ.get("OTEL_SERVICE_NAME", service_name)}
    provider = TracerProvider(resource=OtelResource.create(attributes))
    for exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    _tracer = trace.get_tracer("eddy")
    return True


def shutdown() -> None:
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.shutdown()


@contextmanager
def span(
    span_name: str, parent: str | None = None, **attributes: str | int | bool
) -> Iterator[trace.Span]:
    """A span; how it ended is for `ended` to say, never an exception's own text.

    parent: a W3C traceparent to continue (a revision's trace); None continues the
    current span, or starts a trace when there is none. The revision the object's
    log lines carry by the end is put on the span too.
    """
    context = _propagator.extract({"traceparent": parent}) if parent else None
    # An exception's text may carry a URL with credentials; what `ended` is told is
    # written for status and Events, so it is safe to export.
    with _tracer.start_as_current_span(
        span_name, context, attributes=attributes,
        record_exception=False, set_status_on_exception=False,
    ) as current:  # fmt: skip
        try:
            yield current
        finally:
            revision = logs.current_revision()
            if revision and current.is_recording():
                current.set_attribute("revision", revision)


def ended(current: trace.Span, outcome: str, message: str = "", reason: str = "") -> None:
    """Say on the span how its work ended; an error also sets the span's status."""
    if not current.is_recording():
        return
    current.set_attribute("outcome", outcome)
    if reason:
        current.set_attribute("reason", reason)
    if outcome == ERROR:
        current.set_status(trace.Status(trace.StatusCode.ERROR, message or None))


def traceparent() -> str | None:
    """The W3C traceparent of the current span, when one is being recorded."""
    current = trace.get_current_span()
    if not current.is_recording():
        return None
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return carrier.get("traceparent")


def record_in(artifact: dict[str, Any]) -> None:
    """Put the current trace context in a newly stored artifact's metadata."""
    parent = traceparent()
    if parent:
        artifact["metadata"] = {**(artifact.get("metadata") or {}), TRACEPARENT: parent}


def parent_of(artifact: Mapping[str, Any] | None, done: str | None) -> str | None:
    """The trace to continue for work on `artifact`: its own, unless `done` is its revision.

    `done` is the revision the consumer has already finished with; a pass over that
    one again (periodic, a spec edit) is a trace of its own.
    """
    if not artifact or not artifact.get("revision") or artifact.get("revision") == done:
        return None
    value = (artifact.get("metadata") or {}).get(TRACEPARENT)
    return str(value) if value else None


def trace_id(parent: str | None) -> str:
    """The trace id of a W3C traceparent ("" when it is not one)."""
    fields = (parent or "").split("-")
    return fields[1] if len(fields) == 4 else ""


def commit_annotation(commit: str) -> dict[str, str] | None:
    """The annotation naming `commit` as pushed by the current trace, when one is recorded."""
    parent = traceparent()
    return {COMMIT_TRACEPARENT: f"{commit} {parent}"} if parent else None


def parent_of_pushed(obj: Mapping[str, Any]) -> str | None:
    """The trace a source's pass continues: that of a commit pushed to it and not yet taken up.

    The commit is taken up once the source's artifact is that commit, or once a pass of
    that trace stored any revision (a later commit, which holds the pushed one); after
    that, passes are traces of their own, so the pusher's trace does not grow with
    every interval.
    """
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    commit, _, parent = str(annotations.get(COMMIT_TRACEPARENT) or "").partition(" ")
    if not commit or not trace_id(parent):
        return None
    artifact = (obj.get("status") or {}).get("artifact") or {}
    if str(artifact.get("revision") or "").rpartition(":")[2] == commit:
        return None
    stored = (artifact.get("metadata") or {}).get(TRACEPARENT)
    if stored and trace_id(str(stored)) == trace_id(parent):
        return None
    return parent
