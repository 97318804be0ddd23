"""An image's trace is handed from scan to policy to automation, and named for the fetch."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider

from eddy_runtime import tracing
from image_automation_controller.automation import tracked_branch
from image_automation_controller.traces import Handoffs


@pytest.fixture
def traced(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    provider = TracerProvider()
    monkeypatch.setattr(tracing, "_tracer", provider.get_tracer("eddy"))
    yield
    provider.shutdown()


def test_the_trace_that_produced_a_marker_is_handed_on_only_for_that_marker(
    traced: None,
) -> None:
    handoffs = Handoffs()
    with tracing.span("reconcile", kind="ImageRepository"):
        handoffs.record("ImageRepository/ns/app", "scan-1")
        parent = tracing.traceparent()
    assert parent is not None
    assert handoffs.parent("ImageRepository/ns/app", "scan-1") == parent
    # A later scan, or another object, is not what that trace produced.
    assert handoffs.parent("ImageRepository/ns/app", "scan-2") is None
    assert handoffs.parent("ImageRepository/ns/other", "scan-1") is None
    handoffs.forget("ImageRepository/ns/app")
    assert handoffs.parent("ImageRepository/ns/app", "scan-1") is None


def test_an_untraced_pass_clears_what_an_earlier_one_handed_on(traced: None) -> None:
    handoffs = Handoffs()
    with tracing.span("reconcile"):
        handoffs.record("ImagePolicy/ns/app", "img:1.0.0")
    handoffs.record("ImagePolicy/ns/app", "img:1.1.0")
    assert handoffs.parent("ImagePolicy/ns/app", "img:1.0.0") is None
    assert handoffs.parent("ImagePolicy/ns/app", "img:1.1.0") is None


def git_repository(ref: dict[str, str] | None) -> dict[str, object]:
    spec: dict[str, object] = {"url": "https://example.com/repo.git", "interval": "1m"}
    if ref is not None:
        spec["ref"] = ref
    return {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"name": "repo", "namespace": "ns"},
        "spec": spec,
    }


@pytest.mark.parametrize(
    ("ref", "branch"),
    [
        ({"branch": "main"}, "main"),
        (None, "master"),
        ({"tag": "v1.0.0"}, None),
        ({"semver": ">=1.0.0"}, None),
        ({"commit": "a" * 40}, None),
        ({"name": "refs/heads/main"}, None),
    ],
)
def test_a_commit_is_named_for_the_fetch_only_on_the_branch_the_source_follows(
    ref: dict[str, str] | None, branch: str | None
) -> None:
    assert tracked_branch(git_repository(ref)) == branch
