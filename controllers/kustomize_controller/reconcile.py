"""The Kustomization reconciler: source, dependencies, fetch, build, apply, prune, health.

One pass reads top to bottom as those steps and ends in the Events
that tell a person what changed or what to fix, then one status patch.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import shutil
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import uuid4

import aiohttp

from eddy_api.common import COMMIT_METADATA_PREFIX, HEALTHY, Artifact, Reason
from eddy_api.kustomize import DRIFT_ANNOTATION, DRIFT_REPORT, KustomizationSpec
from eddy_api.schema import from_dict, unhonoured_in_use
from eddy_kustomize import build as builder
from eddy_kustomize.apply import SKIPPED, Applier, ApplyError, ChangeSet
from eddy_kustomize.decrypt import Decryptor, refuse_encrypted
from eddy_kustomize.drift import Drift
from eddy_kustomize.objects import KUSTOMIZATIONS, Obj, describe
from eddy_kustomize.sops import Keyring, sops_binary
from eddy_kustomize.substitute import gather_variables, substitute_objects, substitutes
from eddy_kustomize.takeover import managers_to_take_over
from eddy_runtime import Attempt, Manager, Result, Step, StepError, conditions, history, logs
from eddy_runtime.consumers import ConsumerSettings
from eddy_runtime.dependencies import (
    DependencyNotReady,
    cached_lookup,
    check_dependencies,
)
from eddy_runtime.discovery import DiscoveryError
from eddy_runtime.durations import format_duration
from eddy_runtime.events import NORMAL, WARNING
from eddy_runtime.finalizers import account_gone, finalized
from eddy_runtime.health_checks import (
    HealthCheckError,
    HealthRule,
    assessor,
    compile_rules,
    wait_healthy,
)
from eddy_runtime.ignore_rules import IgnoreRule, IgnoreRuleError, parse_ignore_rules
from eddy_runtime.informer import Informer
from eddy_runtime.kubeconfig import TargetError
from eddy_runtime.reconciler import refuse_unsupported
from eddy_runtime.redaction import Redactor
from eddy_runtime.resources import ApiError
from eddy_runtime.secrets import read_secret
from eddy_runtime.sessions import LazySession

from . import inventory
from .dependencies import revision_pending
from .inventory import Entry
from .prune import PruneError, delete_entries
from .source import SourceNotReady, SourceRefused, download, find_source, ready_artifact
from .target import Target, Targets

log = logging.getLogger("eddy.kustomize")

NAME = "kustomize-controller"
TOKEN_ANNOTATION = "kustomize.toolkit.fluxcd.io/token"
# eddy's own Event reasons for drift: corrected, or only reported.
DRIFT_CORRECTED = "DriftCorrected"
DRIFT_DETECTED = "DriftDetected"
# The most drifted fields one status keeps.
MAX_DRIFT = 50


@dataclass(frozen=True)
class Settings(ConsumerSettings):
    kustomize: str = "kustomize"
    sops: str = "sops"
    # Field managers, besides kubectl's, whose fields are taken over on apply.
    override_managers: tuple[str, ...] = ()


class KustomizationReconciler:
    def __init__(
        self, manager: Manager, sources: Mapping[str, Informer], settings: Settings
    ) -> None:
        self.manager = manager
        self.sources = sources
        self.settings = settings
        self.kustomize = builder.kustomize_binary(settings.kustomize)
        self.sops = sops_binary(settings.sops)
        self.targets = Targets(
            manager.client, NAME, settings.default_service_account, settings.kubeconfig
        )
        self.lookup_kustomization = cached_lookup(manager, KUSTOMIZATIONS)
        self.session = LazySession()

    async def close(self) -> None:
        await self.session.close()
        await self.targets.close()

    async def reconcile(self, obj: Obj) -> Result:
        return await finalized(
            self.manager.client, KUSTOMIZATIONS, obj, self.attempt, self.finalize
        )

    async def attempt(self, obj: Obj) -> Result:
        return await KustomizationAttempt(self, obj).run()

    async def finalize(self, obj: Obj) -> None:
        """Delete what we applied when the deletion policy says so."""
        spec = from_dict(KustomizationSpec, obj.get("spec"))
        entries = inventory.entries_of(obj.get("status") or {})
        if spec.deletes_on_deletion() and entries and not spec.suspend:
            meta = obj["metadata"]
            try:
                target = await self.targets.for_kustomization(obj)
            except TargetError as err:
                # The cluster is out of reach for good; keeping the finalizer would
                # only block the deletion forever.
                await self.manager.events.warning(obj, Reason.PRUNE_FAILED, str(err))
            else:
                waits = spec.effective_deletion_policy() == "WaitForTermination"
                wait = spec.timeout_seconds() if waits else None
                try:
                    pruned = await delete_entries(
                        target.client, target.discovery, entries,
                        (meta["name"], meta["namespace"]), wait,
                    )  # fmt: skip
                except (PruneError, ApiError) as err:
                    if await account_gone(
                        self.manager.client, obj, self.settings.default_service_account
                    ):
                        await self.left_in_place(obj, entries)
                    elif await self.all_gone(obj, entries):
                        # Pruning could not act (its account lost its rights, say),
                        # but there is nothing left for it to do.
                        await self.manager.events.warning(
                            obj, Reason.PRUNE_FAILED,
                            f"{err}\nnone of the applied objects exists any more; letting go",
                        )  # fmt: skip
                    else:
                        # The finalizer stays until the objects can be deleted: deleting
                        # the Kustomization must not orphan what it applied.
                        await self.manager.events.warning(obj, Reason.PRUNE_FAILED, str(err))
                        raise
                else:
                    lines = "\n".join(f"{c.subject} deleted" for c in pruned.changes.changes)
                    if lines:
                        await self.manager.events.normal(obj, Reason.PROGRESSING, lines)
                finally:
                    await target.close()

    async def all_gone(self, obj: Obj, entries: list[Entry]) -> bool:
        """Whether the controller itself sees that none of `entries` exists any more.

        Only on its own cluster, and only when it may read them: a kind that is not
        served or an object it may not read proves nothing.
        """
        spec = obj.get("spec") or {}
        if (spec.get("kubeConfig") or {}).get("secretRef"):
            return False
        for entry in entries:
            try:
                resource = await self.targets.discovery.lookup(entry.api_version, entry.kind)
                if resource is None:
                    return False
                live = await self.manager.client.get_or_none(
                    resource, entry.name, entry.namespace or None
                )
            except (DiscoveryError, ApiError):
                return False
            if live is not None:
                return False
        return True

    async def left_in_place(self, obj: Obj, entries: list[Entry]) -> None:
        account = self.targets.service_account(obj)
        listed = "\n".join(describe(e.as_object()) for e in entries)
        message = (
            f"ServiceAccount '{obj['metadata']['namespace']}/{account}' is gone, so what it "
            f"applied cannot be pruned; left in place:\n{listed}"
        )
        log.warning(message)
        await self.manager.events.warning(obj, Reason.PRUNE_FAILED, message)


@dataclass
class KustomizationAttempt(Attempt):
    """One reconcile of one Kustomization, step by step."""

    reconciler: KustomizationReconciler
    obj: Obj
    status: dict[str, Any] = field(init=False)
    artifact: Artifact | None = None
    workdir: Path | None = None
    objects: list[Obj] = field(default_factory=list)
    target: Target | None = None
    changes: ChangeSet = field(default_factory=ChangeSet)
    previous: list[Entry] = field(default_factory=list)
    applied: list[Entry] | None = None
    waiting: tuple[str, str] | None = None
    health_seconds: float | None = None
    health_rules: list[HealthRule] = field(default_factory=list)
    ignore_rules: list[IgnoreRule] = field(default_factory=list)
    # Masks Secret values (from postBuild) in whatever this pass writes or logs.
    redact: Redactor = field(default_factory=Redactor)

    def __post_init__(self) -> None:
        self.started = time.monotonic()
        self.status_before: dict[str, Any] = self.obj.get("status") or {}
        self.status = copy.deepcopy(self.status_before)
        self.status.pop("observedGeneration", None)
        self.previous = inventory.entries_of(self.status)
        self.spec: dict[str, Any] = self.obj.get("spec") or {}
        # The spec as eddy_api types it, for the rules written there (timeouts, intervals);
        # only the spec: typing the whole object would copy its status and managedFields.
        self.typed = from_dict(KustomizationSpec, self.spec)
        # Conditions that say this pass is at work, set but not yet written (see
        # report_progress).
        self.progress_unwritten = False
        self.settings = self.reconciler.settings
        self.manager = self.reconciler.manager
        self.meta: dict[str, Any] = self.obj["metadata"]
        self.owner = (str(self.meta["name"]), str(self.meta["namespace"]))

    @property
    def revision(self) -> str:
        return self.artifact.revision if self.artifact else ""

    def steps(self) -> list[Step]:
        return [
            Step("resolve source", self.resolve_source, Reason.ARTIFACT_FAILED),
            Step("check dependencies", self.check_dependencies, Reason.DEPENDENCY_NOT_READY),
            Step("report progress", self.report_progress),
            Step("fetch artifact", self.fetch_artifact, Reason.ARTIFACT_FAILED),
            Step("build", self.build, Reason.BUILD_FAILED),
            Step("apply", self.apply, Reason.RECONCILIATION_FAILED),
            Step("prune", self.prune, Reason.PRUNE_FAILED),
            Step("check health", self.check_health, Reason.HEALTH_CHECK_FAILED),
        ]

    # -- steps ----------------------------------------------------------------------

    async def resolve_source(self) -> Result | None:
        # Accepted so that Flux manifests apply, but not done: refused, named, before
        # anything is applied; what was applied before stays as it is.
        refuse_unsupported(unhonoured_in_use(KustomizationSpec, self.spec), KUSTOMIZATIONS.kind)
        try:
            source = await find_source(
                self.obj, self.reconciler.sources, self.manager.client,
                self.settings.no_cross_namespace_refs,
            )  # fmt: skip
            self.artifact = ready_artifact(source)
            logs.set_revision(self.artifact.revision)
        except SourceRefused as err:
            # As with Flux, a refused reference cannot succeed without an edit of the
            # spec (which triggers a new pass by itself): Stalled, and no retry.
            raise StepError(str(err), reason=Reason.ACCESS_DENIED, stalled=True) from err
        except SourceNotReady as err:
            return self._wait_for(Reason.ARTIFACT_FAILED, str(err))
        return None

    async def check_dependencies(self) -> Result | None:
        try:
            await check_dependencies(
                self.obj, self.reconciler.lookup_kustomization,
                self.settings.no_cross_namespace_refs, revision_pending(self.obj, self.revision),
                additive=self.settings.additive_cel_dependency_check,
            )  # fmt: skip
        except DependencyNotReady as err:
            return self._wait_for(Reason.DEPENDENCY_NOT_READY, f"Dependencies do not meet ready "
                                  f"condition ({err})")  # fmt: skip
        return None

    async def report_progress(self) -> Result | None:
        """Say so before working on a new revision or spec, as kstatus clients expect.

        Until this pass ends, Ready=True would describe what was there before; a
        periodic pass over what is already applied keeps its one status patch. A
        Kustomization without any Ready yet has none to misread: its progress is
        written with the first status patch the pass needs anyway (the inventory of
        what it is about to create, see `record_planned`), or before a health check.
        """
        status = self.obj.get("status") or {}
        current = (
            conditions.is_true(status, conditions.READY)
            and status.get("observedGeneration") == self.meta.get("generation")
            and status.get("lastAppliedRevision") == self.revision
        )
        if current:
            return None
        generation = self.meta.get("generation")
        conditions.set_condition(
            self.status, conditions.RECONCILING, conditions.TRUE, Reason.PROGRESSING,
            f"Fetching manifests for revision {self.revision} with a timeout of "
            f"{format_duration(self.typed.timeout_seconds())}",
            generation,
        )  # fmt: skip
        conditions.set_condition(
            self.status, conditions.READY, conditions.UNKNOWN, Reason.PROGRESSING,
            "Reconciliation in progress", generation,
        )  # fmt: skip
        self.status["lastAttemptedRevision"] = self.revision
        if conditions.get(self.status_before, conditions.READY) is None:
            self.progress_unwritten = True
            return None
        await self.write_progress()
        return None

    async def write_progress(self) -> None:
        """Patch status as this pass has it so far (progress, the inventory planned)."""
        self.obj = await self.manager.status.patch(KUSTOMIZATIONS, self.obj, self.status)
        self.progress_unwritten = False

    async def fetch_artifact(self) -> Result | None:
        assert self.artifact is not None
        base = self.settings.workdir
        self.workdir = Path(await asyncio.to_thread(tempfile.mkdtemp, "", "kustomization-", base))
        try:
            await download(self.reconciler.session(), self.artifact, self.workdir / "source")
        except SourceNotReady as err:
            return self._wait_for(Reason.ARTIFACT_FAILED, str(err))
        return None

    async def build(self) -> Result | None:
        assert self.workdir is not None
        # Before anything is applied: a bad expression or rule stops here, naming itself.
        self.health_rules = compile_rules(self.spec.get("healthCheckExprs"))
        try:
            self.ignore_rules = parse_ignore_rules(self.spec.get("ignore"), "spec.ignore")
        except IgnoreRuleError as err:
            raise StepError(str(err), stalled=True) from err
        decryptor = await self.decryptor()
        try:
            objects = await builder.build(
                self.reconciler.kustomize,
                self.workdir / "source",
                self.spec,
                self.typed.timeout_seconds(),
                decryptor.decrypt_sources if decryptor else None,
            )
            if decryptor is None:
                refuse_encrypted(objects)
            else:
                objects = await decryptor.decrypt_objects(objects)
        finally:
            if decryptor is not None:
                self.redact.add(decryptor.values)
                await decryptor.close()
        post_build = self.spec.get("postBuild")
        if isinstance(post_build, dict):
            variables, secret_values = await gather_variables(
                self.manager.client, self.meta["namespace"], post_build
            )
            self.redact.add(secret_values)
            if substitutes(post_build, variables):
                objects = await asyncio.to_thread(substitute_objects, objects, variables)
        self.objects = objects
        self.check_ignore_rules()
        return None

    def check_ignore_rules(self) -> None:
        """A spec.ignore rule that selects none of the objects is a mistake to name:
        most likely a misspelt kind or name, silently protecting nothing."""
        for index, rule in enumerate(self.ignore_rules):
            if not any(rule.selects(o) for o in self.objects):
                target = ", ".join(f"{k}={v}" for k, v in sorted(rule.target.items()))
                raise StepError(
                    f"spec.ignore[{index}] ({target or 'every object'}) selects none of the "
                    f"{len(self.objects)} objects this Kustomization applies; fix its target "
                    "or remove the rule"
                )

    async def decryptor(self) -> Decryptor | None:
        """A Decryptor holding the keys of spec.decryption.secretRef, when set."""
        decryption = self.typed.decryption
        if decryption is None or decryption.provider != "sops":
            return None
        assert self.workdir is not None
        keyring = Keyring(self.reconciler.sops, self.workdir)
        try:
            if decryption.secret_ref is not None:
                name = decryption.secret_ref.name
                source = f"Secret '{self.meta['namespace']}/{name}'"
                keys = await read_secret(self.manager.client, self.meta["namespace"], name)
                if keys is None:
                    raise StepError(
                        f"decryption {source} not found; create it or fix spec.decryption.secretRef"
                    )
                await keyring.load(keys, source)
            else:
                await keyring.load({}, "")
        except BaseException:
            await keyring.close()
            raise
        return Decryptor(keyring, self.workdir / "source")

    async def apply(self) -> Result | None:
        try:
            self.target = await self.reconciler.targets.for_kustomization(self.obj)
        except TargetError as err:
            # A refused kubeconfig stalls; the Secret is not watched, so it is read
            # again at the next interval rather than never.
            interval = self.typed.interval_seconds()
            raise StepError(
                str(err), stalled=err.refused, retry_in=interval if err.refused else None
            ) from err
        applier = Applier(
            self.target.client, self.target.discovery, self.owner,
            force=bool(self.spec.get("force")), timeout=self.typed.timeout_seconds(),
            take_over=managers_to_take_over(NAME, self.settings.override_managers),
            before_create=self.record_planned,
            report_drift=self.reports_drift_only, ignore=self.ignore_rules,
        )  # fmt: skip
        try:
            self.changes = await applier.apply_all(self.objects)
        except (ApplyError, ApiError, aiohttp.ClientError, OSError, TimeoutError) as err:
            # Keep track of whatever did get applied, so it can be pruned later: an
            # error from the API after the first stage must not orphan its objects.
            self.applied = inventory.merge(self.previous, inventory.from_changes(applier.done))
            raise StepError(str(err) or type(err).__name__) from err
        self.applied = inventory.from_changes(self.changes.changes)
        await self.emit_changes(self.changes)
        await self.record_drift(applier.drift)
        return None

    @property
    def reports_drift_only(self) -> bool:
        annotations = self.meta.get("annotations") or {}
        return str(annotations.get(DRIFT_ANNOTATION, "")).lower() == DRIFT_REPORT

    async def record_drift(self, drift: list[Drift]) -> None:
        """Tell who changed what in the cluster, and what Git wants there.

        Corrections stay in status until the next drift; a report (nothing corrected)
        describes the cluster now, so a pass that finds none clears it.
        """
        corrected = not self.reports_drift_only
        if not drift:
            if not corrected:
                self.status.pop("drift", None)
            return
        if corrected:
            name, namespace = self.owner
            objects = len({d.subject for d in drift})
            self.manager.metrics.record_drift(KUSTOMIZATIONS.kind, namespace, name, objects)
        drift = drift[:MAX_DRIFT]
        at = conditions.now_rfc3339()
        self.status["drift"] = [
            {k: self.redact(v) if isinstance(v, str) else v
             for k, v in d.to_status(corrected, at).items()}
            for d in drift
        ]  # fmt: skip
        lines = "\n".join(self.redact(d.describe(corrected)) for d in drift)
        reason, kind = (DRIFT_CORRECTED, NORMAL) if corrected else (DRIFT_DETECTED, WARNING)
        log.info("drift %s:\n%s", "corrected" if corrected else "found", lines,
                 extra={"revision": self.revision})  # fmt: skip
        await self.manager.events.event(self.obj, kind, reason, lines, self._revision_annotation())

    async def record_planned(self, objects: list[Obj]) -> None:
        """Add what is about to be created to the inventory before creating it.

        A controller killed between apply and the final status patch would otherwise
        forget the new objects, and the next revision could never prune them. When
        every one is in the inventory already (a periodic pass, a revision with the
        same objects), there is nothing to write.
        """
        planned = inventory.from_objects(objects)
        known = {e.id for e in self.previous}
        if all(e.id in known for e in planned) and not self.progress_unwritten:
            return
        self.previous = inventory.merge(planned, self.previous)
        self.status["inventory"] = inventory.to_status(self.previous)
        await self.write_progress()

    async def prune(self) -> Result | None:
        if not self.spec.get("prune") or self.applied is None or self.target is None:
            return None
        stale = inventory.stale(self.previous, self.applied)
        if not stale:
            return None
        try:
            pruned = await delete_entries(
                self.target.client, self.target.discovery, stale, self.owner
            )
        except PruneError as err:
            # What could not be deleted, or whose kind discovery could not resolve,
            # stays in the inventory: forgetting it would orphan it for good.
            self.applied = inventory.merge(err.kept, self.applied)
            await self.emit_changes(err.done.changes, "deleted")
            raise StepError(str(err)) from err
        await self.emit_changes(pruned.changes, "deleted")
        if pruned.unserved:
            self.applied = inventory.merge(pruned.unserved, self.applied)
            message = pruned.describe_unserved()
            log.warning(message, extra={"revision": self.revision})
            await self.manager.events.event(
                self.obj, WARNING, Reason.PRUNE_FAILED, message, self._revision_annotation()
            )
        return None

    async def check_health(self) -> Result | None:
        targets = self.health_targets()
        if not targets or self.target is None:
            return None
        if self.progress_unwritten:
            # Waiting may take up to the timeout: say meanwhile that this pass is at work.
            await self.write_progress()
        try:
            self.health_seconds = await wait_healthy(
                self.target.client, self.target.discovery, targets,
                self.typed.timeout_seconds(), judge=assessor(self.health_rules),
            )  # fmt: skip
        except HealthCheckError as err:
            conditions.set_condition(
                self.status, HEALTHY, conditions.FALSE, Reason.HEALTH_CHECK_FAILED,
                self.redact(str(err)),
                self.meta.get("generation"),
            )  # fmt: skip
            raise
        return None

    # -- helpers --------------------------------------------------------------------

    def health_targets(self) -> list[Obj]:
        """What `wait` or `healthChecks` name, never this Kustomization itself.

        `wait` checks what was applied: skipped objects may not exist, and an
        object that applies its own Kustomization must not wait on its own Ready.
        """
        if self.spec.get("wait"):
            applied = [c for c in self.changes.changes if c.action != SKIPPED]
            found = [e.as_object() for e in inventory.from_changes(applied)]
        else:
            found = self.listed_health_checks()
        return [o for o in found if not self._is_self(o)]

    def _is_self(self, obj: Obj) -> bool:
        meta = obj.get("metadata") or {}
        return (
            obj.get("kind") == KUSTOMIZATIONS.kind
            and str(obj.get("apiVersion", "")).startswith(f"{KUSTOMIZATIONS.group}/")
            and (meta.get("name"), meta.get("namespace")) == self.owner
        )

    def listed_health_checks(self) -> list[Obj]:
        found: list[Obj] = []
        for ref in self.spec.get("healthChecks") or []:
            namespace = ref.get("namespace") or self.meta["namespace"]
            api_version = ref.get("apiVersion") or next(
                (
                    o.get("apiVersion")
                    for o in self.objects
                    if o.get("kind") == ref.get("kind")
                    and (o.get("metadata") or {}).get("name") == ref.get("name")
                ),
                "v1",
            )
            meta: dict[str, Any] = {"name": ref.get("name")}
            if namespace:
                meta["namespace"] = namespace
            found.append({"apiVersion": api_version, "kind": ref.get("kind"), "metadata": meta})
        return found

    def _wait_for(self, reason: str, message: str) -> Result:
        delay = self.settings.requeue_dependency
        self.waiting = (reason, f"{message}, retrying in {format_duration(delay)}")
        return Result.after(delay)

    async def emit_changes(self, changes: ChangeSet, action: str = "") -> None:
        lines = (
            "\n".join(f"{c.subject} {c.action}" for c in changes.changes if c.action == action)
            if action
            else changes.summary()
        )
        if lines:
            await self.manager.events.event(
                self.obj, NORMAL, Reason.PROGRESSING, lines, self._revision_annotation()
            )

    def record_metrics(self, previous_revision: str | None) -> None:
        """Time from commit to applied, once per new revision."""
        name, namespace = self.owner
        metrics = self.manager.metrics
        # Every Kustomization has a drift series, 0 until something is corrected.
        metrics.record_drift(KUSTOMIZATIONS.kind, namespace, name, 0)
        if previous_revision != self.revision and self.artifact is not None:
            metrics.record_apply_delay(KUSTOMIZATIONS.kind, self.artifact.last_update_time)

    def _revision_annotation(self) -> dict[str, str] | None:
        if not self.revision:
            return None
        return {"kustomize.toolkit.fluxcd.io/revision": self.revision}

    async def cleanup(self) -> None:
        if self.target is not None:
            await self.target.close()
        if self.workdir is not None:
            await asyncio.to_thread(shutil.rmtree, self.workdir, True)

    # -- outcomes -------------------------------------------------------------------

    async def requeued(self, result: Result) -> Result:
        assert self.waiting is not None
        reason, message = self.waiting
        message = self.redact(message)
        log.info(message)
        conditions.mark_failed(self.status, reason, message, self.meta.get("generation"))
        if self.revision:
            self.status["lastAttemptedRevision"] = self.revision
        await self.manager.status.patch(KUSTOMIZATIONS, self.obj, self.status)
        return result

    async def failed(self, err: StepError) -> Result:
        generation = self.meta.get("generation")
        message = self.redact(err.message)
        conditions.mark_failed(self.status, err.reason, message, generation, not err.stalled)
        if self.revision:
            self.status["lastAttemptedRevision"] = self.revision
        if self.applied is not None:
            self.status["inventory"] = inventory.to_status(self.applied)
        self._record_history(err.reason, time.monotonic() - self.started)
        log.error("%s failed: %s", err.step, message, extra={"revision": self.revision})
        # The Event first: whoever sees the failed status finds the Event beside it.
        await self.manager.events.event(
            self.obj, WARNING, err.reason, message, self._revision_annotation()
        )
        await self.manager.status.patch(KUSTOMIZATIONS, self.obj, self.status)
        if err.stalled:
            return Result.done() if err.retry_in is None else Result.after(err.retry_in)
        return Result.after(self.typed.retry_interval_seconds())

    def _record_history(self, outcome: str, seconds: float) -> None:
        """Count this pass in status.history when it built something: the built
        objects' digest, the revision and, for a Git revision, its commit."""
        objects = getattr(self, "objects", None)
        if objects is None or not self.revision:
            return
        metadata = {"revision": self.revision}
        source = (self.artifact.metadata if self.artifact else None) or {}
        metadata.update({k: v for k, v in source.items() if k.startswith(COMMIT_METADATA_PREFIX)})
        history.record(self.status, history.digest_of(objects), outcome, seconds, metadata)

    async def succeeded(self) -> Result:
        elapsed = time.monotonic() - self.started
        generation = self.meta.get("generation")
        was_ready = conditions.is_true(self.status_before, conditions.READY)
        previous_revision = self.status.get("lastAppliedRevision")
        if self.health_seconds is not None:
            conditions.set_condition(
                self.status, HEALTHY, conditions.TRUE, Reason.SUCCEEDED,
                f"Health check passed in {format_duration(round(self.health_seconds, 3))}",
                generation,
            )  # fmt: skip
        else:
            conditions.delete(self.status, HEALTHY)
        conditions.mark_ready(
            self.status, f"Applied revision: {self.revision}",
            Reason.RECONCILIATION_SUCCEEDED, generation,
        )  # fmt: skip
        self.status["lastAppliedRevision"] = self.revision
        self.status["lastAttemptedRevision"] = self.revision
        self.status["inventory"] = inventory.to_status(self.applied or [])
        self._record_history(Reason.RECONCILIATION_SUCCEEDED, elapsed)
        interval = self.typed.interval_seconds()
        if not was_ready or previous_revision != self.revision or self.changes.summary():
            # A fresh token per success, as Flux sends: alerts never drop one as a duplicate.
            annotations = {**(self._revision_annotation() or {}), TOKEN_ANNOTATION: uuid4().hex}
            await self.manager.events.event(
                self.obj, NORMAL, Reason.RECONCILIATION_SUCCEEDED,
                f"Reconciliation finished in {format_duration(round(elapsed, 3))}, "
                f"next run in {format_duration(interval)}",
                annotations,
            )  # fmt: skip
        await self.manager.status.patch(KUSTOMIZATIONS, self.obj, self.status)
        self.record_metrics(previous_revision)
        return Result.after(interval)
