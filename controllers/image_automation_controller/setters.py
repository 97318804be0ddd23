"""Rewrite image references in YAML files by their `# {"$imagepolicy": "ns:name"}` markers.

Only the scalar on the marked line changes, byte for byte everything else stays:
comments, quoting, indentation, key order and other documents are never re-dumped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

import yaml

# The marker is the line's trailing comment; `:tag`, `:name` or `:digest` after
# the policy name selects a part of the image instead of the whole reference.
_MARKER = re.compile(r"(?P<gap>\s+)#\s*\{\s*\"\$imagepolicy\"\s*:\s*\"(?P<ref>[^\"]*)\"\s*\}\s*$")
# What precedes the value: indentation, list dashes and/or a `key:`; then the value,
# plain or quoted, running up to the marker.
_VALUE = re.compile(
    r"^(?P<lead>(?:.*?(?::|-)[ \t]+)|[ \t]*)"
    r"(?P<value>\"(?:[^\"\\]|\\.)*\"|'(?:[^']|'')*'|[^\s\"'#][^\s#]*)$"
)
SUFFIXES = ("tag", "name", "digest")


@dataclass(frozen=True)
class Marker:
    """One marker: which policy (namespace, name) and which part of its image."""

    namespace: str
    name: str
    part: str = ""  # "", "tag", "name" or "digest"

    @property
    def setter(self) -> str:
        suffix = f":{self.part}" if self.part else ""
        return f"{self.namespace}:{self.name}{suffix}"


def parse_marker(ref: str) -> Marker | None:
    pieces = ref.split(":")
    if len(pieces) == 2 and all(pieces):
        return Marker(pieces[0], pieces[1])
    if len(pieces) == 3 and pieces[0] and pieces[1] and pieces[2] in SUFFIXES:
        return Marker(pieces[0], pieces[1], pieces[2])
    return None


@dataclass(frozen=True)
class Image:
    """What a policy chose: the image name, its tag and (maybe) the digest."""

    name: str
    tag: str
    digest: str = ""

    def value(self, part: str) -> str:
        if part == "tag":
            return self.tag
        if part == "name":
            return self.name
        if part == "digest":
            return self.digest
        ref = f"{self.name}:{self.tag}"
        return f"{ref}@{self.digest}" if self.digest else ref


@dataclass(frozen=True)
class ObjectId:
    """The Kubernetes object (in a multi-document file) a change was made in."""

    kind: str
    name: str
    namespace: str = ""
    api_version: str = ""

    def __str__(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind}/{where}"


@dataclass(frozen=True)
class Change:
    """One scalar rewritten: where, by which setter, from what to what."""

    file: str
    line: int
    setter: str
    old_value: str
    new_value: str
    object: ObjectId | None = None


@dataclass
class FileResult:
    text: str
    changes: list[Change] = field(default_factory=list)
    # Markers whose policy is unknown (namespace, name) -> first line naming it.
    unknown: dict[tuple[str, str], int] = field(default_factory=dict)
    used: set[tuple[str, str]] = field(default_factory=set)


def _unquote(value: str) -> tuple[str, str]:
    """(quote character or "", the text inside)."""
    if value[:1] == '"':
        return '"', value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    if value[:1] == "'":
        return "'", value[1:-1].replace("''", "'")
    return "", value


def _quote(quote: str, text: str) -> str:
    if quote == '"':
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if quote == "'":
        return "'" + text.replace("'", "''") + "'"
    return text


def update_text(
    text: str, images: dict[tuple[str, str], Image], path: str = "", namespace: str = ""
) -> FileResult:
    """Rewrite every marked value in `text` whose policy is in `images`.

    `namespace` is where the automation lives: a marker naming a policy there that
    is not in `images` is reported in `unknown`; markers for other namespaces are
    somebody else's and are left alone.
    """
    result = FileResult(text)
    lines = text.splitlines(keepends=True)
    changed = False
    for number, line in enumerate(lines, start=1):
        if "$imagepolicy" not in line:
            continue
        body = line.rstrip("\r\n")
        ending = line[len(body) :]
        marker_match = _MARKER.search(body)
        if marker_match is None:
            continue
        marker = parse_marker(marker_match.group("ref"))
        head = body[: marker_match.start()]
        value_match = _VALUE.match(head)
        # A commented-out line keeps its marker but is not YAML anybody reads.
        if marker is None or value_match is None or head.lstrip().startswith("#"):
            continue
        key = (marker.namespace, marker.name)
        image = images.get(key)
        if image is None:
            if not namespace or marker.namespace == namespace:
                result.unknown.setdefault(key, number)
            continue
        result.used.add(key)
        old = value_match.group("value")
        quote, inner = _unquote(old)
        new_inner = image.value(marker.part)
        if not new_inner or new_inner == inner:
            continue
        new = _quote(quote, new_inner)
        lines[number - 1] = value_match.group("lead") + new + body[marker_match.start() :] + ending
        result.changes.append(Change(path, number, marker.setter, inner, new_inner))
        changed = True
    if changed:
        result.changes = _with_objects(text, result.changes)
        result.text = "".join(lines)
    return result


_DOC_START = re.compile(r"^---(?:\s|$)")


def _with_objects(text: str, changes: list[Change]) -> list[Change]:
    """Name the object each change was made in, from the document holding its line."""
    lines = text.splitlines(keepends=True)
    starts = [0] + [i for i, line in enumerate(lines) if _DOC_START.match(line)]
    found: dict[int, ObjectId | None] = {}
    out: list[Change] = []
    for change in changes:
        index = max(i for i in starts if i < change.line)
        if index not in found:
            following = [i for i in starts if i > index]
            end = following[0] if following else len(lines)
            found[index] = _object_id("".join(lines[index:end]))
        out.append(replace(change, object=found[index]))
    return out


def _object_id(document: str) -> ObjectId | None:
    try:
        loaded = yaml.safe_load(document)
    except yaml.YAMLError:
        return None  # e.g. a Helm template: still rewritten, just not named
    if not isinstance(loaded, dict) or not loaded.get("kind"):
        return None
    found = loaded.get("metadata")
    meta: dict[str, Any] = found if isinstance(found, dict) else {}
    return ObjectId(
        str(loaded["kind"]),
        str(meta.get("name", "")),
        str(meta.get("namespace") or ""),
        str(loaded.get("apiVersion", "")),
    )


def is_yaml(path: str) -> bool:
    return path.endswith((".yaml", ".yml"))
