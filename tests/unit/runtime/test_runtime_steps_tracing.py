"""Named steps stop at the first failure or requeue; tracing export follows OTEL_*."""

from __future__ import annotations

import pytest

from eddy_runtime import tracing
from eddy_runtime.reconciler import Result, Step, StepError, run_steps


async def test_steps_run_in_order_and_stop_at_a_result() -> None:
    ran: list[str] = []

    def step(name: str, result: Result | None = None) -> Step:
        async def run() -> Result | None:
            ran.append(name)
            return result

        return Step(name, run)

    outcome = await run_steps([step("fetch"), step("build", Result.after(5)), step("apply")])
    assert ran == ["fetch", "build"]
    assert outcome == Result(requeue_after=5)


async def test_a_step_error_passes_through_named_after_its_step() -> None:
    async def fetch() -> Result | None:
        raise StepError("repository 'x' not found; create it", stalled=True)

    async def build() -> Result | None:
        raise StepError("bad chart", reason="ChartPullFailed", retry_in=5.0)

    with pytest.raises(StepError) as failed:
        await run_steps([Step("fetch", fetch, "FetchFailed")])
    assert (failed.value.step, failed.value.reason) == ("fetch", "FetchFailed")
    assert failed.value.message == "repository 'x' not found; create it"
    assert failed.value.stalled and failed.value.retry_in is None
    with pytest.raises(StepError) as failed:
        await run_steps([Step("build", build, "BuildFailed")])
    assert (failed.value.reason, failed.value.retry_in, failed.value.stalled) == (
        "ChartPullFailed",
        5.0,
        False,
    )


async def test_an_unexpected_exception_becomes_a_generic_error_logged_with_its_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def fetch() -> Result | None:
        raise OSError("cannot reach https://user:hunter2@example.com/repo")

    with pytest.raises(StepError) as failed:
        await run_steps([Step("fetch", fetch, "FetchFailed")])
    assert failed.value.step == "fetch"
    assert failed.value.reason == "FetchFailed"
    assert failed.value.message == "internal error in step fetch; see the controller log"
    assert not failed.value.stalled
    assert "hunter2" not in str(failed.value)
    logged = [r for r in caplog.records if r.exc_info]
    assert logged and "hunter2" in str(logged[0].exc_info[1])


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, []),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, ["otlp"]),
        ({"OTEL_TRACES_EXPORTER": "none"}, []),
        ({"OTEL_TRACES_EXPORTER": "console"}, ["console"]),
    ],
)
def test_export_only_when_the_environment_asks(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: list[str]
) -> None:
    for name in (
        "OTEL_TRACES_EXPORTER",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert tracing._exporter_names() == expected
