"""The image.toolkit.fluxcd.io kinds: ImageRepository, ImagePolicy, ImageUpdateAutomation.

Flux serves them as v1beta2 and v1 and stores v1. eddy serves both versions with
one schema (v1 plus the v1beta2-only status fields), so either manifest applies.
"""

# prop() and its wrappers return dataclasses.field(...), which RUF009 cannot see.
# ruff: noqa: RUF009

from __future__ import annotations

from dataclasses import dataclass

from eddy_api.common import (
    AccessFrom,
    Condition,
    LocalObjectReference,
    NamespacedObjectReference,
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
from eddy_api.schema import NOT_HONOURED, Rule, duration, prop, timestamp
from eddy_api.source import CLOUD_PROVIDERS, GitRepositoryRef

GROUP = "image.toolkit.fluxcd.io"
VERSIONS = ("v1beta2", "v1")
STORAGE_VERSION = "v1"
CATEGORIES = ("all", "fluxcd", "fluxcd-images")
# eddy reconciles all three image kinds in one controller process.
COMPONENT = "image-automation-controller"

DEFAULT_EXCLUSION_LIST = ["^.*\\.sig$"]


# --- ImageRepository -------------------------------------------------------


@dataclass
class ImageRepositorySpec:
    """Desired state of an ImageRepository."""

    image: str = prop(
        "Image repository to scan, e.g. `ghcr.io/org/app` or `alpine`.", required=True, zero=str
    )
    interval: str = interval("the repository: list its tags")
    timeout: str | None = duration("Time limit of a scan; the interval when empty.", short=True)
    secret_ref: LocalObjectReference | None = prop(
        "Secret of type kubernetes.io/dockerconfigjson with registry credentials."
    )
    proxy_secret_ref: LocalObjectReference | None = prop(
        "Secret with the proxy (`address`, optional `username` and `password`) to reach the "
        "registry through. "
        + NOT_HONOURED
        + " An ImageRepository that sets it is refused (Ready=False, Stalled, naming it).",
        honoured=False,
    )
    service_account_name: str | None = prop(
        "ServiceAccount whose image pull secrets are used as credentials.", max_length=253
    )
    cert_secret_ref: LocalObjectReference | None = prop(
        "Secret (type Opaque or kubernetes.io/tls) with a client certificate and key "
        "(`tls.crt`, `tls.key`) and/or a CA certificate (`ca.crt`)."
    )
    suspend: bool | None = suspend("this repository")
    access_from: AccessFrom | None = prop(
        "Namespaces whose ImagePolicies may refer to this repository. " + NOT_HONOURED,
        honoured=False,
    )
    exclusion_list: list[str] = prop(
        "Regular expressions of tags to leave out of the scan result.",
        default=DEFAULT_EXCLUSION_LIST,
        max_items=25,
    )
    provider: str = prop(
        "How to authenticate: `generic` (credentials from secretRef), or a cloud identity "
        "(`aws`, `azure`, `gcp`). "
        + NOT_HONOURED
        + " A provider other than `generic` is refused (Ready=False, Stalled, naming it).",
        enum=CLOUD_PROVIDERS,
        default="generic",
        honoured=False,
    )
    insecure: bool | None = prop("Allow plain HTTP to the registry.")


@dataclass
class ScanResult:
    """Summary of the last scan."""

    revision: str | None = prop("Stable hash of the tags found.")
    tag_count: int = prop("Number of tags found.", required=True, zero=int)
    scan_time: str | None = timestamp("When the scan ran.")
    latest_tags: list[str] | None = prop(
        "A sample of the tags: the first ten in descending alphabetical order."
    )


@dataclass
class ImageRepositoryStatus:
    """Observed state of an ImageRepository."""

    observed_generation: int | None = observed_generation()
    conditions: list[Condition] | None = conditions()
    canonical_image_name: str | None = prop(
        "Full name of the image, e.g. `docker.io/library/alpine` for `alpine`."
    )
    last_scan_result: ScanResult | None = prop("Result of the last scan.")
    observed_exclusion_list: list[str] | None = prop("Exclusion list used by the last scan.")
    last_handled_reconcile_at: str | None = last_handled_reconcile_at()


@dataclass
class ImageRepository(Resource):
    """A container image repository whose tags are scanned."""

    INFO = KindInfo(
        group=GROUP,
        kind="ImageRepository",
        plural="imagerepositories",
        versions=VERSIONS,
        storage_version=STORAGE_VERSION,
        component=COMPONENT,
        description="A container image repository whose tags are scanned.",
        short_names=("imgrepo", "imagerepo"),
        categories=CATEGORIES,
        printer_columns=(
            PrinterColumn("Image", ".spec.image"),
            PrinterColumn("Tags", ".status.lastScanResult.tagCount"),
            READY_COLUMN,
            STATUS_COLUMN,
            PrinterColumn("Last scan", ".status.lastScanResult.scanTime", priority=1),
            AGE_COLUMN,
        ),
    )

    spec: ImageRepositorySpec = prop("Desired state.", zero=ImageRepositorySpec)
    status: ImageRepositoryStatus = prop(
        "Observed state.", default={"observedGeneration": -1}, zero=ImageRepositoryStatus
    )


# --- ImagePolicy -----------------------------------------------------------

ORDERS = ("asc", "desc")
REFLECTION_POLICIES = ("Always", "IfNotPresent", "Never")


@dataclass
class SemVerPolicy:
    """Pick the highest tag within a SemVer range."""

    range: str = prop("SemVer range, e.g. `>=1.0.0` or `~1.2`.", required=True, zero=str)


@dataclass
class AlphabeticalPolicy:
    """Pick tags by alphabetical order."""

    order: str = prop(
        "`asc` picks the last tag in alphabetical order, `desc` the first.",
        enum=ORDERS,
        default="asc",
    )


@dataclass
class NumericalPolicy:
    """Pick tags by numerical order."""

    order: str = prop(
        "`asc` picks the highest number, `desc` the lowest.", enum=ORDERS, default="asc"
    )


@dataclass
class ImagePolicyChoice:
    """How to order tags; set exactly one."""

    semver: SemVerPolicy | None = prop("Order by SemVer within a range.")
    alphabetical: AlphabeticalPolicy | None = prop("Order alphabetically.")
    numerical: NumericalPolicy | None = prop("Order numerically.")


@dataclass
class TagFilter:
    """Which tags to consider, and what part of them to compare."""

    pattern: str | None = prop("Regular expression a tag must match.")
    extract: str | None = prop(
        "Replacement, e.g. `$ts`, built from the pattern's groups; the policy compares this "
        "instead of the whole tag."
    )


@dataclass
class ImageRef:
    """An image name with tag and, possibly, digest."""

    name: str = prop("Image name without tag.", required=True, zero=str)
    tag: str = prop("Tag.", required=True, zero=str)
    digest: str | None = prop("Digest the tag pointed at.")


@dataclass
class ImagePolicySpec:
    """Desired state of an ImagePolicy."""

    RULES = (
        Rule(
            "!has(self.interval) || (has(self.digestReflectionPolicy) && "
            "self.digestReflectionPolicy == 'Always')",
            "interval needs digestReflectionPolicy Always",
        ),
        Rule(
            "has(self.interval) || !has(self.digestReflectionPolicy) || "
            "self.digestReflectionPolicy != 'Always'",
            "digestReflectionPolicy Always needs an interval",
        ),
    )

    image_repository_ref: NamespacedObjectReference = prop(
        "The ImageRepository whose tags to choose from.",
        required=True,
        zero=NamespacedObjectReference,
    )
    policy: ImagePolicyChoice = prop(
        "How to order the tags.", required=True, zero=ImagePolicyChoice
    )
    filter_tags: TagFilter | None = prop("Which tags to consider; all when empty.")
    digest_reflection_policy: str = prop(
        "When to record the digest of the chosen tag in status.latestRef.digest: `Never`, "
        "`IfNotPresent` (once per tag) or `Always` (refreshed every interval).",
        enum=REFLECTION_POLICIES,
        default="Never",
    )
    interval: str | None = duration(
        "How often to refresh the digest with digestReflectionPolicy Always."
    )
    suspend: bool | None = suspend("this policy")


@dataclass
class ImagePolicyStatus:
    """Observed state of an ImagePolicy."""

    latest_ref: ImageRef | None = prop("The chosen image.")
    observed_previous_ref: ImageRef | None = prop("The image chosen before latestRef.")
    latest_image: str | None = prop("Deprecated (v1beta2): the chosen image as `name:tag`.")
    observed_previous_image: str | None = prop(
        "Deprecated (v1beta2): the image chosen before, as `name:tag`."
    )
    observed_generation: int | None = observed_generation()
    conditions: list[Condition] | None = conditions()
    last_handled_reconcile_at: str | None = last_handled_reconcile_at()


@dataclass
class ImagePolicy(Resource):
    """A rule for choosing the latest image from an ImageRepository's tags."""

    INFO = KindInfo(
        group=GROUP,
        kind="ImagePolicy",
        plural="imagepolicies",
        versions=VERSIONS,
        storage_version=STORAGE_VERSION,
        component=COMPONENT,
        description="A rule for choosing the latest image from an ImageRepository's tags.",
        short_names=("imgpol", "imagepol"),
        categories=CATEGORIES,
        printer_columns=(
            PrinterColumn("Image", ".status.latestRef.name"),
            PrinterColumn("Tag", ".status.latestRef.tag"),
            READY_COLUMN,
            STATUS_COLUMN,
            AGE_COLUMN,
        ),
    )

    spec: ImagePolicySpec = prop("Desired state.", zero=ImagePolicySpec)
    status: ImagePolicyStatus = prop(
        "Observed state.", default={"observedGeneration": -1}, zero=ImagePolicyStatus
    )


# --- ImageUpdateAutomation -------------------------------------------------


@dataclass
class AutomationSourceReference:
    """The GitRepository to update."""

    api_version: str | None = prop("API version of the source.")
    kind: str = prop(
        "Kind of the source.", required=True, enum=("GitRepository",), default="GitRepository"
    )
    name: str = prop("Name of the source.", required=True, zero=str)
    namespace: str | None = prop("Namespace of the source; the automation's own when empty.")


@dataclass
class GitCheckoutSpec:
    """Which reference to check out before updating."""

    ref: GitRepositoryRef = prop(
        "Git reference to check out; overrides the GitRepository's ref.",
        required=True,
        zero=GitRepositoryRef,
    )


@dataclass
class CommitUser:
    """Author of the commits."""

    name: str | None = prop("Author name.")
    email: str = prop("Author email.", required=True, zero=str)


@dataclass
class SigningKey:
    """Key that signs the commits."""

    secret_ref: LocalObjectReference = prop(
        "Secret with the private key (`git.asc` for OpenPGP) and its passphrase, if any.",
        required=True,
        zero=LocalObjectReference,
    )
    type: str | None = prop("Kind of key: `gpg` or `ssh`.", enum=("gpg", "ssh"))


@dataclass
class CommitSpec:
    """How the commits are written."""

    author: CommitUser = prop("Author of the commits.", required=True, zero=CommitUser)
    signing_key: SigningKey | None = prop(
        "Sign the commits. "
        + NOT_HONOURED
        + " An ImageUpdateAutomation that sets it is refused (Ready=False, Stalled, naming it).",
        honoured=False,
    )
    message_template: str | None = prop(
        "Go text/template for the commit message, given the changes made."
    )
    message_template_values: dict[str, str] | None = prop(
        "Extra values available to the message template."
    )


@dataclass
class PushSpec:
    """Where the commits are pushed."""

    branch: str | None = prop(
        "Branch to push to; the checked-out branch when both branch and refspec are empty."
    )
    refspec: str | None = prop("Git refspec to push, e.g. `refs/heads/main:refs/heads/auto`.")
    options: dict[str, str] | None = prop("Git push options sent to the server.")


@dataclass
class GitSpec:
    """Git settings of the automation."""

    checkout: GitCheckoutSpec | None = prop(
        "Reference to check out; the GitRepository's when empty."
    )
    commit: CommitSpec = prop("How to write the commits.", required=True, zero=CommitSpec)
    push: PushSpec | None = prop("Where to push; the checked-out branch when empty.")


@dataclass
class UpdateStrategy:
    """How files are updated."""

    strategy: str = prop(
        'Update strategy: `Setters` rewrites fields marked with `# {"$imagepolicy": ...}` '
        "comments.",
        enum=("Setters",),
        default="Setters",
    )
    path: str | None = prop("Directory in the repository to update; the root when empty.")


@dataclass
class LabelSelectorRequirement:
    """One label requirement."""

    key: str = prop("Label key.", required=True, zero=str)
    operator: str = prop("`In`, `NotIn`, `Exists` or `DoesNotExist`.", required=True, zero=str)
    values: list[str] | None = prop("Values for In and NotIn.")


@dataclass
class LabelSelector:
    """A Kubernetes label selector."""

    match_labels: dict[str, str] | None = prop("Labels that must all be present.")
    match_expressions: list[LabelSelectorRequirement] | None = prop(
        "Requirements that must all hold."
    )


@dataclass
class ImageUpdateAutomationSpec:
    """Desired state of an ImageUpdateAutomation."""

    source_ref: AutomationSourceReference = prop(
        "The GitRepository to update.", required=True, zero=AutomationSourceReference
    )
    git: GitSpec | None = prop("Checkout, commit and push settings.")
    interval: str = interval("the automation: update files, commit and push")
    policy_selector: LabelSelector | None = prop(
        "Which ImagePolicies in the namespace to apply; all when empty."
    )
    update: UpdateStrategy = prop(
        "How to update files.", default={"strategy": "Setters"}, zero=UpdateStrategy
    )
    suspend: bool | None = suspend("this automation")


@dataclass
class ImageUpdateAutomationStatus:
    """Observed state of an ImageUpdateAutomation."""

    last_automation_run_time: str | None = timestamp("When the automation last ran to the end.")
    last_push_commit: str | None = prop("SHA of the last commit pushed.")
    last_push_time: str | None = timestamp("When a commit was last pushed.")
    observed_generation: int | None = observed_generation()
    conditions: list[Condition] | None = conditions()
    observed_policies: dict[str, ImageRef] | None = prop(
        "The latest image of each ImagePolicy considered, by policy name."
    )
    observed_source_revision: str | None = prop("Source revision last updated from.")
    last_handled_reconcile_at: str | None = last_handled_reconcile_at()


@dataclass
class ImageUpdateAutomation(Resource):
    """Writes the images chosen by ImagePolicies back into a Git repository."""

    INFO = KindInfo(
        group=GROUP,
        kind="ImageUpdateAutomation",
        plural="imageupdateautomations",
        versions=VERSIONS,
        storage_version=STORAGE_VERSION,
        component=COMPONENT,
        description="Writes the images chosen by ImagePolicies back into a Git repository.",
        short_names=("iua", "imgupd", "imgauto"),
        categories=CATEGORIES,
        printer_columns=(
            READY_COLUMN,
            STATUS_COLUMN,
            PrinterColumn("Last run", ".status.lastAutomationRunTime", priority=1),
            AGE_COLUMN,
        ),
    )

    spec: ImageUpdateAutomationSpec = prop("Desired state.", zero=ImageUpdateAutomationSpec)
    status: ImageUpdateAutomationStatus = prop(
        "Observed state.", default={"observedGeneration": -1}, zero=ImageUpdateAutomationStatus
    )


KINDS: tuple[type[Resource], ...] = (ImageRepository, ImagePolicy, ImageUpdateAutomation)
