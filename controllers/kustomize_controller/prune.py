"""Delete what a Kustomization applied before and no longer holds (garbage collection).

Only objects in our inventory that still carry our ownership labels are deleted; the
`prune: disabled` annotation, on the manifest or the live object, keeps an object.
"""

from __future__ import annotations

import asyncio
import time

from eddy_api.kustomize import PRUNE_ANNOTATION, RECONCILE_ANNOTATION
from eddy_runtime.resources import ApiError, ResourceClient

from .apply import DELETED, ChangeSet
from .discovery import Discovery
from .inventory import Entry
from .objects import Obj, annotation, describe, is_owned_by
from .ordering import sort_key


class PruneError(Exception):
    """Some objects could not be deleted; the message names them."""


def _keeps(live: Obj) -> bool:
    return annotation(live, PRUNE_ANNOTATION) == "disabled" or (
        annotation(live, RECONCILE_ANNOTATION) == "disabled"
    )


async def delete_entries(
    client: ResourceClient,
    discovery: Discovery,
    entries: list[Entry],
    owner: tuple[str, str],
    wait_timeout: float | None = None,
) -> ChangeSet:
    """Delete the objects behind `entries` in reverse apply order.

    With `wait_timeout`, return only once they are gone (finalizers run) or fail.
    """
    changes = ChangeSet()
    errors: list[str] = []
    waiting: list[tuple[Obj, Obj]] = []
    ordered = sorted(entries, key=lambda e: sort_key(e.as_object()), reverse=True)
    for entry in ordered:
        skeleton = entry.as_object()
        resource = await discovery.lookup(entry.api_version, entry.kind)
        if resource is None:
            continue  # the kind itself is gone, and so are its objects
        try:
            live = await client.get_or_none(resource, entry.name, entry.namespace or None)
            if live is None or not is_owned_by(live, *owner) or _keeps(live):
                continue
            await client.delete(resource, entry.name, entry.namespace or None, "Background")
        except ApiError as err:
            errors.append(f"{describe(skeleton)} deletion failed: {err.message or err}")
            continue
        changes.add(skeleton, DELETED)
        waiting.append((skeleton, live))
    if errors:
        raise PruneError("\n".join(errors))
    if wait_timeout is not None:
        await _wait_gone(client, discovery, [s for s, _ in waiting], wait_timeout)
    return changes


async def _wait_gone(
    client: ResourceClient, discovery: Discovery, objects: list[Obj], timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    pending = list(objects)
    while pending:
        still: list[Obj] = []
        for obj in pending:
            resource = await discovery.lookup(str(obj["apiVersion"]), str(obj["kind"]))
            meta = obj["metadata"]
            if resource is not None and await client.get_or_none(
                resource, meta["name"], meta.get("namespace")
            ):
                still.append(obj)
        pending = still
        if not pending:
            return
        if time.monotonic() > deadline:
            names = ", ".join(describe(o) for o in pending)
            raise PruneError(f"objects not deleted within {timeout:g}s: {names}")
        await asyncio.sleep(0.5)
