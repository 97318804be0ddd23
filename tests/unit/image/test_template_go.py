"""Commit message templates render exactly as Go's text/template renders them for Flux.

The expected output comes from Go itself: a small program (hack/tools/gotemplate)
built here with the local Go toolchain, standard library only, executing each
template on data shaped as Flux's. A template Go refuses must be refused here too.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from image_automation_controller.message import template_data
from image_automation_controller.setters import Change, ObjectId
from image_automation_controller.template import TemplateError, render

ROOT = Path(__file__).resolve().parents[3]

NAMESPACE, NAME = "apps", "auto"
VALUES = {"env": "prod", "team": "web"}
CHANGES = [
    # file, apiVersion, kind, name, namespace, old, new, setter
    ("deploy/app.yaml", "apps/v1", "Deployment", "web", "apps", "r/web:1.0", "r/web:1.1",
     "apps:web"),
    ("deploy/app.yaml", "apps/v1", "Deployment", "web", "apps", "1.0", "1.1", "apps:web:tag"),
    ("deploy/app.yaml", "batch/v1", "CronJob", "backup", "apps", "r/job:2", "r/job:3",
     "apps:job"),
]  # fmt: skip

FLUX_DOCS = """Automated image update

Automation name: {{ .AutomationObject }}

Files:
{{ range $filename, $_ := .Changed.FileChanges -}}
- {{ $filename }}
{{ end -}}

Objects:
{{ range $resource, $changes := .Changed.Objects -}}
- {{ $resource.Kind }} {{ $resource.Name }}
  Changes:
{{- range $_, $change := $changes }}
    - {{ $change.OldValue }} -> {{ $change.NewValue }}
{{ end -}}
{{ end -}}
"""

TEMPLATES = {
    "flux-example": "{{range .Changed.Changes}}{{print .OldValue}} -> {{println .NewValue}}{{end}}",
    "flux-docs": FLUX_DOCS,
    "values": '{{ .Values.env }}|{{ .Values.missing }}|{{ index .Values "team" }}|{{ .Values }}',
    "printf": '{{ printf "%s/%s has %d changes" .AutomationObject.Namespace '
    ".AutomationObject.Name (len .Changed.Changes) }}",
    "verbs": '{{ printf "%5s|%-5s|%05d|%x|%X|%t|%v|%q|%c|%%|%3d|%+d" "ab" "cd" 42 255 "hi" '
    'true .AutomationObject "q\\"" 65 -7 7 }}',
    "verb-mismatch": '{{ printf "%d %s" "str" }}|{{ printf "x" 1 "y" }}',
    "if-else-if": "{{ if eq (len .Changed.Changes) 0 }}none"
    "{{ else if lt (len .Changed.Changes) 2 }}one{{ else }}many{{ end }}",
    "with-else": "{{ with .Values.missing }}has {{ . }}{{ else }}no value{{ end }}|"
    "{{ with .Values.env }}env={{ . }}{{ end }}|{{ with $x := .Values.team }}{{ $x }}{{ end }}",
    "else-with": "{{ with .Values.missing }}a{{ else with .Values.team }}b={{ . }}{{ end }}",
    "range-two": "{{ range $i, $c := .Changed.Changes }}{{ $i }}:{{ $c.NewValue }} {{ end }}",
    "range-one": "{{ range $c := .Changed.Changes }}{{ $c.Setter }},{{ end }}",
    "range-else": "{{ range .Values.nokey }}x{{ else }}empty{{ end }}",
    "range-map": "{{ range $k, $v := .Values }}{{ $k }}={{ $v }};{{ end }}",
    "range-int": "{{ range 3 }}{{ . }}{{ end }}",
    "break-continue": "{{ range $i, $c := .Changed.Changes }}{{ if eq $i 0 }}{{ continue }}"
    "{{ end }}{{ if eq $i 2 }}{{ break }}{{ end }}{{ $c.Setter }};{{ end }}",
    "trim": "a  {{- .Values.env -}}  b\n  {{- /* a comment */ -}}\n c {{/* kept */}} d",
    "pipelines": '{{ .Values.env | printf "%q" }} {{ "x" | printf "%s-%s" "y" }} '
    '{{ .Changed.Changes | len | printf "%d" }}',
    "and-or-not": '{{ and .Values.env .Values.team }} {{ or .Values.missing "fallback" }} '
    "{{ not .Values.missing }} {{ and 1 0 2 }} {{ or 0 false }}",
    "compare": '{{ eq .Values.env "dev" "prod" }} {{ ne 1 2 }} {{ lt 1 2 }} {{ le "a" "b" }} '
    "{{ gt 2.5 1.5 }} {{ ge 3 3 }} {{ eq true true }}",
    "index": "{{ (index .Changed.Changes 1).OldValue }} {{ index .Changed.Changes 0 }}",
    "print": '{{ print 1 2 "a" 3 "b" "c" }}|{{ println 1 "a" true }}|{{ print }}',
    "variables": "{{ $n := 0 }}{{ range .Changed.Changes }}{{ $n = len $.Values }}{{ end }}"
    "{{ $n }}",
    "dollar": "{{ range .Changed.Changes }}{{ $.AutomationObject.Name }}:{{ .Setter }} {{ end }}",
    "numbers": "{{ printf \"%c %d %d %v %v\" 'x' 0x1F 0o17 1e3 1.5 }}",
    "len": '{{ len "héllo" }} {{ len .Values }} {{ len .Changed.Objects }}',
    "objects": "{{ range $o, $c := .Changed.Objects }}{{ $o }}={{ len $c }} {{ end }}",
    "files": "{{ .Changed.FileChanges }}",
    "missing-file": '{{ index .Changed.FileChanges "nope" }}|{{ len (index .Changed.FileChanges '
    '"nope") }}',
    "raw-string": '{{ `a\\nb` }}|{{ "tab\\there" }}',
    "nil": "{{ print nil }}",
    "operands": "{{ $x := .Values.env }}{{ print $x .Values.team }} {{ print (len .Values) "
    ".Values.env }} {{ print $.Values.env .Values.team | len }}",
    "struct-print": "{{ .AutomationObject.Name }} {{ index .Changed.Changes 2 }}",
    # Refused by both.
    "err-unknown-field": "{{ .Nope }}",
    "err-python-internals": "{{ .AutomationObject.__class__ }}",
    "err-method-of-string": "{{ .AutomationObject.Name.upper }}",
    "err-function": "{{ nofunc 1 }}",
    "err-index-range": "{{ index .Changed.Changes 9 }}",
    "err-len": "{{ len 3 }}",
    "err-compare": '{{ eq 1 "a" }}',
    "err-empty-if": "{{ if }}x{{ end }}",
    "err-stray-end": "{{ end }}",
    "err-no-end": "{{ range .Changed.Changes }}x",
    "err-undefined-var": "{{ $nope }}",
    "err-argument": '{{ .Values.env "x" }}',
    "err-break-outside": "{{ break }}",
    "err-range-string": "{{ range .Values.env }}x{{ end }}",
}


@pytest.fixture(scope="module")
def go_render(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """hack/tools/gotemplate, built with the local Go toolchain and nothing downloaded."""
    go = shutil.which("go")
    if go is None:
        pytest.fail("Go is needed to build hack/tools/gotemplate (as for `make tools`)")
    out = tmp_path_factory.mktemp("gotemplate") / "gotemplate"
    env = {**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=mod", "GOPROXY": "off",
           "GOWORK": "off"}  # fmt: skip
    subprocess.run(
        [go, "build", "-o", str(out), "."],
        cwd=ROOT / "hack" / "tools" / "gotemplate", env=env, check=True, timeout=300,
    )  # fmt: skip
    return out


def _go_cases() -> list[dict[str, Any]]:
    changes = [
        {"file": f, "apiVersion": a, "kind": k, "name": n, "namespace": ns, "old": o, "new": w,
         "setter": s}
        for f, a, k, n, ns, o, w, s in CHANGES
    ]  # fmt: skip
    return [
        {"template": t, "namespace": NAMESPACE, "name": NAME, "values": VALUES,
         "changes": changes}
        for t in TEMPLATES.values()
    ]  # fmt: skip


def _python_data() -> Any:
    changes = [
        Change(f, i + 1, s, o, w, ObjectId(k, n, ns, a))
        for i, (f, a, k, n, ns, o, w, s) in enumerate(CHANGES)
    ]
    return template_data(NAMESPACE, NAME, changes, VALUES)


@pytest.fixture(scope="module")
def expected(go_render: Path) -> dict[str, dict[str, str]]:
    done = subprocess.run(
        [str(go_render)], input=json.dumps(_go_cases()), capture_output=True, text=True,
        check=True, timeout=60,
    )  # fmt: skip
    return dict(zip(TEMPLATES, json.loads(done.stdout), strict=True))


@pytest.mark.parametrize("name", list(TEMPLATES))
def test_renders_as_go_does(name: str, expected: dict[str, dict[str, str]]) -> None:
    go = expected[name]
    try:
        ours: dict[str, str] = {"output": render(TEMPLATES[name], _python_data())}
    except TemplateError as err:
        ours = {"output": "", "error": str(err)}
    if go.get("error"):
        assert ours.get("error"), f"Go refuses ({go['error']}), eddy rendered {ours['output']!r}"
    else:
        assert not ours.get("error"), f"Go renders {go['output']!r}, eddy refuses: {ours}"
        assert ours["output"] == go["output"]


def test_every_case_is_compared(expected: dict[str, dict[str, str]]) -> None:
    refused = sum(1 for r in expected.values() if r.get("error"))
    print(f"{len(expected)} templates compared with Go's text/template, {refused} refused")
    assert refused == sum(1 for n in TEMPLATES if n.startswith("err-"))
