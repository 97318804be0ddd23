"""The helm.toolkit.fluxcd.io/v2 HelmRelease kind.

A HelmRelease names a chart and its values and keeps a Helm release installed
from them; this module is its API, defaults and Flux names.
"""

# prop() and its wrappers return dataclasses.field(...), which RUF009 cannot see.
# ruff: noqa: RUF009

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from eddy_api.common import (
    CommonMetadata,
    Condition,
    CustomHealthCheck,
    DependencyReference,
    Image,
    KubeConfigReference,
    LocalObjectReference,
    Patch,
    ResourceInventory,
    Selector,
    conditions,
    interval,
    last_handled_reconcile_at,
    observed_generation,
    suspend,
)
from eddy_api.resource import (
    AGE_COLUMN,
    READY_COLUMN,
    STATUS_COLUMN,
    KindInfo,
    PrinterColumn,
    Resource,
)
from eddy_api.schema import (
    JSON,
    NOT_HONOURED,
    Rule,
    duration,
    parse_duration,
    prop,
    timestamp,
    unhonoured_in_use,
)

GROUP = "helm.toolkit.fluxcd.io"
VERSION = "v2"
COMPONENT = "helm-controller"

NAME_LABEL = f"{GROUP}/name"
NAMESPACE_LABEL = f"{GROUP}/namespace"

DEFAULT_TIMEOUT = "5m"
DEFAULT_MAX_HISTORY = 5

CHART_SOURCE_KINDS = ("HelmRepository", "GitRepository", "Bucket")
CHART_REF_KINDS = ("OCIRepository", "HelmChart", "ExternalArtifact")
CRDS_POLICIES = ("Skip", "Create", "CreateReplace")
ACTION_STRATEGIES = ("RemediateOnFailure", "RetryOnFailure")


def _name(description: str, *, required: bool = False) -> Any:
    return prop(
        description, required=required, zero=str if required else None, min_length=1, max_length=253
    )


def _namespace(description: str) -> Any:
    return prop(description, min_length=1, max_length=63)


# Helm refuses release names longer than this.
MAX_RELEASE_NAME = 53
_RELEASE_HASH_CHARS = 12


@dataclass
class CrossNamespaceObjectReference:
    """A source in any namespace."""

    api_version: str | None = prop("API version of the source.")
    kind: str = prop(
        "Kind of the source.",
        required=True,
        zero=str,
        enum=CHART_SOURCE_KINDS,
    )
    name: str = _name("Name of the source.", required=True)
    namespace: str | None = _namespace("Namespace of the source; the HelmRelease's own when empty.")


@dataclass
class HelmChartVerification:
    """How to verify the chart's signature."""

    provider: str = prop(
        "Signature tool: `cosign` or `notation`.",
        required=True,
        enum=("cosign", "notation"),
        default="cosign",
    )
    secret_ref: LocalObjectReference | None = prop(
        "Secret with the trusted public keys; keyless verification when empty."
    )


@dataclass
class HelmChartTemplateSpec:
    """The HelmChart the helm-controller creates for this release."""

    chart: str = prop(
        "Name of the chart in a repository, or its path in a Git source.",
        required=True,
        zero=str,
        min_length=1,
        max_length=2048,
    )
    version: str = prop(
        "SemVer range of chart versions; the highest match is used. Ignored for Git sources.",
        default="*",
    )
    source_ref: CrossNamespaceObjectReference = prop(
        "Source holding the chart.", required=True, zero=CrossNamespaceObjectReference
    )
    interval: str | None = duration(
        "How often the HelmChart looks for a new version; the HelmRelease's interval when empty."
    )
    reconcile_strategy: str = prop(
        "What makes a new chart artifact: a new chart version (`ChartVersion`) or any new "
        "revision of the source (`Revision`).",
        enum=("ChartVersion", "Revision"),
        default="ChartVersion",
    )
    values_files: list[str] | None = prop(
        "Values files in the chart's source merged, in order, into the chart's default values."
    )
    ignore_missing_values_files: bool | None = prop(
        "Skip listed values files that do not exist instead of failing."
    )
    verify: HelmChartVerification | None = prop(
        "Verify the chart's signature (OCI HelmRepository only); copied into the HelmChart, "
        "which refuses in its status what eddy cannot verify (notation, keyless cosign)."
    )


@dataclass
class HelmChartTemplateObjectMeta:
    """Labels and annotations for the created HelmChart."""

    labels: dict[str, str] | None = prop("Labels for the HelmChart.")
    annotations: dict[str, str] | None = prop("Annotations for the HelmChart.")


@dataclass
class HelmChartTemplate:
    """A template of the HelmChart the helm-controller creates and follows."""

    metadata: HelmChartTemplateObjectMeta | None = prop("Labels and annotations of the HelmChart.")
    spec: HelmChartTemplateSpec = prop(
        "Spec of the HelmChart.", required=True, zero=HelmChartTemplateSpec
    )


@dataclass
class CrossNamespaceSourceReference:
    """An existing chart artifact to install."""

    api_version: str | None = prop("API version of the referenced object.")
    kind: str = prop(
        "Kind of the referenced object: a HelmChart, or an OCIRepository or "
        "ExternalArtifact whose artifact is a chart.",
        required=True,
        zero=str,
        enum=CHART_REF_KINDS,
    )
    name: str = _name("Name of the referenced object.", required=True)
    namespace: str | None = _namespace(
        "Namespace of the referenced object; the HelmRelease's own when empty."
    )


@dataclass
class DriftIgnoreRule:
    """Parts of released objects that may differ without being corrected."""

    paths: list[str] = prop("JSON Pointer (RFC 6901) paths to ignore.", required=True, zero=list)
    target: Selector | None = prop("Objects the rule applies to; all when empty.")


@dataclass
class DriftDetection:
    """Whether to compare released objects with the cluster and correct them."""

    mode: str | None = prop(
        "`enabled` corrects drift, `warn` only reports it, `disabled` (the default) skips "
        "the comparison.",
        enum=("enabled", "warn", "disabled"),
    )
    ignore: list[DriftIgnoreRule] | None = prop("Differences to tolerate.")


@dataclass
class ActionStrategy:
    """What to do when an install or upgrade fails."""

    RULES = (
        Rule(
            "!has(self.retryInterval) || self.name == 'RetryOnFailure'",
            "retryInterval needs name RetryOnFailure",
        ),
    )

    name: str = prop(
        "`RemediateOnFailure` applies the remediation settings; `RetryOnFailure` tries again "
        "after retryInterval without remediating.",
        required=True,
        zero=str,
        enum=ACTION_STRATEGIES,
    )
    retry_interval: str | None = duration(
        "Delay before the next attempt with RetryOnFailure; the interval when empty."
    )


@dataclass
class InstallRemediation:
    """What to do after a failed install."""

    retries: int | None = prop(
        "Attempts after the first failure before giving up; a negative value retries forever."
    )
    ignore_test_failures: bool | None = prop(
        "Do not treat failed Helm tests as a failed install; test.ignoreFailures when empty."
    )
    remediate_last_failure: bool | None = prop(
        "Also remediate (uninstall) after the last retry fails; true when retries > 0."
    )


@dataclass
class UpgradeRemediation:
    """What to do after a failed upgrade."""

    retries: int | None = prop(
        "Attempts after the first failure before giving up; a negative value retries forever."
    )
    ignore_test_failures: bool | None = prop(
        "Do not treat failed Helm tests as a failed upgrade; test.ignoreFailures when empty."
    )
    remediate_last_failure: bool | None = prop(
        "Also remediate after the last retry fails; true when retries > 0."
    )
    strategy: str | None = prop(
        "Remediation: `rollback` (the default) or `uninstall`.", enum=("rollback", "uninstall")
    )


@dataclass
class Install:
    """Settings of `helm install`."""

    timeout: str | None = duration("Time limit of the install; spec.timeout when empty.")
    remediation: InstallRemediation | None = prop("What to do after a failed install.")
    strategy: ActionStrategy | None = prop("Failure strategy of the install.")
    disable_wait: bool | None = prop("Do not wait for the released objects to become ready.")
    disable_wait_for_jobs: bool | None = prop("Do not wait for Jobs to complete.")
    disable_hooks: bool | None = prop("Do not run chart hooks.")
    disable_open_api_validation: bool | None = prop(
        "Do not validate the rendered manifests against the cluster's OpenAPI schema.",
        json="disableOpenAPIValidation",
    )
    disable_schema_validation: bool | None = prop(
        "Do not validate the values against the chart's JSON schema."
    )
    disable_take_ownership: bool | None = prop(
        "Fail instead of taking over objects that exist but belong to no release."
    )
    server_side_apply: bool | None = prop("Apply the manifests with server-side apply.")
    replace: bool | None = prop("Reuse the name of a deleted release still in the history.")
    skip_crds: bool | None = prop("Deprecated: use crds: Skip.", json="skipCRDs")
    crds: str | None = prop(
        "CRDs in the chart's crds/ directories, applied before the install: `Skip` applies "
        "none, `Create` (the default) creates the missing ones and leaves existing ones as "
        "they are, `CreateReplace` also replaces existing ones with the chart's. None is "
        "deleted, and none is part of the release.",
        enum=CRDS_POLICIES,
    )
    create_namespace: bool | None = prop("Create the target namespace if it does not exist.")


@dataclass
class Upgrade:
    """Settings of `helm upgrade`."""

    timeout: str | None = duration("Time limit of the upgrade; spec.timeout when empty.")
    remediation: UpgradeRemediation | None = prop("What to do after a failed upgrade.")
    strategy: ActionStrategy | None = prop("Failure strategy of the upgrade.")
    disable_wait: bool | None = prop("Do not wait for the released objects to become ready.")
    disable_wait_for_jobs: bool | None = prop("Do not wait for Jobs to complete.")
    disable_hooks: bool | None = prop("Do not run chart hooks.")
    disable_open_api_validation: bool | None = prop(
        "Do not validate the rendered manifests against the cluster's OpenAPI schema.",
        json="disableOpenAPIValidation",
    )
    disable_schema_validation: bool | None = prop(
        "Do not validate the values against the chart's JSON schema."
    )
    disable_take_ownership: bool | None = prop(
        "Fail instead of taking over objects that exist but belong to no release."
    )
    server_side_apply: str | None = prop(
        "Server-side apply for the upgrade: `enabled`, `disabled`, or `auto` (as the release "
        "was installed).",
        enum=("enabled", "disabled", "auto"),
    )
    force: bool | None = prop("Replace objects whose update fails instead of patching them.")
    preserve_values: bool | None = prop("Merge in the values of the previous release.")
    cleanup_on_fail: bool | None = prop("Delete objects created by a failed upgrade.")
    crds: str | None = prop(
        "CRDs in the chart's crds/ directories, applied before the upgrade: `Skip` applies "
        "none, `Create` creates the missing ones and leaves existing ones as they are, "
        "`CreateReplace` also replaces existing ones with the chart's. None is deleted, and "
        "none is part of the release. When empty, `Create`, as Flux's helm-controller does "
        "(its documentation says `Skip`).",
        enum=CRDS_POLICIES,
    )
    chart_name_change_strategy: str | None = prop(
        "When the chart name changes: upgrade in place (`InPlaceUpdate`) or uninstall and "
        "install again (`Reinstall`).",
        enum=("InPlaceUpdate", "Reinstall"),
    )


@dataclass
class Filter:
    """Selects Helm tests by name."""

    name: str = _name("Name of the test.", required=True)
    exclude: bool | None = prop("Leave this test out instead of selecting it.")


@dataclass
class Test:
    """Settings of `helm test` after install and upgrade."""

    enable: bool | None = prop("Run the chart's tests after each install or upgrade.")
    timeout: str | None = duration("Time limit of the tests; spec.timeout when empty.")
    ignore_failures: bool | None = prop("Record failed tests without failing the release.")
    filters: list[Filter] | None = prop("Which tests to run; all when empty.")


@dataclass
class Rollback:
    """Settings of `helm rollback` when remediating a failed upgrade."""

    timeout: str | None = duration("Time limit of the rollback; spec.timeout when empty.")
    disable_wait: bool | None = prop("Do not wait for the objects to become ready.")
    disable_wait_for_jobs: bool | None = prop("Do not wait for Jobs to complete.")
    disable_hooks: bool | None = prop("Do not run chart hooks.")
    recreate: bool | None = prop("Restart the pods of the rolled-back objects.")
    force: bool | None = prop("Replace objects whose update fails instead of patching them.")
    cleanup_on_fail: bool | None = prop("Delete objects created by a failed rollback.")
    server_side_apply: str | None = prop(
        "Server-side apply for the rollback: `enabled`, `disabled` or `auto`.",
        enum=("enabled", "disabled", "auto"),
    )


@dataclass
class Uninstall:
    """Settings of `helm uninstall`."""

    timeout: str | None = duration("Time limit of the uninstall; spec.timeout when empty.")
    disable_hooks: bool | None = prop("Do not run chart hooks.")
    keep_history: bool | None = prop("Keep the release history after uninstalling.")
    disable_wait: bool | None = prop("Do not wait for the objects to be deleted.")
    deletion_propagation: str = prop(
        "How dependents of deleted objects are deleted.",
        enum=("background", "foreground", "orphan"),
        default="background",
    )


@dataclass
class ValuesReference:
    """A ConfigMap or Secret key that holds values."""

    kind: str = prop("Kind of the object.", required=True, zero=str, enum=("Secret", "ConfigMap"))
    name: str = _name("Name of the object, in the HelmRelease's namespace.", required=True)
    values_key: str | None = prop(
        "Key holding the values; `values.yaml` when empty.",
        max_length=253,
        pattern=r"^[\-._a-zA-Z0-9]+$",
    )
    target_path: str | None = prop(
        "Where to put the value in the values tree, in `--set` syntax (e.g. `a.b[0].c`); the "
        "whole key is merged as YAML when empty.",
        max_length=250,
        pattern=r"^([a-zA-Z0-9_\-.\\\/]|\[[0-9]{1,5}\])+$",
    )
    optional: bool | None = prop("Carry on without these values when the object or key is missing.")
    literal: bool | None = prop(
        "With targetPath, set the value as a literal string without parsing it."
    )


@dataclass
class Kustomize:
    """Kustomize-style changes to the rendered manifests."""

    patches: list[Patch] | None = prop("Patches applied to the rendered manifests.")
    images: list[Image] | None = prop("Image name, tag and digest overrides.")


@dataclass
class PostRenderer:
    """A transformation of the manifests Helm rendered."""

    kustomize: Kustomize | None = prop("Kustomize-style patches and image overrides.")


@dataclass
class WaitStrategy:
    """How Helm waits for released objects to become ready."""

    name: str = prop(
        "`poller` (status polling, the default) or `legacy`.",
        required=True,
        zero=str,
        enum=("poller", "legacy"),
    )


@dataclass
class HelmReleaseSpec:
    """Desired state of a HelmRelease."""

    RULES = (
        Rule(
            "(has(self.chart) && !has(self.chartRef)) || (!has(self.chart) && has(self.chartRef))",
            "set exactly one of chart or chartRef",
        ),
    )

    chart: HelmChartTemplate | None = prop(
        "The chart to install, through a HelmChart the controller creates. Set this or chartRef."
    )
    chart_ref: CrossNamespaceSourceReference | None = prop(
        "An existing chart artifact to install. Set this or chart."
    )
    interval: str = interval("the release: install, upgrade or correct it")
    kube_config: KubeConfigReference | None = prop(
        "Release to the cluster this kubeconfig reaches instead of the local one."
    )
    suspend: bool | None = suspend("this release")
    release_name: str | None = prop(
        "Name of the Helm release; `[targetNamespace-]name` when empty.",
        min_length=1,
        max_length=53,
    )
    target_namespace: str | None = _namespace(
        "Namespace to release into; the HelmRelease's own when empty."
    )
    storage_namespace: str | None = _namespace(
        "Namespace of Helm's release records (`helm list -n` shows the release there); the "
        "HelmRelease's own namespace when empty, as in Flux. Changing it moves the records."
    )
    depends_on: list[DependencyReference] | None = prop(
        "HelmReleases that must be Ready before this one is released."
    )
    timeout: str | None = duration(
        "Time limit of each Helm action (install, upgrade, test, rollback, uninstall); 5m0s "
        "when empty."
    )
    max_history: int | None = prop("Release records Helm keeps; 5 when empty, 0 for no limit.")
    service_account_name: str | None = _name("ServiceAccount to impersonate while releasing.")
    persistent_client: bool | None = prop(
        "Reuse one Kubernetes client for the whole reconcile; true when empty."
    )
    drift_detection: DriftDetection | None = prop(
        "Compare released objects with the manifest Helm stored at each reconcile: the "
        "Drifted condition and a DriftDetected event report differences; mode `enabled` "
        "also corrects them."
    )
    install: Install | None = prop("Settings of install.")
    upgrade: Upgrade | None = prop("Settings of upgrade.")
    test: Test | None = prop("Settings of Helm tests.")
    rollback: Rollback | None = prop("Settings of rollback.")
    uninstall: Uninstall | None = prop("Settings of uninstall.")
    values_from: list[ValuesReference] | None = prop(
        "Values from ConfigMaps and Secrets, merged in order before `values`. A change of "
        "one labelled `reconcile.fluxcd.io/watch: Enabled` upgrades the release at once; "
        "others are read again at the next interval."
    )
    values: JSON = prop("Values for the chart, merged last.")
    post_renderers: list[PostRenderer] | None = prop(
        "Transformations of the rendered manifests, applied in order, before commonMetadata; "
        "Helm stores and applies their result. A change upgrades the release."
    )
    post_render_strategy: str | None = prop(
        "Which manifests post-renderers see: `nohooks` (not hooks), `combined` (hooks with "
        "the rest) or `separate` (hooks on their own). eddy releases with Helm 3, which "
        "post-renders no hooks: `nohooks`, also when empty (Flux's default is `combined`). "
        + NOT_HONOURED
        + " `combined` and `separate` are refused (Ready=False, Stalled, naming the field).",
        enum=("nohooks", "combined", "separate"),
        honoured=False,
    )
    common_metadata: CommonMetadata | None = prop(
        "Labels and annotations added to every released object (hooks excepted), after "
        "postRenderers, overriding equal keys. A change upgrades the release."
    )
    health_check_exprs: list[CustomHealthCheck] | None = prop(
        "CEL expressions deciding the health of the release's objects of custom kinds, "
        "evaluated while Helm waits (not when the action's disableWait is set): `inProgress`, "
        "then `failed`, then `current`; a failed object fails the install, upgrade or "
        "rollback. Not evaluated with the `legacy` wait strategy, as in Flux."
    )
    wait_strategy: WaitStrategy | None = prop("How Helm waits for readiness.")

    def timeout_seconds(self) -> float:
        return parse_duration(self.timeout or DEFAULT_TIMEOUT)

    def effective_max_history(self) -> int:
        return DEFAULT_MAX_HISTORY if self.max_history is None else self.max_history


def refused_fields(spec: dict[str, Any]) -> list[str]:
    """Paths of the fields a HelmRelease spec sets that eddy refuses: those not yet
    honoured, less the values of them it does honour."""
    found = unhonoured_in_use(HelmReleaseSpec, spec)
    # Helm 3 hands post-renderers no hooks: `nohooks` is what eddy does.
    nohooks = spec.get("postRenderStrategy") == "nohooks"
    return [path for path in found if not (nohooks and path == "spec.postRenderStrategy")]


@dataclass
class TestHookStatus:
    """Progress of one Helm test hook."""

    last_started: str | None = timestamp("When the test last started.")
    last_completed: str | None = timestamp("When the test last finished.")
    phase: str | None = prop("Outcome of the test.")


@dataclass
class Snapshot:
    """One Helm release revision as recorded in the HelmRelease."""

    api_version: str | None = prop("Version of this record's layout.")
    digest: str = prop("Checksum of the release object.", required=True, zero=str)
    name: str = prop("Name of the release.", required=True, zero=str)
    namespace: str = prop("Namespace of the release.", required=True, zero=str)
    version: int = prop("Revision number of the release.", required=True, zero=int)
    status: str = prop("Helm status of the release, e.g. deployed.", required=True, zero=str)
    chart_name: str = prop("Name of the released chart.", required=True, zero=str)
    chart_version: str = prop("Version of the released chart.", required=True, zero=str)
    app_version: str | None = prop("App version of the released chart.")
    config_digest: str = prop("Checksum of the values.", required=True, zero=str)
    first_deployed: str = timestamp("When this release was first deployed.", required=True)
    last_deployed: str = timestamp("When this release was last deployed.", required=True)
    deleted: str | None = timestamp("When this release was uninstalled.")
    test_hooks: dict[str, TestHookStatus] | None = prop("Test hooks by name.")
    oci_digest: str | None = prop("Digest of the OCI artifact the chart came from.")
    action: str | None = prop("Helm action that made this revision.")


@dataclass
class HelmReleaseStatus:
    """Observed state of a HelmRelease."""

    observed_generation: int | None = observed_generation()
    observed_post_renderers_digest: str | None = prop("Digest of the post-renderers last used.")
    observed_common_metadata_digest: str | None = prop("Digest of commonMetadata last used.")
    last_attempted_generation: int | None = prop(
        "Generation of the spec of the last release attempt.", format="int64"
    )
    conditions: list[Condition] | None = conditions()
    helm_chart: str | None = prop("`namespace/name` of the HelmChart created for this release.")
    storage_namespace: str | None = _namespace("Namespace of the current release records.")
    history: list[Snapshot] | None = prop(
        "Releases made for this HelmRelease, newest first, up to the last successful one."
    )
    last_attempted_release_action: str | None = prop(
        "The last release action tried, which selects the active remediation settings.",
        enum=("install", "upgrade"),
    )
    last_attempted_release_action_duration: str | None = prop(
        "How long the last release action took."
    )
    failures: int | None = prop("Failed reconciles since the last success.", format="int64")
    install_failures: int | None = prop("Failed installs since the last success.", format="int64")
    upgrade_failures: int | None = prop("Failed upgrades since the last success.", format="int64")
    last_applied_revision: str | None = prop("Deprecated: see history.")
    last_attempted_revision: str | None = prop("Chart version of the last attempt.")
    last_attempted_revision_digest: str | None = prop(
        "Digest of the chart artifact of the last attempt (OCI sources)."
    )
    last_attempted_values_checksum: str | None = prop("Deprecated: see lastAttemptedConfigDigest.")
    last_release_revision: int | None = prop("Deprecated: see history.")
    last_attempted_config_digest: str | None = prop("Digest of the values of the last attempt.")
    last_handled_force_at: str | None = prop(
        "Value of the `reconcile.fluxcd.io/forceAt` annotation last acted on."
    )
    last_handled_reset_at: str | None = prop(
        "Value of the `reconcile.fluxcd.io/resetAt` annotation last acted on."
    )
    inventory: ResourceInventory | None = prop("Objects in the current release.")
    last_handled_reconcile_at: str | None = last_handled_reconcile_at()


@dataclass
class HelmRelease(Resource):
    """A Helm release kept installed from a chart and values."""

    INFO = KindInfo(
        group=GROUP,
        kind="HelmRelease",
        plural="helmreleases",
        versions=(VERSION,),
        storage_version=VERSION,
        component=COMPONENT,
        description="A Helm release kept installed from a chart and values.",
        short_names=("hr",),
        categories=("fluxcd",),
        printer_columns=(
            AGE_COLUMN,
            READY_COLUMN,
            STATUS_COLUMN,
            PrinterColumn("Revision", ".status.history[0].chartVersion", priority=1),
        ),
    )

    spec: HelmReleaseSpec = prop("Desired state.", zero=HelmReleaseSpec)
    status: HelmReleaseStatus = prop(
        "Observed state.", default={"observedGeneration": -1}, zero=HelmReleaseStatus
    )

    def release_name(self) -> str:
        """spec.releaseName, else `[targetNamespace-]name`, shortened with a hash as Flux
        does when longer than Helm accepts."""
        name = self.spec.release_name or ""
        if not name:
            target = self.spec.target_namespace
            name = f"{target}-{self.name}" if target else self.name
        if len(name) <= MAX_RELEASE_NAME:
            return name
        digest = hashlib.sha256(name.encode()).hexdigest()[:_RELEASE_HASH_CHARS]
        return f"{name[: MAX_RELEASE_NAME - _RELEASE_HASH_CHARS - 1]}-{digest}"

    def release_namespace(self) -> str:
        return self.spec.target_namespace or self.namespace

    def storage_namespace(self) -> str:
        """Where Helm's records of the release are: spec.storageNamespace, else the
        HelmRelease's own namespace, as Flux keeps them."""
        return self.spec.storage_namespace or self.namespace

    def records_namespace(self) -> str:
        """Where Helm's records of the release are now: where status says the
        helm-controller last kept them (it moves them when the rule changes), else
        where storage_namespace() puts them."""
        return self.status.storage_namespace or self.storage_namespace()

    def helm_chart_name(self) -> str:
        """Name of the HelmChart created for spec.chart: `<namespace>-<name>`."""
        return f"{self.namespace}-{self.name}"

    def helm_chart_namespace(self) -> str:
        """A HelmChart lives beside its source: its sourceRef cannot leave its namespace."""
        template = self.spec.chart
        source = template.spec.source_ref.namespace if template is not None else None
        return source or self.namespace


KINDS: tuple[type[Resource], ...] = (HelmRelease,)
