"""The commit message: Flux's template data (`.AutomationObject`, `.Changed`, `.Values`).

Templates written for Flux render the same here, within the subset of Go's
text/template that `template.py` implements.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .setters import Change, ObjectId
from .template import render

DEFAULT_MESSAGE = "Update from image update automation"


@dataclass(frozen=True)
class NamespacedName:
    Namespace: str
    Name: str

    def __str__(self) -> str:
        return f"{self.Namespace}/{self.Name}"


@dataclass(frozen=True)
class ObjectView:
    Kind: str
    Name: str
    Namespace: str
    APIVersion: str

    def __str__(self) -> str:
        where = f"{self.Namespace}/{self.Name}" if self.Namespace else self.Name
        return f"{self.Kind}/{where}"


@dataclass(frozen=True)
class ChangeView:
    OldValue: str
    NewValue: str
    Setter: str


def _object(found: ObjectId | None) -> ObjectView:
    if found is None:
        return ObjectView("", "", "", "")
    return ObjectView(found.kind, found.name, found.namespace, found.api_version)


def template_data(
    namespace: str, name: str, changes: list[Change], values: dict[str, str]
) -> dict[str, Any]:
    files: dict[str, dict[ObjectView, list[ChangeView]]] = {}
    objects: dict[ObjectView, list[ChangeView]] = {}
    views: list[ChangeView] = []
    for change in changes:
        view = ChangeView(change.old_value, change.new_value, change.setter)
        views.append(view)
        obj = _object(change.object)
        files.setdefault(change.file, {}).setdefault(obj, []).append(view)
        objects.setdefault(obj, []).append(view)
    return {
        "AutomationObject": NamespacedName(namespace, name),
        "Changed": {"Changes": views, "FileChanges": files, "Objects": objects},
        "Values": dict(values),
    }


def commit_message(
    template: str | None,
    namespace: str,
    name: str,
    changes: list[Change],
    values: dict[str, str] | None = None,
) -> str:
    if not template:
        return DEFAULT_MESSAGE
    return render(template, template_data(namespace, name, changes, values or {}))
