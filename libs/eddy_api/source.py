"""The source.toolkit.fluxcd.io/v1 kinds: GitRepository, OCIRepository, Bucket, HelmRepository,
HelmChart and ExternalArtifact.

Sources turn something remote into an artifact in the source-controller's storage;
their status is the contract every consumer reads.
"""

# prop() and its wrappers return dataclasses.field(...), which RUF009 cannot see.
# ruff: noqa: RUF009

from __future__ import annotations

from dataclasses import dataclass

from eddy_api.common import (
    AccessFrom,
    Artifact,
    Condition,
    LocalObjectReference,
    NamespacedObjectKindReference,
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
from eddy_api.schema import NOT_HONOURED, Rule, duration, prop

GROUP = "source.toolkit.fluxcd.io"
VERSION = "v1"
COMPONENT = "source-controller"
CATEGORIES = ("all", "fluxcd", "fluxcd-sources")

URL_COLUMN = PrinterColumn("URL", ".spec.url")


# --- GitRepository ---------------------------------------------------------

GIT_PROVIDERS = ("generic", "aws", "azure", "github")


@dataclass
class GitRepositoryRef:
    """Which Git reference to check out. The most specific field that is set wins."""

    branch: str | None = prop(
        "Branch to check out; `master` when no other field is set. With `commit`, the branch "
        "is cloned shallowly and must contain the commit."
    )
    tag: str | None = prop("Tag to check out; takes precedence over branch.")
    semver: str | None = prop(
        "SemVer range; the highest matching tag is checked out. Takes precedence over tag."
    )
    name: str | None = prop(
        "Full Git reference name, e.g. `refs/heads/main` or `refs/pull/42/head`. Takes "
        "precedence over branch, tag and semver."
    )
    commit: str | None = prop("Commit SHA to check out; takes precedence over every other field.")


@dataclass
class GitRepositoryVerification:
    """How to verify commit or tag signatures."""

    mode: str = prop(
        "Which objects to verify: the checked-out commit (`HEAD`, or the older spelling "
        "`head`), the tag (`Tag`) or both (`TagAndHEAD`).",
        enum=("head", "HEAD", "Tag", "TagAndHEAD"),
        default="HEAD",
    )
    secret_ref: LocalObjectReference = prop(
        "Secret with the trusted public keys: PGP keys under keys ending in `.asc`, SSH keys "
        "under keys ending in `.sshpub`.",
        required=True,
        zero=LocalObjectReference,
    )


@dataclass
class GitRepositoryInclude:
    """Another GitRepository whose artifact is copied into this one."""

    repository: LocalObjectReference = prop(
        "The GitRepository to include, in the same namespace.",
        required=True,
        zero=LocalObjectReference,
    )
    from_path: str | None = prop("Directory of the included artifact to copy; its root when empty.")
    to_path: str | None = prop(
        "Directory to copy into; the name of the included GitRepository when empty."
    )


@dataclass
class GitRepositorySpec:
    """Desired state of a GitRepository."""

    RULES = (
        Rule(
            "!has(self.serviceAccountName) || (has(self.provider) && "
            "(self.provider == 'azure' || self.provider == 'aws'))",
            "serviceAccountName needs provider 'azure' or 'aws'",
        ),
    )

    url: str = prop(
        "Address of the repository, over HTTP(S) or SSH.",
        required=True,
        zero=str,
        pattern=r"^(http|https|ssh)://.*$",
    )
    secret_ref: LocalObjectReference | None = prop(
        "Secret with credentials: `username` and `password` or `bearerToken` for HTTPS; "
        "`identity` and `known_hosts` for SSH."
    )
    provider: str | None = prop(
        "How to authenticate: `generic` (the default, credentials from secretRef), or through "
        "a cloud identity (`aws`, `azure`, `github`). "
        + NOT_HONOURED
        + " A provider other than `generic` is refused (Ready=False, Stalled, naming the field).",
        enum=GIT_PROVIDERS,
        honoured=False,
    )
    service_account_name: str | None = prop(
        "ServiceAccount whose cloud identity authenticates to the repository (providers "
        "`azure` and `aws` only). " + NOT_HONOURED,
        honoured=False,
    )
    interval: str = interval("the repository: fetch and, on a new revision, build an artifact")
    timeout: str = duration(
        "Time limit for Git operations such as clone and fetch.", default="60s", short=True
    )
    ref: GitRepositoryRef | None = prop(
        "Git reference to check out and follow; the `master` branch when empty."
    )
    verify: GitRepositoryVerification | None = prop(
        "Verify OpenPGP signatures against the public keys of verify.secretRef before "
        "building an artifact (SourceVerified condition): of the checked-out commit (`HEAD`), "
        "of the annotated tag spec.ref names (`Tag`), or both (`TagAndHEAD`). SSH "
        "signatures are refused in status.",
        json="verify",
    )
    proxy_secret_ref: LocalObjectReference | None = prop(
        "Secret with the HTTP proxy (`address`, optional `username` and `password`) to reach "
        "the Git server through; http and https URLs only (an SSH URL is refused in status)."
    )
    ignore: str | None = prop(
        "Paths to leave out of the artifact, in .gitignore syntax; replaces the built-in list."
    )
    suspend: bool | None = suspend("this repository")
    recurse_submodules: bool | None = prop(
        "Also check out the submodules `.gitmodules` declares (recursively), at the commits "
        "the tree records; credentials go only to submodules on the same server."
    )
    include: list[GitRepositoryInclude] | None = prop(
        "Other GitRepositories whose artifacts are copied into this artifact."
    )
    sparse_checkout: list[str] | None = prop(
        "Directories to check out; when set, only these end up in the artifact."
    )


@dataclass
class GitRepositoryStatus:
    """Observed state of a GitRepository."""

    observed_generation: int | None = observed_generation()
    conditions: list[Condition] | None = conditions()
    artifact: Artifact | None = prop("The artifact of the last successful reconcile.")
    included_artifacts: list[Artifact] | None = prop(
        "Artifacts of the included repositories, as last included."
    )
    observed_ignore: str | None = prop("Ignore rules used for the current artifact.")
    observed_recurse_submodules: bool | None = prop(
        "spec.recurseSubmodules when the current artifact was built."
    )
    observed_include: list[GitRepositoryInclude] | None = prop(
        "Includes used for the current artifact."
    )
    observed_sparse_checkout: list[str] | None = prop(
        "Sparse checkout directories used for the current artifact."
    )
    source_verification_mode: str | None = prop("Verification mode last applied.")
    last_handled_reconcile_at: str | None = last_handled_reconcile_at()


@dataclass
class GitRepository(Resource):
    """A Git repository to follow; each new revision becomes an artifact."""

    INFO = KindInfo(
        group=GROUP,
        kind="GitRepository",
        plural="gitrepositories",
        versions=(VERSION,),
        storage_version=VERSION,
        component=COMPONENT,
        description="A Git repository to follow; each new revision becomes an artifact.",
        short_names=("gitrepo",),
        categories=CATEGORIES,
        printer_columns=(URL_COLUMN, AGE_COLUMN, READY_COLUMN, STATUS_COLUMN),
    )

    spec: GitRepositorySpec = prop("Desired state.", zero=GitRepositorySpec)
    status: GitRepositoryStatus = prop(
        "Observed state.", default={"observedGeneration": -1}, zero=GitRepositoryStatus
    )


# --- HelmRepository --------------------------------------------------------

HELM_REPOSITORY_TYPES = ("default", "oci")
CLOUD_PROVIDERS = ("generic", "aws", "azure", "gcp")


@dataclass
class HelmRepositorySpec:
    """Desired state of a HelmRepository."""

    url: str = prop(
        "Address of the repository: `http(s)://` for a chart index, `oci://` for a registry.",
        required=True,
        zero=str,
        pattern=r"^(http|https|oci)://.*$",
    )
    secret_ref: LocalObjectReference | None = prop(
        "Secret with `username` and `password` for basic authentication. TLS keys in this "
        "Secret are deprecated; use certSecretRef."
    )
    cert_secret_ref: LocalObjectReference | None = prop(
        "Secret (type Opaque or kubernetes.io/tls) with a client certificate and key "
        "(`tls.crt`, `tls.key`) and/or a CA certificate (`ca.crt`). Overrides TLS data in "
        "secretRef."
    )
    pass_credentials: bool | None = prop(
        "Send the credentials also to hosts other than the one in url, e.g. where the index "
        "points to charts elsewhere. Only for hosts you trust."
    )
    interval: str | None = interval("the repository: download the index", required=False)
    insecure: bool | None = prop("Allow plain HTTP to an OCI registry (type `oci` only).")
    timeout: str | None = duration(
        "Time limit for index downloads and OCI operations; 60s when empty.", short=True
    )
    suspend: bool | None = suspend("this repository")
    access_from: AccessFrom | None = prop(
        "Namespaces allowed to refer to this repository. " + NOT_HONOURED, honoured=False
    )
    type: str | None = prop(
        "Kind of repository: `default` (an index.yaml over HTTP) or `oci` (a registry; url "
        "must start with `oci://`).",
        enum=HELM_REPOSITORY_TYPES,
    )
    provider: str = prop(
        "How to authenticate to an OCI registry: `generic` (credentials from secretRef), or a "
        "cloud identity (`aws`, `azure`, `gcp`). " + NOT_HONOURED,
        enum=CLOUD_PROVIDERS,
        default="generic",
        honoured=False,
    )


@dataclass
class HelmRepositoryStatus:
    """Observed state of a HelmRepository."""

    observed_generation: int | None = observed_generation()
    conditions: list[Condition] | None = conditions()
    url: str | None = prop("Address of the latest index artifact; prefer artifact.url.")
    artifact: Artifact | None = prop("The artifact of the last successful reconcile.")
    last_handled_reconcile_at: str | None = last_handled_reconcile_at()


@dataclass
class HelmRepository(Resource):
    """A Helm chart repository (an index over HTTP, or an OCI registry)."""

    INFO = KindInfo(
        group=GROUP,
        kind="HelmRepository",
        plural="helmrepositories",
        versions=(VERSION,),
        storage_version=VERSION,
        component=COMPONENT,
        description="A Helm chart repository (an index over HTTP, or an OCI registry).",
        short_names=("helmrepo",),
        categories=CATEGORIES,
        printer_columns=(URL_COLUMN, AGE_COLUMN, READY_COLUMN, STATUS_COLUMN),
    )

    spec: HelmRepositorySpec = prop("Desired state.", zero=HelmRepositorySpec)
    status: HelmRepositoryStatus = prop(
        "Observed state.", default={"observedGeneration": -1}, zero=HelmRepositoryStatus
    )


# --- HelmChart -------------------------------------------------------------

HELM_CHART_SOURCE_KINDS = ("HelmRepository", "GitRepository", "Bucket")
RECONCILE_STRATEGIES = ("ChartVersion", "Revision")


@dataclass
class LocalHelmChartSourceReference:
    """The source, in the same namespace, that holds the chart."""

    api_version: str | None = prop("API version of the source.")
    kind: str = prop(
        "Kind of the source.",
        required=True,
        zero=str,
        enum=HELM_CHART_SOURCE_KINDS,
    )
    name: str = prop("Name of the source.", required=True, zero=str)


@dataclass
class OIDCIdentityMatch:
    """A keyless signing identity to accept, as regular expressions."""

    issuer: str = prop("Regular expression the OIDC issuer must match.", required=True, zero=str)
    subject: str = prop("Regular expression the identity must match.", required=True, zero=str)


@dataclass
class OCIRepositoryVerification:
    """How to verify the signature of an OCI artifact."""

    provider: str = prop(
        "Signature tool: `cosign` or `notation`.",
        required=True,
        enum=("cosign", "notation"),
        default="cosign",
    )
    secret_ref: LocalObjectReference | None = prop(
        "Secret with the trusted public keys; keyless verification when empty."
    )
    match_oidc_identity: list[OIDCIdentityMatch] | None = prop(
        "Identities accepted for keyless signatures; any match suffices.",
        json="matchOIDCIdentity",
    )


@dataclass
class HelmChartSpec:
    """Desired state of a HelmChart."""

    RULES = (
        Rule(
            "!has(self.verify) || self.sourceRef.kind == 'HelmRepository'",
            "verify needs sourceRef.kind HelmRepository",
        ),
    )

    chart: str = prop(
        "Name of the chart in a repository, or its path in a Git source.", required=True, zero=str
    )
    version: str = prop(
        "SemVer range of chart versions; the highest match is used. Ignored for charts "
        "from Git or Bucket sources.",
        default="*",
    )
    source_ref: LocalHelmChartSourceReference = prop(
        "Source holding the chart.", required=True, zero=LocalHelmChartSourceReference
    )
    interval: str = interval("the chart: look for a new version or source revision")
    reconcile_strategy: str = prop(
        "What makes a new artifact: a new chart version (`ChartVersion`) or any new revision "
        "of the source (`Revision`).",
        enum=RECONCILE_STRATEGIES,
        default="ChartVersion",
    )
    values_files: list[str] | None = prop(
        "Values files, relative to the chart's source, merged in order (later wins) into "
        "the packaged chart's values. The chart's values.yaml is not included unless listed."
    )
    ignore_missing_values_files: bool | None = prop(
        "Skip listed values files that do not exist instead of failing."
    )
    suspend: bool | None = suspend("this chart")
    access_from: AccessFrom | None = prop(
        "Namespaces allowed to refer to this chart. " + NOT_HONOURED, honoured=False
    )
    verify: OCIRepositoryVerification | None = prop(
        "Verify the chart's signature before it is stored (OCI HelmRepository only). eddy "
        "verifies cosign signatures with the public keys in secretRef; keyless and notation "
        "verification, and verify with a HelmRepository not of type oci, are refused in status."
    )


@dataclass
class HelmChartStatus:
    """Observed state of a HelmChart."""

    observed_generation: int | None = observed_generation()
    observed_source_artifact_revision: str | None = prop(
        "Revision of the source artifact last built from."
    )
    observed_chart_name: str | None = prop("Chart name last resolved.")
    observed_values_files: list[str] | None = prop("Values files merged into the current artifact.")
    conditions: list[Condition] | None = conditions()
    url: str | None = prop("Address of the latest chart artifact; prefer artifact.url.")
    artifact: Artifact | None = prop("The artifact of the last successful reconcile.")
    last_handled_reconcile_at: str | None = last_handled_reconcile_at()


@dataclass
class HelmChart(Resource):
    """A Helm chart packaged from a source, ready for the helm-controller."""

    INFO = KindInfo(
        group=GROUP,
        kind="HelmChart",
        plural="helmcharts",
        versions=(VERSION,),
        storage_version=VERSION,
        component=COMPONENT,
        description="A Helm chart packaged from a source, ready for the helm-controller.",
        short_names=("hc",),
        categories=CATEGORIES,
        printer_columns=(
            PrinterColumn("Chart", ".spec.chart"),
            PrinterColumn("Version", ".spec.version"),
            PrinterColumn("Source Kind", ".spec.sourceRef.kind"),
            PrinterColumn("Source Name", ".spec.sourceRef.name"),
            AGE_COLUMN,
            READY_COLUMN,
            STATUS_COLUMN,
        ),
    )

    spec: HelmChartSpec = prop("Desired state.", zero=HelmChartSpec)
    status: HelmChartStatus = prop(
        "Observed state.", default={"observedGeneration": -1}, zero=HelmChartStatus
    )


# --- OCIRepository ---------------------------------------------------------

OCI_LAYER_OPERATIONS = ("extract", "copy")


@dataclass
class OCIRepositoryRef:
    """Which artifact to pull; digest wins over semver, semver over tag."""

    digest: str | None = prop(
        "Digest of the artifact to pull, as `sha256:<hex>`; takes precedence over semver."
    )
    semver: str | None = prop(
        "SemVer range of tags; the highest matching tag is pulled. Takes precedence over tag."
    )
    semver_filter: str | None = prop(
        "Regular expression the tags must match to be considered for semver.",
        json="semverFilter",
    )
    tag: str | None = prop("Tag to pull; `latest` when no field is set.")


@dataclass
class OCILayerSelector:
    """Which layer of the artifact becomes the source artifact, and how."""

    media_type: str | None = prop(
        "Media type of the layer to use; the first layer of that type is selected. The "
        "first layer of the artifact when empty."
    )
    operation: str | None = prop(
        "What to do with the layer: `extract` its tarball (the default) or `copy` the "
        "compressed layer into storage as it is.",
        enum=OCI_LAYER_OPERATIONS,
    )


@dataclass
class OCIArtifactVerification(OCIRepositoryVerification):
    """How to verify the signature of an OCI artifact."""

    trusted_root_secret_ref: LocalObjectReference | None = prop(
        "Secret with a Sigstore `trusted_root.json` for self-hosted keyless verification. "
        + NOT_HONOURED,
        honoured=False,
    )


@dataclass
class OCIRepositorySpec:
    """Desired state of an OCIRepository."""

    url: str = prop(
        "Address of the artifact repository, `oci://<host>[:<port>]/<repository>`, without a "
        "tag or digest.",
        required=True,
        zero=str,
        pattern=r"^oci://.*$",
    )
    ref: OCIRepositoryRef | None = prop(
        "The reference to pull and follow; the `latest` tag when empty.", json="ref"
    )
    layer_selector: OCILayerSelector | None = prop(
        "Which layer to use; the first layer, extracted, when empty."
    )
    provider: str = prop(
        "How to authenticate: `generic` (credentials from secretRef or serviceAccountName), "
        "or a cloud identity (`aws`, `azure`, `gcp`). Only `generic` is honoured by eddy; "
        "other values are refused in status.",
        enum=CLOUD_PROVIDERS,
        default="generic",
    )
    secret_ref: LocalObjectReference | None = prop(
        "Secret of type kubernetes.io/dockerconfigjson with the registry credentials."
    )
    verify: OCIArtifactVerification | None = prop(
        "Verify the artifact's signature before it is stored. eddy verifies cosign "
        "signatures with the public keys in secretRef; keyless and notation verification "
        "are refused in status.",
        json="verify",
    )
    service_account_name: str | None = prop(
        "ServiceAccount whose image pull secrets authenticate to the registry."
    )
    cert_secret_ref: LocalObjectReference | None = prop(
        "Secret (type Opaque or kubernetes.io/tls) with a client certificate and key "
        "(`tls.crt`, `tls.key`) and/or a CA certificate (`ca.crt`) for the registry."
    )
    proxy_secret_ref: LocalObjectReference | None = prop(
        "Secret with the proxy (`address`, optional `username` and `password`) to reach the "
        "registry through."
    )
    interval: str = interval("the repository: look for a new digest and pull it")
    timeout: str = duration(
        "Time limit for registry operations such as pulling.", default="60s", short=True
    )
    ignore: str | None = prop(
        "Paths to leave out of the artifact, in .gitignore syntax; replaces the built-in list."
    )
    insecure: bool | None = prop("Allow plain HTTP to the registry.")
    suspend: bool | None = suspend("this repository")


@dataclass
class OCIRepositoryStatus:
    """Observed state of an OCIRepository."""

    observed_generation: int | None = observed_generation()
    conditions: list[Condition] | None = conditions()
    url: str | None = prop("Address of the latest artifact; prefer artifact.url.")
    artifact: Artifact | None = prop("The artifact of the last successful reconcile.")
    observed_ignore: str | None = prop("Ignore rules used for the current artifact.")
    observed_layer_selector: OCILayerSelector | None = prop(
        "Layer selector used for the current artifact."
    )
    last_handled_reconcile_at: str | None = last_handled_reconcile_at()


@dataclass
class OCIRepository(Resource):
    """An OCI artifact repository to follow; each new digest becomes an artifact."""

    INFO = KindInfo(
        group=GROUP,
        kind="OCIRepository",
        plural="ocirepositories",
        versions=(VERSION,),
        storage_version=VERSION,
        component=COMPONENT,
        description="An OCI artifact repository to follow; each new digest becomes an artifact.",
        short_names=("ocirepo",),
        categories=CATEGORIES,
        printer_columns=(URL_COLUMN, READY_COLUMN, STATUS_COLUMN, AGE_COLUMN),
    )

    spec: OCIRepositorySpec = prop("Desired state.", zero=OCIRepositorySpec)
    status: OCIRepositoryStatus = prop(
        "Observed state.", default={"observedGeneration": -1}, zero=OCIRepositoryStatus
    )


# --- Bucket ----------------------------------------------------------------

BUCKET_STS_PROVIDERS = ("aws", "ldap")


@dataclass
class BucketSTSSpec:
    """A Security Token Service to fetch temporary credentials from."""

    provider: str = prop(
        "Kind of STS: `aws` or `ldap`.", required=True, zero=str, enum=BUCKET_STS_PROVIDERS
    )
    endpoint: str = prop(
        "HTTP(S) address of the STS.", required=True, zero=str, pattern=r"^(http|https)://.*$"
    )
    secret_ref: LocalObjectReference | None = prop(
        "Secret with `username` and `password` for the `ldap` STS."
    )
    cert_secret_ref: LocalObjectReference | None = prop(
        "Secret with a client certificate and key (`tls.crt`, `tls.key`) and/or a CA "
        "certificate (`ca.crt`) for the `ldap` STS."
    )


@dataclass
class BucketSpec:
    """Desired state of a Bucket."""

    RULES = (
        Rule(
            "self.provider == 'aws' || self.provider == 'generic' || !has(self.sts)",
            "STS configuration is only supported for the 'aws' and 'generic' Bucket providers",
        ),
        Rule(
            "self.provider != 'generic' || !has(self.serviceAccountName)",
            "ServiceAccountName is not supported for the 'generic' Bucket provider",
        ),
        Rule(
            "!has(self.secretRef) || !has(self.serviceAccountName)",
            "cannot set both .spec.secretRef and .spec.serviceAccountName",
        ),
    )

    provider: str = prop(
        "Kind of object storage: `generic` (any S3-compatible API), or `aws`, `gcp`, `azure` "
        "with their own authentication. Only `generic` is honoured by eddy; other values are "
        "refused in status.",
        enum=CLOUD_PROVIDERS,
        default="generic",
    )
    bucket_name: str = prop("Name of the bucket.", required=True, zero=str)
    endpoint: str = prop(
        "Address of the object storage, `host[:port]` without a scheme.", required=True, zero=str
    )
    sts: BucketSTSSpec | None = prop(
        "A Security Token Service for temporary credentials. " + NOT_HONOURED, honoured=False
    )
    insecure: bool | None = prop("Use plain HTTP instead of HTTPS to reach the endpoint.")
    region: str | None = prop("Region of the endpoint where the bucket is located.")
    prefix: str | None = prop(
        "Only objects whose keys start with this prefix (filtered by the server) go into "
        "the artifact; keys keep their full path."
    )
    secret_ref: LocalObjectReference | None = prop(
        "Secret with the credentials: `accesskey` and `secretkey`."
    )
    service_account_name: str | None = prop(
        "ServiceAccount whose cloud identity authenticates to the `aws` or `gcp` provider. "
        + NOT_HONOURED,
        honoured=False,
    )
    cert_secret_ref: LocalObjectReference | None = prop(
        "Secret (type Opaque or kubernetes.io/tls) with a client certificate and key "
        "(`tls.crt`, `tls.key`) and/or a CA certificate (`ca.crt`) for the endpoint."
    )
    proxy_secret_ref: LocalObjectReference | None = prop(
        "Secret with the proxy (`address`, optional `username` and `password`) to reach the "
        "endpoint through."
    )
    interval: str = interval("the bucket: list its objects and fetch them when they changed")
    timeout: str = duration(
        "Time limit for listing and fetching the objects.", default="60s", short=True
    )
    ignore: str | None = prop(
        "Keys to leave out of the artifact, in .gitignore syntax; added to the rules of a "
        "`.sourceignore` object at the bucket's root."
    )
    suspend: bool | None = suspend("this bucket")


@dataclass
class BucketStatus:
    """Observed state of a Bucket."""

    observed_generation: int | None = observed_generation()
    conditions: list[Condition] | None = conditions()
    url: str | None = prop("Address of the latest artifact; prefer artifact.url.")
    artifact: Artifact | None = prop("The artifact of the last successful reconcile.")
    observed_ignore: str | None = prop("Ignore rules used for the current artifact.")
    last_handled_reconcile_at: str | None = last_handled_reconcile_at()


@dataclass
class Bucket(Resource):
    """An object storage bucket to follow; its objects become an artifact."""

    INFO = KindInfo(
        group=GROUP,
        kind="Bucket",
        plural="buckets",
        versions=(VERSION,),
        storage_version=VERSION,
        component=COMPONENT,
        description="An object storage bucket (S3 API) to follow; its objects become an artifact.",
        categories=CATEGORIES,
        printer_columns=(
            PrinterColumn("Endpoint", ".spec.endpoint"),
            AGE_COLUMN,
            READY_COLUMN,
            STATUS_COLUMN,
        ),
    )

    spec: BucketSpec = prop("Desired state.", zero=BucketSpec)
    status: BucketStatus = prop(
        "Observed state.", default={"observedGeneration": -1}, zero=BucketStatus
    )


# --- ExternalArtifact ------------------------------------------------------


@dataclass
class ExternalArtifactSpec:
    """Desired state of an ExternalArtifact."""

    source_ref: NamespacedObjectKindReference | None = prop(
        "The object that produces this artifact, e.g. an ArtifactGenerator."
    )


@dataclass
class ExternalArtifactStatus:
    """Observed state of an ExternalArtifact, written by its producer."""

    observed_generation: int | None = observed_generation()
    artifact: Artifact | None = prop("The artifact the producer stored.")
    conditions: list[Condition] | None = conditions()


@dataclass
class ExternalArtifact(Resource):
    """An artifact produced outside the source kinds (by an ArtifactGenerator), for consumers."""

    INFO = KindInfo(
        group=GROUP,
        kind="ExternalArtifact",
        plural="externalartifacts",
        versions=(VERSION,),
        storage_version=VERSION,
        component=COMPONENT,
        description="An artifact produced by another object (such as an ArtifactGenerator), "
        "consumed like any source.",
        short_names=("ea",),
        categories=CATEGORIES,
        printer_columns=(
            AGE_COLUMN,
            READY_COLUMN,
            STATUS_COLUMN,
            PrinterColumn("Source", ".spec.sourceRef.name"),
        ),
    )

    spec: ExternalArtifactSpec = prop("Desired state.", zero=ExternalArtifactSpec)
    status: ExternalArtifactStatus = prop("Observed state.", zero=ExternalArtifactStatus)


KINDS: tuple[type[Resource], ...] = (
    GitRepository,
    OCIRepository,
    Bucket,
    HelmRepository,
    HelmChart,
    ExternalArtifact,
)
