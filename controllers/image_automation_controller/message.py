"""The commit message: Flux's template data (`.AutomationObject`, `.Changed`, `.Values`).

Templates written for Flux render the same here: `template.py` follows Go's
text/template, and the data has the shape of Flux's (structs where Flux has
structs, so an unknown field is an error; maps whose missing keys read as Go's
zero values; map keys sorted as Go sorts them).
"""

from __future__ import annotations

from dataclasses import dataclass

from .setters import Change, ObjectId
from .template import TypedMap, render

DEFAULT_MESSAGE = "Update from image update automation"


@dataclass(frozen=True)
class NamespacedName:
    Namespace: str
    Name: str

    def __str__(self) -> str:
        return f"{self.Namespace}/{self.Name}"


@dataclass(frozen=True)
class ObjectView:
    # Flux's ObjectIdentifier, in its field order (APIVersion and Kind, then Name and
    # Namespace), which is the order ranges over .Changed.Objects sort by.
    APIVersion: str
    Kind: str
    Name: str
    Namespace: str

    def __str__(self) -> str:
        # As Go prints Flux's ObjectIdentifier{ResourceIdentifier{TypeMeta, NameMeta}}.
        return f"{{{{{{{self.APIVersion} {self.Kind}}} {{{self.Name} {self.Namespace}}}}}}}"


@dataclass(frozen=True)
class ChangeView:
    OldValue: str
    NewValue: str
    Setter: str


@dataclass(frozen=True)
class ChangedView:
    """Flux's ResultV2: FileChanges, and what its Changes and Objects methods return."""

    Changes: list[ChangeView]
    FileChanges: TypedMap
    Objects: TypedMap


@dataclass(frozen=True)
class TemplateData:
    AutomationObject: NamespacedName
    Changed: ChangedView
    Values: TypedMap


def _object(found: ObjectId | None) -> ObjectView:
    if found is None:
        return ObjectView("", "", "", "")
    return ObjectView(found.api_version, found.kind, found.name, found.namespace)


def template_data(
    namespace: str, name: str, changes: list[Change], values: dict[str, str]
) -> TemplateData:
    files: dict[str, dict[ObjectView, list[ChangeView]]] = {}
    objects: dict[ObjectView, list[ChangeView]] = {}
    views: list[ChangeView] = []
    for change in changes:
        view = ChangeView(change.old_value, change.new_value, change.setter)
        views.append(view)
        obj = _object(change.object)
        files.setdefault(change.file, {}).setdefault(obj, []).append(view)
        objects.setdefault(obj, []).append(view)
    # A missing key reads as the zero value of the map's type, as in Go.
    by_file = {path: TypedMap(found, ()) for path, found in files.items()}
    return TemplateData(
        AutomationObject=NamespacedName(namespace, name),
        Changed=ChangedView(views, TypedMap(by_file, {}), TypedMap(objects, ())),
        Values=TypedMap(values, ""),
    )


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
