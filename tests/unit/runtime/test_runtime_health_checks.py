"""healthCheckExprs as Kustomizations and HelmReleases read them: Flux's order, group and kind
matching, and an object without the fields an expression reads counted as in progress."""

from __future__ import annotations

import pytest

from eddy_runtime.health_checks import assessor, compile_rules
from eddy_runtime.kstatus import CURRENT, FAILED, IN_PROGRESS
from eddy_runtime.reconciler import StepError

RULES = [
    {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "inProgress": "status.phase == 'Building'",
        "failed": "status.phase == 'Broken'",
        "current": "status.phase in ['Running', 'Building']",
    },
    {"apiVersion": "example.com/v2", "current": "has(status.done) && status.done"},
]


def widget(kind: str = "Widget", **status: object) -> dict[str, object]:
    obj: dict[str, object] = {"apiVersion": "example.com/v1beta1", "kind": kind}
    obj["metadata"] = {"name": "w", "namespace": "default"}
    if status:
        obj["status"] = status
    return obj


def test_in_progress_first_then_failed_then_current() -> None:
    judge = assessor(compile_rules(RULES))
    assert judge(widget(phase="Building")).state == IN_PROGRESS
    assert judge(widget(phase="Broken")).state == FAILED
    assert judge(widget(phase="Running")).state == CURRENT
    assert judge(widget(phase="Other")).state == IN_PROGRESS


def test_a_kind_rule_wins_over_a_group_rule_and_versions_do_not_matter() -> None:
    judge = assessor(compile_rules(RULES))
    assert judge(widget("Gadget", done=True)).state == CURRENT
    assert judge(widget("Gadget", done=False)).state == IN_PROGRESS
    # Other groups keep kstatus: an object without conditions is Current by existing.
    assert judge({"apiVersion": "other.io/v1", "kind": "Widget", "metadata": {}}).state == CURRENT


def test_a_missing_field_waits() -> None:
    health = assessor(compile_rules(RULES))(widget())
    assert health.state == IN_PROGRESS
    assert "status" in health.message


def test_an_expression_that_does_not_compile_names_itself() -> None:
    with pytest.raises(StepError) as caught:
        compile_rules([{**RULES[0], "failed": "status.phase ==="}])
    assert "spec.healthCheckExprs[0].failed" in caught.value.message
    assert "status.phase ===" in caught.value.message
    assert caught.value.stalled and caught.value.reason == "InvalidCELExpression"
