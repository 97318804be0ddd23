"""A small subset of Go's text/template, enough for Flux commit message templates.

Supported: `{{ .Field.Path }}`, `{{ $var.Field }}`, `{{ range [$k,] [$v :=] X }}`,
`{{ if X }}…{{ else }}…{{ end }}`, `{{ with X }}`, string literals and `{{- -}}`
trimming. Anything else is an error that names the unsupported action.

A template is written by whoever may edit the automation, so it reaches only the
data handed to it: map keys and the declared fields of the data's dataclasses,
never a name beginning with `_`, a method or anything else callable.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

_ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.DOTALL)
_RANGE_VARS = re.compile(r"^(\$\w*)(?:\s*,\s*(\$\w*))?\s*:=\s*(.+)$", re.DOTALL)
# A field name after a dot, outside string literals, that begins with "_".
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|`[^`]*`')
_PRIVATE = re.compile(r"\.\s*(_\w*)")
# What one rendering may produce and do, so a template cannot make a commit
# message of gigabytes or loop for hours over nested ranges.
MAX_OUTPUT = 1 << 20
MAX_STEPS = 100_000


class TemplateError(ValueError):
    """The template cannot be parsed or executed; the message says where."""


def _short(text: str, limit: int = 60) -> str:
    """A template excerpt for a message: enough to find it, never a whole template."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _refuse_private(action: str) -> None:
    found = _PRIVATE.search(_STRINGS.sub('""', action))
    if found:
        raise TemplateError(
            f"{{{{{_short(action)}}}}}: {found.group(1)!r} is not template data; names "
            "beginning with '_' cannot be used (see the documented .AutomationObject, "
            ".Changed and .Values)"
        )


@dataclass
class _Node:
    kind: str  # text, print, range, if, with
    text: str = ""
    expr: str = ""
    vars: tuple[str, ...] = ()
    body: list[_Node] = field(default_factory=list)
    otherwise: list[_Node] = field(default_factory=list)


def _tokens(source: str) -> list[tuple[str, str]]:
    """("text", chunk) and ("action", inside) pairs, with {{- and -}} trimming done."""
    out: list[tuple[str, str]] = []
    pos = 0
    trim_next = False
    for match in _ACTION.finditer(source):
        text = source[pos : match.start()]
        if trim_next:
            text = text.lstrip()
        if match.group(1):
            text = text.rstrip()
        out.append(("text", text))
        inside = match.group(2).strip()
        if inside.startswith("/*") and inside.endswith("*/"):
            inside = ""
        out.append(("action", inside))
        trim_next = bool(match.group(3))
        pos = match.end()
    tail = source[pos:]
    out.append(("text", tail.lstrip() if trim_next else tail))
    return out


def _parse(
    tokens: list[tuple[str, str]], pos: int, closers: tuple[str, ...]
) -> tuple[list[_Node], int, str]:
    nodes: list[_Node] = []
    while pos < len(tokens):
        kind, value = tokens[pos]
        pos += 1
        if kind == "text":
            if value:
                nodes.append(_Node("text", text=value))
            continue
        if not value:
            continue
        _refuse_private(value)
        word, _, rest = value.partition(" ")
        rest = rest.strip()
        if word in ("end", "else"):
            if word not in closers:
                raise TemplateError(f"unexpected {{{{{word}}}}}")
            return nodes, pos, word
        if word in ("range", "if", "with"):
            node = _Node(word, expr=rest)
            if word == "range":
                bound = _RANGE_VARS.match(rest)
                if bound:
                    names = tuple(v for v in bound.groups()[:2] if v)
                    node.vars, node.expr = names, bound.group(3).strip()
            node.body, pos, closer = _parse(tokens, pos, ("end", "else"))
            if closer == "else":
                node.otherwise, pos, closer = _parse(tokens, pos, ("end",))
            if closer != "end":
                raise TemplateError(f"{{{{{word} {rest}}}}} has no {{{{end}}}}")
            nodes.append(node)
            continue
        if word in ("define", "template", "block"):
            raise TemplateError(f"{{{{{word}}}}} is not supported in commit message templates")
        nodes.append(_Node("print", expr=value))
    if closers:
        raise TemplateError(f"missing {{{{{closers[0]}}}}}")
    return nodes, pos, ""


def parse(source: str) -> list[_Node]:
    nodes, _, _ = _parse(_tokens(source), 0, ())
    return nodes


def _field(value: Any, name: str, expr: str) -> Any:
    if isinstance(value, Mapping):
        if name in value:
            return value[name]
        return None  # Go prints "<no value>" for a missing map key; we print nothing
    # Only the fields a data class declares: no properties, methods or internals.
    declared = (
        dataclasses.is_dataclass(value)
        and not isinstance(value, type)
        and not name.startswith("_")
        and any(f.name == name for f in dataclasses.fields(value))
    )
    found = getattr(value, name) if declared else None
    if not declared or callable(found):
        raise TemplateError(
            f"can't evaluate field {_short(name, 40)} in {_short(expr)!r}: there is no such "
            "field in the template data"
        )
    return found


def _evaluate(expr: str, dot: Any, scope: dict[str, Any]) -> Any:
    expr = expr.strip()
    if len(expr) >= 2 and expr[0] == expr[-1] and expr[0] in '"`':
        return expr[1:-1]
    if " " in expr or "|" in expr or "(" in expr:
        raise TemplateError(f"{expr!r}: functions and pipelines are not supported")
    if expr == ".":
        return dot
    if expr.startswith("$"):
        name, _, path = expr.partition(".")
        if name not in scope:
            raise TemplateError(f"undefined variable {name}")
        value, parts = scope[name], [p for p in path.split(".") if p]
    elif expr.startswith("."):
        value, parts = dot, expr[1:].split(".")
    else:
        raise TemplateError(f"{expr!r} is not a field, a variable or a string")
    for part in parts:
        value = _field(value, part, expr)
    return value


def _truthy(value: Any) -> bool:
    return bool(value)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _items(value: Any) -> list[tuple[Any, Any]]:
    if value is None:
        return []
    if isinstance(value, Mapping):
        # Go ranges over a map in key order.
        return [(k, value[k]) for k in sorted(value, key=str)]
    if isinstance(value, list | tuple):
        return list(enumerate(value))
    if isinstance(value, int):
        return [(i, i) for i in range(value)]
    raise TemplateError("range can't iterate over a single value")


class _Output:
    """The rendered text so far, within MAX_OUTPUT characters and MAX_STEPS actions."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.size = 0
        self.steps = 0

    def step(self) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise TemplateError(
                f"the template runs more than {MAX_STEPS} actions; simplify nested ranges"
            )

    def write(self, text: str) -> None:
        self.size += len(text)
        if self.size > MAX_OUTPUT:
            raise TemplateError(f"the message would be longer than {MAX_OUTPUT} characters")
        self.parts.append(text)


def _run(nodes: list[_Node], dot: Any, scope: dict[str, Any], out: _Output) -> None:
    for node in nodes:
        out.step()
        if node.kind == "text":
            out.write(node.text)
        elif node.kind == "print":
            out.write(_text(_evaluate(node.expr, dot, scope)))
        elif node.kind == "if":
            branch = node.body if _truthy(_evaluate(node.expr, dot, scope)) else node.otherwise
            _run(branch, dot, scope, out)
        elif node.kind == "with":
            value = _evaluate(node.expr, dot, scope)
            if _truthy(value):
                _run(node.body, value, scope, out)
            else:
                _run(node.otherwise, dot, scope, out)
        else:
            items = _items(_evaluate(node.expr, dot, scope))
            if not items:
                _run(node.otherwise, dot, scope, out)
            for key, value in items:
                inner = dict(scope)
                if len(node.vars) == 1:
                    inner[node.vars[0]] = value
                elif len(node.vars) == 2:
                    inner[node.vars[0]], inner[node.vars[1]] = key, value
                _run(node.body, value, inner, out)


def render(source: str, data: Any) -> str:
    """Execute `source` against `data` (mappings and dataclass instances)."""
    out = _Output()
    _run(parse(source), data, {"$": data}, out)
    return "".join(out.parts)
