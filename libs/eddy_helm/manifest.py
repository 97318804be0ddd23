"""The objects of a Helm release, and how each compares with the cluster.

A release's manifest (stored by Helm, or rendered by a dry run) names its objects;
the helm-controller's drift detection and `eddy plan` both place them in the
release's namespace, mark them as Helm marks what it creates, and ask the API
server what a forced server-side apply of each would leave (a dry run, so
defaults and other managers' fields are the server's, not guesses).
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml

from eddy_kustomize.objects import describe, object_id, split_api_version
from eddy_runtime.discovery import Discovery
from eddy_runtime.resources import Resource, ResourceClient

Obj = dict[str, Any]
# Helm leaves an object with this annotation in place when the release stops rendering it.
RESOURCE_POLICY = "helm.sh/resource-policy"


class ManifestError(Exception):
    """A release's objects cannot be read or compared; the message says which and why."""


def release_objects(manifest: str) -> list[Obj]:
    """The objects of a release manifest, in order."""
    try:
        loaded = list(yaml.load_all(manifest, Loader=yaml.CSafeLoader))
    except yaml.YAMLError as err:
        raise ManifestError(f"the release manifest is not YAML: {err}") from None
    return [d for d in loaded if isinstance(d, dict) and d.get("kind") and d.get("apiVersion")]


async def placed(objects: list[Obj], namespace: str, discovery: Discovery) -> list[Obj]:
    """The objects with their namespace: the release's where the manifest leaves it out."""
    out: list[Obj] = []
    for obj in objects:
        copied = copy.deepcopy(obj)
        meta = copied.setdefault("metadata", {})
        resource = await discovery.lookup(str(copied["apiVersion"]), str(copied["kind"]))
        if resource is not None and not resource.namespaced:
            meta.pop("namespace", None)
        elif not meta.get("namespace"):
            meta["namespace"] = namespace
        out.append(copied)
    return out


async def objects_of(manifest: str, namespace: str, discovery: Discovery) -> list[Obj]:
    """The objects of a release manifest, placed; the YAML (megabytes for some charts) is
    parsed in a thread, as the release records are decoded."""
    return await placed(await asyncio.to_thread(release_objects, manifest), namespace, discovery)


def inventory(objects: list[Obj]) -> dict[str, Any]:
    """status.inventory: each object's id and version, as Flux lists them."""
    entries = {object_id(o): split_api_version(str(o["apiVersion"]))[1] for o in objects}
    return {"entries": [{"id": k, "v": v} for k, v in sorted(entries.items())]}


def kept(obj: Obj) -> bool:
    """Whether Helm keeps the object when a new release no longer has it."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    return str(annotations.get(RESOURCE_POLICY, "")).lower() == "keep"


def with_helm_metadata(obj: Obj, release: str, namespace: str) -> Obj:
    """What Helm itself adds to each object it creates, so that it is no difference."""
    out = copy.deepcopy(obj)
    meta = out.setdefault("metadata", {})
    meta["labels"] = {**(meta.get("labels") or {}), "app.kubernetes.io/managed-by": "Helm"}
    meta["annotations"] = {
        **(meta.get("annotations") or {}),
        "meta.helm.sh/release-name": release,
        "meta.helm.sh/release-namespace": namespace,
    }
    return out


@dataclass
class Compared:
    """One object of a release beside the cluster: the live object (None when there is
    none) and the server's answer to a forced dry-run apply (None when not asked)."""

    obj: Obj
    resource: Resource
    live: Obj | None
    dry: Obj | None


async def compare(
    client: ResourceClient,
    discovery: Discovery,
    obj: Obj,
    ask: Callable[[Obj], bool] = lambda live: True,
) -> Compared:
    """The live object and, when there is one and `ask(live)`, the dry-run apply of `obj`.

    The apply is forced: the release owns its fields, as Helm's upgrade takes them back.
    """
    resource = await discovery.lookup(str(obj["apiVersion"]), str(obj["kind"]))
    if resource is None:
        raise ManifestError(f"{describe(obj)}: the cluster does not serve this kind")
    meta = obj["metadata"]
    live = await client.get_or_none(resource, meta["name"], meta.get("namespace"))
    if live is None or not ask(live):
        return Compared(obj, resource, live, None)
    dry = await client.apply(resource, obj, force=True, dry_run=True)
    return Compared(obj, resource, live, dry)
