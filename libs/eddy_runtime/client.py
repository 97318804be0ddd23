"""Build an authenticated API client: kubeconfig, in-cluster, or impersonating.

Controllers run in-cluster in production and from a kubeconfig in tests; reconciles
on behalf of a tenant impersonate its service account.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import yaml
from kubernetes_asyncio import config
from kubernetes_asyncio.client import ApiClient, Configuration
from multidict import CIMultiDict

IMPERSONATE_USER = "Impersonate-User"
IMPERSONATE_GROUP = "Impersonate-Group"


class KubeconfigError(ValueError):
    """A kubeconfig asks for something this client cannot do faithfully."""


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
    "system:serviceaccount:ns:name".

    Only the user is impersonated: for a service account the API server adds its
    groups itself, and asking for groups would need `impersonate` on groups, a
    right that cannot be narrowed and would let the controller claim any group.
    """
    api = ApiClient(configuration)
    if impersonate:
        api.set_default_header(IMPERSONATE_USER, impersonate)
    return api


def person_client(configuration: Configuration, user: str, groups: tuple[str, ...]) -> ApiClient:
    """An ApiClient that acts as a person: their user name and every group they belong to.

    For clients that act on behalf of someone logged in elsewhere (the dashboard
    after an OIDC login), where the API server cannot know the groups itself.
    The API server wants one header per group, which a plain dict cannot hold.
    """
    api = new_client(configuration, user)
    if not groups:
        return api
    rest = api.rest_client
    send = rest.request

    async def request(method: str, url: str, *args: Any, headers: Any = None, **kw: Any) -> Any:
        merged = CIMultiDict(headers or {})
        for group in groups:
            merged.add(IMPERSONATE_GROUP, group)
        return await send(method, url, *args, headers=merged, **kw)

    rest.request = request
    return api


def kubeconfig_impersonation(kubeconfig: str = "", context: str = "") -> str:
    """The `as` user of the kubeconfig's current (or named) context, or "".

    The client library ignores `as`, which would silently run with the
    kubeconfig's own, usually broader, rights; eddy honours it instead.
    """
    path = kubeconfig or os.environ.get("KUBECONFIG", "")
    if not path:
        return ""
    with open(path) as handle:
        doc: dict[str, Any] = yaml.safe_load(handle) or {}
    name = context or doc.get("current-context", "")
    contexts = {c.get("name"): c.get("context") or {} for c in doc.get("contexts") or []}
    users = {u.get("name"): u.get("user") or {} for u in doc.get("users") or []}
    user = users.get(contexts.get(name, {}).get("user"), {})
    if user.get("as-groups") or user.get("as-user-extra") or user.get("as-uid"):
        raise KubeconfigError(
            f"kubeconfig {path}: only `as` is supported for impersonation; remove "
            "as-groups/as-uid/as-user-extra (a service account's groups come with it)"
        )
    return str(user.get("as") or "")


async def make_client(kubeconfig: str = "", context: str = "", impersonate: str = "") -> ApiClient:
    configuration = await load_configuration(kubeconfig, context)
    if not impersonate:
        impersonate = await asyncio.to_thread(kubeconfig_impersonation, kubeconfig, context)
    return new_client(configuration, impersonate)
