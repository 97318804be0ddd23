"""Add and remove finalizers so a controller can clean up before its object goes.

Without a finalizer the API server deletes an object before the controller has undone
what it did for it (artifacts in storage, applied objects, Helm releases).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from .annotations import FINALIZER
from .reconciler import Result
from .resources import ApiError, Obj, Resource, ResourceClient

SERVICE_ACCOUNTS = Resource("", "v1", "serviceaccounts", "ServiceAccount")


def has_finalizer(obj: Obj, name: str = FINALIZER) -> bool:
    return name in ((obj.get("metadata") or {}).get("finalizers") or [])


def is_deleting(obj: Obj) -> bool:
    return bool((obj.get("metadata") or {}).get("deletionTimestamp"))


async def _set(client: ResourceClient, res: Resource, obj: Obj, finalizers: list[str]) -> Obj:
    meta = obj["metadata"]
    # The resourceVersion makes the list replacement safe against a concurrent writer.
    patch: dict[str, Any] = {
        "metadata": {"finalizers": finalizers or None, "resourceVersion": meta["resourceVersion"]}
    }
    return await client.patch(res, meta["name"], patch, meta.get("namespace"))


async def add_finalizer(
    client: ResourceClient, res: Resource, obj: Obj, name: str = FINALIZER
) -> Obj:
    """Ensure `name` is among the object's finalizers; returns the current object."""
    if has_finalizer(obj, name):
        return obj
    current = list((obj.get("metadata") or {}).get("finalizers") or [])
    return await _set(client, res, obj, [*current, name])


async def remove_finalizer(
    client: ResourceClient, res: Resource, obj: Obj, name: str = FINALIZER
) -> Obj:
    """Drop `name` from the object's finalizers, letting the API server delete it."""
    if not has_finalizer(obj, name):
        return obj
    current = [f for f in (obj.get("metadata") or {}).get("finalizers") or [] if f != name]
    try:
        return await _set(client, res, obj, current)
    except ApiError as err:
        # A pass that started from a cache not yet told of the deletion finds the
        # object gone: what this call was for has already happened.
        if err.not_found:
            return obj
        raise


async def finalized(
    client: ResourceClient,
    res: Resource,
    obj: Obj,
    run: Callable[[Obj], Awaitable[Result]],
    finalize: Callable[[Obj], Awaitable[None]] | None = None,
) -> Result:
    """A reconcile with a finalizer: add it, then `run`; once deleting, `finalize` and let go.

    `finalize` undoes what the object made (artifacts, releases); when it raises, the
    finalizer stays and the deletion is retried.
    """
    if is_deleting(obj):
        if has_finalizer(obj):
            if finalize is not None:
                await finalize(obj)
            await remove_finalizer(client, res, obj)
        return Result.done()
    return await run(await add_finalizer(client, res, obj))


def service_account_of(obj: Obj, default: str) -> str:
    """The ServiceAccount `obj` acts as: spec.serviceAccountName, else the controller's
    --default-service-account ("" when neither: the controller's own identity)."""
    return str((obj.get("spec") or {}).get("serviceAccountName") or default)


async def account_gone(client: ResourceClient, obj: Obj, default_account: str) -> bool:
    """Whether the ServiceAccount a deletion of `obj` must act as no longer exists.

    What it applied is then out of reach for good (in a namespace being deleted it
    cannot come back), and a finalizer kept for it would block the deletion, and
    the namespace's, forever: callers let go with a Warning naming what is left.
    An object whose spec.kubeConfig names another cluster acts as no account here.
    """
    if ((obj.get("spec") or {}).get("kubeConfig") or {}).get("secretRef"):
        return False
    account = service_account_of(obj, default_account)
    if not account:
        return False
    namespace = obj["metadata"]["namespace"]
    return await client.get_or_none(SERVICE_ACCOUNTS, account, namespace) is None
