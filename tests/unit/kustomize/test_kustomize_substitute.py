"""postBuild substitution rules: `${var}`, defaults, escapes, opt-out, bad names."""

from __future__ import annotations

import pytest

from eddy_kustomize.substitute import (
    SubstitutionError,
    check_names,
    substitute_objects,
    substitute_text,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${a}", "1"),
        ("x-${a}-${b}", "x-1-two"),
        ("${missing:=dflt}", "dflt"),
        ("${missing:-dflt}", "dflt"),
        ("${empty:=dflt}", "dflt"),
        ("${empty=dflt}", ""),
        ("${a:=dflt}", "1"),
        ("${missing:=${b}}", "two"),
        ("$${a}", "${a}"),
        ("$a and $HOME stay", "$a and $HOME stay"),
        ("${not a var} stays", "${not a var} stays"),
        ("unterminated ${a", "unterminated ${a"),
    ],
)
def test_substitute_text(text: str, expected: str) -> None:
    assert substitute_text(text, {"a": "1", "b": "two", "empty": ""}) == expected


def test_missing_variable_is_an_error() -> None:
    with pytest.raises(SubstitutionError, match=r"\$\{nope\}"):
        substitute_text("value: ${nope}", {})


def test_objects_are_reparsed_and_opt_out_is_honoured() -> None:
    objects = [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "n"},
         "data": {"k": "${v}"}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
         "spec": {"replicas": "${replicas}"}},
        {"apiVersion": "v1", "kind": "ConfigMap",
         "metadata": {"name": "b", "annotations": {
             "kustomize.toolkit.fluxcd.io/substitute": "disabled"}},
         "data": {"k": "${v}"}},
    ]  # fmt: skip
    out = substitute_objects(objects, {"v": "value", "replicas": "3"})
    assert out[0]["data"] == {"k": "value"}
    assert out[1]["spec"]["replicas"] == 3
    assert out[2]["data"] == {"k": "${v}"}


def test_error_names_the_object() -> None:
    objects = [{"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "a", "namespace": "n"}, "data": {"k": "${gone}"}}]  # fmt: skip
    with pytest.raises(SubstitutionError, match="ConfigMap/n/a"):
        substitute_objects(objects, {})


def test_variable_names_are_checked() -> None:
    check_names({"ok_name": "", "_x1": ""}, "here")
    with pytest.raises(SubstitutionError, match="1bad"):
        check_names({"1bad": ""}, "here")
