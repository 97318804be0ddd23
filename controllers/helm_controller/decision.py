"""What Helm should do next for a HelmRelease, decided from its spec, status and history.

Pure functions, no I/O: the release step reads Helm's records, asks here, and runs
what comes back, so every branch of the decision has its own unit test.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eddy_api.common import Reason
from eddy_helm import actions, records
from eddy_helm.actions import INSTALL, UPGRADE
from eddy_helm.records import Release

# What next_action can ask for.
STALL = "stall"  # retries exhausted: only an edit or a reset helps
UNLOCK = "unlock"  # an interrupted action left the release pending
INSTALL_AFTER_UNINSTALL = "uninstall-then-install"  # a failed first install blocks the name
TEST = "test"  # in sync, but tests enabled since the release was made have not run
NOTHING = "nothing"  # in sync
# ... and INSTALL, UPGRADE.

# How a failed release is remediated.
ROLLBACK = "rollback"
UNINSTALL = "uninstall"


@dataclass(frozen=True)
class Observed:
    """What status says of earlier passes."""

    last_action: str = ""  # status.lastAttemptedReleaseAction
    install_failures: int = 0
    upgrade_failures: int = 0
    test_succeeded: bool | None = None  # the TestSuccess condition, None when absent
    # status.observedPostRenderersDigest and observedCommonMetadataDigest.
    post_renderers_digest: str = ""
    common_metadata_digest: str = ""

    @staticmethod
    def from_status(status: dict[str, Any], test_status: str | None) -> Observed:
        return Observed(
            last_action=str(status.get("lastAttemptedReleaseAction") or ""),
            install_failures=int(status.get("installFailures") or 0),
            upgrade_failures=int(status.get("upgradeFailures") or 0),
            test_succeeded={"True": True, "False": False}.get(test_status or ""),
            post_renderers_digest=str(status.get("observedPostRenderersDigest") or ""),
            common_metadata_digest=str(status.get("observedCommonMetadataDigest") or ""),
        )

    def failures(self, action: str) -> int:
        return self.install_failures if action == INSTALL else self.upgrade_failures


@dataclass(frozen=True)
class Desired:
    """The chart version, values digest and post-rendering digests this pass releases."""

    chart_version: str
    config_digest: str
    post_renderers_digest: str = ""
    common_metadata_digest: str = ""

    def matches(self, release: Release, observed: Observed) -> bool:
        """Whether `release` is what the spec asks for.

        The chart and values are read from Helm's record; what post-rendering
        did is not in it, so its digests are compared with those status recorded
        when the last install or upgrade succeeded.
        """
        return (
            release.chart_version == self.chart_version
            and release.config_digest == self.config_digest
            and observed.post_renderers_digest == self.post_renderers_digest
            and observed.common_metadata_digest == self.common_metadata_digest
        )


@dataclass(frozen=True)
class Action:
    """The next thing to do; `release` is the record it acts on, when there is one."""

    name: str
    release: Release | None = None
    # UNLOCK: the release to roll back to; None means uninstall the stuck one.
    rollback_to: Release | None = None
    # STALL: the reason and message for status.
    reason: str = ""
    message: str = ""


def failed_reason(action: str) -> str:
    return Reason.INSTALL_FAILED if action == INSTALL else Reason.UPGRADE_FAILED


def next_action(
    spec: dict[str, Any], releases: list[Release], observed: Observed, desired: Desired
) -> Action:
    """Install, upgrade, test, unlock, stall or nothing, the way Flux decides it."""
    current = records.latest(releases)
    last = observed.last_action
    if (
        current is not None
        and current.status == records.FAILED
        and last
        and not actions.retry_on_failure(spec, last)
        and actions.exhausted(spec, last, observed.failures(last))
    ):
        return Action(
            STALL,
            current,
            reason=failed_reason(last),
            message=f"Failed to {last} after {observed.failures(last)} attempt(s); fix the "
            "chart or values, or request a reset with the reconcile.fluxcd.io/resetAt "
            "annotation",
        )
    if current is not None and current.status in records.PENDING:
        good = records.last_successful(releases, below=current.version)
        return Action(UNLOCK, current, rollback_to=good)
    failed_first = (
        current is not None
        and current.status == records.FAILED
        and records.last_successful(releases) is None
    )
    if failed_first and not actions.retry_on_failure(spec, INSTALL):
        return Action(INSTALL_AFTER_UNINSTALL, current)
    if current is None or current.status in (records.UNINSTALLED, records.UNINSTALLING):
        return Action(INSTALL, current)
    if failed_first:
        # With RetryOnFailure the failed install stays until `install --replace`
        # takes its name: nothing is uninstalled on the user's behalf.
        return Action(INSTALL, current)
    if current.status == records.DEPLOYED and desired.matches(current, observed):
        return Action(TEST if _untested(spec, current, observed) else NOTHING, current)
    return Action(UPGRADE, current)


def _untested(spec: dict[str, Any], current: Release, observed: Observed) -> bool:
    """Tests enabled after the release was made run once; RetryOnFailure retests."""
    if not actions.section(spec, "test").get("enable"):
        return False
    if not current.test_hooks:
        return observed.test_succeeded is None
    action = observed.last_action or INSTALL
    return actions.retry_on_failure(spec, action) and observed.test_succeeded is False


@dataclass(frozen=True)
class FailurePlan:
    """What follows a failed install, upgrade or test."""

    retry_on_failure: bool = False  # leave it as it is, try again at strategy.retryInterval
    remediate: bool = False
    stalled: bool = False


def after_failure_plan(
    spec: dict[str, Any], action: str, failures: int, left_record: bool
) -> FailurePlan:
    """`failures` counts this one; `left_record` is whether Helm recorded a release."""
    if actions.retry_on_failure(spec, action):
        return FailurePlan(retry_on_failure=True)
    if not left_record:
        # Helm refused before touching the cluster (the chart does not render,
        # values fail its schema): nothing to remediate, retry with backoff.
        return FailurePlan()
    last = actions.exhausted(spec, action, failures)
    remediate = not last or actions.remediate_last_failure(spec, action)
    return FailurePlan(remediate=remediate, stalled=last)


def remediation(
    spec: dict[str, Any], action: str, failed: Release, releases: list[Release]
) -> tuple[str, Release | None]:
    """Roll a failed upgrade back to the last good release, else uninstall the failed one."""
    good = records.last_successful(releases, below=failed.version)
    if action == UPGRADE and actions.upgrade_strategy(spec) == "rollback" and good:
        return ROLLBACK, good
    return UNINSTALL, None
