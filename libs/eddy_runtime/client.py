"""Build an authenticated API client: kubeconfig, in-cluster, or impersonating.

Controllers run in-cluster in production and from a kubeconfig in tests; reconciles
on behalf of a tenant impersonate its service account.
"""

from __future__ import annotations

import os

from kubernetes_asyncio import config
from kubernetes_asyncio.client import ApiClient, Configuration

IMPERSONATE_USER = "Impersonate-User"
IMPERSONATE_GROUP = "Impersonate-Group"


async def load_configuration(kubeconfig: str = "", context: str = "") -> Configuration:
    """A client Configuration from `kubeconfig` (or $KUBECONFIG), else in-cluster."""
    cfg = Configuration()
    path = kubeconfig or os.environ.get("KUBECONFIG", "")
    if path:
        await config.load_kube_config(
            config_file=path, context=context or None, client_configuration=cfg,
            persist_config=False,
        )  # fmt: skip
    else:
        config.load_incluster_config(client_configuration=cfg)
    return cfg


def service_account_user(namespace: str, name: str) -> str:
    return f"system:serviceaccount:{namespace}:{name}"


def new_client(configuration: Configuration, impersonate: str = "") -> ApiClient:
    """An ApiClient on `configuration`; `impersonate` is a user name such as
    "system:serviceaccount:ns:name" (a service account gets its groups too)."""
    api = ApiClient(configuration)
    if impersonate:
        api.set_default_header(IMPERSONATE_USER, impersonate)
        parts = impersonate.split(":")
        if len(parts) == 4 and parts[:2] == ["system", "serviceaccount"]:
            # Only one value per header name is possible here; the namespace group is
            # what RBAC bindings for tenants name, system:authenticated comes for free.
            api.set_default_header(IMPERSONATE_GROUP, f"system:serviceaccounts:{parts[2]}")
    return api


async def make_client(kubeconfig: str = "", context: str = "", impersonate: str = "") -> ApiClient:
    return new_client(await load_configuration(kubeconfig, context), impersonate)
