"""What the helm-controller asks Helm to do next: one test per branch of the decision."""

from __future__ import annotations

from typing import Any

import pytest

from eddy_helm.records import Release
from eddy_helm.values import config_digest
from helm_controller import decision
from helm_controller.decision import Desired, Observed, next_action

VALUES = {"replicas": 2}
DESIRED = Desired("1.0.0", config_digest(VALUES))


def record(
    version: int,
    status: str,
    chart_version: str = "1.0.0",
    values: dict[str, Any] | None = None,
    test_hooks: dict[str, dict[str, str]] | None = None,
) -> Release:
    return Release(
        name="app", namespace="apps", version=version, status=status, chart_name="app",
        chart_version=chart_version, app_version="1", config=VALUES if values is None else values,
        first_deployed="", last_deployed="", deleted="", description="",
        test_hooks=test_hooks or {}, digest="",
    )  # fmt: skip


def history(*releases: Release) -> list[Release]:
    """Newest first, as records.history returns them."""
    return sorted(releases, key=lambda r: r.version, reverse=True)


def remediation(action: str, retries: int, **more: Any) -> dict[str, Any]:
    return {action: {"remediation": {"retries": retries, **more}}}


def test_nothing_released_yet_installs() -> None:
    assert next_action({}, [], Observed(), DESIRED).name == "install"


def test_an_uninstalled_release_kept_in_history_is_installed_over() -> None:
    kept = record(1, "uninstalled")
    action = next_action({}, [kept], Observed(), DESIRED)
    assert (action.name, action.release) == ("install", kept)


def test_a_new_chart_or_new_values_upgrade() -> None:
    deployed = record(1, "deployed", chart_version="0.9.0")
    assert next_action({}, [deployed], Observed(), DESIRED).name == "upgrade"
    changed = record(1, "deployed", values={"replicas": 3})
    assert next_action({}, [changed], Observed(), DESIRED).name == "upgrade"


def test_in_sync_does_nothing() -> None:
    assert next_action({}, [record(1, "deployed")], Observed(), DESIRED).name == "nothing"


def test_tests_enabled_after_the_release_run_once() -> None:
    spec = {"test": {"enable": True}}
    deployed = record(1, "deployed")
    assert next_action(spec, [deployed], Observed(), DESIRED).name == "test"
    tested = Observed(test_succeeded=True)
    assert next_action(spec, [deployed], tested, DESIRED).name == "nothing"


def test_retry_on_failure_tests_a_release_whose_tests_failed_again() -> None:
    spec = {"test": {"enable": True}, "install": {"strategy": {"name": "RetryOnFailure"}}}
    ran = record(1, "deployed", test_hooks={"t": {"phase": "Failed"}})
    failed = Observed(last_action="install", test_succeeded=False)
    assert next_action(spec, [ran], failed, DESIRED).name == "test"
    assert next_action({"test": {"enable": True}}, [ran], failed, DESIRED).name == "nothing"


def test_a_stuck_pending_release_is_rolled_back_to_the_last_good_one() -> None:
    good, stuck = record(1, "deployed"), record(2, "pending-upgrade")
    action = next_action({}, history(good, stuck), Observed(), DESIRED)
    assert (action.name, action.release, action.rollback_to) == ("unlock", stuck, good)


def test_a_stuck_first_install_is_uninstalled() -> None:
    stuck = record(1, "pending-install")
    action = next_action({}, [stuck], Observed(), DESIRED)
    assert (action.name, action.rollback_to) == ("unlock", None)


def test_a_failed_first_install_is_uninstalled_before_installing_again() -> None:
    failed = record(1, "failed")
    action = next_action({}, [failed], Observed(), DESIRED)
    assert (action.name, action.release) == ("uninstall-then-install", failed)


def test_retry_on_failure_installs_over_a_failed_first_install() -> None:
    spec = {"install": {"strategy": {"name": "RetryOnFailure"}}}
    failed = record(1, "failed")
    action = next_action(spec, [failed], Observed(last_action="install"), DESIRED)
    assert (action.name, action.release) == ("install", failed)


def test_a_failed_upgrade_with_retries_left_upgrades_again() -> None:
    spec = remediation("upgrade", 2)
    releases = history(record(1, "superseded"), record(2, "failed"))
    observed = Observed(last_action="upgrade", upgrade_failures=2)
    assert next_action(spec, releases, observed, DESIRED).name == "upgrade"


def test_retries_exhausted_stall_until_the_spec_changes() -> None:
    spec = remediation("upgrade", 2)
    releases = history(record(1, "superseded"), record(2, "failed"))
    action = next_action(spec, releases, Observed("upgrade", upgrade_failures=3), DESIRED)
    assert (action.name, action.reason) == ("stall", "UpgradeFailed")
    assert "after 3 attempt(s)" in action.message and "resetAt" in action.message
    unlimited = remediation("upgrade", -1)
    observed = Observed("upgrade", upgrade_failures=30)
    assert next_action(unlimited, releases, observed, DESIRED).name == "upgrade"


@pytest.mark.parametrize(
    ("spec", "failures", "left_record", "plan"),
    [
        ({"install": {"strategy": {"name": "RetryOnFailure"}}}, 9, True,
         decision.FailurePlan(retry_on_failure=True)),
        ({}, 1, False, decision.FailurePlan()),
        (remediation("install", 2), 1, True, decision.FailurePlan(remediate=True)),
        (remediation("install", 2), 3, True, decision.FailurePlan(remediate=True, stalled=True)),
        (remediation("install", 2, remediateLastFailure=False), 3, True,
         decision.FailurePlan(stalled=True)),
        ({}, 1, True, decision.FailurePlan(stalled=True)),
    ],
)  # fmt: skip
def test_after_failure_retries_remediates_or_stalls(
    spec: dict[str, Any], failures: int, left_record: bool, plan: decision.FailurePlan
) -> None:
    assert decision.after_failure_plan(spec, "install", failures, left_record) == plan


def test_a_failed_upgrade_rolls_back_to_the_last_good_release() -> None:
    good, failed = record(1, "superseded"), record(2, "failed")
    releases = history(good, failed)
    assert decision.remediation({}, "upgrade", failed, releases) == ("rollback", good)


def test_uninstall_remediates_installs_and_upgrades_without_a_good_release() -> None:
    failed = record(1, "failed")
    assert decision.remediation({}, "install", failed, [failed]) == ("uninstall", None)
    assert decision.remediation({}, "upgrade", failed, [failed]) == ("uninstall", None)
    spec = {"upgrade": {"remediation": {"strategy": "uninstall"}}}
    releases = history(record(1, "superseded"), record(2, "failed"))
    assert decision.remediation(spec, "upgrade", releases[0], releases) == ("uninstall", None)


def test_a_post_rendering_other_than_the_one_recorded_upgrades() -> None:
    deployed = record(1, "deployed")
    wanted = Desired("1.0.0", config_digest(VALUES), "sha256:new", "")
    assert next_action({}, [deployed], Observed(), wanted).name == "upgrade"
    done = Observed(post_renderers_digest="sha256:new")
    assert next_action({}, [deployed], done, wanted).name == "nothing"
    # Removing commonMetadata is a change too.
    labelled = Observed(post_renderers_digest="sha256:new", common_metadata_digest="sha256:cm")
    assert next_action({}, [deployed], labelled, wanted).name == "upgrade"
