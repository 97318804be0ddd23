"""The HelmRelease reconciler: dependencies, chart, values, release, test, remediation.

One pass reads top to bottom as those steps and ends in the Events
that say what Helm did or what a person has to fix, then one status patch.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import logging
import shutil
import tempfile
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eddy_api.common import RESET_REQUEST_ANNOTATION, Artifact, Reason
from eddy_api.helm import refused_fields
from eddy_helm import actions, postrender, records
from eddy_helm.helm import SERVER_NAME, Helm, HelmError
from eddy_helm.values import Values, compose, config_digest, values_checksum
from eddy_runtime import Attempt, Manager, Result, Step, StepError, conditions, logs
from eddy_runtime.consumers import ConsumerSettings
from eddy_runtime.dependencies import (
    DependencyNotReady,
    cached_lookup,
    check_dependencies,
)
from eddy_runtime.discovery import Discovery
from eddy_runtime.durations import format_duration, seconds_or
from eddy_runtime.events import WARNING
from eddy_runtime.finalizers import account_gone, finalized, service_account_of
from eddy_runtime.health_checks import HealthRule, compile_rules
from eddy_runtime.informer import Informer
from eddy_runtime.kubeconfig import TargetError
from eddy_runtime.reconciler import refuse_unsupported
from eddy_runtime.redaction import Redactor
from eddy_runtime.resources import ApiError, ResourceClient
from eddy_runtime.sessions import LazySession

from .chart import (
    ChartNotReady,
    ChartRefused,
    chart_version,
    delete_chart,
    download_chart,
    ensure_chart,
    ready_artifact,
    referenced_chart,
)
from .decision import Desired
from .objects import (
    HELM_CHARTS,
    HELM_RELEASES,
    Obj,
    owner_labels,
    release_name,
    release_namespace,
    spec_of,
    typed,
)
from .release import RELEASED, TEST_SUCCESS, Releaser
from .storage import adopt_records, move_records
from .target import Target, Targets

log = logging.getLogger("eddy.helm")

NAME = "helm-controller"
RETRIES_EXCEEDED = "RetriesExceeded"
REVISION_ANNOTATION = "helm.toolkit.fluxcd.io/revision"


@dataclass(frozen=True)
class Settings(ConsumerSettings):
    helm: str = "helm"
    # The long-running Helm (eddy-helm-server); empty runs the helm binary per action.
    helm_server: str = ""


class HelmReleaseReconciler:
    def __init__(
        self, manager: Manager, charts: Mapping[str, Informer], settings: Settings
    ) -> None:
        self.manager = manager
        # The caches of the kinds a chart comes from (HelmChart, OCIRepository), by kind.
        self.charts = charts
        self.settings = settings
        self.helm = Helm.create(settings.helm, settings.workdir, settings.helm_server)
        self.targets = Targets(
            manager.client, settings.default_service_account, settings.workdir, settings.kubeconfig
        )
        self.lookup_release = cached_lookup(manager, HELM_RELEASES)
        self.session = LazySession()
        # Discovery per client: the controller's own and each impersonating one are kept.
        self._discovery: weakref.WeakKeyDictionary[ResourceClient, Discovery] = (
            weakref.WeakKeyDictionary()
        )

    def discovery_for(self, client: ResourceClient) -> Discovery:
        found = self._discovery.get(client)
        if found is None:
            found = self._discovery[client] = Discovery(client)
        return found

    async def close(self) -> None:
        await self.session.close()
        await self.targets.close()
        await self.helm.close()
        await asyncio.to_thread(shutil.rmtree, self.helm.home, True)

    async def reconcile(self, obj: Obj) -> Result:
        return await finalized(self.manager.client, HELM_RELEASES, obj, self.attempt, self.finalize)

    async def attempt(self, obj: Obj) -> Result:
        return await HelmReleaseAttempt(self, obj).run()

    async def finalize(self, obj: Obj) -> None:
        """Uninstall the release (unless suspended) and drop the HelmChart."""
        spec = spec_of(obj)
        if not spec.get("suspend"):
            await self.uninstall_on_delete(obj)
        try:
            await delete_chart(self.manager.client, obj)
        except ApiError as err:
            log.warning("could not delete the HelmChart: %s", err)

    async def uninstall_on_delete(self, obj: Obj) -> None:
        spec = spec_of(obj)
        name, namespace = release_name(obj), release_namespace(obj)
        storage = typed(obj).records_namespace()
        try:
            target = await self.targets.for_release(obj, namespace)
        except TargetError as err:
            # The cluster is out of reach for good; keeping the finalizer would
            # only block the deletion forever.
            await self.manager.events.warning(obj, Reason.UNINSTALL_FAILED, str(err))
            return
        try:
            try:
                releases = await records.history(target.client, storage, name)
            except ApiError as err:
                if err.status == 403 and not (obj.get("status") or {}).get("history"):
                    # This release never made a Helm release (its account may never have
                    # had the rights, or lost them first when a namespace is deleted):
                    # nothing to uninstall, and a kept finalizer would block forever.
                    log.info("no release was made and its records cannot be read: %s", err)
                    return
                if err.status in (401, 403) and await self.account_gone(obj):
                    await self.left_in_place(obj, namespace, name)
                    return
                raise
            current = records.latest(releases)
            if current is None or current.status == records.UNINSTALLED:
                return
            args = actions.uninstall_args(spec, name, namespace)
            args += actions.storage_args(namespace, storage)
            try:
                await self.helm.run(args, target.kubeconfig, actions.timeout_of(spec, "uninstall"))
            except HelmError as err:
                if await self.account_gone(obj):
                    await self.left_in_place(obj, namespace, name)
                    return
                await self.manager.events.warning(obj, Reason.UNINSTALL_FAILED, str(err))
                raise
            await self.manager.events.normal(
                obj, Reason.UNINSTALL_SUCCEEDED,
                f"Helm uninstall succeeded for release {namespace}/{name}.v{current.version} "
                f"with chart {current.chart_name}@{current.chart_version}",
            )  # fmt: skip
        finally:
            await target.close()

    async def account_gone(self, obj: Obj) -> bool:
        return await account_gone(self.manager.client, obj, self.settings.default_service_account)

    async def left_in_place(self, obj: Obj, namespace: str, name: str) -> None:
        account = service_account_of(obj, self.settings.default_service_account)
        message = (
            f"ServiceAccount '{obj['metadata']['namespace']}/{account}' is gone, so release "
            f"{namespace}/{name} cannot be uninstalled; left in place"
        )
        log.warning(message)
        await self.manager.events.warning(obj, Reason.UNINSTALL_FAILED, message)


@dataclass
class HelmReleaseAttempt(Attempt):
    """One reconcile of one HelmRelease, step by step."""

    reconciler: HelmReleaseReconciler
    obj: Obj
    status: dict[str, Any] = field(init=False)
    artifact: Artifact | None = None
    values: Values = field(default_factory=dict)
    digest: str = ""
    workdir: Path | None = None
    chart_dir: Path | None = None
    # How messages name the chart source: "HelmChart 'ns/name'", "OCIRepository 'ns/name'".
    where: str = ""
    target: Target | None = None
    waiting: tuple[str, str] | None = None
    # What this pass did, for the final summary: (reason, message) of the release.
    released: tuple[str, str] | None = None
    tested: bool = False
    redact: Redactor = field(default_factory=Redactor)
    # spec.healthCheckExprs, compiled before any Helm action.
    health_rules: list[HealthRule] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.status_before: dict[str, Any] = self.obj.get("status") or {}
        self.status = copy.deepcopy(self.status_before)
        self.status.pop("observedGeneration", None)
        self.spec = spec_of(self.obj)
        self.meta: dict[str, Any] = self.obj["metadata"]
        self.generation: int | None = self.meta.get("generation")
        self.settings = self.reconciler.settings
        self.manager = self.reconciler.manager
        self.helm = self.reconciler.helm
        # The spec as eddy_api types it, for the rules written there (names, references).
        self.typed = typed(self.obj)
        self.name = self.typed.release_name()
        self.namespace = self.typed.release_namespace()
        self.storage = self.storage_namespace()

    @property
    def revision(self) -> str:
        return self.artifact.revision if self.artifact else ""

    def steps(self) -> list[Step]:
        return [
            Step("check dependencies", self.check_dependencies, Reason.DEPENDENCY_NOT_READY),
            Step("resolve chart", self.resolve_chart, Reason.ARTIFACT_FAILED),
            Step("compose values", self.compose_values, Reason.INIT_FAILED),
            Step("report progress", self.report_progress),
            Step("fetch chart", self.fetch_chart, Reason.ARTIFACT_FAILED),
            Step("connect", self.connect, Reason.INIT_FAILED),
            Step("release", self.release, Reason.RECONCILIATION_FAILED),
        ]

    # -- steps ----------------------------------------------------------------------

    async def check_dependencies(self) -> Result | None:
        # Before anything else, the HelmChart included: refused fields stop here.
        refuse_unsupported(self._unsupported(), HELM_RELEASES.kind)
        # A health expression that does not compile stalls before Helm is asked anything.
        self.health_rules = compile_rules(self.spec.get("healthCheckExprs"))
        try:
            await check_dependencies(
                self.obj, self.reconciler.lookup_release, self.settings.no_cross_namespace_refs,
                additive=self.settings.additive_cel_dependency_check,
            )  # fmt: skip
        except DependencyNotReady as err:
            return self._wait_for(
                Reason.DEPENDENCY_NOT_READY, f"dependencies do not meet ready condition ({err})"
            )
        return None

    async def resolve_chart(self) -> Result | None:
        client, caches = self.manager.client, self.reconciler.charts
        cache = caches[HELM_CHARTS.kind]
        try:
            template = self.typed.spec.chart
            if self.typed.spec.chart_ref is not None:
                chart = await referenced_chart(
                    client, caches, self.obj, self.settings.no_cross_namespace_refs
                )
                if chart.get("kind") != HELM_CHARTS.kind:
                    return await self._chart_from_artifact(chart)
            else:
                ref = template.spec.source_ref if template is not None else None
                own = self.meta["namespace"]
                if (
                    self.settings.no_cross_namespace_refs
                    and ref
                    and ref.namespace not in (None, "", own)
                ):
                    raise ChartRefused(
                        f"cannot use {ref.kind} '{ref.namespace}/{ref.name}'"
                        ": cross-namespace references are disabled on this controller"
                    )
                chart = await ensure_chart(client, cache, self.obj)
            meta = chart["metadata"]
            self.status["helmChart"] = f"{meta['namespace']}/{meta['name']}"
            self.status.pop("lastAttemptedRevisionDigest", None)
            self.where = f"HelmChart '{self.status['helmChart']}'"
            self.artifact = ready_artifact(chart)
            logs.set_revision(self.artifact.revision)
        except ChartRefused as err:
            raise StepError(str(err), reason=Reason.ACCESS_DENIED, stalled=True) from err
        except ChartNotReady as err:
            return self._wait_for(Reason.ARTIFACT_FAILED, str(err))
        return None

    async def _chart_from_artifact(self, source: Obj) -> Result | None:
        """A chart in a source artifact (OCIRepository): fetched now, its version from Chart.yaml.

        The release follows the chart's version, as with a HelmChart; the artifact's
        digest is kept in lastAttemptedRevisionDigest, as Flux does.
        """
        try:
            artifact = ready_artifact(source)
        except ChartNotReady as err:
            return self._wait_for(Reason.ARTIFACT_FAILED, str(err))
        meta = source["metadata"]
        self.where = f"{source.get('kind')} '{meta['namespace']}/{meta['name']}'"
        self.status.pop("helmChart", None)
        waiting = await self._download(artifact)
        if waiting is not None:
            return waiting
        assert self.chart_dir is not None
        version = await asyncio.to_thread(chart_version, self.chart_dir)
        self.artifact = dataclasses.replace(artifact, revision=version)
        logs.set_revision(version)
        self.status["lastAttemptedRevisionDigest"] = artifact.revision.rpartition("@")[2]
        return None

    async def compose_values(self) -> Result | None:
        self.values, secret_strings = await compose(
            self.manager.client, self.meta["namespace"], self.spec
        )
        self.redact.add(secret_strings)
        self.digest = config_digest(self.values)
        if self._must_reset_failures():
            for key in ("failures", "installFailures", "upgradeFailures"):
                self.status.pop(key, None)
        return None

    def _must_reset_failures(self) -> bool:
        """A new spec, chart, values or reset request earns a fresh set of retries."""
        before = self.status_before
        reset = (self.meta.get("annotations") or {}).get(RESET_REQUEST_ANNOTATION)
        return (
            before.get("lastAttemptedGeneration") != self.generation
            or before.get("lastAttemptedRevision") != self.revision
            or before.get("lastAttemptedConfigDigest") != self.digest
            or (reset is not None and reset != before.get("lastHandledResetAt"))
        )

    async def report_progress(self) -> Result | None:
        """Say so before working on a new chart, values or spec, as kstatus clients expect."""
        before = self.status_before
        current = (
            conditions.is_true(before, conditions.READY)
            and before.get("observedGeneration") == self.generation
            and before.get("lastAttemptedRevision") == self.revision
            and before.get("lastAttemptedConfigDigest") == self.digest
        )
        self._record_attempt()
        if current:
            return None
        message = (
            f"Fulfilling prerequisites for release {self.namespace}/{self.name} with chart "
            f"version {self.revision}"
        )
        conditions.set_condition(
            self.status, conditions.RECONCILING, conditions.TRUE, Reason.PROGRESSING, message,
            self.generation,
        )  # fmt: skip
        conditions.set_condition(
            self.status, conditions.READY, conditions.UNKNOWN, Reason.PROGRESSING,
            "Reconciliation in progress", self.generation,
        )  # fmt: skip
        self.obj = await self.manager.status.patch(HELM_RELEASES, self.obj, self.status)
        return None

    def _record_attempt(self) -> None:
        self.status["lastAttemptedRevision"] = self.revision
        self.status["lastAttemptedConfigDigest"] = self.digest
        self.status["lastAttemptedValuesChecksum"] = values_checksum(self.values)
        self.status["lastAttemptedGeneration"] = self.generation
        reset = (self.meta.get("annotations") or {}).get(RESET_REQUEST_ANNOTATION)
        if reset is not None:
            self.status["lastHandledResetAt"] = reset

    async def fetch_chart(self) -> Result | None:
        assert self.artifact is not None
        if self.chart_dir is not None:
            return None  # fetched while resolving the chart's version
        return await self._download(self.artifact)

    async def _download(self, artifact: Artifact) -> Result | None:
        base = self.settings.workdir
        self.workdir = Path(await asyncio.to_thread(tempfile.mkdtemp, "", "helmrelease-", base))
        try:
            self.chart_dir = await download_chart(
                self.reconciler.session(), artifact, self.where, self.workdir / "chart"
            )
        except ChartNotReady as err:
            return self._wait_for(Reason.ARTIFACT_FAILED, str(err))
        return None

    def _unsupported(self) -> list[str]:
        """Fields set here that eddy accepts for Flux's sake but does not act on yet."""
        return refused_fields(self.spec)

    def storage_namespace(self) -> str:
        """Where the records go: the spec's rule, but beside the objects when it is left
        to the default and only the helm command (which keeps them there) is at hand."""
        if self.helm.server is None and not self.spec.get("storageNamespace"):
            return self.namespace
        return self.typed.storage_namespace()

    async def connect(self) -> Result | None:
        if self.storage != self.namespace and self.helm.server is None:
            raise StepError(
                f"spec.storageNamespace '{self.storage}' differs from the release namespace "
                f"'{self.namespace}', which needs {SERVER_NAME} (the helm command keeps "
                "records beside the objects); install it or remove storageNamespace",
                stalled=True,
            )
        try:
            self.target = await self.reconciler.targets.for_release(self.obj, self.namespace)
        except TargetError as err:
            # A refused kubeconfig stalls; the Secret is not watched, so it is read
            # again at the next interval rather than never.
            retry_in = self.interval() if err.refused else None
            raise StepError(str(err), stalled=err.refused, retry_in=retry_in) from err
        before = self.status.get("storageNamespace")
        moved = 0
        if before and before != self.storage:
            moved = await move_records(self.target.client, self.name, before, self.storage)
        elif not (before or self.spec.get("storageNamespace")) and self.storage != self.namespace:
            # First pass: a release an earlier eddy kept beside its objects.
            before = self.namespace
            moved = await adopt_records(self.target.client, self.name, before, self.storage)
        if moved:
            log.info("moved %d record(s) of release %s from %s to %s",
                     moved, self.name, before, self.storage)  # fmt: skip
        self.status["storageNamespace"] = self.storage
        return None

    async def release(self) -> Result | None:
        assert self.target is not None and self.chart_dir is not None
        assert self.workdir is not None
        desired = Desired(
            self.revision, self.digest,
            postrender.post_renderers_digest(self.spec),
            postrender.common_metadata_digest(self.spec),
        )  # fmt: skip
        releaser = Releaser(
            self.helm, self.target, self.spec, self.status, self.name, self.namespace,
            self.generation, self.chart_dir, self.workdir, self.values,
            desired, self.chart_label(), self.interval(),
            self.event, self.redact, self.reconciler.discovery_for(self.target.client),
            self.storage, owner_labels(self.obj), self.health_rules,
        )  # fmt: skip
        try:
            await releaser.run()
        finally:
            self.released, self.tested = releaser.released, releaser.tested
        return None

    # -- helpers --------------------------------------------------------------------

    def chart_label(self) -> str:
        template, chart_ref = self.typed.spec.chart, self.typed.spec.chart_ref
        chart = template.spec.chart if template is not None else ""
        name = chart or (chart_ref.name if chart_ref is not None else "") or "chart"
        return f"{str(name).rstrip('/').rsplit('/', 1)[-1]}@{self.revision}"

    def _wait_for(self, reason: str, message: str) -> Result:
        delay = self.settings.requeue_dependency
        self.waiting = (reason, f"{message}, retrying in {format_duration(delay)}")
        return Result.after(delay)

    async def event(self, event_type: str, reason: str, message: str) -> None:
        annotations = {REVISION_ANNOTATION: self.revision} if self.revision else None
        await self.manager.events.event(
            self.obj, event_type, reason, self.redact(message), annotations
        )

    async def cleanup(self) -> None:
        if self.target is not None:
            await self.target.close()
        if self.workdir is not None:
            await asyncio.to_thread(shutil.rmtree, self.workdir, True)

    def interval(self) -> float:
        return seconds_or(self.spec.get("interval"), 600.0)

    # -- outcomes -------------------------------------------------------------------

    async def requeued(self, result: Result) -> Result:
        assert self.waiting is not None
        reason, message = self.waiting
        message = self.redact(message)
        log.info(message)
        conditions.mark_failed(self.status, reason, message, self.generation)
        await self.manager.status.patch(HELM_RELEASES, self.obj, self.status)
        return result

    async def failed(self, err: StepError) -> Result:
        reason, stalled, retry_in = err.reason, err.stalled, err.retry_in
        message = self.redact(err.message)
        if stalled:
            conditions.mark_failed(self.status, reason, message, self.generation, retrying=False)
            stall = RETRIES_EXCEEDED if reason in (
                Reason.INSTALL_FAILED, Reason.UPGRADE_FAILED, Reason.TEST_FAILED
            ) else reason  # fmt: skip
            conditions.set_condition(
                self.status, conditions.STALLED, conditions.TRUE, stall, message, self.generation
            )
        else:
            conditions.mark_failed(self.status, reason, message, self.generation)
        log.error("release failed: %s", message, extra={"revision": self.revision})
        if reason not in (Reason.INSTALL_FAILED, Reason.UPGRADE_FAILED, Reason.TEST_FAILED):
            # Helm's own failures already had their Event from the action itself.
            await self.event(WARNING, reason, message)
        await self.manager.status.patch(HELM_RELEASES, self.obj, self.status)
        if stalled:
            return Result.done() if retry_in is None else Result.after(retry_in)
        if retry_in is not None:
            return Result.after(retry_in)
        # HelmRelease has no spec.retryInterval (the API server prunes one): like Flux,
        # a failure is retried with the work queue's exponential backoff, so a missing
        # ConfigMap created later is picked up within seconds, never after a whole interval.
        return Result.retry(at_most=self.interval())

    async def succeeded(self) -> Result:
        if self.released is not None:
            reason, message = self.released
        else:
            released = conditions.get(self.status, RELEASED)
            if released is not None and released.get("status") == conditions.TRUE:
                reason, message = str(released["reason"]), str(released["message"])
            else:
                reason = Reason.INSTALL_SUCCEEDED
                message = f"Release {self.namespace}/{self.name} is in sync with chart " \
                          f"{self.chart_label()}"  # fmt: skip
                conditions.set_condition(
                    self.status, RELEASED, conditions.TRUE, reason, message, self.generation
                )
        test = conditions.get(self.status, TEST_SUCCESS)
        if self.tested and test is not None and test.get("status") == conditions.TRUE:
            reason, message = str(test["reason"]), str(test["message"])
        conditions.mark_ready(self.status, message, reason, self.generation)
        for key in ("failures", "installFailures", "upgradeFailures"):
            self.status.pop(key, None)
        history = self.status.get("history") or []
        if history:
            self.status["lastReleaseRevision"] = history[0].get("version")
        await self.manager.status.patch(HELM_RELEASES, self.obj, self.status)
        new_chart = self.status_before.get("lastAttemptedRevision") != self.revision
        if self.released is not None and new_chart and self.artifact is not None:
            # Time from the chart's artifact being stored to its release.
            self.manager.metrics.record_apply_delay(
                HELM_RELEASES.kind, self.artifact.last_update_time
            )
        return Result.after(self.interval())
