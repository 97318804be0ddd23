"""The helm command line of each release action, from the HelmRelease's spec.

One function per action turns `spec.install`, `spec.upgrade`, `spec.rollback`,
`spec.uninstall` and `spec.test` into the flags the pinned helm takes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from eddy_api.helm import DEFAULT_MAX_HISTORY, DEFAULT_TIMEOUT
from eddy_helm.helm import timeout_flag
from eddy_runtime.durations import parse_duration

INSTALL = "install"
UPGRADE = "upgrade"


def section(spec: dict[str, Any], name: str) -> dict[str, Any]:
    found = spec.get(name)
    return found if isinstance(found, dict) else {}


def timeout_of(spec: dict[str, Any], name: str = "") -> float:
    own = section(spec, name).get("timeout") if name else None
    return parse_duration(str(own or spec.get("timeout") or DEFAULT_TIMEOUT))


def _wait(settings: dict[str, Any]) -> list[str]:
    if settings.get("disableWait"):
        return []
    return ["--wait"] if settings.get("disableWaitForJobs") else ["--wait", "--wait-for-jobs"]


def _common(settings: dict[str, Any]) -> list[str]:
    flags: list[str] = []
    if settings.get("disableHooks"):
        flags.append("--no-hooks")
    if settings.get("disableOpenAPIValidation"):
        flags.append("--disable-openapi-validation")
    if settings.get("disableSchemaValidation"):
        flags.append("--skip-schema-validation")
    # Flux takes over objects that no release owns unless told not to.
    if not settings.get("disableTakeOwnership"):
        flags.append("--take-ownership")
    return flags


def history_max(spec: dict[str, Any]) -> list[str]:
    found = spec.get("maxHistory")
    return ["--history-max", str(DEFAULT_MAX_HISTORY if found is None else int(found))]


def install_args(
    spec: dict[str, Any], release: str, namespace: str, chart: Path, values: Path
) -> list[str]:
    settings = section(spec, "install")
    args = ["install", release, str(chart), "--namespace", namespace, "--values", str(values)]
    args += _wait(settings) + _common(settings) + timeout_flag(timeout_of(spec, "install"))
    if settings.get("createNamespace"):
        args.append("--create-namespace")
    if settings.get("replace"):
        args.append("--replace")
    return args


def upgrade_args(
    spec: dict[str, Any], release: str, namespace: str, chart: Path, values: Path
) -> list[str]:
    settings = section(spec, "upgrade")
    args = ["upgrade", release, str(chart), "--namespace", namespace, "--values", str(values)]
    # The composed values are the whole truth, unless the spec asks to keep the old ones.
    args.append("--reuse-values" if settings.get("preserveValues") else "--reset-values")
    args += _wait(settings) + _common(settings) + timeout_flag(timeout_of(spec, "upgrade"))
    args += history_max(spec)
    if settings.get("force"):
        args.append("--force")
    if settings.get("cleanupOnFail"):
        args.append("--cleanup-on-fail")
    return args


def crds_policy(spec: dict[str, Any], action: str) -> str:
    """The CRD policy of an install or upgrade: `crds`, else Create as Flux applies it.

    Flux documents Skip as the upgrade's default but creates the missing CRDs on
    upgrade when `crds` is empty; eddy does what Flux does. The deprecated
    `install.skipCRDs` still means Skip when `crds` is empty.
    """
    settings = section(spec, action)
    found = settings.get("crds")
    if found:
        return str(found)
    return "Skip" if action == INSTALL and settings.get("skipCRDs") else "Create"


def crds_args(spec: dict[str, Any], action: str, labels: dict[str, str]) -> list[str]:
    """The CRDs of the chart's crds/ directories, applied under the policy with `labels`."""
    args = ["--crds", crds_policy(spec, action)]
    for key, value in sorted(labels.items()):
        args += ["--crd-label", f"{key}={value}"]
    return args


def storage_args(namespace: str, storage: str) -> list[str]:
    """Helm's records kept in `storage` while the objects go to `namespace`."""
    return [] if storage == namespace else ["--storage-namespace", storage]


def rollback_args(spec: dict[str, Any], release: str, namespace: str, version: int) -> list[str]:
    settings = section(spec, "rollback")
    args = ["rollback", release, str(version), "--namespace", namespace]
    args += timeout_flag(timeout_of(spec, "rollback")) + history_max(spec)
    if not settings.get("disableWait"):
        args += ["--wait"] if settings.get("disableWaitForJobs") else ["--wait", "--wait-for-jobs"]
    for key, flag in (
        ("disableHooks", "--no-hooks"),
        ("force", "--force"),
        ("recreate", "--recreate-pods"),
        ("cleanupOnFail", "--cleanup-on-fail"),
    ):
        if settings.get(key):
            args.append(flag)
    return args


def uninstall_args(spec: dict[str, Any], release: str, namespace: str) -> list[str]:
    settings = section(spec, "uninstall")
    args = ["uninstall", release, "--namespace", namespace]
    args += timeout_flag(timeout_of(spec, "uninstall"))
    args += ["--cascade", str(settings.get("deletionPropagation") or "background")]
    if settings.get("keepHistory"):
        args.append("--keep-history")
    if settings.get("disableHooks"):
        args.append("--no-hooks")
    if not settings.get("disableWait"):
        args.append("--wait")
    return args


def test_args(spec: dict[str, Any], release: str, namespace: str) -> list[str]:
    settings = section(spec, "test")
    args = ["test", release, "--namespace", namespace]
    args += timeout_flag(timeout_of(spec, "test"))
    for item in settings.get("filters") or []:
        name = str(item.get("name", ""))
        args += ["--filter", f"!name={name}" if item.get("exclude") else f"name={name}"]
    return args


def retries(spec: dict[str, Any], action: str) -> int:
    remediation = section(section(spec, action), "remediation")
    return int(remediation.get("retries") or 0)


def exhausted(spec: dict[str, Any], action: str, failures: int) -> bool:
    allowed = retries(spec, action)
    return allowed >= 0 and failures > allowed


def remediate_last_failure(spec: dict[str, Any], action: str) -> bool:
    remediation = section(section(spec, action), "remediation")
    found = remediation.get("remediateLastFailure")
    return bool(found) if found is not None else retries(spec, action) != 0


def retry_on_failure(spec: dict[str, Any], action: str) -> bool:
    """`<action>.strategy.name: RetryOnFailure`: try again later, never remediate or stall."""
    strategy = section(section(spec, action), "strategy")
    return strategy.get("name") == "RetryOnFailure"


def retry_interval(spec: dict[str, Any], action: str, interval: float) -> float:
    """When RetryOnFailure tries again: its retryInterval, else the release's interval."""
    found = section(section(spec, action), "strategy").get("retryInterval")
    return parse_duration(str(found)) if found else interval


def upgrade_strategy(spec: dict[str, Any]) -> str:
    remediation = section(section(spec, UPGRADE), "remediation")
    return str(remediation.get("strategy") or "rollback")


def ignore_test_failures(spec: dict[str, Any], action: str) -> bool:
    remediation = section(section(spec, action), "remediation")
    found = remediation.get("ignoreTestFailures")
    if found is not None:
        return bool(found)
    return bool(section(spec, "test").get("ignoreFailures"))
