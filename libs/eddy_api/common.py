"""Types and names shared by several API groups: references, conditions, artifacts.

Flux reuses these shapes across its controllers, and clients (the `flux` CLI,
kstatus, dashboards) match on the exact strings, so they live in one place.
"""

# prop() and its wrappers return dataclasses.field(...), which RUF009 cannot see.
# ruff: noqa: RUF009

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from eddy_api.schema import NOT_HONOURED, Rule, duration, from_dict, prop, timestamp

# --- condition types -------------------------------------------------------

READY = "Ready"
RECONCILING = "Reconciling"
STALLED = "Stalled"
HEALTHY = "Healthy"
ARTIFACT_IN_STORAGE = "ArtifactInStorage"
ARTIFACT_OUTDATED = "ArtifactOutdated"
SOURCE_VERIFIED = "SourceVerified"
FETCH_FAILED = "FetchFailed"
BUILD_FAILED = "BuildFailed"
STORAGE_OPERATION_FAILED = "StorageOperationFailed"
INCLUDE_UNAVAILABLE = "IncludeUnavailable"
RELEASED = "Released"
TEST_SUCCESS = "TestSuccess"
REMEDIATED = "Remediated"

# Conditions that are only present while something is wrong.
NEGATIVE_POLARITY_CONDITIONS = frozenset(
    {RECONCILING, STALLED, ARTIFACT_OUTDATED, FETCH_FAILED, BUILD_FAILED, STORAGE_OPERATION_FAILED,
     INCLUDE_UNAVAILABLE}
)  # fmt: skip

# --- condition reasons -----------------------------------------------------


class Reason:
    """Reason strings Flux writes into conditions and Events."""

    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    PROGRESSING = "Progressing"
    PROGRESSING_WITH_RETRY = "ProgressingWithRetry"
    SUSPENDED = "Suspended"
    DEPENDENCY_NOT_READY = "DependencyNotReady"
    RECONCILIATION_SUCCEEDED = "ReconciliationSucceeded"
    RECONCILIATION_FAILED = "ReconciliationFailed"
    INVALID_URL = "URLInvalid"
    AUTHENTICATION_FAILED = "AuthenticationFailed"
    VERIFICATION_ERROR = "VerificationError"
    GIT_OPERATION_SUCCEEDED = "GitOperationSucceeded"
    GIT_OPERATION_FAILED = "GitOperationFailed"
    STORAGE_OPERATION_FAILED = "StorageOperationFailed"
    DIRECTORY_CREATION_FAILED = "DirectoryCreationFailed"
    STAT_OPERATION_FAILED = "StatOperationFailed"
    READ_OPERATION_FAILED = "ReadOperationFailed"
    ACQUIRE_LOCK_FAILED = "AcquireLockFailed"
    INVALID_PATH = "InvalidPath"
    ARCHIVE_OPERATION_FAILED = "ArchiveOperationFailed"
    SYMLINK_UPDATE_FAILED = "SymlinkUpdateFailed"
    ARTIFACT_UP_TO_DATE = "ArtifactUpToDate"
    NEW_ARTIFACT = "NewArtifact"
    INDEXATION_FAILED = "IndexationFailed"
    CHART_PULL_SUCCEEDED = "ChartPullSucceeded"
    CHART_PULL_FAILED = "ChartPullFailed"
    CHART_PACKAGE_SUCCEEDED = "ChartPackageSucceeded"
    CHART_PACKAGE_FAILED = "ChartPackageFailed"
    ARTIFACT_FAILED = "ArtifactFailed"
    # A reference refused by --no-cross-namespace-refs or an unsupported kind.
    ACCESS_DENIED = "AccessDenied"
    BUILD_FAILED = "BuildFailed"
    HEALTH_CHECK_FAILED = "HealthCheckFailed"
    PRUNE_FAILED = "PruneFailed"
    INSTALL_SUCCEEDED = "InstallSucceeded"
    INSTALL_FAILED = "InstallFailed"
    UPGRADE_SUCCEEDED = "UpgradeSucceeded"
    UPGRADE_FAILED = "UpgradeFailed"
    TEST_SUCCEEDED = "TestSucceeded"
    TEST_FAILED = "TestFailed"
    ROLLBACK_SUCCEEDED = "RollbackSucceeded"
    ROLLBACK_FAILED = "RollbackFailed"
    UNINSTALL_SUCCEEDED = "UninstallSucceeded"
    UNINSTALL_FAILED = "UninstallFailed"
    INIT_FAILED = "InitFailed"
    GET_LAST_RELEASE_FAILED = "GetLastReleaseFailed"


# --- annotations, labels, finalizers ---------------------------------------

RECONCILE_REQUEST_ANNOTATION = "reconcile.fluxcd.io/requestedAt"
FORCE_REQUEST_ANNOTATION = "reconcile.fluxcd.io/forceAt"
RESET_REQUEST_ANNOTATION = "reconcile.fluxcd.io/resetAt"

FINALIZER = "finalizers.fluxcd.io"

# Keys of status.artifact.metadata under this prefix name a Git artifact's commit
# (author, date, message); consumers copy them without reading Git themselves.
COMMIT_METADATA_PREFIX = "commit.eddy.dev/"

ENABLED_VALUE = "enabled"
DISABLED_VALUE = "disabled"

# --- shared schema types ---------------------------------------------------

OBJECT_NAME_MAX = 253
NAMESPACE_NAME_MAX = 63


@dataclass
class LocalObjectReference:
    """A reference to an object in the same namespace."""

    name: str = prop("Name of the referenced object.", required=True, zero=str)


@dataclass
class NamespacedObjectReference:
    """A reference to an object in any namespace."""

    name: str = prop("Name of the referenced object.", required=True, zero=str)
    namespace: str | None = prop(
        "Namespace of the referenced object; the referring object's own namespace when empty."
    )


@dataclass
class NamespacedObjectKindReference:
    """A typed reference to an object in any namespace."""

    api_version: str | None = prop(
        "API version of the referenced object; the server's preferred version when empty."
    )
    kind: str = prop("Kind of the referenced object.", required=True, zero=str)
    name: str = prop("Name of the referenced object.", required=True, zero=str)
    namespace: str | None = prop(
        "Namespace of the referenced object; the referring object's own namespace when empty."
    )


@dataclass
class SecretKeyReference:
    """A key within a Secret in the same namespace."""

    name: str = prop("Name of the Secret.", required=True, zero=str)
    key: str | None = prop("Key within the Secret holding the value.")


@dataclass
class KubeConfigReference:
    """Where to find a kubeconfig for acting on another cluster."""

    RULES = (
        Rule(
            "has(self.configMapRef) || has(self.secretRef)",
            "set one of configMapRef or secretRef",
        ),
        Rule(
            "!has(self.configMapRef) || !has(self.secretRef)",
            "set only one of configMapRef or secretRef",
        ),
    )

    secret_ref: SecretKeyReference | None = prop(
        "Secret holding a self-contained kubeconfig under `key` (`value` or `value.yaml` when "
        "no key is given). Only inline credentials: file paths are refused, exec and "
        "auth-provider plugins and insecure-skip-tls-verify need the controller's opt-in flags."
    )
    config_map_ref: LocalObjectReference | None = prop(
        "ConfigMap describing a cluster reached through workload identity. " + NOT_HONOURED,
        honoured=False,
    )


@dataclass
class NamespaceSelector:
    """Selects namespaces by their labels."""

    match_labels: dict[str, str] | None = prop("Labels a namespace must carry, all of them.")


@dataclass
class AccessFrom:
    """Namespaces allowed to refer to this object from elsewhere."""

    namespace_selectors: list[NamespaceSelector] = prop(
        "Selectors of the namespaces allowed to refer to this object; any match suffices.",
        required=True,
        zero=list,
    )


@dataclass
class CommonMetadata:
    """Labels and annotations stamped on every object applied."""

    annotations: dict[str, str] | None = prop("Annotations to add, overriding equal keys.")
    labels: dict[str, str] | None = prop("Labels to add, overriding equal keys.")


@dataclass
class DependencyReference:
    """Another object of the same kind that must be Ready first."""

    name: str = prop("Name of the dependency.", required=True, zero=str)
    namespace: str | None = prop("Namespace of the dependency; this object's namespace when empty.")
    ready_expr: str | None = prop(
        "CEL expression deciding readiness of the dependency instead of its Ready condition "
        "(and, for Kustomizations, its applied revision), over `self` (this object) and `dep` "
        "(the dependency), e.g. `dep.metadata.labels['app/version'] == "
        "self.metadata.labels['app/version']`. One that does not compile makes this object "
        "Ready=False and Stalled (InvalidCELExpression); one that is false, DependencyNotReady "
        "until it is true."
    )


@dataclass
class Selector:
    """Selects objects by group, version, kind, namespace, name and selectors."""

    group: str | None = prop("API group of the objects.")
    version: str | None = prop("API version of the objects.")
    kind: str | None = prop("Kind of the objects.")
    namespace: str | None = prop("Namespace of the objects.")
    name: str | None = prop("Name of the objects, a regular expression.")
    annotation_selector: str | None = prop(
        "Annotation selector in label-selector syntax, e.g. `team=web,tier!=db`."
    )
    label_selector: str | None = prop("Label selector, e.g. `app=web,tier in (front,back)`.")


@dataclass
class Patch:
    """A strategic-merge or JSON 6902 patch and the objects it applies to."""

    patch: str = prop(
        "The patch, as YAML or JSON: a partial object (strategic merge) or a list of "
        "JSON 6902 operations.",
        required=True,
        zero=str,
    )
    target: Selector | None = prop("Objects the patch applies to; all when empty.")


@dataclass
class Image:
    """Overrides the name, tag or digest of a container image."""

    name: str = prop(
        "Image name as written in the manifests, without tag.", required=True, zero=str
    )
    new_name: str | None = prop("Replacement image name.")
    new_tag: str | None = prop("Replacement tag.")
    digest: str | None = prop("Replacement digest; when set, the tag is ignored.")


@dataclass
class CustomHealthCheck:
    """CEL expressions that compute the health of objects of one kind."""

    api_version: str = prop("API version of the objects.", required=True, zero=str)
    kind: str | None = prop("Kind of the objects.")
    current: str = prop(
        "CEL expression that is true when an object is healthy.", required=True, zero=str
    )
    in_progress: str | None = prop("CEL expression that is true while an object is progressing.")
    failed: str | None = prop("CEL expression that is true when an object has failed.")


@dataclass
class ResourceRef:
    """One applied object in an inventory."""

    id: str = prop(
        "Object identity as `<namespace>_<name>_<group>_<kind>`.", required=True, zero=str
    )
    v: str = prop("API version of the object.", required=True, zero=str)


@dataclass
class ResourceInventory:
    """The objects last applied."""

    entries: list[ResourceRef] = prop("Applied objects.", required=True, zero=list)


@dataclass
class Condition:
    """One aspect of the object's observed state, in the Kubernetes convention."""

    type: str = prop(
        "Type of the condition, e.g. Ready.",
        required=True,
        zero=str,
        max_length=316,
        pattern=(
            r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
            r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"
        ),
    )
    status: str = prop(
        "Status of the condition.",
        required=True,
        zero=str,
        enum=("True", "False", "Unknown"),
    )
    observed_generation: int | None = prop(
        "Generation of the object the condition was computed from.", minimum=0, format="int64"
    )
    last_transition_time: str = prop(
        "When the status last changed.", required=True, zero=str, format="date-time"
    )
    reason: str = prop(
        "One-word CamelCase reason for the last transition.",
        required=True,
        zero=str,
        min_length=1,
        max_length=1024,
        pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$",
    )
    message: str = prop(
        "Human-readable details of the last transition.", required=True, zero=str, max_length=32768
    )


@dataclass
class Artifact:
    """A file produced by a source, served over HTTP by the source-controller."""

    path: str = prop(
        "Path of the file relative to the storage root of the source-controller.",
        required=True,
        zero=str,
    )
    url: str = prop("HTTP address to download the file from.", required=True, zero=str)
    revision: str = prop(
        "Revision of the origin the file was built from, e.g. `main@sha1:<hex>` or a "
        "chart version.",
        required=True,
        zero=str,
    )
    digest: str = prop(
        "Digest of the file as `<algorithm>:<hex>`; verify it before use.",
        required=True,
        zero=str,
        pattern=r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$",
    )
    last_update_time: str = prop(
        "When the file was last replaced.", required=True, zero=str, format="date-time"
    )
    size: int | None = prop("Size of the file in bytes.", format="int64")
    metadata: dict[str, str] | None = prop("Upstream metadata such as OCI annotations.")


@dataclass
class History:
    """A summary of reconciliations that produced one result."""

    digest: str = prop("Digest of the result.", required=True, zero=str)
    first_reconciled: str = timestamp("First reconciliation with this result.", required=True)
    last_reconciled: str = timestamp("Latest reconciliation with this result.", required=True)
    last_reconciled_duration: str = prop(
        "How long the latest reconciliation took.", required=True, zero=str
    )
    last_reconciled_status: str = prop(
        "Outcome of the latest reconciliation.", required=True, zero=str
    )
    total_reconciliations: int = prop(
        "Reconciliations with this result.", required=True, zero=int, format="int64"
    )
    metadata: dict[str, str] | None = prop("Additional facts about the result.")


# Field factories shared by several kinds. Each call makes a new Field object.


def observed_generation() -> Any:
    return prop("Generation of the spec the status was last computed from.", format="int64")


def conditions() -> Any:
    return prop("Conditions of the object; Ready summarizes them.")


def last_handled_reconcile_at() -> Any:
    return prop(
        "Value of the `reconcile.fluxcd.io/requestedAt` annotation last acted on, so a change "
        "of the value can be detected."
    )


def suspend(what: str) -> Any:
    return prop(f"Stops reconciling {what} until set back to false; work in flight finishes.")


def interval(what: str, *, required: bool = True) -> Any:
    return duration(
        f"How often to reconcile {what}, e.g. `1m` or `1h30m`. Reconciles happen roughly at "
        "this interval, with some jitter.",
        required=required,
    )


# --- helpers on plain dicts ------------------------------------------------


def find_condition(obj: Mapping[str, Any], condition_type: str) -> Mapping[str, Any] | None:
    """The condition of the given type in a plain object's status, if present."""
    status = obj.get("status")
    if not isinstance(status, Mapping):
        return None
    for cond in status.get("conditions") or ():
        if isinstance(cond, Mapping) and cond.get("type") == condition_type:
            return cond
    return None


def artifact_of(obj: Mapping[str, Any]) -> Artifact | None:
    """The typed artifact a source advertises in its status, if any."""
    status = obj.get("status")
    if not isinstance(status, Mapping) or not isinstance(status.get("artifact"), Mapping):
        return None
    return from_dict(Artifact, status["artifact"])
