"""Setter markers rewrite only the marked scalar, keeping every other byte of the file."""

from __future__ import annotations

from image_automation_controller.message import commit_message
from image_automation_controller.setters import Image, update_text
from image_automation_controller.template import TemplateError, render

IMAGES = {("apps", "app"): Image("registry.local:5000/team/app", "1.2.0")}


def test_rewrites_marked_values_and_keeps_the_rest() -> None:
    text = (
        "# a comment at the top\n"
        "apiVersion: apps/v1\n"
        "kind: Deployment\n"
        "metadata:\n"
        "  name: web   # trailing comment\n"
        "  namespace: prod\n"
        "spec:\n"
        "  template:\n"
        "    spec:\n"
        "      containers:\n"
        "        - name: app\n"
        '          image: registry.local:5000/team/app:1.0.0 # {"$imagepolicy": "apps:app"}\n'
        "        - name: sidecar\n"
        "          image: busybox:1.36    # not managed\n"
        "---\n"
        "kind: Kustomization\n"
        "images:\n"
        "  - name: app\n"
        '    newTag: "1.0.0"  # {"$imagepolicy": "apps:app:tag"}\n'
        '    newName: \'old/app\' # {"$imagepolicy": "apps:app:name"}\n'
        "values:\n"
        '  - registry.local:5000/team/app:0.1 # {"$imagepolicy": "apps:app"}\n'
        '  # image: old:1 # {"$imagepolicy": "apps:app"}\n'
    )
    result = update_text(text, IMAGES, "deploy.yaml", "apps")
    expected = (
        text.replace("app:1.0.0 #", "app:1.2.0 #")
        .replace('newTag: "1.0.0"', 'newTag: "1.2.0"')
        .replace("newName: 'old/app'", "newName: 'registry.local:5000/team/app'")
        .replace("app:0.1 #", "app:1.2.0 #")
    )
    assert result.text == expected
    assert [c.line for c in result.changes] == [12, 19, 20, 22]
    first = result.changes[0]
    assert (first.old_value, first.new_value, first.setter) == (
        "registry.local:5000/team/app:1.0.0", "registry.local:5000/team/app:1.2.0", "apps:app",
    )  # fmt: skip
    assert first.object is not None and str(first.object) == "Deployment/prod/web"
    assert result.changes[1].object is not None and result.changes[1].object.kind == "Kustomization"


def test_nothing_to_change_keeps_text_identical() -> None:
    text = 'image: registry.local:5000/team/app:1.2.0 # {"$imagepolicy": "apps:app"}\r\n'
    result = update_text(text, IMAGES, "a.yaml", "apps")
    assert result.text == text and not result.changes
    assert result.used == {("apps", "app")}


def test_unknown_policies_in_own_namespace_are_reported() -> None:
    text = (
        'a: x:1 # {"$imagepolicy": "apps:missing"}\n'
        'b: y:1 # {"$imagepolicy": "elsewhere:other"}\n'
        'c: z:1 # {"$imagepolicy": "apps:app:bogus"}\n'
    )
    result = update_text(text, IMAGES, "a.yaml", "apps")
    assert result.unknown == {("apps", "missing"): 1}
    assert result.text == text


def test_digest_is_appended_when_known() -> None:
    images = {("apps", "app"): Image("r/app", "1.0", "sha256:" + "a" * 64)}
    text = 'image: r/app:0.9 # {"$imagepolicy": "apps:app"}\n'
    assert (
        update_text(text, images).text
        == f'image: r/app:1.0@sha256:{"a" * 64} # {{"$imagepolicy": "apps:app"}}\n'
    )


def test_commit_message_template_range_form() -> None:
    text = 'image: registry.local:5000/team/app:1.0.0 # {"$imagepolicy": "apps:app"}\n'
    changes = update_text(text, IMAGES, "deploy/app.yaml", "apps").changes
    template = (
        "Automated update by {{ .AutomationObject }}\n\n"
        "{{ range .Changed.Changes -}}\n"
        "- {{ .OldValue }} -> {{ .NewValue }}\n"
        "{{ end -}}\n"
        "{{ range $file, $objects := .Changed.FileChanges }}file {{ $file }}{{ end }}"
        "{{ if .Values.team }} team={{ .Values.team }}{{ else }} none{{ end }}"
    )
    message = commit_message(template, "apps", "auto", changes, {"team": "blue"})
    assert message == (
        "Automated update by apps/auto\n\n"
        "- registry.local:5000/team/app:1.0.0 -> registry.local:5000/team/app:1.2.0\n"
        "file deploy/app.yaml team=blue"
    )
    assert commit_message(None, "apps", "auto", changes) == "Update from image update automation"


def test_template_errors_name_the_problem() -> None:
    for bad in ("{{ range .X }}", "{{ .A | printf }}", "{{ end }}", '{{ template "x" }}'):
        try:
            render(bad, {"X": []})
        except TemplateError:
            continue
        raise AssertionError(f"{bad!r} rendered")
