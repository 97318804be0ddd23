"""eddy_runtime.cel: compile once, evaluate with JSON values, errors that name the problem."""

from __future__ import annotations

import pytest

from eddy_runtime.cel import CelError, compile_expression


def test_evaluates_against_json_values() -> None:
    expr = compile_expression("req.tag.contains(res.metadata.name) && size(req.items) == 2",
                              ["req", "res"])  # fmt: skip
    values = {"req": {"tag": "registry/app:1.0", "items": [1, 2]},
              "res": {"metadata": {"name": "app"}}}  # fmt: skip
    assert expr.evaluate_bool(values) is True
    values["res"] = {"metadata": {"name": "other"}}
    assert expr.evaluate_bool(values) is False


def test_results_come_back_as_python_values() -> None:
    expr = compile_expression("[claims.owner + '/a', claims.owner + '/b']", ["claims"])
    assert expr.evaluate({"claims": {"owner": "org"}}) == ["org/a", "org/b"]
    assert compile_expression("{'n': 1 + 2}", []).evaluate({}) == {"n": 3}


def test_macros_bind_their_own_variables() -> None:
    expr = compile_expression("claims.groups.exists(g, g == 'admins')", ["claims"])
    assert expr.evaluate_bool({"claims": {"groups": ["dev", "admins"]}})
    assert not expr.evaluate_bool({"claims": {"groups": ["dev"]}})


def test_syntax_errors_name_the_expression() -> None:
    with pytest.raises(CelError, match=r"invalid CEL expression 'res\.metadata\.name =='"):
        compile_expression("res.metadata.name ==", ["res"])


def test_undeclared_variables_are_refused_at_compile_time() -> None:
    with pytest.raises(CelError, match=r"undeclared reference to 'claims'.*available: req, res"):
        compile_expression("claims.sub == res.metadata.name", ["req", "res"])


def test_a_non_boolean_result_is_an_error_where_a_boolean_is_needed() -> None:
    expr = compile_expression("res.metadata.name", ["res"])
    with pytest.raises(CelError, match="must return a boolean"):
        expr.evaluate_bool({"res": {"metadata": {"name": "x"}}})


def test_evaluation_errors_are_celerrors() -> None:
    expr = compile_expression("res.metadata.labels['team'] == 'a'", ["res"])
    with pytest.raises(CelError, match="evaluating"):
        expr.evaluate_bool({"res": {"metadata": {}}})
    with pytest.raises(CelError, match="no value for res"):
        expr.evaluate_bool({})
