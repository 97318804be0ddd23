"""Server-side apply of a built set: validate everything by dry-run, then write what differs.

Objects are applied in two stages (CRDs, Namespaces and other cluster-wide kinds,
then the rest), each reported as created, configured, unchanged or skipped. With
`dry_run` nothing is written: the plans, with the live and the would-be objects,
are what `eddy plan` shows.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from eddy_api.kustomize import (
    FORCE_ANNOTATION,
    RECONCILE_ANNOTATION,
    SSA_ANNOTATION,
    SSA_IF_NOT_PRESENT,
    SSA_IGNORE,
)
from eddy_kustomize.drift import Drift, differences, find_drift, without_paths
from eddy_kustomize.objects import CRD_KIND, Obj, annotation, describe, object_id, owner_labels
from eddy_kustomize.ordering import in_apply_order
from eddy_kustomize.takeover import merges_only, takeover_patch
from eddy_runtime.discovery import Discovery, DiscoveryError
from eddy_runtime.ignore_rules import IgnoreRule, keep_pointer, paths_for
from eddy_runtime.resources import JSON_PATCH, ApiError, Resource, ResourceClient

log = logging.getLogger("eddy.kustomize")

CREATED = "created"
CONFIGURED = "configured"
UNCHANGED = "unchanged"
SKIPPED = "skipped"
DELETED = "deleted"

T = TypeVar("T")
A = TypeVar("A")


class ApplyError(Exception):
    """Some objects could not be applied; the message names each of them."""


@dataclass(frozen=True)
class Change:
    """What happened to one object."""

    subject: str
    action: str
    object_id: str
    version: str


@dataclass
class Planned:
    """What applying one object would do; `live` and `dry` (the server's answer to
    a dry-run apply) are kept so a plan can show the difference."""

    obj: Obj
    resource: Resource | None
    action: str = UNCHANGED
    recreate: bool = False
    # JSON patch handing kubectl's fields to us before the apply (see takeover.py).
    takeover: list[dict[str, Any]] = field(default_factory=list)
    live: Obj | None = None
    dry: Obj | None = None


@dataclass
class ChangeSet:
    changes: list[Change] = field(default_factory=list)

    def add(self, obj: Obj, action: str) -> None:
        version = str(obj.get("apiVersion", "")).rpartition("/")[2]
        self.changes.append(Change(describe(obj), action, object_id(obj), version))

    def summary(self) -> str:
        """One line per object that changed, as the change-set Event shows them."""
        return "\n".join(
            f"{c.subject} {c.action}" for c in self.changes if c.action in (CREATED, CONFIGURED)
        )


async def bounded(
    limit: int, func: Callable[[A], Awaitable[T]], items: Iterable[A]
) -> list[T | BaseException]:
    """func over items with at most `limit` in flight; exceptions are returned, not raised."""
    semaphore = asyncio.Semaphore(limit)

    async def one(item: A) -> T:
        async with semaphore:
            return await func(item)

    return await asyncio.gather(*(one(i) for i in items), return_exceptions=True)


def _error_text(err: BaseException) -> str:
    if isinstance(err, ApiError):
        return f"({err.reason or err.status}): {err.message}" if err.message else str(err)
    return str(err) or type(err).__name__


def _comparable(obj: Obj) -> Obj:
    out = copy.deepcopy(obj)
    meta = out.get("metadata") or {}
    for key in ("managedFields", "resourceVersion", "generation"):
        meta.pop(key, None)
    return out


def _is_immutable_error(err: ApiError) -> bool:
    text = err.message.lower()
    return err.status == 422 and ("immutable" in text or "may not change" in text)


class Applier:
    """Applies objects for one Kustomization through one client (maybe impersonating)."""

    def __init__(
        self,
        client: ResourceClient,
        discovery: Discovery,
        owner: tuple[str, str],
        force: bool = False,
        timeout: float = 60.0,
        concurrency: int = 8,
        take_over: Sequence[tuple[str, str]] = (),
        before_create: Callable[[list[Obj]], Awaitable[None]] | None = None,
        dry_run: bool = False,
        report_drift: bool = False,
        ignore: Sequence[IgnoreRule] = (),
    ) -> None:
        self.client = client
        # spec.ignore: paths left out of the apply of objects that exist already.
        self.ignore = tuple(ignore)
        # Fields that others changed, found while planning; with `report_drift` they
        # are left as they are (only reported), else Git's values are restored.
        self.drift: list[Drift] = []
        self.report_drift = report_drift
        self.dry_run = dry_run
        # Every object's plan, in apply order (what a dry run reports).
        self.plans: list[Planned] = []
        # (apiVersion, kind) of the custom kinds the set being applied defines.
        self._defined: set[tuple[str, str]] = set()
        # Told which objects a stage is about to create, after its dry-run passed.
        self.before_create = before_create
        # (manager prefix, operation) whose fields become ours before each apply.
        self.take_over = tuple(take_over)
        self.discovery = discovery
        self.owner = owner
        self.force = force
        self.timeout = timeout
        self.concurrency = concurrency
        self.result = ChangeSet()

    @property
    def done(self) -> list[Change]:
        """What has been applied so far, also after a failure."""
        return self.result.changes

    def label(self, objects: list[Obj]) -> list[Obj]:
        """Copies of the objects carrying the ownership labels."""
        labelled: list[Obj] = []
        for obj in objects:
            copied = copy.deepcopy(obj)
            meta = copied.setdefault("metadata", {})
            meta["labels"] = {**(meta.get("labels") or {}), **owner_labels(*self.owner)}
            labelled.append(copied)
        return labelled

    async def apply_all(self, objects: list[Obj]) -> ChangeSet:
        """Apply in stages; raise ApplyError naming every object that failed.

        Each stage is dry-run as a whole before anything in it is written, so an
        invalid object leaves the stage's objects as they were.
        """
        changes = self.result
        ordered = in_apply_order(self.label(objects))
        defined = {
            (f"{d['spec']['group']}/{v['name']}", d["spec"]["names"]["kind"]): d["spec"]["scope"]
            for d in ordered
            if d.get("kind") == CRD_KIND
            for v in (d.get("spec") or {}).get("versions") or []
            if isinstance(d.get("spec"), dict) and d["spec"].get("names")
        }
        self._defined = set(defined)
        first, second, errors = [], [], []
        for obj in ordered:
            try:
                resource = await self.discovery.lookup(str(obj["apiVersion"]), str(obj["kind"]))
            except DiscoveryError as err:
                errors.append(f"{describe(obj)} dry-run failed: {err}")
                continue
            scope = defined.get((str(obj["apiVersion"]), str(obj["kind"])))
            if resource is None and scope is None:
                errors.append(
                    f'{describe(obj)} dry-run failed: no matches for kind "{obj["kind"]}" '
                    f'in version "{obj["apiVersion"]}"'
                )
                continue
            namespaced = resource.namespaced if resource is not None else scope == "Namespaced"
            if not namespaced:
                (obj.get("metadata") or {}).pop("namespace", None)
                first.append(obj)
            elif not (obj.get("metadata") or {}).get("namespace"):
                errors.append(
                    f"{describe(obj)} namespace not specified; set metadata.namespace in the "
                    "manifest or spec.targetNamespace"
                )
            else:
                second.append(obj)
        if errors:
            raise ApplyError("\n".join(errors))
        await self._stage(first, changes)
        if not self.dry_run:
            await self._wait_for_definitions([o for o in first if o.get("kind") == CRD_KIND])
        await self._stage(second, changes)
        return changes

    async def _resource(self, obj: Obj) -> Resource:
        resource = await self.discovery.lookup(str(obj["apiVersion"]), str(obj["kind"]))
        if resource is None:
            raise ApplyError(
                f'{describe(obj)} dry-run failed: no matches for kind "{obj["kind"]}" '
                f'in version "{obj["apiVersion"]}"'
            )
        return resource

    async def _stage(self, objects: list[Obj], changes: ChangeSet) -> None:
        if not objects:
            return
        plans = await bounded(self.concurrency, self._plan, objects)
        failures = [
            f"{describe(o)} dry-run failed {_error_text(p)}"
            for o, p in zip(objects, plans, strict=True)
            if isinstance(p, BaseException)
        ]
        if failures:
            raise ApplyError("\n".join(failures))
        planned = [p for p in plans if isinstance(p, Planned)]
        self.plans.extend(planned)
        if self.dry_run:
            for p in planned:
                changes.add(p.obj, p.action)
            return
        created = [p.obj for p in planned if p.action == CREATED]
        if created and self.before_create is not None:
            await self.before_create(created)
        to_write = [p for p in planned if p.action in (CREATED, CONFIGURED)]
        results = await bounded(self.concurrency, self._write, to_write)
        failed: dict[int, BaseException] = {
            id(p): r for p, r in zip(to_write, results, strict=True) if isinstance(r, BaseException)
        }
        for p in planned:
            if id(p) not in failed:
                changes.add(p.obj, p.action)
        if failed:
            raise ApplyError(
                "\n".join(
                    f"{describe(p.obj)} apply failed {_error_text(failed[id(p)])}"
                    for p in to_write
                    if id(p) in failed
                )
            )

    async def _plan(self, obj: Obj) -> Planned:
        key = (str(obj.get("apiVersion")), str(obj.get("kind")))
        if self.dry_run and key in self._defined and await self.discovery.lookup(*key) is None:
            # Its CRD is in this very set and not applied in a dry run: nothing to ask.
            return Planned(obj, None, CREATED)
        resource = await self._resource(obj)
        obj = await self._without_ignored(resource, obj)
        plan = Planned(obj, resource)
        if annotation(obj, RECONCILE_ANNOTATION) == "disabled" or (
            annotation(obj, SSA_ANNOTATION) == SSA_IGNORE
        ):
            plan.action = SKIPPED
            return plan
        try:
            dry = await self.client.apply(resource, obj, force=True, dry_run=True)
        except ApiError as err:
            forced = self.force or annotation(obj, FORCE_ANNOTATION) == "enabled"
            if forced and _is_immutable_error(err):
                plan.action, plan.recreate = CONFIGURED, True
                return plan
            raise
        plan.dry = dry
        existed = bool((dry.get("metadata") or {}).get("resourceVersion"))
        if not existed:
            plan.action = CREATED
            return plan
        if annotation(dry, RECONCILE_ANNOTATION) == "disabled" or (
            annotation(dry, SSA_ANNOTATION) in (SSA_IGNORE, SSA_IF_NOT_PRESENT)
        ):
            # The marks may sit on the live object only, put there by hand.
            plan.action = SKIPPED
            return plan
        meta = obj["metadata"]
        live = await self.client.get_or_none(resource, meta["name"], meta.get("namespace"))
        plan.live = live
        if live is None:
            plan.action = CREATED
            return plan
        if self.take_over and not merges_only(obj, live):
            plan.takeover = takeover_patch(live, self.client.field_manager, self.take_over)
        if plan.takeover or _comparable(live) != _comparable(dry):
            plan.action = CONFIGURED
            self._explain_drift(plan, live, dry)
        return plan

    async def _without_ignored(self, resource: Resource, obj: Obj) -> Obj:
        """The object holding, at the paths spec.ignore names, what the live object
        holds, so that what is there is kept; a new object is created whole, as in Flux.

        The live values are applied rather than left out: fields that kubectl set are
        taken over before the apply, and a field left out would then be removed.
        """
        paths = paths_for(self.ignore, obj)
        if not paths:
            return obj
        meta = obj["metadata"]
        live = await self.client.get_or_none(resource, meta["name"], meta.get("namespace"))
        if live is None:
            return obj
        kept = copy.deepcopy(obj)
        for path in paths:
            keep_pointer(kept, live, path)
        return kept

    def _explain_drift(self, plan: Planned, live: Obj, dry: Obj) -> None:
        drift = find_drift(live, dry, self.client.field_manager)
        self.drift.extend(drift)
        if not drift or not self.report_drift:
            return
        drifted = {d.path for d in drift}
        plan.obj = without_paths(plan.obj, sorted(drifted, key=str))
        plan.takeover = []
        if all(path in drifted for path, _, _ in differences(live, dry)):
            plan.action = UNCHANGED

    async def _write(self, plan: Planned) -> None:
        assert plan.resource is not None  # only a dry run plans without one
        if plan.recreate:
            await self._delete_and_wait(plan.resource, plan.obj)
        elif plan.takeover:
            await self._take_over(plan)
        await self.client.apply(plan.resource, plan.obj, force=True)

    async def _take_over(self, plan: Planned) -> None:
        assert plan.resource is not None  # only a dry run plans without one
        meta = plan.obj["metadata"]
        try:
            await self.client.patch(
                plan.resource, meta["name"], plan.takeover, meta.get("namespace"), JSON_PATCH
            )
        except ApiError as err:
            # The object changed since it was read (the resourceVersion test failed):
            # apply anyway; the next pass takes over from the fresh managedFields.
            if err.status not in (409, 422):
                raise
            log.info("%s: managed fields not taken over this time: %s", describe(plan.obj), err)

    async def _delete_and_wait(self, resource: Resource, obj: Obj) -> None:
        meta = obj["metadata"]
        await self.client.delete(resource, meta["name"], meta.get("namespace"), "Background")
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if await self.client.get_or_none(resource, meta["name"], meta.get("namespace")) is None:
                return
            await asyncio.sleep(0.2)
        raise ApplyError(f"{describe(obj)} was not deleted within {self.timeout:g}s for recreation")

    async def _wait_for_definitions(self, crds: list[Obj]) -> None:
        if not crds:
            return
        resource = await self._resource(crds[0])
        deadline = time.monotonic() + self.timeout
        waiting = {str(c["metadata"]["name"]): c for c in crds}
        while waiting:
            for name in list(waiting):
                live = await self.client.get_or_none(resource, name)
                if live is not None and _established(live):
                    spec = waiting.pop(name).get("spec") or {}
                    for version in spec.get("versions") or []:
                        self.discovery.forget(f"{spec.get('group')}/{version.get('name')}")
            if not waiting:
                return
            if time.monotonic() > deadline:
                raise ApplyError(
                    "CustomResourceDefinitions not Established within "
                    f"{self.timeout:g}s: {', '.join(sorted(waiting))}"
                )
            await asyncio.sleep(0.2)


def _established(crd: Obj) -> bool:
    for cond in (crd.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Established":
            return bool(cond.get("status") == "True")
    return False
