"""A revision's trace travels in its artifact; log lines inside a span name the span."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from eddy_runtime import logs, tracing
from eddy_runtime.reconciler import Result, Step, StepError, run_steps


@pytest.fixture
def exported(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(tracing, "_tracer", provider.get_tracer("eddy"))
    yield exporter
    provider.shutdown()


def by_name(spans: tuple[ReadableSpan, ...]) -> dict[str, ReadableSpan]:
    return {s.name: s for s in spans}


def test_a_stored_artifact_carries_the_pass_trace_and_a_consumer_continues_it(
    exported: InMemorySpanExporter,
) -> None:
    artifact: dict[str, object] = {"revision": "main@sha1:" + "a" * 40, "metadata": {"k": "v"}}
    with tracing.span("reconcile", kind="GitRepository"):
        tracing.record_in(artifact)
    metadata = artifact["metadata"]
    assert isinstance(metadata, dict) and metadata["k"] == "v"
    parent = tracing.parent_of(artifact, done="main@sha1:" + "b" * 40)
    assert parent == metadata[tracing.TRACEPARENT]
    with tracing.span("reconcile", parent, kind="Kustomization"):
        pass
    source, consumer = exported.get_finished_spans()
    assert source.context is not None and consumer.context is not None
    assert consumer.context.trace_id == source.context.trace_id
    assert consumer.parent is not None and consumer.parent.span_id == source.context.span_id


def test_a_revision_already_taken_up_or_without_a_trace_starts_none() -> None:
    revision = "main@sha1:" + "a" * 40
    carried = {tracing.TRACEPARENT: "00-" + "1" * 32 + "-" + "2" * 16 + "-01"}
    assert tracing.parent_of({"revision": revision, "metadata": carried}, revision) is None
    assert tracing.parent_of({"revision": revision}, None) is None
    assert tracing.parent_of(None, None) is None


def test_a_pushed_commit_is_fetched_in_the_pushers_trace_until_taken_up(
    exported: InMemorySpanExporter,
) -> None:
    commit, later = "a" * 40, "b" * 40
    with tracing.span("reconcile", kind="ImageUpdateAutomation"):
        annotations = tracing.commit_annotation(commit)
    assert annotations is not None
    pushed = annotations[tracing.COMMIT_TRACEPARENT]
    parent = pushed.partition(" ")[2]
    source: dict[str, object] = {
        "metadata": {"annotations": annotations},
        "status": {"artifact": {"revision": "main@sha1:" + "c" * 40}},
    }
    assert pushed.startswith(commit + " ")
    assert tracing.parent_of_pushed(source) == parent
    with tracing.span("reconcile", parent, kind="GitRepository") as fetching:
        stored: dict[str, object] = {"revision": f"main@sha1:{later}"}
        tracing.record_in(stored)
    assert fetching.get_span_context().trace_id == int(tracing.trace_id(parent), 16)
    # A later commit stored in that trace has taken the pushed one up.
    assert tracing.parent_of_pushed({**source, "status": {"artifact": stored}}) is None
    # So has the commit itself, whatever trace stored it.
    itself = {"revision": f"main@sha1:{commit}"}
    assert tracing.parent_of_pushed({**source, "status": {"artifact": itself}}) is None
    # No artifact yet: the first fetch continues it; no annotation, no trace.
    assert tracing.parent_of_pushed({"metadata": source["metadata"]}) == parent
    assert tracing.parent_of_pushed({"metadata": {}}) is None
    bad = {"annotations": {tracing.COMMIT_TRACEPARENT: f"{commit} not-a-traceparent"}}
    assert tracing.parent_of_pushed({"metadata": bad}) is None


def test_nothing_is_recorded_when_tracing_is_off() -> None:
    artifact: dict[str, object] = {"revision": "v1"}
    with tracing.span("reconcile"):
        tracing.record_in(artifact)
    assert "metadata" not in artifact
    assert tracing.commit_annotation("a" * 40) is None


async def test_step_spans_say_how_the_step_ended_and_which_revision(
    exported: InMemorySpanExporter,
) -> None:
    async def fetch() -> Result | None:
        logs.set_revision("main@sha1:" + "c" * 40)
        return None

    async def wait() -> Result | None:
        return Result.after(5)

    async def broken() -> Result | None:
        raise StepError("bad chart", reason="ChartPullFailed")

    async def leaky() -> Result | None:
        raise OSError("cannot reach https://user:hunter2@example.com/repo")

    with logs.object_context("Kustomization", "apps", "web"), tracing.span("reconcile"):
        await run_steps([Step("fetch", fetch), Step("wait", wait)])
        with pytest.raises(StepError):
            await run_steps([Step("build", broken)])
        with pytest.raises(StepError):
            await run_steps([Step("apply", leaky)])
    spans = by_name(exported.get_finished_spans())
    fetched = spans["step fetch"]
    assert fetched.attributes is not None
    assert fetched.attributes["outcome"] == tracing.SUCCESS
    assert fetched.attributes["revision"] == "main@sha1:" + "c" * 40
    assert spans["step wait"].attributes == {
        "step": "wait",
        "outcome": tracing.WAITING,
        "revision": "main@sha1:" + "c" * 40,
    }
    built = spans["step build"]
    assert built.attributes is not None and built.attributes["reason"] == "ChartPullFailed"
    assert built.status.status_code == trace.StatusCode.ERROR
    assert built.status.description == "bad chart"
    applied = spans["step apply"]
    assert applied.status.description == "internal error in step apply; see the controller log"
    assert "hunter2" not in repr([applied.attributes, applied.events])


def test_every_json_line_inside_a_span_names_its_trace_and_span(
    exported: InMemorySpanExporter,
) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JSONFormatter("kustomize-controller"))
    logger = logging.getLogger("test.trace_ids")
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)

    logger.info("outside")
    with tracing.span("reconcile") as outer:
        logger.info("in the reconcile")
        with tracing.span("step build") as inner:
            logger.info("in a step")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert "trace_id" not in lines[0] and "span_id" not in lines[0]
    trace_id = trace.format_trace_id(outer.get_span_context().trace_id)
    assert [(line["trace_id"], line["span_id"]) for line in lines[1:]] == [
        (trace_id, trace.format_span_id(outer.get_span_context().span_id)),
        (trace_id, trace.format_span_id(inner.get_span_context().span_id)),
    ]
