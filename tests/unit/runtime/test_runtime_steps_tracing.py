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


async def test_a_failing_step_is_named_in_the_error() -> None:
    async def fetch() -> Result | None:
        raise OSError("connection refused")

    with pytest.raises(StepError) as failed:
        await run_steps([Step("fetch", fetch, "FetchFailed")])
    assert failed.value.step == "fetch"
    assert failed.value.reason == "FetchFailed"
    assert failed.value.message == "connection refused"


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
