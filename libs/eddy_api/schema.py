"""A small vocabulary for declaring API fields once and reading objects with it.

Each field carries its JSON name and OpenAPI validation in dataclass metadata,
so the same declaration drives the CRD schema, the defaults and `from_dict`.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, TypeVar, Union

# The typed objects' duration rules (timeouts, intervals) use the runtime's parser.
from eddy_runtime.durations import parse_duration as parse_duration

T = TypeVar("T")

# Go's time.Duration text, restricted to the units Flux accepts in its CRDs.
DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"
# Flux refuses hours for some network timeouts.
SHORT_DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(ms|s|m))+$"

NOT_HONOURED = "Not yet honoured by eddy."

# Free-form JSON (Helm values, JSON patch values): the API server keeps it as is.
JSON = Any

_META_KEY = "eddy"


@dataclass(frozen=True)
class FieldSpec:
    """What the CRD generator needs to know about one field, beyond its type."""

    description: str
    json_name: str | None = None
    required: bool = False
    enum: tuple[str, ...] | None = None
    pattern: str | None = None
    default: Any = None
    has_default: bool = False
    minimum: int | None = None
    maximum: int | None = None
    min_length: int | None = None
    max_length: int | None = None
    max_items: int | None = None
    format: str | None = None
    honoured: bool = True


@dataclass(frozen=True)
class Rule:
    """A CEL rule the API server checks on the object that declares it."""

    rule: str
    message: str


def prop(
    description: str,
    *,
    json: str | None = None,
    required: bool = False,
    enum: tuple[str, ...] | None = None,
    pattern: str | None = None,
    default: Any = dataclasses.MISSING,
    minimum: int | None = None,
    maximum: int | None = None,
    min_length: int | None = None,
    max_length: int | None = None,
    max_items: int | None = None,
    format: str | None = None,
    honoured: bool = True,
    zero: Callable[[], Any] | None = None,
) -> Any:
    """Declare a field.

    `default` is both the schema default (applied by the API server) and the
    Python default (applied by `from_dict`). `zero` builds the Python value of a
    required field that is missing, so a half-written object still loads.
    """
    spec = FieldSpec(
        description=description,
        json_name=json,
        required=required,
        enum=enum,
        pattern=pattern,
        default=None if default is dataclasses.MISSING else default,
        has_default=default is not dataclasses.MISSING,
        minimum=minimum,
        maximum=maximum,
        min_length=min_length,
        max_length=max_length,
        max_items=max_items,
        format=format,
        honoured=honoured,
    )
    metadata = {_META_KEY: spec}
    if zero is not None:
        return dataclasses.field(default_factory=zero, metadata=metadata)
    if default is dataclasses.MISSING:
        return dataclasses.field(default=None, metadata=metadata)
    if isinstance(default, (list, dict)):
        value = default
        return dataclasses.field(default_factory=lambda: _copy(value), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def duration(
    description: str,
    *,
    required: bool = False,
    default: Any = dataclasses.MISSING,
    short: bool = False,
    json: str | None = None,
) -> Any:
    """Declare a Go-style duration such as `1m`, `10m0s` or `1h30m`."""
    return prop(
        description,
        json=json,
        required=required,
        default=default,
        pattern=SHORT_DURATION_PATTERN if short else DURATION_PATTERN,
        zero=str if required else None,
    )


def timestamp(description: str, *, required: bool = False, json: str | None = None) -> Any:
    """Declare an RFC 3339 time, kept as the string the API server returns."""
    return prop(description, json=json, required=required, format="date-time")


def field_spec(f: dataclasses.Field[Any]) -> FieldSpec:
    spec = f.metadata.get(_META_KEY)
    if not isinstance(spec, FieldSpec):
        raise TypeError(f"field {f.name!r} was not declared with eddy_api.schema.prop")
    return spec


def json_name(f: dataclasses.Field[Any]) -> str:
    spec = f.metadata.get(_META_KEY)
    if isinstance(spec, FieldSpec) and spec.json_name:
        return spec.json_name
    return camel(f.name)


def camel(name: str) -> str:
    head, *rest = name.rstrip("_").split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def rules_of(cls: type) -> tuple[Rule, ...]:
    """The CEL rules a schema class declares in its `RULES` class attribute."""
    found = cls.__dict__.get("RULES", ())
    return tuple(found)


@cache
def hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def unwrap_optional(tp: Any) -> Any:
    """`X | None` -> `X`; anything else unchanged."""
    origin = typing.get_origin(tp)
    if origin is Union or origin is types.UnionType:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


@cache
def _declared(cls: type) -> tuple[tuple[dataclasses.Field[Any], Any, str], ...]:
    """Each declared field with its resolved type and JSON name, worked out once per class.

    Controllers read every object they reconcile through these; redoing the type and
    name reflection per field and per object showed in their CPU time.
    """
    resolved = hints(cls)
    return tuple(
        (f, unwrap_optional(resolved[f.name]), json_name(f))
        for f in dataclasses.fields(cls)
        if _META_KEY in f.metadata
    )


def schema_fields(cls: type) -> list[tuple[dataclasses.Field[Any], Any]]:
    """The declared fields of a schema class with their resolved types."""
    return [(f, tp) for f, tp, _ in _declared(cls)]


def from_dict(cls: type[T], data: Mapping[str, Any] | None) -> T:
    """Build a typed object from a plain dict, tolerating missing fields.

    Unknown keys are ignored: a newer API server or a newer Flux may know more.
    """
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a schema dataclass")
    data = data or {}
    kwargs: dict[str, Any] = {}
    for f, tp, key in _declared(cls):
        value = data.get(key)
        if value is not None:
            kwargs[f.name] = _load(tp, value)
    return cls(**kwargs)


def to_dict(obj: Any) -> dict[str, Any]:
    """The plain-dict form of a typed object, leaving out unset (None) fields."""
    if not dataclasses.is_dataclass(obj) or isinstance(obj, type):
        raise TypeError(f"{obj!r} is not a schema object")
    out: dict[str, Any] = {}
    for f, _, key in _declared(type(obj)):
        value = getattr(obj, f.name)
        if value is not None:
            out[key] = _dump(value)
    return out


def _load(tp: Any, value: Any) -> Any:
    if tp is Any:
        return _copy(value)
    origin = typing.get_origin(tp)
    if origin is list:
        (item,) = typing.get_args(tp)
        return [_load(item, v) for v in value] if isinstance(value, list) else []
    if origin is dict:
        _, item = typing.get_args(tp)
        return {str(k): _load(item, v) for k, v in value.items()} if isinstance(value, dict) else {}
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return from_dict(tp, value if isinstance(value, Mapping) else {})
    if tp is bool:
        return bool(value)
    if tp is int:
        return int(value) if isinstance(value, (int, float, str)) else 0
    if tp is str:
        return str(value)
    return value


def _dump(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_dict(value)
    if isinstance(value, list):
        return [_dump(v) for v in value]
    if isinstance(value, dict):
        return {k: _dump(v) for k, v in value.items()}
    return value


def _copy(value: Any) -> Any:
    if isinstance(value, list):
        return [_copy(v) for v in value]
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    return value


def unhonoured_in_use(cls: type, value: Any, prefix: str = "spec") -> list[str]:
    """Paths of the fields declared `honoured=False` that `value` (a JSON object) sets.

    A field counts as set when it holds something other than its default, null, false
    or an empty string, list or map; list items are searched too. Controllers refuse
    these, naming each, rather than accept work they do not do.
    """
    found: list[str] = []
    if not isinstance(value, dict):
        return found
    for f, tp, name in _declared(cls):
        spec = field_spec(f)
        held = value.get(name)
        if held in (None, False, "", [], {}) or (spec.has_default and held == spec.default):
            continue
        path = f"{prefix}.{name}"
        if not spec.honoured:
            found.append(path)
            continue
        inner = unwrap_optional(tp)
        items = [held]
        if typing.get_origin(inner) in (list, dict):
            items = list(held.values()) if isinstance(held, dict) else list(held)
            inner = typing.get_args(inner)[-1]
        if dataclasses.is_dataclass(inner) and isinstance(inner, type):
            for item in items:
                for sub in unhonoured_in_use(inner, item, path):
                    if sub not in found:
                        found.append(sub)
    return found
