"""`status.inventory.entries`: what a Kustomization applied, in Flux's format.

Pruning compares the previous inventory with the new one, so the ids must be
exactly Flux's `<namespace>_<name>_<group>_<kind>` with the version beside them
(see `inventory_id`), and an inventory Flux wrote must read the same.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from eddy_api.kustomize import inventory_id, parse_inventory_id
from eddy_kustomize.apply import Change
from eddy_kustomize.objects import Obj, object_id, split_api_version

log = logging.getLogger("eddy.kustomize")


@dataclass(frozen=True)
class Entry:
    namespace: str
    name: str
    group: str
    kind: str
    version: str

    @property
    def id(self) -> str:
        return inventory_id(self.namespace, self.name, self.group, self.kind)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def as_object(self) -> Obj:
        """A skeleton object, enough for ordering and messages."""
        meta: dict[str, Any] = {"name": self.name}
        if self.namespace:
            meta["namespace"] = self.namespace
        return {"apiVersion": self.api_version, "kind": self.kind, "metadata": meta}


def parse_id(text: str, version: str) -> Entry:
    """The entry of an inventory id (see `parse_inventory_id`)."""
    namespace, name, group, kind = parse_inventory_id(text)
    return Entry(namespace, name, group, kind, version)


def entries_of(status: dict[str, Any]) -> list[Entry]:
    inventory = status.get("inventory") or {}
    found: list[Entry] = []
    for raw in inventory.get("entries") or []:
        try:
            found.append(parse_id(str(raw.get("id", "")), str(raw.get("v", ""))))
        except ValueError as err:
            # Not an id any Flux or eddy writes; nothing can be pruned by it.
            log.warning("skipping inventory entry: %s", err)
    return found


def from_changes(changes: Iterable[Change]) -> list[Entry]:
    entries = {c.object_id: parse_id(c.object_id, c.version) for c in changes}
    return sorted(entries.values(), key=lambda e: e.id)


def from_objects(objects: Iterable[Obj]) -> list[Entry]:
    """Entries for objects about to be applied (namespaces already settled)."""
    entries = {}
    for obj in objects:
        _, version = split_api_version(str(obj.get("apiVersion", "")))
        try:
            entry = parse_id(object_id(obj), version)
        except ValueError:
            continue
        entries[entry.id] = entry
    return sorted(entries.values(), key=lambda e: e.id)


def merge(*groups: Iterable[Entry]) -> list[Entry]:
    """The union, later groups winning on equal ids (newer versions)."""
    merged: dict[str, Entry] = {}
    for group in groups:
        for entry in group:
            merged[entry.id] = entry
    return sorted(merged.values(), key=lambda e: e.id)


def stale(old: Iterable[Entry], new: Iterable[Entry]) -> list[Entry]:
    """Entries of the old inventory that the new one no longer holds."""
    keep = {(e.namespace, e.name, e.group, e.kind) for e in new}
    return [e for e in old if (e.namespace, e.name, e.group, e.kind) not in keep]


def to_status(entries: Iterable[Entry]) -> dict[str, Any]:
    return {"entries": [{"id": e.id, "v": e.version} for e in entries]}
