"""The cluster and identity a Kustomization applies with: ours, a ServiceAccount's, or
another cluster's through `spec.kubeConfig.secretRef`.

Tenants' Kustomizations must not apply with the controller's own rights, and one
controller may manage remote clusters; each reconcile picks its client here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from kubernetes_asyncio.client import ApiClient, Configuration

from eddy_kustomize.objects import Obj
from eddy_runtime import kubeconfig
from eddy_runtime.client import new_client, service_account_user
from eddy_runtime.discovery import Discovery
from eddy_runtime.finalizers import service_account_of
from eddy_runtime.kubeconfig import TargetError
from eddy_runtime.resources import SECRETS, ResourceClient


@dataclass
class Target:
    client: ResourceClient
    discovery: Discovery
    close: Callable[[], Awaitable[None]] = field(default=lambda: _nothing())


async def _nothing() -> None:
    return None


class Targets:
    """Builds and caches clients; one Discovery per cluster we talk to."""

    def __init__(
        self, own: ResourceClient, field_manager: str, default_sa: str = "",
        policy: kubeconfig.KubeconfigPolicy | None = None,
    ) -> None:  # fmt: skip
        self.own = own
        self.policy = policy or kubeconfig.KubeconfigPolicy()
        self.field_manager = field_manager
        self.default_sa = default_sa
        self.discovery = Discovery(own)
        self._impersonating: dict[str, ResourceClient] = {}
        # Loading a kubeconfig writes its certificates to temporary files: once per
        # Secret version, not once per reconcile (but every time for a credential
        # plugin, whose token may expire and which the client would not refresh).
        self._remote: dict[tuple[str, str, str], tuple[Configuration, str]] = {}

    def _client(self, api: ApiClient) -> ResourceClient:
        return ResourceClient(api, field_manager=self.field_manager, limiter=self.own.limiter)

    def service_account(self, obj: Obj) -> str:
        return service_account_of(obj, self.default_sa)

    async def for_kustomization(self, obj: Obj) -> Target:
        namespace = obj["metadata"]["namespace"]
        spec = obj.get("spec") or {}
        account = self.service_account(obj)
        user = service_account_user(namespace, account) if account else ""
        secret_ref = (spec.get("kubeConfig") or {}).get("secretRef")
        if secret_ref:
            cfg, own_user = await self._remote_configuration(namespace, secret_ref)
            # The service account, when there is one, decides; else the kubeconfig's `as`.
            api = new_client(cfg, user or own_user)
            client = self._client(api)
            return Target(client, Discovery(client), api.close)
        if not user:
            return Target(self.own, self.discovery)
        cached = self._impersonating.get(user)
        if cached is None:
            cached = self._client(new_client(self.own.api.configuration, user))
            self._impersonating[user] = cached
        return Target(cached, self.discovery)

    async def _remote_configuration(
        self, namespace: str, ref: dict[str, Any]
    ) -> tuple[Configuration, str]:
        name = str(ref.get("name", ""))
        try:
            secret = await self.own.get_or_none(SECRETS, name, namespace)
            version = str(((secret or {}).get("metadata") or {}).get("resourceVersion", ""))
            cache_key = (namespace, name, version)
            cached = self._remote.get(cache_key)
            if cached is not None:
                return cached
            remote = kubeconfig.from_secret(secret, namespace, ref, self.policy)
            cfg = await remote.configuration()
        except kubeconfig.KubeconfigRefused as err:
            raise TargetError(str(err), refused=True) from None
        except kubeconfig.KubeconfigUnavailable as err:
            raise TargetError(str(err)) from None
        self._remote = {k: v for k, v in self._remote.items() if k[:2] != cache_key[:2]}
        if not remote.runs_plugin:
            self._remote[cache_key] = (cfg, remote.impersonate)
        return cfg, remote.impersonate

    async def close(self) -> None:
        for client in self._impersonating.values():
            await client.api.close()
        self._impersonating.clear()
