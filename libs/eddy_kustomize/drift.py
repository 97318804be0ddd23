"""Drift that explains itself: which field of an applied object someone changed, to what,
who did it, and what Git wants there.

The server's dry-run of our apply (`dry`) differs from the live object exactly where
applying would change it. A difference in a field that another manager owns in the
live object's managedFields is drift (a person with `kubectl scale`, another tool);
one in a field that our own manager still owns is a change in Git.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .objects import Obj, describe

# Fields that change on every write or belong to the server, never drift.
_IGNORED = (
    ("metadata", "managedFields"),
    ("metadata", "resourceVersion"),
    ("metadata", "generation"),
    ("metadata", "creationTimestamp"),
    ("metadata", "uid"),
    ("status",),
)
MAX_VALUE = 200
REDACTED = "<redacted>"

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Drift:
    """One field of one object that differs from Git because someone changed it."""

    subject: str
    path: Path
    found: Any
    wanted: Any
    manager: str
    secret: bool = False

    @property
    def field(self) -> str:
        return field_path(self.path)

    def shown(self, value: Any) -> str:
        if self.secret:
            return REDACTED
        text = json.dumps(value, sort_keys=True) if not isinstance(value, str) else value
        return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 3] + "..."

    def describe(self, corrected: bool) -> str:
        found, wanted = self.shown(self.found), self.shown(self.wanted)
        if corrected:
            return (
                f"{self.subject} {self.field}: {found} (set by {self.manager}) "
                f"restored to {wanted} from Git"
            )
        return (
            f"{self.subject} {self.field}: {found} (set by {self.manager}), Git wants "
            f"{wanted}; not corrected (report only)"
        )

    def to_status(self, corrected: bool, at: str) -> dict[str, Any]:
        return {
            "object": self.subject,
            "field": self.field,
            "found": self.shown(self.found),
            "restored" if corrected else "wanted": self.shown(self.wanted),
            "manager": self.manager,
            "corrected": corrected,
            "detectedAt": at,
        }


def field_path(path: Path) -> str:
    text = ""
    for step in path:
        text += f"[{step}]" if isinstance(step, int) else ("." if text else "") + step
    return text


def differences(live: Any, dry: Any, path: Path = ()) -> Iterator[tuple[Path, Any, Any]]:
    """(path, live value, dry value) of each leaf where the two differ."""
    if any(path[: len(p)] == p for p in _IGNORED):
        return
    if isinstance(live, dict) and isinstance(dry, dict):
        for key in sorted(set(live) | set(dry)):
            yield from differences(live.get(key), dry.get(key), (*path, key))
    elif isinstance(live, list) and isinstance(dry, list) and len(live) == len(dry):
        for index, (a, b) in enumerate(zip(live, dry, strict=True)):
            yield from differences(a, b, (*path, index))
    elif live != dry:
        yield path, live, dry


def _step_key(fields: dict[str, Any], container: Any, step: str | int) -> str | None:
    """The key of `fields` (a fieldsV1 set) that stands for `step` of `container`."""
    if isinstance(step, str):
        return f"f:{step}" if f"f:{step}" in fields else None
    if not isinstance(container, list) or step >= len(container):
        return None
    item = container[step]
    for key in fields:
        if key.startswith("k:") and isinstance(item, dict):
            try:
                wanted = json.loads(key[2:])
            except ValueError:
                continue
            if all(item.get(k) == v for k, v in wanted.items()):
                return key
        elif key.startswith("v:"):
            try:
                if json.loads(key[2:]) == item:
                    return key
            except ValueError:
                continue
        elif key == f"i:{step}":
            return key
    return None


def owns(fields: dict[str, Any], obj: Any, path: Path) -> bool:
    """Whether a fieldsV1 set covers `path` of `obj` (or a whole value above it)."""
    current = obj
    for step in path:
        if not fields or set(fields) == {"."}:
            return True  # owns the whole value at this level (an atomic list or map)
        key = _step_key(fields, current, step)
        if key is None:
            return False
        fields = fields[key] if isinstance(fields[key], dict) else {}
        current = (
            current.get(step)
            if isinstance(current, dict) and isinstance(step, str)
            else current[step]
            if isinstance(current, list) and isinstance(step, int) and step < len(current)
            else None
        )
    return True


def owner_of(live: Obj, path: Path) -> str | None:
    """The manager whose managedFields entry covers `path`, latest first, with the
    subresource it wrote through: `kubectl scale` is `kubectl` through `/scale`."""
    entries = [
        e
        for e in (live.get("metadata") or {}).get("managedFields") or []
        if isinstance(e, dict) and e.get("subresource") != "status"
    ]
    entries.sort(key=lambda e: str(e.get("time", "")), reverse=True)
    for entry in entries:
        fields = entry.get("fieldsV1")
        if isinstance(fields, dict) and owns(fields, live, path):
            manager = str(entry.get("manager", ""))
            sub = entry.get("subresource")
            return f"{manager} through /{sub}" if sub else manager
    return None


def find_drift(live: Obj, dry: Obj, field_manager: str) -> list[Drift]:
    """The fields applying `dry` would change that another manager last set."""
    found: list[Drift] = []
    secret = live.get("kind") == "Secret" and str(live.get("apiVersion")) == "v1"
    for path, before, after in differences(live, dry):
        if before is None:
            continue  # a field Git adds, or one someone removed: nobody to name
        manager = owner_of(live, path)
        if manager is None or manager.partition(" ")[0] == field_manager:
            continue
        found.append(Drift(describe(dry), path, before, after, manager, secret))
    return found


def without_paths(obj: Obj, paths: list[Path]) -> Obj:
    """A copy of `obj` without the leaves at `paths`, so applying it leaves them alone."""
    out = copy.deepcopy(obj)
    for path in paths:
        _remove(out, path)
    return out


def _remove(value: Any, path: Path) -> None:
    *parents, last = path
    current = value
    for step in parents:
        if isinstance(current, dict) and isinstance(step, str):
            current = current.get(step)
        elif isinstance(current, list) and isinstance(step, int) and step < len(current):
            current = current[step]
        else:
            return
    if isinstance(current, dict) and isinstance(last, str):
        current.pop(last, None)
