"""The kustomize.toolkit.fluxcd.io/v1 Kustomization kind.

A Kustomization builds a directory of a source artifact with kustomize and keeps
the result applied to the cluster; this module is its API and its Flux names.
"""

# prop() and its wrappers return dataclasses.field(...), which RUF009 cannot see.
# ruff: noqa: RUF009

from __future__ import annotations

from dataclasses import dataclass

from eddy_api.common import (
    CommonMetadata,
    Condition,
    CustomHealthCheck,
    DependencyReference,
    History,
    Image,
    KubeConfigReference,
    LocalObjectReference,
    NamespacedObjectKindReference,
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
from eddy_api.schema import NOT_HONOURED, duration, parse_duration, prop

GROUP = "kustomize.toolkit.fluxcd.io"
VERSION = "v1"
COMPONENT = "kustomize-controller"

# Labels put on every applied object, so its owner can be found.
NAME_LABEL = f"{GROUP}/name"
NAMESPACE_LABEL = f"{GROUP}/namespace"

# Annotations users put on applied objects to steer the controller.
RECONCILE_ANNOTATION = f"{GROUP}/reconcile"  # "disabled": leave the object alone
PRUNE_ANNOTATION = f"{GROUP}/prune"  # "disabled": never garbage-collect it
SSA_ANNOTATION = f"{GROUP}/ssa"  # "Merge", "IfNotPresent" or "Ignore"
FORCE_ANNOTATION = f"{GROUP}/force"  # "enabled": recreate on immutable-field changes
REFUSED = (
    NOT_HONOURED
    + " A Kustomization that sets it is refused (Ready=False, Stalled, naming the field)."
)
SUBSTITUTE_STRATEGIES = ("WithVariables", "Always")
BUILD_METADATA_OPTIONS = ("originAnnotations", "transformerAnnotations")
SUBSTITUTE_ANNOTATION = f"{GROUP}/substitute"  # "disabled": skip postBuild substitution
# eddy's own, on a Kustomization: "report" records drift in status without correcting it.
DRIFT_ANNOTATION = "eddy.dev/drift"
DRIFT_REPORT = "report"

SSA_MERGE = "Merge"
SSA_IF_NOT_PRESENT = "IfNotPresent"
SSA_IGNORE = "Ignore"

SOURCE_KINDS = ("OCIRepository", "GitRepository", "Bucket", "ExternalArtifact")
DELETION_POLICIES = ("MirrorPrune", "Delete", "WaitForTermination", "Orphan")

MIN_TIMEOUT_SECONDS = 30.0
# When a Kustomization has no interval (the schema requires one): ten minutes.
DEFAULT_INTERVAL_SECONDS = 600.0


@dataclass
class CrossNamespaceSourceReference:
    """The source whose artifact holds the manifests."""

    api_version: str | None = prop("API version of the source.")
    kind: str = prop(
        "Kind of the source: GitRepository, OCIRepository, Bucket or ExternalArtifact.",
        required=True,
        zero=str,
        enum=SOURCE_KINDS,
    )
    name: str = prop("Name of the source.", required=True, zero=str)
    namespace: str | None = prop("Namespace of the source; the Kustomization's own when empty.")


@dataclass
class Decryption:
    """How to decrypt secrets in the manifests before applying them."""

    provider: str = prop("Decryption engine.", required=True, zero=str, enum=("sops",))
    service_account_name: str | None = prop(
        "ServiceAccount whose cloud identity reaches the KMS; static credentials in secretRef "
        "take precedence. eddy decrypts with age and OpenPGP keys only. " + REFUSED,
        honoured=False,
    )
    secret_ref: LocalObjectReference | None = prop(
        "Secret with the private keys: age identities in entries named `*.agekey`, OpenPGP "
        "secret keys (ASCII-armored, no passphrase) in entries named `*.asc`. KMS and Vault "
        "credentials (`sops.aws-kms`, `sops.azure-kv`, `sops.gcp-kms`, `sops.vault-token`) "
        "are refused in status."
    )


@dataclass
class SubstituteReference:
    """A ConfigMap or Secret whose keys are substitution variables."""

    kind: str = prop("Kind of the object.", required=True, zero=str, enum=("Secret", "ConfigMap"))
    name: str = prop(
        "Name of the object, in the Kustomization's namespace.",
        required=True,
        zero=str,
        min_length=1,
        max_length=253,
    )
    optional: bool = prop(
        "Carry on as if the object were empty when it does not exist.", default=False
    )


@dataclass
class PostBuild:
    """What to do with the built manifests before applying them."""

    substitute: dict[str, str] | None = prop(
        "Variables to substitute in the manifests, written `${name}`; bash-style defaults "
        "and replacements such as `${name:=default}` work too."
    )
    substitute_from: list[SubstituteReference] | None = prop(
        "ConfigMaps and Secrets whose keys are more variables; later entries and `substitute` "
        "win on equal names. A change of one labelled `reconcile.fluxcd.io/watch: Enabled` "
        "reconciles the Kustomization at once; others are read again at the next interval."
    )
    substitute_strategy: str | None = prop(
        "When to substitute: `WithVariables` (the default) only when at least one variable "
        "is defined, inline or from substituteFrom; `Always` even when none is, so that "
        "defaults such as `${name:=default}` still apply.",
        enum=SUBSTITUTE_STRATEGIES,
    )


@dataclass
class DriftIgnoreRule:
    """Parts of applied objects that may differ from Git without being reverted."""

    paths: list[str] = prop("JSON Pointer (RFC 6901) paths to ignore.", required=True, zero=list)
    target: Selector | None = prop("Objects the rule applies to; all when empty.")


@dataclass
class KustomizationSpec:
    """Desired state of a Kustomization."""

    common_metadata: CommonMetadata | None = prop(
        "Labels and annotations added to every applied object."
    )
    depends_on: list[DependencyReference] | None = prop(
        "Kustomizations that must be Ready before this one is applied."
    )
    decryption: Decryption | None = prop(
        "Decrypt SOPS-encrypted manifests (YAML and JSON objects, and the files Secret "
        "generators and patches read: YAML, JSON, dotenv, INI, binary) before applying, "
        "checking each file's MAC."
    )
    interval: str = interval("the Kustomization: build and apply the source")
    retry_interval: str | None = duration(
        "How soon to retry after a failure; the interval when empty."
    )
    kube_config: KubeConfigReference | None = prop(
        "Apply to the cluster this kubeconfig reaches instead of the local one. With "
        "serviceAccountName, act as that ServiceAccount there."
    )
    path: str | None = prop(
        "Directory within the source artifact holding a kustomization.yaml or plain "
        "manifests; the artifact root when empty."
    )
    post_build: PostBuild | None = prop("Variable substitution in the built manifests.")
    prune: bool = prop(
        "Delete objects that were applied before but are no longer in the source.",
        required=True,
        zero=bool,
    )
    deletion_policy: str | None = prop(
        "What happens to applied objects when the Kustomization is deleted: `MirrorPrune` "
        "(delete if prune is true, the default), `Delete`, `WaitForTermination` or `Orphan`.",
        enum=DELETION_POLICIES,
    )
    health_checks: list[NamespacedObjectKindReference] | None = prop(
        "Objects that must become healthy after each apply."
    )
    name_prefix: str | None = prop(
        "Prefix added to the names of all objects.", min_length=1, max_length=200
    )
    name_suffix: str | None = prop(
        "Suffix added to the names of all objects.", min_length=1, max_length=200
    )
    patches: list[Patch] | None = prop("Patches applied on top of the build.")
    images: list[Image] | None = prop("Image name, tag and digest overrides.")
    service_account_name: str | None = prop("ServiceAccount to impersonate while applying.")
    source_ref: CrossNamespaceSourceReference = prop(
        "Source whose artifact holds the manifests.",
        required=True,
        zero=CrossNamespaceSourceReference,
    )
    suspend: bool | None = suspend("this Kustomization")
    target_namespace: str | None = prop(
        "Namespace set on every namespaced object.", min_length=1, max_length=63
    )
    timeout: str | None = duration(
        "Time limit for building, applying and health checking; the interval when empty."
    )
    force: bool = prop("Delete and recreate objects whose immutable fields changed.", default=False)
    wait: bool | None = prop(
        "Wait for every applied object to become healthy; healthChecks are then ignored."
    )
    components: list[str] | None = prop("Kustomize components to add, relative to path.")
    ignore_missing_components: bool | None = prop(
        "Leave out components that do not exist in the source instead of failing."
    )
    health_check_exprs: list[CustomHealthCheck] | None = prop(
        "CEL expressions deciding the health of objects of a group (and kind), used with wait "
        "or healthChecks: `inProgress`, then `failed`, then `current`; the first that is true "
        "decides. The expressions read the object's `apiVersion`, `kind`, `metadata`, `spec` "
        "and `status`; one that does not compile makes the Kustomization Ready=False before "
        "anything is applied."
    )
    build_metadata: list[str] | None = prop(
        "Kustomize build metadata added to the built objects: `originAnnotations` (the file "
        "each object came from) and `transformerAnnotations` (what changed it).",
        enum=BUILD_METADATA_OPTIONS,
    )
    ignore: list[DriftIgnoreRule] | None = prop(
        "Parts of applied objects to leave out of drift detection and apply (JSON Pointer "
        "paths, optionally per target): an object that exists keeps what it holds there; a "
        "new one is created whole."
    )

    def timeout_seconds(self) -> float:
        """The effective timeout: spec.timeout, else interval, and never below 30s."""
        text = self.timeout or self.interval
        seconds = parse_duration(text) if text else MIN_TIMEOUT_SECONDS
        return max(seconds, MIN_TIMEOUT_SECONDS)

    def interval_seconds(self) -> float:
        return parse_duration(self.interval) if self.interval else DEFAULT_INTERVAL_SECONDS

    def retry_interval_seconds(self) -> float:
        if self.retry_interval:
            return parse_duration(self.retry_interval)
        return self.interval_seconds()

    def effective_deletion_policy(self) -> str:
        return self.deletion_policy or "MirrorPrune"

    def deletes_on_deletion(self) -> bool:
        """Whether deleting the Kustomization deletes what it applied (its policy says so)."""
        policy = self.effective_deletion_policy()
        return policy in ("Delete", "WaitForTermination") or (
            policy == "MirrorPrune" and bool(self.prune)
        )


@dataclass
class DriftRecord:
    """One field of an applied object that someone changed in the cluster (eddy's own)."""

    object: str = prop("The object, `Kind/namespace/name`.", required=True, zero=str)
    field: str = prop("The field, e.g. `spec.replicas`.", required=True, zero=str)
    found: str | None = prop("The value found in the cluster (JSON; Secrets' are masked).")
    restored: str | None = prop("The value from Git it was set back to, when corrected.")
    wanted: str | None = prop("The value Git wants, when only reported.")
    manager: str | None = prop(
        "The field manager that last set the value (managedFields), e.g. `kubectl-scale`."
    )
    corrected: bool | None = prop("Whether eddy set the value back to Git's.")
    detected_at: str | None = prop("When the drift was found.")


@dataclass
class KustomizationStatus:
    """Observed state of a Kustomization."""

    observed_generation: int | None = observed_generation()
    conditions: list[Condition] | None = conditions()
    last_applied_revision: str | None = prop("Source revision last applied successfully.")
    last_applied_origin_revision: str | None = prop(
        "Origin revision (e.g. an OCI revision annotation) of the artifact last applied."
    )
    last_attempted_revision: str | None = prop("Source revision of the last attempt.")
    inventory: ResourceInventory | None = prop("Objects applied by the last successful apply.")
    history: list[History] | None = prop("Summary of recent reconciliations, newest first.")
    last_handled_reconcile_at: str | None = last_handled_reconcile_at()
    drift: list[DriftRecord] | None = prop(
        "eddy's own: the fields of applied objects found changed in the cluster by the last "
        "reconcile that found any, who changed them and Git's value. Corrected unless the "
        f"Kustomization is annotated `{DRIFT_ANNOTATION}: {DRIFT_REPORT}`; a report is "
        "cleared by a reconcile that finds no drift."
    )


@dataclass
class Kustomization(Resource):
    """A directory of a source, built with kustomize and kept applied."""

    INFO = KindInfo(
        group=GROUP,
        kind="Kustomization",
        plural="kustomizations",
        versions=(VERSION,),
        storage_version=VERSION,
        component=COMPONENT,
        description="A directory of a source, built with kustomize and kept applied.",
        short_names=("ks",),
        categories=("fluxcd",),
        printer_columns=(
            AGE_COLUMN,
            READY_COLUMN,
            STATUS_COLUMN,
            PrinterColumn("Revision", ".status.lastAppliedRevision", priority=1),
        ),
    )

    spec: KustomizationSpec = prop("Desired state.", zero=KustomizationSpec)
    status: KustomizationStatus = prop(
        "Observed state.", default={"observedGeneration": -1}, zero=KustomizationStatus
    )


# RBAC names may hold ':' (system:aggregate-to-view); Flux writes it as "__" in their ids.
RBAC_KINDS = frozenset(
    ("rbac.authorization.k8s.io", kind)
    for kind in ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding")
)


def inventory_id(namespace: str, name: str, group: str, kind: str) -> str:
    """The inventory id of an applied object, `<namespace>_<name>_<group>_<kind>`, as
    Flux writes it: a ':' in an RBAC object's name becomes "__"."""
    if (group, kind) in RBAC_KINDS:
        name = name.replace(":", "__")
    return f"{namespace}_{name}_{group}_{kind}"


def parse_inventory_id(text: str) -> tuple[str, str, str, str]:
    """(namespace, name, group, kind) of an inventory id, read as Flux reads it.

    Namespaces, groups and kinds never hold '_', so the namespace ends at the first
    and the kind starts after the last; the group is the field before the kind and
    the name is what remains. Unlike Flux, a name may hold '_' (RBAC names may), so
    a ClusterRole `tenant_reader` is read back; "__" in a name is a ':'.
    """
    namespace, sep, rest = text.partition("_")
    rest, sep_kind, kind = rest.rpartition("_")
    name, sep_group, group = rest.rpartition("_")
    if not (sep and sep_kind and sep_group and name and kind):
        raise ValueError(f"invalid inventory id {text[:300]!r}")
    return namespace, name.replace("__", ":"), group, kind


KINDS: tuple[type[Resource], ...] = (Kustomization,)
