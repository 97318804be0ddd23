"""Kubeconfigs that tenants supply (`spec.kubeConfig.secretRef`), checked as data first.

A kubeconfig can name a program to run and files to read; one that a tenant wrote
must be neither on the controller's host. Every controller reads such Secrets here,
before any client library or the helm binary sees a byte of them.
"""

from __future__ import annotations

import base64
import binascii
import copy
from dataclasses import dataclass
from typing import Any

import yaml
from kubernetes_asyncio import config
from kubernetes_asyncio.client import Configuration

from .resources import SECRETS, ResourceClient

# Fields whose value is a path on the host that runs the client.
_CLUSTER_PATHS = {"certificate-authority": "certificate-authority-data"}
_USER_PATHS = {
    "tokenFile": "token",
    "client-certificate": "client-certificate-data",
    "client-key": "client-key-data",
}
_CLUSTER_FIELDS = {"server", "certificate-authority-data", "tls-server-name", "extensions"}
_USER_FIELDS = {
    "token", "client-certificate-data", "client-key-data", "username", "password", "as",
    "extensions",
}  # fmt: skip
_PROGRAMS = ("exec", "auth-provider")
_IMPERSONATION = ("as-groups", "as-uid", "as-user-extra")
# Bounds what a Secret may make us parse; real kubeconfigs are a few KiB.
MAX_BYTES = 1024 * 1024


@dataclass(frozen=True)
class KubeconfigPolicy:
    """What the operator allows beyond inline credentials (Flux's flags)."""

    # --insecure-kubeconfig-exec: `exec` and `auth-provider` credential plugins.
    allow_exec: bool = False
    # --insecure-kubeconfig-tls: `insecure-skip-tls-verify: true`.
    allow_insecure_tls: bool = False


class KubeconfigUnavailable(Exception):
    """The Secret or its key is missing: creating it fixes this, so retry."""


class KubeconfigRefused(Exception):
    """The kubeconfig asks for something eddy does not do for a tenant.

    The message names the field, never a value; only a change to the Secret (or
    to the controller's flags) can fix it, so callers stall instead of retrying.
    """


class TargetError(Exception):
    """The cluster a spec names cannot be reached: the kubeconfig Secret is missing or
    unusable; the message says which, never its content.

    `refused`: the kubeconfig asks for what a tenant may not have (a program, a
    file, no TLS verification); only an edit can fix it, so the pass stalls.
    """

    def __init__(self, message: str, refused: bool = False) -> None:
        super().__init__(message)
        self.refused = refused


@dataclass(frozen=True)
class RemoteKubeconfig:
    """A checked kubeconfig: one cluster, one user, one context, inline data only."""

    document: dict[str, Any]
    # The kubeconfig's own `as` user, or "".
    impersonate: str
    where: str

    @property
    def runs_plugin(self) -> bool:
        """Whether credentials come from an exec or auth-provider plugin (opted in):
        they may expire, so a Configuration loaded from this must not be kept."""
        user = self.document["users"][0]["user"]
        return any(key in user for key in _PROGRAMS)

    def for_user(self, impersonate: str) -> dict[str, Any]:
        """The document with `as` set to `impersonate` (none when empty), e.g. for helm."""
        document = copy.deepcopy(self.document)
        user = document["users"][0]["user"]
        user.pop("as", None)
        if impersonate:
            user["as"] = impersonate
        return document

    async def configuration(self) -> Configuration:
        """A client Configuration; `as` is left to the caller (see `new_client`)."""
        cfg = Configuration()
        try:
            await config.load_kube_config_from_dict(self.for_user(""), client_configuration=cfg)
        except Exception as err:
            # The library's messages may quote the document; say only what kind of failure.
            raise KubeconfigUnavailable(
                f"kubeconfig in {self.where} is not usable: {type(err).__name__}"
            ) from None
        return cfg


def check(document: Any, policy: KubeconfigPolicy, where: str) -> RemoteKubeconfig:
    """Validate `document` as data and keep only what its current context uses."""

    def refuse(text: str) -> KubeconfigRefused:
        return KubeconfigRefused(f"kubeconfig in {where}: {text}")

    if not isinstance(document, dict):
        raise refuse("not a kubeconfig (expected a YAML mapping)")
    current = document.get("current-context")
    if not isinstance(current, str) or not current:
        raise refuse("`current-context` is not set")
    context = _named(document, "contexts", "context", current, refuse)
    if context is None:
        raise refuse("`current-context` names no entry of `contexts`")
    cluster_name = context.get("cluster")
    cluster = _named(document, "clusters", "cluster", cluster_name, refuse)
    if cluster is None:
        raise refuse("the current context names no entry of `clusters`")
    user_name = context.get("user")
    user = _named(document, "users", "user", user_name, refuse) if user_name else {}
    if user is None:
        raise refuse("the current context names no entry of `users`")

    checked_cluster = _check_cluster(cluster, policy, refuse)
    checked_user = _check_user(user, policy, refuse)
    impersonate = str(checked_user.get("as") or "")
    checked_context: dict[str, Any] = {"cluster": "target", "user": "target"}
    if isinstance(context.get("namespace"), str):
        checked_context["namespace"] = context["namespace"]
    return RemoteKubeconfig(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "target", "cluster": checked_cluster}],
            "users": [{"name": "target", "user": checked_user}],
            "contexts": [{"name": "target", "context": checked_context}],
            "current-context": "target",
        },
        impersonate,
        where,
    )


def _named(document: dict[str, Any], list_key: str, item_key: str, name: Any, refuse: Any) -> Any:
    entries = document.get(list_key) or []
    if not isinstance(entries, list):
        raise refuse(f"`{list_key}` is not a list")
    for entry in entries:
        if isinstance(entry, dict) and entry.get("name") == name:
            value = entry.get(item_key) or {}
            if not isinstance(value, dict):
                raise refuse(f"`{list_key}[].{item_key}` is not a mapping")
            return value
    return None


def _check_cluster(cluster: dict[str, Any], policy: KubeconfigPolicy, refuse: Any) -> Any:
    checked: dict[str, Any] = {}
    for key, value in cluster.items():
        _refuse_host_path("cluster", key, _CLUSTER_PATHS, refuse)
        if key == "insecure-skip-tls-verify":
            if not isinstance(value, bool):
                raise refuse("cluster field `insecure-skip-tls-verify` must be true or false")
            if value is True and not policy.allow_insecure_tls:
                raise refuse(
                    "cluster field `insecure-skip-tls-verify` turns off TLS verification, "
                    "which this controller refuses (--insecure-kubeconfig-tls is not set); "
                    "give the server's CA in `certificate-authority-data` instead"
                )
            if value is True:
                checked[key] = True
            continue
        if key == "proxy-url":
            raise refuse(
                "cluster field `proxy-url` is not supported; the controller connects to "
                "`server` directly"
            )
        _keep_field("cluster", key, value, _CLUSTER_FIELDS, refuse, checked)
    server = checked.get("server", "")
    if not server.startswith(("https://", "http://")):
        raise refuse("cluster field `server` must be an https:// (or http://) URL")
    return checked


def _check_user(user: dict[str, Any], policy: KubeconfigPolicy, refuse: Any) -> Any:
    checked: dict[str, Any] = {}
    for key, value in user.items():
        _refuse_host_path("user", key, _USER_PATHS, refuse)
        if key in _PROGRAMS:
            if not policy.allow_exec:
                raise refuse(
                    f"user field `{key}` runs a credential plugin on the controller's "
                    "host, which this controller refuses (--insecure-kubeconfig-exec is "
                    "not set); use a token or a client certificate"
                )
            if not isinstance(value, dict):
                raise refuse(f"user field `{key}` is not a mapping")
            checked[key] = copy.deepcopy(value)
            continue
        if key in _IMPERSONATION:
            raise refuse(
                f"user field `{key}` is not supported; only `as` impersonates (a service "
                "account's groups come with it)"
            )
        _keep_field("user", key, value, _USER_FIELDS, refuse, checked)
    return checked


def _refuse_host_path(section: str, key: str, paths: dict[str, str], refuse: Any) -> None:
    if key in paths:
        raise refuse(
            f"{section} field `{key}` reads a file on the controller's host, which is "
            f"never allowed; embed the data in `{paths[key]}` instead"
        )


def _keep_field(
    section: str,
    key: str,
    value: Any,
    fields: set[str],
    refuse: Any,
    checked: dict[str, Any],
) -> None:
    """A supported field's value into `checked` (extensions are dropped), else refused."""
    if key not in fields:
        raise refuse(f"{section} field `{key}` is not supported")
    if key != "extensions":
        if not isinstance(value, str):
            raise refuse(f"{section} field `{key}` must be a string")
        checked[key] = value


def parse(raw: str, policy: KubeconfigPolicy, where: str) -> RemoteKubeconfig:
    """Check the base64 value of a Secret key."""
    if len(raw) > MAX_BYTES * 4 // 3 + 4:
        raise KubeconfigRefused(f"kubeconfig in {where} is larger than {MAX_BYTES} bytes")
    try:
        text = base64.b64decode(raw, validate=True)
        document = yaml.safe_load(text)
    except (binascii.Error, ValueError, yaml.YAMLError):
        raise KubeconfigRefused(f"kubeconfig in {where} is not valid YAML") from None
    return check(document, policy, where)


def from_secret(
    secret: dict[str, Any] | None, namespace: str, ref: dict[str, Any], policy: KubeconfigPolicy
) -> RemoteKubeconfig:
    """Check the kubeconfig that `ref` ({name, key}) names; `secret` is that Secret, or
    None when it does not exist."""
    name = str(ref.get("name", ""))
    where = f"Secret '{namespace}/{name}'"
    if secret is None:
        raise KubeconfigUnavailable(f"kubeconfig {where} not found")
    data = secret.get("data") or {}
    keys = [str(ref["key"])] if ref.get("key") else ["value", "value.yaml"]
    raw = next((data[k] for k in keys if k in data), None)
    if not isinstance(raw, str):
        raise KubeconfigUnavailable(f"kubeconfig {where} has no key {' or '.join(keys)}")
    return parse(raw, policy, where)


async def read_secret(
    client: ResourceClient, namespace: str, ref: dict[str, Any], policy: KubeconfigPolicy
) -> RemoteKubeconfig:
    """Fetch the Secret that `ref` names in `namespace` and check its kubeconfig."""
    secret = await client.get_or_none(SECRETS, str(ref.get("name", "")), namespace)
    return from_secret(secret, namespace, ref, policy)
