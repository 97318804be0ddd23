"""Where and as whom a release is made: a private kubeconfig for `helm`, and a client
that reads Helm's release records from the same cluster with the same identity.

Helm gets exactly one kubeconfig per reconcile, written to a private temporary file:
the controller's own cluster (optionally impersonating `spec.serviceAccountName`)
or the cluster of `spec.kubeConfig.secretRef`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from kubernetes_asyncio import config
from kubernetes_asyncio.client import ApiClient, Configuration

from eddy_runtime.client import new_client, service_account_user
from eddy_runtime.resources import SECRETS, ResourceClient

from .objects import Obj, spec_of


class TargetError(Exception):
    """The kubeconfig Secret is missing or unusable; the message says which, never its content."""


@dataclass
class Target:
    kubeconfig: Path
    client: ResourceClient
    _api: ApiClient | None = field(default=None, repr=False)

    async def close(self) -> None:
        if self._api is not None:
            await self._api.close()
        await asyncio.to_thread(_remove, self.kubeconfig)


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


def _write_private(document: dict[str, Any], workdir: str | None) -> Path:
    fd, name = tempfile.mkstemp(prefix="kubeconfig-", suffix=".yaml", dir=workdir)
    # mkstemp already creates the file 0600; say so for readers who wonder.
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as out:
        yaml.safe_dump(document, out)
    return Path(name)


def own_kubeconfig(cfg: Configuration, namespace: str, impersonate: str) -> dict[str, Any]:
    """A kubeconfig that reaches the cluster `cfg` reaches, with the same credentials."""
    cluster: dict[str, Any] = {"server": cfg.host}
    if cfg.ssl_ca_cert:
        cluster["certificate-authority"] = cfg.ssl_ca_cert
    if not cfg.verify_ssl:
        cluster["insecure-skip-tls-verify"] = True
    if cfg.tls_server_name:
        cluster["tls-server-name"] = cfg.tls_server_name
    user: dict[str, Any] = {}
    if cfg.cert_file:
        user["client-certificate"] = cfg.cert_file
    if cfg.key_file:
        user["client-key"] = cfg.key_file
    token = (cfg.api_key or {}).get("authorization") or (cfg.api_key or {}).get("BearerToken")
    if token:
        user["token"] = str(token).removeprefix("Bearer ").strip()
    if impersonate:
        # Only the user, as the runtime's clients do: the API server adds a service
        # account's groups, and impersonating groups would need a right too broad to grant.
        user["as"] = impersonate
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "target", "cluster": cluster}],
        "users": [{"name": "target", "user": user}],
        "contexts": [
            {
                "name": "target",
                "context": {"cluster": "target", "user": "target", "namespace": namespace},
            }
        ],
        "current-context": "target",
    }


def _refuse_programs(document: dict[str, Any], where: str) -> None:
    # Helm would run whatever an exec plugin names, on the controller's host.
    for entry in document.get("users") or []:
        user = (entry or {}).get("user") or {}
        if "exec" in user or "auth-provider" in user:
            raise TargetError(
                f"kubeconfig in {where} uses an exec or auth-provider credential plugin, "
                "which is not supported; use a token or client certificate"
            )


def _impersonate_in(document: dict[str, Any], impersonate: str) -> None:
    current = document.get("current-context")
    contexts = {c.get("name"): c.get("context") or {} for c in document.get("contexts") or []}
    user_name = contexts.get(current, {}).get("user")
    for entry in document.get("users") or []:
        if entry.get("name") == user_name:
            entry.setdefault("user", {})["as"] = impersonate


class Targets:
    """Makes the Target of each reconcile; impersonating clients are kept and reused."""

    def __init__(self, own: ResourceClient, default_sa: str = "", workdir: str | None = None):
        self.own = own
        self.default_sa = default_sa
        self.workdir = workdir
        self._impersonating: dict[str, ResourceClient] = {}

    def user(self, obj: Obj) -> str:
        account = str(spec_of(obj).get("serviceAccountName") or self.default_sa)
        return service_account_user(obj["metadata"]["namespace"], account) if account else ""

    async def for_release(self, obj: Obj, release_namespace: str) -> Target:
        user = self.user(obj)
        secret_ref = (spec_of(obj).get("kubeConfig") or {}).get("secretRef")
        if secret_ref:
            document = await self._remote(obj["metadata"]["namespace"], secret_ref)
            if user:
                _impersonate_in(document, user)
            cfg = Configuration()
            try:
                await config.load_kube_config_from_dict(document, client_configuration=cfg)
            except Exception as err:
                raise TargetError(
                    f"kubeconfig in Secret '{obj['metadata']['namespace']}/"
                    f"{secret_ref.get('name')}' is not usable: {type(err).__name__}"
                ) from err
            api = new_client(cfg, user)
            client = ResourceClient(api, field_manager="helm-controller", limiter=self.own.limiter)
            path = await asyncio.to_thread(_write_private, document, self.workdir)
            return Target(path, client, api)
        document = own_kubeconfig(self.own.api.configuration, release_namespace, user)
        path = await asyncio.to_thread(_write_private, document, self.workdir)
        if not user:
            return Target(path, self.own)
        cached = self._impersonating.get(user)
        if cached is None:
            api = new_client(self.own.api.configuration, user)
            cached = ResourceClient(api, field_manager="helm-controller", limiter=self.own.limiter)
            self._impersonating[user] = cached
        return Target(path, cached)

    async def _remote(self, namespace: str, ref: dict[str, Any]) -> dict[str, Any]:
        name = str(ref.get("name", ""))
        where = f"Secret '{namespace}/{name}'"
        secret = await self.own.get_or_none(SECRETS, name, namespace)
        if secret is None:
            raise TargetError(f"kubeconfig {where} not found")
        data = secret.get("data") or {}
        keys = [ref["key"]] if ref.get("key") else ["value", "value.yaml"]
        raw = next((data[k] for k in keys if k in data), None)
        if raw is None:
            raise TargetError(f"kubeconfig {where} has no key {' or '.join(keys)}")
        try:
            document = yaml.safe_load(base64.b64decode(raw))
        except (ValueError, yaml.YAMLError) as err:
            raise TargetError(f"kubeconfig in {where} is not valid YAML") from err
        if not isinstance(document, dict):
            raise TargetError(f"kubeconfig in {where} is not a kubeconfig")
        _refuse_programs(document, where)
        return document

    async def close(self) -> None:
        for client in self._impersonating.values():
            await client.api.close()
        self._impersonating.clear()
