"""Compose a HelmRelease's values and the digests that say whether they changed.

Values come from ConfigMaps and Secrets (`valuesFrom`, in order) and then
`spec.values`, later ones winning key by key, as Flux merges them; the digest of
the result decides whether an upgrade is needed.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
from typing import Any

import yaml

from eddy_runtime.reconciler import StepError
from eddy_runtime.resources import CONFIG_MAPS, SECRETS, ResourceClient
from eddy_runtime.secrets import secret_data

Values = dict[str, Any]

DEFAULT_VALUES_KEY = "values.yaml"


class ValuesError(StepError):
    """A values source is missing or unreadable; the message names it and the key."""


def merge(base: Values, overlay: Values) -> Values:
    """Deep merge: maps merge key by key, anything else in `overlay` replaces."""
    out = copy.deepcopy(base)
    for key, value in overlay.items():
        current = out.get(key)
        if isinstance(current, dict) and isinstance(value, dict):
            out[key] = merge(current, value)
        else:
            out[key] = copy.deepcopy(value)
    return out


_INT = re.compile(r"^[-+]?(0|[1-9][0-9]*)$")
_SEGMENT = re.compile(r"^(?P<name>.*?)((\[(?P<index>[0-9]+)\])*)$")


def typed(text: str) -> Any:
    """A `--set` value: true/false, null and plain integers are typed, the rest is text."""
    if text in ("true", "false"):
        return text == "true"
    if text == "null":
        return None
    if _INT.match(text):
        return int(text)
    return text


def split_path(path: str) -> list[str | int]:
    """`a.b[0].c` -> ["a", "b", 0, "c"]; `\\.` keeps a dot inside a key."""
    keys: list[str | int] = []
    current = ""
    escaped = False
    parts: list[str] = []
    for char in path:
        if escaped:
            current += char
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ".":
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    for part in parts:
        found = _SEGMENT.match(part)
        assert found is not None
        name = found.group("name")
        if not name:
            raise ValuesError(f"invalid targetPath '{path}': empty key")
        keys.append(name)
        keys.extend(int(i) for i in re.findall(r"\[([0-9]+)\]", part[len(name) :]))
    return keys


def set_path(values: Values, path: str, value: Any) -> None:
    """Set `value` at a `--set` style path, creating maps and growing lists as needed."""
    keys = split_path(path)
    node: Any = values
    for position, key in enumerate(keys):
        last = position == len(keys) - 1
        following = None if last else keys[position + 1]
        empty: Any = [] if isinstance(following, int) else {}
        if isinstance(key, int):
            if not isinstance(node, list):
                raise ValuesError(f"invalid targetPath '{path}': index into a non-list")
            while len(node) <= key:
                node.append(None)
            if last:
                node[key] = value
            else:
                if not isinstance(node[key], dict | list):
                    node[key] = empty
                node = node[key]
        else:
            if not isinstance(node, dict):
                raise ValuesError(f"invalid targetPath '{path}': key into a non-map")
            if last:
                node[key] = value
            else:
                if not isinstance(node.get(key), dict | list):
                    node[key] = empty
                node = node[key]


def parse_document(text: str, where: str) -> Values:
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise ValuesError(f"{where} is not valid YAML{at}") from err
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ValuesError(f"{where} must hold a YAML map of values, not {type(loaded).__name__}")
    return loaded


async def compose(
    client: ResourceClient, namespace: str, spec: dict[str, Any]
) -> tuple[Values, list[str]]:
    """The merged values and the Secret-sourced strings that must never be shown."""
    result: Values = {}
    secret_strings: list[str] = []
    for ref in spec.get("valuesFrom") or []:
        kind = str(ref.get("kind", ""))
        name = str(ref.get("name", ""))
        key = str(ref.get("valuesKey") or DEFAULT_VALUES_KEY)
        optional = bool(ref.get("optional"))
        where = f"{kind} '{namespace}/{name}'"
        resource = SECRETS if kind == "Secret" else CONFIG_MAPS
        found = await client.get_or_none(resource, name, namespace)
        if found is None:
            if optional:
                continue
            raise ValuesError(f"could not find {where} referenced in valuesFrom")
        if kind == "Secret":
            raw = secret_data(found).get(key)
            text = raw.decode("utf-8", "replace") if raw is not None else None
        else:
            text = (found.get("data") or {}).get(key)
            if text is None and key in (found.get("binaryData") or {}):
                text = base64.b64decode(found["binaryData"][key]).decode("utf-8", "replace")
        if text is None:
            if optional:
                continue
            raise ValuesError(f"missing key '{key}' in {where} referenced in valuesFrom")
        if kind == "Secret":
            secret_strings.append(text)
        target = ref.get("targetPath")
        if target:
            value = text if ref.get("literal") else typed(text)
            if kind == "Secret":
                secret_strings.append(str(value))
            set_path(result, str(target), value)
            continue
        document = parse_document(text, f"key '{key}' of {where}")
        if kind == "Secret":
            secret_strings.extend(_leaf_strings(document))
        result = merge(result, document)
    inline = spec.get("values")
    if isinstance(inline, dict):
        result = merge(result, inline)
    return result, secret_strings


def _leaf_strings(values: Any) -> list[str]:
    if isinstance(values, dict):
        return [s for v in values.values() for s in _leaf_strings(v)]
    if isinstance(values, list):
        return [s for v in values for s in _leaf_strings(v)]
    return [str(values)] if values is not None and not isinstance(values, bool) else []


def canonical_json(values: Any, sort_keys: bool = True) -> bytes:
    """Sorted keys, no spaces, HTML characters escaped and a final newline, so the same
    values give the same digest as Flux computes for them (Go's encoding/json).

    Without `sort_keys` the keys keep their order: a Go struct's fields, which the
    caller lays out in the struct's order."""
    text = json.dumps(values, sort_keys=sort_keys, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e")):
        text = text.replace(char, escaped)
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return (text + "\n").encode()


def config_digest(values: Values) -> str:
    """`sha256:<hex>` of the values; empty values hash as nothing at all."""
    data = canonical_json(values) if values else b""
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def values_checksum(values: Values) -> str:
    """The deprecated sha1 checksum Flux still fills in `lastAttemptedValuesChecksum`."""
    data = yaml.safe_dump(values, sort_keys=True).encode() if values else b""
    return hashlib.sha1(data).hexdigest()
