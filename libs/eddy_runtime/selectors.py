"""Kubernetes label selectors, matched against an object's labels or annotations:
in their string form (`app=web,tier in (a,b),!legacy`) and as a LabelSelector
object (`matchLabels`, `matchExpressions`).

Rules that pick objects by selector (drift ignore rules, patch targets, an image
automation's policySelector) read them here, so every controller accepts the
same selectors the API server does.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

Matcher = Callable[[Mapping[str, str]], bool]

_SET = re.compile(r"^\s*(!?)\s*([^\s!=(),]+)\s*(?:(in|notin)\s*\(([^)]*)\))?\s*$")
_EQ = re.compile(r"^\s*([^\s!=(),]+)\s*(==|=|!=)\s*([^\s!=(),]*)\s*$")


class SelectorError(ValueError):
    """The selector is not valid; the message quotes the part that is not."""


def _terms(selector: str) -> list[str]:
    """Split at the commas outside parentheses."""
    terms, depth, current = [], 0, ""
    for char in selector:
        depth += char == "("
        depth -= char == ")"
        if char == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += char
    terms.append(current)
    return [t for t in terms if t.strip()]


def _term(text: str) -> Matcher:
    eq = _EQ.match(text)
    if eq is not None:
        key, op, value = eq.groups()
        if op == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: labels.get(key) == value
    found = _SET.match(text)
    if found is None:
        raise SelectorError(f"cannot parse selector term '{text.strip()}'")
    negated, key, op, values = found.groups()
    if op is None:
        if negated:
            return lambda labels: key not in labels
        return lambda labels: key in labels
    if negated:
        raise SelectorError(f"cannot parse selector term '{text.strip()}'")
    allowed = {v.strip() for v in values.split(",") if v.strip()}
    if op == "in":
        return lambda labels: labels.get(key) in allowed
    return lambda labels: labels.get(key) not in allowed


def parse_selector(selector: str) -> Matcher:
    """A function telling whether a set of labels matches; empty matches everything."""
    matchers = [_term(t) for t in _terms(selector)]
    return lambda labels: all(m(labels) for m in matchers)


def matches_label_selector(selector: Any, labels: Mapping[str, str]) -> bool:
    """Whether labels match a LabelSelector object; anything but a mapping matches all."""
    if not isinstance(selector, dict):
        return True
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op = expr.get("key"), expr.get("operator")
        values = list(expr.get("values") or [])
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True
