"""The notification.toolkit.fluxcd.io kinds: Provider and Alert (v1beta3), Receiver (v1).

Flux's v1beta3 Provider and Alert carry no status; eddy adds a Ready condition so a
missing Secret or Provider shows in `kubectl get` and `flux get alerts` instead of
only in the log. The spec is Flux's, so Flux manifests apply unchanged.
"""

# prop() and its wrappers return dataclasses.field(...), which RUF009 cannot see.
# ruff: noqa: RUF009

from __future__ import annotations

from dataclasses import dataclass

from eddy_api.common import (
    Condition,
    LocalObjectReference,
    conditions,
    last_handled_reconcile_at,
    observed_generation,
)
from eddy_api.resource import (
    AGE_COLUMN,
    READY_COLUMN,
    STATUS_COLUMN,
    KindInfo,
    Resource,
)
from eddy_api.schema import NOT_HONOURED, Rule, duration, prop

GROUP = "notification.toolkit.fluxcd.io"
COMPONENT = "notification-controller"
CATEGORIES = ("all", "fluxcd", "fluxcd-notifications")

PROVIDER_TYPES = (
    "generic",
    "generic-hmac",
    "slack",
    "msteams",
    "discord",
    "googlechat",
    "alertmanager",
    "grafana",
    "opsgenie",
    "pagerduty",
    "github",
    "gitlab",
    "gitea",
    "bitbucket",
)
COMMIT_STATUS_TYPES = ("github", "gitlab", "gitea", "bitbucket")
RECEIVER_TYPES = (
    "generic",
    "generic-hmac",
    "generic-oidc",
    "github",
    "gitlab",
    "bitbucket",
    "harbor",
    "dockerhub",
    "quay",
    "gcr",
    "nexus",
    "acr",
    "cdevents",
)
SEVERITIES = ("info", "error")
# Kinds whose events an Alert can select, and whose reconcile a Receiver can request.
SOURCE_KINDS = (
    "Bucket",
    "GitRepository",
    "Kustomization",
    "HelmRelease",
    "HelmChart",
    "HelmRepository",
    "ImageRepository",
    "ImagePolicy",
    "ImageUpdateAutomation",
    "OCIRepository",
    "ArtifactGenerator",
    "ExternalArtifact",
)
RECEIVER_WEBHOOK_PATH = "/hook/"


@dataclass
class CrossNamespaceObjectReference:
    """An object of a Flux kind, by name or by labels, in any namespace."""

    api_version: str | None = prop("API version of the referent.")
    kind: str = prop("Kind of the referent.", required=True, enum=SOURCE_KINDS, zero=str)
    name: str = prop(
        "Name of the referent; `*` with matchLabels selects every object of the kind whose "
        "labels match.",
        required=True,
        max_length=253,
        min_length=1,
        zero=str,
    )
    namespace: str | None = prop(
        "Namespace of the referent; the referring object's own namespace when empty.",
        max_length=253,
        min_length=1,
    )
    match_labels: dict[str, str] | None = prop("Labels the referent must have; only with name `*`.")


@dataclass
class NotificationStatus:
    """Observed state of a Provider or an Alert (eddy reports Ready; Flux's v1beta3 does not)."""

    observed_generation: int | None = observed_generation()
    conditions: list[Condition] | None = conditions()
    last_handled_reconcile_at: str | None = last_handled_reconcile_at()


# --- Provider --------------------------------------------------------------


@dataclass
class ProviderSpec:
    """How events are encoded and where they are sent."""

    type: str = prop(
        "Which service receives the events.", required=True, enum=PROVIDER_TYPES, zero=str
    )
    interval: str | None = duration("Not used in v1beta3; accepted for Flux manifests.")
    channel: str | None = prop("Channel to post to (Slack, and where the service has one).",
                               max_length=2048)  # fmt: skip
    username: str | None = prop("Name to post as.", max_length=2048)
    address: str | None = prop(
        "Where to send: a webhook URL, an API base URL, or for commit statuses the "
        "repository URL. The Secret's `address` key overrides it.",
        max_length=2048,
    )
    timeout: str | None = duration("Time limit of one delivery; 15s when empty.", short=True)
    proxy: str | None = prop(
        "Deprecated: use proxySecretRef. HTTP/S address of a proxy.",
        pattern="^(http|https)://.*$",
        max_length=2048,
    )
    proxy_secret_ref: LocalObjectReference | None = prop(
        "Secret with the proxy's `address` and optional `username` and `password`."
    )
    secret_ref: LocalObjectReference | None = prop(
        "Secret with `address`, `token`, `username`, `password` and/or `headers` (YAML map "
        "of HTTP headers) for the service."
    )
    service_account_name: str | None = prop(
        "ServiceAccount for cloud workload identity. " + NOT_HONOURED, honoured=False
    )
    cert_secret_ref: LocalObjectReference | None = prop(
        "Secret with `ca.crt` to trust, and/or `tls.crt` and `tls.key` for client auth."
    )
    suspend: bool | None = prop("Stops sending events through this Provider.")
    commit_status_expr: str | None = prop(
        "CEL expression returning the id of the commit statuses this Provider sets (GitHub's "
        "context, GitLab's name); it reads `event`, `provider` and `alert`. The default is "
        "`<kind>/<name>/<first part of the Provider's uid>`, lowercased."
    )


@dataclass
class Provider(Resource):
    """Where alerts are sent."""

    INFO = KindInfo(
        group=GROUP,
        kind="Provider",
        plural="providers",
        versions=("v1beta3",),
        storage_version="v1beta3",
        component=COMPONENT,
        description="Where alerts are sent: a chat service, a webhook or a Git forge.",
        categories=CATEGORIES,
        printer_columns=(AGE_COLUMN, READY_COLUMN, STATUS_COLUMN),
    )

    spec: ProviderSpec = prop("Desired state.", zero=ProviderSpec)
    status: NotificationStatus = prop(
        "Observed state.", default={"observedGeneration": -1}, zero=NotificationStatus
    )


# --- Alert -----------------------------------------------------------------


@dataclass
class AlertSpec:
    """Which events to send, through which Provider."""

    provider_ref: LocalObjectReference = prop(
        "The Provider to send through.", required=True, zero=LocalObjectReference
    )
    event_severity: str = prop(
        "`error` sends only error events; `info` sends all.", enum=SEVERITIES, default="info"
    )
    event_sources: list[CrossNamespaceObjectReference] = prop(
        "Objects whose events are sent.", required=True, zero=list
    )
    inclusion_list: list[str] | None = prop(
        "Regular expressions; when set, only events whose message matches one are sent."
    )
    event_metadata: dict[str, str] | None = prop(
        "Metadata added to each event; keys the event already has keep their value."
    )
    exclusion_list: list[str] | None = prop(
        "Regular expressions; events whose message matches one are not sent."
    )
    summary: str | None = prop(
        "Deprecated: use eventMetadata. A short text sent as the `summary` metadata.",
        max_length=255,
    )
    suspend: bool | None = prop("Stops sending events for this Alert.")


@dataclass
class Alert(Resource):
    """Which events go to which Provider."""

    INFO = KindInfo(
        group=GROUP,
        kind="Alert",
        plural="alerts",
        versions=("v1beta3",),
        storage_version="v1beta3",
        component=COMPONENT,
        description="Which events go to which Provider.",
        categories=CATEGORIES,
        printer_columns=(AGE_COLUMN, READY_COLUMN, STATUS_COLUMN),
    )

    spec: AlertSpec = prop("Desired state.", zero=AlertSpec)
    status: NotificationStatus = prop(
        "Observed state.", default={"observedGeneration": -1}, zero=NotificationStatus
    )


# --- Receiver --------------------------------------------------------------


@dataclass
class ReceiverResource(CrossNamespaceObjectReference):
    """An object a Receiver reconciles, with its own CEL filter."""

    filter: str | None = prop(
        "CEL expression that must return true for a matched object to be reconciled, as "
        "well as spec.resourceFilter; it reads the object's metadata as `res`, the JSON "
        "request body as `req` and, for generic-oidc, the token's claims as `claims`."
    )


@dataclass
class OIDCVariable:
    """A named CEL expression over a token's claims, exposed to later ones as `vars.<name>`."""

    name: str = prop("Name of the variable, a CEL identifier.", required=True, zero=str)
    expression: str = prop(
        "CEL expression; reads `claims` and the variables defined before it as `vars`.",
        required=True,
        zero=str,
    )


@dataclass
class OIDCValidation:
    """A CEL condition a token's claims must meet."""

    expression: str = prop(
        "CEL expression over `claims` and `vars` that must return true.", required=True, zero=str
    )
    message: str = prop("What the caller is told when the expression is false.", required=True,
                        zero=str)  # fmt: skip


@dataclass
class OIDCProvider:
    """An OIDC issuer whose ID tokens a generic-oidc Receiver accepts."""

    issuer_url: str = prop(
        "Issuer URL; it must equal the token's `iss` claim, and its discovery document "
        "names the keys that sign the tokens.",
        json="issuerURL",
        required=True,
        pattern="^https?://",
        zero=str,
    )
    audience: str | None = prop(
        "The `aud` claim the token must carry; `notification-controller` when empty."
    )
    variables: list[OIDCVariable] | None = prop(
        "Named CEL expressions evaluated in order before the validations."
    )
    validations: list[OIDCValidation] = prop(
        "CEL conditions over the claims, all of which must hold. At least one: a valid "
        "signature alone says only that the issuer issued the token, not to whom.",
        required=True,
        zero=list,
    )


@dataclass
class ReceiverSpec:
    """A webhook that asks for an immediate reconcile of some objects."""

    RULES = (
        Rule(
            "self.type != 'generic-oidc' || (has(self.oidcProviders) && "
            "size(self.oidcProviders) > 0)",
            "generic-oidc receivers must define at least one oidcProvider",
        ),
        Rule(
            "self.type == 'generic-oidc' || !has(self.oidcProviders) || "
            "size(self.oidcProviders) == 0",
            "oidcProviders can only be set when type is generic-oidc",
        ),
        Rule(
            "self.type != 'generic-oidc' || !has(self.secretRef)",
            "secretRef cannot be set when type is generic-oidc",
        ),
        Rule(
            "self.type == 'generic-oidc' || has(self.secretRef)",
            "secretRef is required when type is not generic-oidc",
        ),
    )

    type: str = prop(
        "Who calls the webhook, which decides how the call is verified.",
        required=True,
        enum=RECEIVER_TYPES,
        zero=str,
    )
    interval: str = duration("How often the Receiver is checked.", default="10m")
    events: list[str] | None = prop("Event types to act on (e.g. GitHub's `push`); all when empty.")
    resources: list[ReceiverResource] = prop(
        "Objects to reconcile when the webhook is called.", required=True, zero=list
    )
    resource_filter: str | None = prop(
        "CEL expression that must return true for an object of `resources` to be "
        "reconciled; it reads the object's metadata as `res`, the JSON request body as "
        "`req` and, for generic-oidc, the token's claims as `claims`."
    )
    secret_ref: LocalObjectReference | None = prop(
        "Secret whose `token` key is the webhook's shared secret; it also derives the path. "
        "Required for every type but generic-oidc, which must not set it."
    )
    oidc_providers: list[OIDCProvider] | None = prop(
        "For generic-oidc: the issuers whose ID tokens (`Authorization: Bearer`) are "
        "accepted, each with the CEL validations its tokens' claims must pass.",
        json="oidcProviders",
    )
    suspend: bool | None = prop("Stops acting on webhook calls.")


@dataclass
class ReceiverStatus:
    """Observed state of a Receiver."""

    observed_generation: int | None = observed_generation()
    conditions: list[Condition] | None = conditions()
    webhook_path: str | None = prop(
        "Path of the webhook on the receiver server: /hook/sha256(token+name+namespace)."
    )
    last_handled_reconcile_at: str | None = last_handled_reconcile_at()


@dataclass
class Receiver(Resource):
    """A webhook that triggers reconciles."""

    INFO = KindInfo(
        group=GROUP,
        kind="Receiver",
        plural="receivers",
        versions=("v1",),
        storage_version="v1",
        component=COMPONENT,
        description="A webhook that asks for an immediate reconcile of Flux objects.",
        categories=CATEGORIES,
        printer_columns=(AGE_COLUMN, READY_COLUMN, STATUS_COLUMN),
    )

    spec: ReceiverSpec = prop("Desired state.", zero=ReceiverSpec)
    status: ReceiverStatus = prop(
        "Observed state.", default={"observedGeneration": -1}, zero=ReceiverStatus
    )


KINDS: tuple[type[Resource], ...] = (Provider, Alert, Receiver)
