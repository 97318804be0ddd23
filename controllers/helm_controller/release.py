"""The release step: run what `decision.next_action` asks of Helm and record what it did.

Each helm action (install, upgrade, test, rollback, uninstall) ends in a condition
(Released, TestSuccess, Remediated), a history snapshot and an Event; a failure
goes through one `after_failure`, which counts, remediates and raises the StepError.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from eddy_api.common import Reason
from eddy_helm import actions, manifest, postrender, records
from eddy_helm.actions import INSTALL
from eddy_helm.helm import Helm, HelmError, Judging
from eddy_helm.records import Release
from eddy_helm.values import Values
from eddy_runtime import StepError, conditions
from eddy_runtime.discovery import Discovery, DiscoveryError
from eddy_runtime.durations import format_duration
from eddy_runtime.events import NORMAL, WARNING
from eddy_runtime.health_checks import HealthRule, assessor, wait_healthy
from eddy_runtime.redaction import Redactor
from eddy_runtime.resources import ApiError

from . import decision, drift
from .decision import Desired, Observed
from .target import Target

log = logging.getLogger("eddy.helm")

NO_DRIFT = "No drift detected against the cluster state"
RELEASED = "Released"
TEST_SUCCESS = "TestSuccess"
REMEDIATED = "Remediated"

EventFunc = Callable[[str, str, str], Awaitable[None]]


@dataclass
class Releaser:
    """One HelmRelease's release step against its target cluster."""

    helm: Helm
    target: Target
    spec: dict[str, Any]
    status: dict[str, Any]  # the status being built by the pass, updated in place
    name: str
    namespace: str
    generation: int | None
    chart_dir: Path
    workdir: Path
    values: Values
    desired: Desired
    chart_label: str
    interval: float
    event: EventFunc
    redact: Redactor
    discovery: Discovery
    # Where Helm keeps the release's records (the objects go to `namespace`).
    storage: str
    # Labels naming the HelmRelease, set on the CRDs it applies and by post-rendering
    # on every object of the release, as Flux does.
    origin: dict[str, str]
    # spec.healthCheckExprs: the objects of their kinds are healthy when they say so.
    health_rules: list[HealthRule] = field(default_factory=list)
    # What this step did, for the pass's summary: (reason, message) of the release.
    released: tuple[str, str] | None = None
    tested: bool = False

    async def run(self) -> None:
        before = (self.status.get("history") or [{}])[0].get("digest")
        try:
            await self.decide_and_act()
        finally:
            await self.take_inventory(before)

    async def decide_and_act(self) -> None:
        for _ in range(2):  # an unlocked release is decided on again, once
            releases = await self.history()
            test = conditions.get(self.status, TEST_SUCCESS)
            observed = Observed.from_status(self.status, str(test["status"]) if test else None)
            action = decision.next_action(self.spec, releases, observed, self.desired)
            if action.name == decision.UNLOCK:
                assert action.release is not None
                await self.unlock(action.release, action.rollback_to)
                continue
            await self.perform(action, releases)
            return

    async def perform(self, action: decision.Action, releases: list[Release]) -> None:
        current = action.release
        if action.name == decision.STALL:
            raise StepError(action.message, reason=action.reason, stalled=True)
        if action.name == decision.INSTALL_AFTER_UNINSTALL:
            assert current is not None
            await self.uninstall_failed(current)
            await self.act(INSTALL, None)
        elif action.name in (decision.TEST, decision.NOTHING):
            assert current is not None
            self.status["history"] = records.snapshots(releases)
            await self.check_drift(current)
            if action.name == decision.TEST:
                last = str(self.status.get("lastAttemptedReleaseAction") or INSTALL)
                await self.test(current, last)
            elif not actions.section(self.spec, "test").get("enable"):
                conditions.delete(self.status, TEST_SUCCESS)
        else:
            await self.act(action.name, current)
            if self.drift_mode() != drift.DISABLED:
                self.set(drift.DRIFTED, conditions.FALSE, drift.NO_DRIFT_DETECTED, NO_DRIFT)

    # -- drift ------------------------------------------------------------------------

    def drift_mode(self) -> str:
        return str(actions.section(self.spec, "driftDetection").get("mode") or drift.DISABLED)

    async def check_drift(self, current: Release) -> None:
        """Compare the release's objects with the cluster; correct them in `enabled` mode."""
        mode = self.drift_mode()
        if mode == drift.DISABLED:
            conditions.delete(self.status, drift.DRIFTED)
            return
        try:
            rules = drift.ignore_rules(self.spec)
            objects = await manifest.objects_of(current.manifest, self.namespace, self.discovery)
            for i, rule in enumerate(rules):
                if rule.target and not any(rule.selects(o) for o in objects):
                    raise drift.DriftError(
                        f"spec.driftDetection.ignore[{i}].target selects none of the objects of "
                        f"release {self.where(current)}; fix or remove the rule"
                    )
            found = await drift.detect(
                self.target.client, self.discovery, objects, rules, (self.name, self.namespace)
            )
        except manifest.ManifestError as err:
            raise StepError(f"drift detection failed: {err}", stalled="spec." in str(err)) from err
        except DiscoveryError as err:
            raise StepError(f"drift detection failed: {err.message}") from err
        if not found:
            self.set(drift.DRIFTED, conditions.FALSE, drift.NO_DRIFT_DETECTED, NO_DRIFT)
            return
        for item in found:
            paths = ", ".join(op["path"] for op in item.patch) or "(object deleted)"
            log.info("%s drifted at %s", item.subject, paths)
        message = (
            f"Cluster state of release {self.where(current)} has drifted from the desired "
            "state:\n" + "\n".join(d.summary() for d in found)
        )
        self.set(drift.DRIFTED, conditions.TRUE, drift.DRIFT_DETECTED, message)
        await self.event(WARNING, drift.DRIFT_DETECTED, message)
        if mode != drift.ENABLED:
            return
        done, failed = await drift.correct(self.target.client, found)
        if failed:
            text = "partially correct" if done else "correct"
            message = f"Failed to {text} cluster state of release {self.where(current)}:\n"
            message += "\n".join(failed)
            if done:
                message += "\n\nSuccessful corrections:\n" + "\n".join(done)
            await self.event(WARNING, drift.DRIFT_CORRECTION_FAILED, message)
            return
        await self.event(
            NORMAL, drift.DRIFT_CORRECTED,
            f"Cluster state of release {self.where(current)} has been corrected:\n"
            + "\n".join(done),
        )  # fmt: skip

    async def take_inventory(self, before: str | None) -> None:
        """status.inventory: the objects of the newest release, read again when it changed."""
        history = self.status.get("history") or []
        if not history:
            self.status.pop("inventory", None)
            return
        if history[0].get("digest") == before and "inventory" in self.status:
            return
        releases = await self.history()
        latest = records.latest(releases)
        if latest is None:
            return
        try:
            objects = await manifest.objects_of(latest.manifest, self.namespace, self.discovery)
        except (DiscoveryError, manifest.ManifestError) as err:
            log.warning("inventory of release %s not taken: %s", self.where(latest), err)
            return
        self.status["inventory"] = manifest.inventory(objects)

    # -- helm actions -----------------------------------------------------------------

    async def act(self, action: str, current: Release | None) -> None:
        """Install or upgrade; on success test, on failure count and remediate."""
        builder = actions.install_args if action == INSTALL else actions.upgrade_args
        args = builder(self.spec, self.name, self.namespace, self.chart_dir, await self.write())
        args += actions.crds_args(self.spec, action, self.origin)
        if action == INSTALL and current is not None and "--replace" not in args:
            # A history kept by `uninstall --keep-history` holds the name.
            args.append("--replace")
        self.status["lastAttemptedReleaseAction"] = action
        started = time.monotonic()
        try:
            await self.run_helm(args, action, postrender.document(self.spec, self.origin))
        except HelmError as err:
            self.status["lastAttemptedReleaseActionDuration"] = _since(started)
            await self.action_failed(action, current, str(err))
        self.status["lastAttemptedReleaseActionDuration"] = _since(started)
        self.observe_post_rendering()
        releases = await self.history()
        made = records.latest(releases)
        assert made is not None
        reason = Reason.INSTALL_SUCCEEDED if action == INSTALL else Reason.UPGRADE_SUCCEEDED
        message = (
            f"Helm {action} succeeded for release {self.where(made)} "
            f"with chart {made.chart_name}@{made.chart_version}"
        )
        self.status["history"] = records.snapshots(releases)
        self.set(RELEASED, conditions.TRUE, reason, message)
        conditions.delete(self.status, REMEDIATED)
        await self.event(NORMAL, reason, message)
        self.released = (reason, message)
        await self.test(made, action)

    def observe_post_rendering(self) -> None:
        """Record the post-rendering a successful install or upgrade used.

        Flux records these digests after any action, failed ones too; here only a
        release made with them counts, so a post-renderer that failed (a patch that
        does not apply) keeps asking for an upgrade instead of passing for in sync.
        """
        for key, value in (
            ("observedPostRenderersDigest", self.desired.post_renderers_digest),
            ("observedCommonMetadataDigest", self.desired.common_metadata_digest),
        ):
            if value:
                self.status[key] = value
            else:
                self.status.pop(key, None)

    async def action_failed(self, action: str, current: Release | None, error: str) -> NoReturn:
        reason = decision.failed_reason(action)
        message = f"Helm {action} failed for release {self.namespace}/{self.name} with chart " \
                  f"{self.chart_label}: {error}"  # fmt: skip
        releases = await self.history()
        self.status["history"] = records.snapshots(releases)
        self.set(RELEASED, conditions.FALSE, reason, self.redact(message))
        await self.event(WARNING, reason, message)
        made = records.latest(releases)
        left_record = made is not None and (current is None or made.version > current.version)
        await self.after_failure(action, reason, message, made if left_record else None, releases)

    async def test(self, made: Release, action: str) -> None:
        if not actions.section(self.spec, "test").get("enable"):
            conditions.delete(self.status, TEST_SUCCESS)
            return
        self.tested = True
        chart = f"{made.chart_name}@{made.chart_version}"
        try:
            await self.run_helm(actions.test_args(self.spec, self.name, self.namespace), "test")
        except HelmError as err:
            message = f"Helm test failed for release {self.where(made)} with chart {chart}: {err}"
            self.set(TEST_SUCCESS, conditions.FALSE, Reason.TEST_FAILED, self.redact(message))
            self.status["history"] = records.snapshots(await self.history())
            await self.event(WARNING, Reason.TEST_FAILED, message)
            if actions.ignore_test_failures(self.spec, action):
                return
            # A failed test is a failed release: count it and remediate as Flux does.
            await self.after_failure(action, Reason.TEST_FAILED, message, made, None)
        message = f"Helm test succeeded for release {self.where(made)} with chart {chart}"
        self.set(TEST_SUCCESS, conditions.TRUE, Reason.TEST_SUCCEEDED, message)
        self.status["history"] = records.snapshots(await self.history())
        await self.event(NORMAL, Reason.TEST_SUCCEEDED, message)

    async def after_failure(
        self,
        action: str,
        reason: str,
        message: str,
        failed: Release | None,
        releases: list[Release] | None,
    ) -> NoReturn:
        """Count a failed install, upgrade or test; remediate, then fail the step.

        `failed` is the record Helm left (None when it refused before recording one).
        """
        self._count(action, counts=failed is not None)
        failures = int(self.status.get(f"{action}Failures") or 0)
        plan = decision.after_failure_plan(self.spec, action, failures, failed is not None)
        if plan.retry_on_failure:
            # The spec asks to leave the failed release as it is and try again later.
            retry_in = actions.retry_interval(self.spec, action, self.interval)
            raise StepError(message, reason=reason, retry_in=retry_in)
        if plan.remediate:
            assert failed is not None
            await self.remediate(action, failed, releases or await self.history())
        if plan.stalled:
            message = f"{message} (after {failures} attempt(s))"
        raise StepError(message, reason=reason, stalled=plan.stalled)

    def _count(self, action: str, counts: bool) -> None:
        self.status["failures"] = int(self.status.get("failures") or 0) + 1
        if counts:
            key = f"{action}Failures"
            self.status[key] = int(self.status.get(key) or 0) + 1

    async def remediate(self, action: str, failed: Release, releases: list[Release]) -> None:
        how, good = decision.remediation(self.spec, action, failed, releases)
        if how == decision.ROLLBACK:
            assert good is not None
            args = actions.rollback_args(self.spec, self.name, self.namespace, good.version)
            try:
                await self.run_helm(args, "rollback")
            except HelmError as err:
                await self.remediation_failed(Reason.ROLLBACK_FAILED, str(err))
                return
            await self.remediated(
                Reason.ROLLBACK_SUCCEEDED,
                f"Helm rollback to previous release {self.where(good)} "
                f"with chart {good.chart_name}@{good.chart_version} succeeded",
            )
            return
        try:
            await self.uninstall_failed(failed)
        except HelmError as err:
            await self.remediation_failed(Reason.UNINSTALL_FAILED, str(err))

    async def uninstall_failed(self, failed: Release) -> None:
        """Uninstall a failed release (a failed first install blocks `helm install`)."""
        args = actions.uninstall_args(self.spec, self.name, self.namespace)
        await self.run_helm(args, "uninstall")
        await self.remediated(
            Reason.UNINSTALL_SUCCEEDED,
            f"Helm uninstall for release {self.where(failed)} "
            f"with chart {failed.chart_name}@{failed.chart_version} succeeded",
        )

    async def unlock(self, stuck: Release, good: Release | None) -> None:
        """A release left pending by an interrupted action blocks Helm; undo it."""
        if good is None:
            await self.uninstall_failed(stuck)
            return
        args = actions.rollback_args(self.spec, self.name, self.namespace, good.version)
        await self.run_helm(args, "rollback")
        await self.remediated(
            Reason.ROLLBACK_SUCCEEDED,
            f"Helm rollback of interrupted release {self.where(stuck)} to v{good.version} "
            "succeeded",
        )

    async def remediated(self, reason: str, message: str) -> None:
        self.set(REMEDIATED, conditions.TRUE, reason, message)
        self.status["history"] = records.snapshots(await self.history())
        await self.event(NORMAL, reason, message)

    async def remediation_failed(self, reason: str, error: str) -> None:
        message = f"Helm remediation of release {self.namespace}/{self.name} failed: {error}"
        self.set(REMEDIATED, conditions.FALSE, reason, self.redact(message))
        await self.event(WARNING, reason, message)

    # -- plumbing ---------------------------------------------------------------------

    async def history(self) -> list[Release]:
        return await records.history(self.target.client, self.storage, self.name)

    async def run_helm(
        self, args: list[str], section: str, post_render: dict[str, Any] | None = None
    ) -> str:
        timeout = actions.timeout_of(self.spec, section)
        args = args + actions.storage_args(self.namespace, self.storage)
        # Health expressions count only where Helm waits, as in Flux (not with disableWait).
        judging = self.judging() if "--wait" in args else None
        return await self.helm.run(args, self.target.kubeconfig, timeout, post_render, judging)

    def judging(self) -> Judging | None:
        """Helm's wait ends when the objects of the expressions' kinds are judged healthy."""
        legacy = actions.section(self.spec, "waitStrategy").get("name") == "legacy"
        if not self.health_rules or legacy:
            return None
        kinds = [{"group": r.group, "kind": r.kind} for r in self.health_rules]
        judge = assessor(self.health_rules)

        async def verdict(objects: list[dict[str, Any]], seconds: float) -> str | None:
            try:
                await wait_healthy(
                    self.target.client, self.discovery, objects, seconds, judge=judge
                )
            except (StepError, ApiError) as err:
                return str(err)
            return None

        return Judging(kinds, verdict)

    async def write(self) -> Path:
        """The composed values as a private file for `--values`."""
        path = self.workdir / "values.json"

        def write() -> None:
            path.touch(mode=0o600)
            path.write_text(json.dumps(self.values))

        await asyncio.to_thread(write)
        return path

    def set(self, kind: str, state: str, reason: str, message: str) -> None:
        conditions.set_condition(self.status, kind, state, reason, message, self.generation)

    def where(self, release: Release) -> str:
        return f"{self.namespace}/{self.name}.v{release.version}"


def _since(started: float) -> str:
    return format_duration(round(time.monotonic() - started, 3))
