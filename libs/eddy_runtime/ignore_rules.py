"""Flux's ignore rules: JSON Pointer paths left out of drift detection and apply, for the
objects a target selects.

A Kustomization's `spec.ignore` and a HelmRelease's `spec.driftDetection.ignore` read
the same rules; both controllers parse, select and drop paths here.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .selectors import SelectorError, parse_selector


class IgnoreRuleError(ValueError):
    """A rule that cannot be used; the message names the rule's field and why."""


def _api_group_version(api_version: str) -> tuple[str, str]:
    group, _, version = api_version.rpartition("/")
    return group, version


@dataclass(frozen=True)
class IgnoreRule:
    """Paths (JSON Pointers) left out for the objects `target` selects (all when empty).

    `target` holds group, version, kind, namespace and name (a regular expression, as
    in Flux), and labelSelector and annotationSelector in label-selector syntax.
    """

    paths: tuple[str, ...]
    target: dict[str, str] = field(default_factory=dict)

    def selects(self, obj: dict[str, Any]) -> bool:
        group, version = _api_group_version(str(obj.get("apiVersion", "")))
        meta = obj.get("metadata") or {}
        found = {
            "group": group,
            "version": version,
            "kind": str(obj.get("kind", "")),
            "name": str(meta.get("name", "")),
            "namespace": str(meta.get("namespace") or ""),
        }
        for key, want in self.target.items():
            if key == "labelSelector":
                if not parse_selector(want)(meta.get("labels") or {}):
                    return False
            elif key == "annotationSelector":
                if not parse_selector(want)(meta.get("annotations") or {}):
                    return False
            elif key == "name":
                if not re.fullmatch(want, found["name"]):
                    return False
            elif want and found.get(key) != want:
                return False
        return True


def parse_ignore_rules(raw: Iterable[Any] | None, where: str) -> list[IgnoreRule]:
    """The rules at `where` (e.g. `spec.ignore`), checked: each path a JSON Pointer, each
    selector and name pattern valid."""
    rules: list[IgnoreRule] = []
    for i, entry in enumerate(raw or []):
        at = f"{where}[{i}]"
        if not isinstance(entry, dict):
            raise IgnoreRuleError(f"{at}: not an object with paths and target")
        paths = tuple(str(p) for p in entry.get("paths") or [])
        for path in paths:
            if not path.startswith("/"):
                raise IgnoreRuleError(
                    f"{at}.paths: '{path}' is not a JSON Pointer (starts with '/')"
                )
        target = {k: str(v) for k, v in (entry.get("target") or {}).items() if v}
        for key in ("labelSelector", "annotationSelector"):
            if key in target:
                try:
                    parse_selector(target[key])
                except SelectorError as err:
                    raise IgnoreRuleError(f"{at}.target.{key}: {err}") from None
        if "name" in target:
            try:
                re.compile(target["name"])
            except re.error as err:
                raise IgnoreRuleError(
                    f"{at}.target.name: not a regular expression: {err}"
                ) from None
        rules.append(IgnoreRule(paths, target))
    return rules


def paths_for(rules: Iterable[IgnoreRule], obj: dict[str, Any]) -> list[str]:
    """Every path the rules leave out of `obj`."""
    return [p for rule in rules if rule.selects(obj) for p in rule.paths]


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def drop_pointer(doc: Any, pointer: str) -> None:
    """Remove what a JSON Pointer names, if it is there."""
    tokens = [_unescape(t) for t in pointer.split("/")[1:]]
    if not tokens:
        return
    node = doc
    for token in tokens[:-1]:
        if isinstance(node, dict):
            node = node.get(token)
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return
    last = tokens[-1]
    if isinstance(node, dict):
        node.pop(last, None)
    elif isinstance(node, list) and last.isdigit() and int(last) < len(node):
        del node[int(last)]


_MISSING = object()


def _resolve(doc: Any, tokens: list[str]) -> Any:
    node = doc
    for token in tokens:
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return _MISSING
    return node


def keep_pointer(desired: Any, live: Any, pointer: str) -> None:
    """Make `desired` hold what `live` holds at a JSON Pointer (nothing, if live has
    nothing there), so that applying `desired` leaves that place as it is."""
    tokens = [_unescape(t) for t in pointer.split("/")[1:]]
    if not tokens:
        return
    value = _resolve(live, tokens)
    if value is _MISSING:
        drop_pointer(desired, pointer)
        return
    parent = _resolve(desired, tokens[:-1])
    if parent is _MISSING:
        parent = desired
        for token in tokens[:-1]:
            if not isinstance(parent, dict):
                return
            parent = parent.setdefault(token, {})
    last = tokens[-1]
    if isinstance(parent, dict):
        parent[last] = copy.deepcopy(value)
    elif isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        parent[int(last)] = copy.deepcopy(value)
