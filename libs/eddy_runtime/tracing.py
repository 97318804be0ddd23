"""OpenTelemetry spans per reconcile and per step, exported only when OTEL_* says so.

Traces show where a slow reconcile spends its time; off by default so a controller
without a collector pays nothing for them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource as OtelResource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

log = logging.getLogger("eddy.tracing")

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
def span(span_name: str, **attributes: str | int | bool) -> Iterator[trace.Span]:
    """A span; an exception escaping it is recorded and marks the span as an error."""
    with _tracer.start_as_current_span(span_name, attributes=attributes) as current:
        yield current
