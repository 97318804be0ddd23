"""What every served kind has in common: identity, CRD names and the typed envelope.

Controllers keep objects as plain dicts; `Resource.from_dict` gives the typed,
defaulted view when a reconciler wants one, and `KindInfo` feeds the CRD generator.
"""

# prop() and its wrappers return dataclasses.field(...), which RUF009 cannot see.
# ruff: noqa: RUF009

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from eddy_api import schema


@dataclass(frozen=True)
class PrinterColumn:
    """One column of `kubectl get`; priority 1 shows only with `-o wide`."""

    name: str
    json_path: str
    type: str = "string"
    description: str = ""
    priority: int = 0


READY_COLUMN = PrinterColumn(
    "Ready", '.status.conditions[?(@.type=="Ready")].status', description="Ready condition status"
)
STATUS_COLUMN = PrinterColumn(
    "Status",
    '.status.conditions[?(@.type=="Ready")].message',
    description="Ready condition message",
)
AGE_COLUMN = PrinterColumn("Age", ".metadata.creationTimestamp", type="date")


@dataclass(frozen=True)
class KindInfo:
    """Names and CRD settings of one kind."""

    group: str
    kind: str
    plural: str
    versions: tuple[str, ...]
    storage_version: str
    component: str
    description: str
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    printer_columns: tuple[PrinterColumn, ...] = (AGE_COLUMN, READY_COLUMN, STATUS_COLUMN)

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{self.group}"

    @property
    def api_version(self) -> str:
        """The storage group/version, the one eddy writes."""
        return f"{self.group}/{self.storage_version}"

    @property
    def api_versions(self) -> tuple[str, ...]:
        return tuple(f"{self.group}/{v}" for v in self.versions)

    def matches(self, obj: Mapping[str, Any]) -> bool:
        """Whether a plain object is of this kind, in any served version."""
        return obj.get("kind") == self.kind and obj.get("apiVersion") in self.api_versions


@dataclass
class Resource:
    """Envelope shared by every kind; subclasses add typed `spec` and `status`."""

    INFO: ClassVar[KindInfo]

    api_version: str = schema.prop("API group and version of the object.", zero=str)
    kind: str = schema.prop("Kind of the object.", zero=str)
    metadata: dict[str, Any] = schema.prop("Standard object metadata.", zero=dict)

    def __post_init__(self) -> None:
        if not self.api_version:
            self.api_version = self.INFO.api_version
        if not self.kind:
            self.kind = self.INFO.kind

    @classmethod
    def from_dict(cls, obj: Mapping[str, Any]) -> Self:
        """Typed view of a plain object; missing optional fields get their defaults."""
        return schema.from_dict(cls, obj)

    def to_dict(self) -> dict[str, Any]:
        return schema.to_dict(self)

    @property
    def name(self) -> str:
        return str(self.metadata.get("name", ""))

    @property
    def namespace(self) -> str:
        return str(self.metadata.get("namespace", ""))

    @property
    def generation(self) -> int:
        return int(self.metadata.get("generation", 0))

    @property
    def annotations(self) -> dict[str, str]:
        return dict(self.metadata.get("annotations") or {})

    @property
    def labels(self) -> dict[str, str]:
        return dict(self.metadata.get("labels") or {})


def spec_type(cls: type[Resource]) -> type:
    return _field_type(cls, "spec")


def status_type(cls: type[Resource]) -> type:
    return _field_type(cls, "status")


def _field_type(cls: type[Resource], name: str) -> type:
    for f, tp in schema.schema_fields(cls):
        if f.name == name and isinstance(tp, type) and dataclasses.is_dataclass(tp):
            return tp
    raise TypeError(f"{cls.__name__} has no typed {name}")


def metadata_of(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def key_of(obj: Mapping[str, Any]) -> str:
    """`namespace/name` of a plain object, the form used in logs and work queues."""
    meta = metadata_of(obj)
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}"


def field_default(cls: type, name: str) -> Any:
    """The declared default of one field (for documentation and tests)."""
    for f in dataclasses.fields(cls):
        if f.name == name:
            return schema.field_spec(f).default
    raise KeyError(name)
