"""Kubernetes label selectors (matchLabels, matchExpressions) over a label map.

`spec.policySelector` picks which ImagePolicies an automation applies; empty
means all of them in its namespace.
"""

from __future__ import annotations

from typing import Any


def matches(selector: Any, labels: dict[str, str]) -> bool:
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
