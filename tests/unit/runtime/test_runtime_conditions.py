"""Condition helpers follow kstatus: Ready/Reconciling/Stalled move together."""

from __future__ import annotations

from typing import Any

from eddy_runtime import conditions as c
from eddy_runtime.status import finalize, merge_patch


def test_ready_clears_reconciling_and_stalled() -> None:
    status: dict[str, Any] = {}
    c.mark_reconciling(status, c.PROGRESSING, "working", 3)
    assert c.get(status, c.READY)["status"] == c.UNKNOWN  # type: ignore[index]
    c.mark_failed(status, "BuildFailed", "no", 3, retrying=False)
    assert c.is_true(status, c.STALLED)
    c.mark_ready(status, "done", generation=3)
    assert [x["type"] for x in status["conditions"]] == [c.READY]
    assert status["conditions"][0]["observedGeneration"] == 3


def test_failure_with_retry_keeps_reconciling() -> None:
    status: dict[str, Any] = {}
    c.mark_failed(status, "FetchFailed", "timeout", 1)
    assert c.get(status, c.READY)["status"] == c.FALSE  # type: ignore[index]
    assert c.get(status, c.RECONCILING)["reason"] == c.PROGRESSING_WITH_RETRY  # type: ignore[index]
    assert c.get(status, c.STALLED) is None


def test_transition_time_moves_only_when_status_flips() -> None:
    status: dict[str, Any] = {}
    c.set_condition(status, c.READY, c.TRUE, "A", "a")
    status["conditions"][0]["lastTransitionTime"] = "2020-01-01T00:00:00Z"
    c.set_condition(status, c.READY, c.TRUE, "B", "b")
    assert status["conditions"][0]["lastTransitionTime"] == "2020-01-01T00:00:00Z"
    c.set_condition(status, c.READY, c.FALSE, "C", "c")
    assert status["conditions"][0]["lastTransitionTime"] != "2020-01-01T00:00:00Z"


def test_is_ready_requires_the_current_generation() -> None:
    obj: dict[str, Any] = {"metadata": {"generation": 2}, "status": {"observedGeneration": 1}}
    c.mark_ready(obj["status"], "ok")
    assert not c.is_ready(obj)
    obj["status"]["observedGeneration"] = 2
    assert c.is_ready(obj)


def test_finalize_sets_generation_and_handled_request() -> None:
    obj = {
        "metadata": {
            "generation": 4,
            "annotations": {"reconcile.fluxcd.io/requestedAt": "now"},
        }
    }
    assert finalize(obj, {"x": 1}) == {
        "x": 1,
        "observedGeneration": 4,
        "lastHandledReconcileAt": "now",
    }


def test_merge_patch_is_none_when_equal_and_nulls_removed_keys() -> None:
    assert merge_patch({"a": 1, "b": {"c": 2}}, {"a": 1, "b": {"c": 2}}) is None
    assert merge_patch({"a": 1, "b": {"c": 2, "d": 3}}, {"b": {"c": 2}, "e": [1]}) == {
        "a": None,
        "b": {"d": None},
        "e": [1],
    }
