"""The objects of a release as Helm stored them, and their drift in the cluster.

The manifest of the current release record names the release's objects (its
inventory in status) and says what they should hold. Drift is found the way Flux
finds it: a dry-run server-side apply of each stored object, compared with the live
object; `spec.driftDetection.ignore` paths are left out, and objects marked
`helm.toolkit.fluxcd.io/driftDetection: disabled` are skipped. A correction patches
back exactly the differences found, or creates an object that was deleted.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from dataclasses import dataclass, field
from typing import Any

from eddy_helm.manifest import ManifestError, compare, with_helm_metadata
from eddy_kustomize.objects import describe
from eddy_runtime.discovery import Discovery
from eddy_runtime.ignore_rules import IgnoreRule, IgnoreRuleError, drop_pointer, parse_ignore_rules
from eddy_runtime.resources import JSON_PATCH, ApiError, Resource, ResourceClient

from .objects import Obj

log = logging.getLogger("eddy.helm")

DRIFTED = "Drifted"
DRIFT_DETECTED = "DriftDetected"
NO_DRIFT_DETECTED = "NoDriftDetected"
DRIFT_CORRECTED = "DriftCorrected"
DRIFT_CORRECTION_FAILED = "DriftCorrectionFailed"
EXCLUDE_KEY = "helm.toolkit.fluxcd.io/driftDetection"
ENABLED, WARN, DISABLED = "enabled", "warn", "disabled"
# What the server keeps up to date on its own; never drift.
_VOLATILE_META = ("managedFields", "resourceVersion", "generation", "uid", "creationTimestamp")


class DriftError(ManifestError):
    """Drift could not be detected; the message says which rule or object and why."""


# -- ignore rules ---------------------------------------------------------------------


def ignore_rules(spec: dict[str, Any]) -> list[IgnoreRule]:
    """spec.driftDetection.ignore, checked: a path must be a JSON Pointer, a selector valid."""
    raw = (spec.get("driftDetection") or {}).get("ignore")
    try:
        return parse_ignore_rules(raw, "spec.driftDetection.ignore")
    except IgnoreRuleError as err:
        raise DriftError(str(err)) from None


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


# -- comparing --------------------------------------------------------------------------


def _comparable(obj: Obj, paths: list[str]) -> Obj:
    out = copy.deepcopy(obj)
    meta = out.get("metadata") or {}
    for key in _VOLATILE_META:
        meta.pop(key, None)
    out.pop("status", None)
    for path in paths:
        drop_pointer(out, path)
    return out


def json_patch(live: Any, want: Any, path: str = "") -> list[dict[str, Any]]:
    """The JSON Patch operations that turn `live` into `want`."""
    if isinstance(live, dict) and isinstance(want, dict):
        ops: list[dict[str, Any]] = []
        for key in live:
            if key not in want:
                ops.append({"op": "remove", "path": f"{path}/{_escape(key)}"})
        for key, value in want.items():
            where = f"{path}/{_escape(key)}"
            if key not in live:
                ops.append({"op": "add", "path": where, "value": value})
            else:
                ops.extend(json_patch(live[key], value, where))
        return ops
    if isinstance(live, list) and isinstance(want, list) and len(live) == len(want):
        return [op for i, (a, b) in enumerate(zip(live, want, strict=True)) for op in
                json_patch(a, b, f"{path}/{i}")]  # fmt: skip
    if live == want:
        return []
    return [{"op": "replace", "path": path, "value": want}]


@dataclass
class Drift:
    """One object that differs from the release: deleted, or changed by the patch ops."""

    obj: Obj
    resource: Resource
    removed: bool = False
    patch: list[dict[str, Any]] = field(default_factory=list)

    @property
    def subject(self) -> str:
        return describe(self.obj)

    def summary(self) -> str:
        if self.removed:
            return f"{self.subject} removed"
        counts = {op: sum(1 for p in self.patch if p["op"] == op) for op in ("add", "replace")}
        removals = sum(1 for p in self.patch if p["op"] == "remove")
        return (
            f"{self.subject} changed ({counts['add']} additions, {counts['replace']} changes, "
            f"{removals} removals)"
        )


def _excluded(obj: Obj | None) -> bool:
    meta = (obj or {}).get("metadata") or {}
    marks = {**(meta.get("labels") or {}), **(meta.get("annotations") or {})}
    return marks.get(EXCLUDE_KEY) == DISABLED


async def _one(
    client: ResourceClient, discovery: Discovery, obj: Obj, rules: list[IgnoreRule]
) -> Drift | None:
    if _excluded(obj):
        return None
    found = await compare(client, discovery, obj, ask=lambda live: not _excluded(live))
    if found.live is None:
        return Drift(obj, found.resource, removed=True)
    if found.dry is None:
        return None
    paths = [p for r in rules if r.selects(obj) for p in r.paths]
    patch = json_patch(_comparable(found.live, paths), _comparable(found.dry, paths))
    return Drift(obj, found.resource, patch=patch) if patch else None


async def detect(
    client: ResourceClient,
    discovery: Discovery,
    objects: list[Obj],
    rules: list[IgnoreRule],
    release: tuple[str, str],
    concurrency: int = 8,
) -> list[Drift]:
    """The release's objects that differ from the cluster, in manifest order."""
    semaphore = asyncio.Semaphore(concurrency)
    name, namespace = release

    async def one(obj: Obj) -> Drift | None:
        async with semaphore:
            try:
                desired = with_helm_metadata(obj, name, namespace)
                return await _one(client, discovery, desired, rules)
            except ApiError as err:
                raise DriftError(f"{describe(obj)}: {err.message or err}") from None

    found = await asyncio.gather(*(one(o) for o in objects))
    return [d for d in found if d is not None]


async def correct(client: ResourceClient, drifts: list[Drift]) -> tuple[list[str], list[str]]:
    """Put each object back: create the deleted ones, patch back the changed fields.

    Returns the lines for what was corrected and for what could not be.
    """
    done: list[str] = []
    failed: list[str] = []
    for drift in sorted(drifts, key=lambda d: not d.removed):
        meta = drift.obj["metadata"]
        try:
            if drift.removed:
                await client.create(drift.resource, drift.obj)
                done.append(f"{drift.subject} created")
            else:
                await client.patch(
                    drift.resource, meta["name"], drift.patch, meta.get("namespace"), JSON_PATCH
                )
                done.append(f"{drift.subject} configured")
        except ApiError as err:
            what = "creation" if drift.removed else "patch"
            reason = "" if drift.obj.get("kind") == "Secret" else f": {err.message or err}"
            failed.append(f"{drift.subject} {what} failure{reason}")
    return done, failed
