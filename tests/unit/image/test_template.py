"""Commit message templates reach the documented data and nothing else."""

from __future__ import annotations

import pytest

from image_automation_controller.message import commit_message, template_data
from image_automation_controller.setters import Change, ObjectId
from image_automation_controller.template import MAX_OUTPUT, TemplateError, parse, render


def changes() -> list[Change]:
    found = ObjectId("Deployment", "app", "apps", "apps/v1")
    return [Change("deploy/app.yaml", 3, "apps:app", "repo/app:1.0", "repo/app:1.1", found)]


def test_documented_data_renders() -> None:
    template = (
        "{{ .AutomationObject.Namespace }}/{{ .AutomationObject.Name }} by {{ .Values.who }}\n"
        "{{ range $file, $objects := .Changed.FileChanges }}{{ $file }}:"
        "{{ range $obj, $list := $objects }} {{ $obj.Kind }} {{ $obj.Name }}"
        "{{ range $list }} {{ .OldValue }}->{{ .NewValue }}{{ end }}{{ end }}{{ end }}"
    )
    message = commit_message(template, "ns", "auto", changes(), {"who": "bot"})
    assert message == "ns/auto by bot\ndeploy/app.yaml: Deployment app repo/app:1.0->repo/app:1.1"


@pytest.mark.parametrize(
    "template",
    [
        "{{ .AutomationObject.__class__ }}",
        "{{ .AutomationObject._private }}",
        "{{ range .Changed.Changes }}{{ .__init__.__globals__ }}{{ end }}",
        "{{ $.AutomationObject.__dict__ }}",
        "{{ with .AutomationObject }}{{ ._x }}{{ end }}",
        "{{if .AutomationObject.__class__}}x{{end}}",
    ],
)
def test_names_beginning_with_underscore_are_refused(template: str) -> None:
    with pytest.raises(TemplateError) as caught:
        parse(template)
    message = str(caught.value)
    assert "not template data" in message
    assert "<class" not in message and "object at 0x" not in message


def test_an_underscore_inside_a_string_is_only_text() -> None:
    assert render('{{ "a._b" }}', {}) == "a._b"


@pytest.mark.parametrize(
    "template",
    [
        "{{ .AutomationObject.Name.upper }}",
        "{{ range .Changed.Changes }}{{ .NewValue.split }}{{ end }}",
        "{{ .Changed.Changes.copy }}",
        "{{ .AutomationObject.Name.isdigit }}",
        "{{ .Values.who.encode }}",
    ],
)
def test_methods_and_attributes_of_python_values_are_not_data(template: str) -> None:
    data = template_data("ns", "auto", changes(), {"who": "bot"})
    with pytest.raises(TemplateError) as caught:
        render(template, data)
    message = str(caught.value)
    assert "no such field" in message
    assert "built-in" not in message and "<" not in message


def test_undeclared_attributes_of_data_objects_are_not_reachable() -> None:
    # NamespacedName is a frozen dataclass: its generated methods are not fields.
    data = template_data("ns", "auto", changes(), {})
    for name in ("count", "replace", "Missing"):
        with pytest.raises(TemplateError, match="no such field"):
            render(f"{{{{ .AutomationObject.{name} }}}}", data)


def test_output_and_work_are_bounded() -> None:
    data = {"Items": list(range(1000))}
    nested = "{{ range .Items }}{{ range $.Items }}{{ range $.Items }}x{{ end }}{{ end }}{{ end }}"
    with pytest.raises(TemplateError, match="more than"):
        render(nested, data)
    wide = {"Items": ["y" * 10_000] * 200}
    with pytest.raises(TemplateError, match=f"longer than {MAX_OUTPUT}"):
        render("{{ range .Items }}{{ . }}{{ end }}", wide)
