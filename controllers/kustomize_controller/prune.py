"""Delete what a Kustomization applied before and no longer holds (garbage collection).

Only objects in our inventory that still carry our ownership labels are deleted; the
`prune: disabled` annotation, on the manifest or the live object, keeps an object.
An entry whose kind cannot be resolved is never dropped: it stays in the inventory.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from eddy_api.kustomize import PRUNE_ANNOTATION, RECONCILE_ANNOTATION
from eddy_kustomize.apply import DELETED, ChangeSet
from eddy_kustomize.objects import Obj, annotation, describe, is_owned_by
from eddy_kustomize.ordering import sort_key
from eddy_runtime.discovery import Discovery, DiscoveryError
from eddy_runtime.resources import ApiError, ResourceClient

from .inventory import Entry


@dataclass
class Pruned:
    """What was deleted, and the entries whose kind the cluster does not serve now.

    Those may come back with their API (an aggregated API being reinstalled), so
    they are kept in the inventory rather than forgotten.
    """

    changes: ChangeSet = field(default_factory=ChangeSet)
    unserved: list[Entry] = field(default_factory=list)

    def describe_unserved(self) -> str:
        return "\n".join(
            f"{describe(e.as_object())} not pruned: {e.api_version} {e.kind} is not served "
            "by the cluster; kept in the inventory"
            for e in self.unserved
        )


class PruneError(Exception):
    """Some objects could not be deleted; the message names them.

    `kept` are the entries that must stay in the inventory (not deleted, or not
    known to be gone); `done` is what was deleted before the failure.
    """

    def __init__(
        self, message: str, kept: list[Entry] | None = None, done: Pruned | None = None
    ) -> None:
        super().__init__(message)
        self.kept = kept or []
        self.done = done or Pruned()


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
) -> Pruned:
    """Delete the objects behind `entries` in reverse apply order.

    With `wait_timeout`, return only once they are gone (finalizers run) or fail.
    An entry whose kind discovery cannot resolve right now is skipped and named in
    the PruneError; one whose kind is not served is skipped and reported back.
    """
    done = Pruned()
    changes = done.changes
    errors: list[str] = []
    kept: list[Entry] = []
    waiting: list[tuple[Obj, Obj]] = []
    ordered = sorted(entries, key=lambda e: sort_key(e.as_object()), reverse=True)
    for entry in ordered:
        skeleton = entry.as_object()
        try:
            resource = await discovery.lookup(entry.api_version, entry.kind)
        except DiscoveryError as err:
            errors.append(f"{describe(skeleton)} not pruned: {err}; kept in the inventory")
            kept.append(entry)
            continue
        if resource is None:
            done.unserved.append(entry)
            continue
        try:
            live = await client.get_or_none(resource, entry.name, entry.namespace or None)
            if live is None or not is_owned_by(live, *owner) or _keeps(live):
                continue
            await client.delete(resource, entry.name, entry.namespace or None, "Background")
        except ApiError as err:
            errors.append(f"{describe(skeleton)} deletion failed: {err.message or err}")
            kept.append(entry)
            continue
        changes.add(skeleton, DELETED)
        waiting.append((skeleton, live))
    if errors:
        raise PruneError("\n".join(errors), kept + done.unserved, done)
    if wait_timeout is not None:
        await _wait_gone(client, discovery, [s for s, _ in waiting], wait_timeout)
    return done


async def _wait_gone(
    client: ResourceClient, discovery: Discovery, objects: list[Obj], timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    pending = list(objects)
    while pending:
        still: list[Obj] = []
        for obj in pending:
            try:
                resource = await discovery.lookup(str(obj["apiVersion"]), str(obj["kind"]))
            except DiscoveryError:
                still.append(obj)  # cannot tell yet whether it is gone
                continue
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
