"""Where and as whom a release is made: a private kubeconfig for `helm`, and a client
that reads Helm's release records from the same cluster with the same identity.

Helm gets exactly one kubeconfig per reconcile, written to a private temporary file:
the controller's own cluster (optionally impersonating `spec.serviceAccountName`)
or the cluster of `spec.kubeConfig.secretRef`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from kubernetes_asyncio.client import ApiClient, Configuration

from eddy_runtime import kubeconfig
from eddy_runtime.client import new_client, service_account_user
from eddy_runtime.finalizers import service_account_of
from eddy_runtime.kubeconfig import TargetError
from eddy_runtime.resources import ResourceClient

from .objects import Obj, spec_of


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


class Targets:
    """Makes the Target of each reconcile; impersonating clients are kept and reused."""

    def __init__(
        self, own: ResourceClient, default_sa: str = "", workdir: str | None = None,
        policy: kubeconfig.KubeconfigPolicy | None = None,
    ) -> None:  # fmt: skip
        self.own = own
        self.policy = policy or kubeconfig.KubeconfigPolicy()
        self.default_sa = default_sa
        self.workdir = workdir
        self._impersonating: dict[str, ResourceClient] = {}

    def user(self, obj: Obj) -> str:
        account = service_account_of(obj, self.default_sa)
        return service_account_user(obj["metadata"]["namespace"], account) if account else ""

    async def for_release(self, obj: Obj, release_namespace: str) -> Target:
        user = self.user(obj)
        secret_ref = (spec_of(obj).get("kubeConfig") or {}).get("secretRef")
        if secret_ref:
            try:
                remote = await kubeconfig.read_secret(
                    self.own, obj["metadata"]["namespace"], secret_ref, self.policy
                )
                cfg = await remote.configuration()
            except kubeconfig.KubeconfigRefused as err:
                raise TargetError(str(err), refused=True) from None
            except kubeconfig.KubeconfigUnavailable as err:
                raise TargetError(str(err)) from None
            # The service account, when there is one, decides; else the kubeconfig's `as`.
            user = user or remote.impersonate
            api = new_client(cfg, user)
            client = ResourceClient(api, field_manager="helm-controller", limiter=self.own.limiter)
            # Only the checked document reaches helm: inline data, one context, and no
            # plugin unless the operator allowed plugins.
            path = await asyncio.to_thread(_write_private, remote.for_user(user), self.workdir)
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

    async def close(self) -> None:
        for client in self._impersonating.values():
            await client.api.close()
        self._impersonating.clear()
