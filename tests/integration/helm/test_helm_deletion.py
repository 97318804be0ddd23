"""Deleting a HelmRelease whose ServiceAccount is gone ends, even in a namespace deletion.

Uninstalling must act as the tenant's account; once that account is gone nothing can
act for it again, so the finalizer is released with a Warning and the release left.
"""

from __future__ import annotations

import pytest

from eddy_runtime.manager import Manager
from eddy_runtime.resources import NAMESPACES, Resource, ResourceClient
from eddy_testenv.helmrepo import HelmRepo
from eddy_testenv.waiting import eventually
from helm_controller.objects import HELM_RELEASES

from .support import release, repository, wait_condition

pytestmark = pytest.mark.integration

SERVICE_ACCOUNTS = Resource("", "v1", "serviceaccounts", "ServiceAccount")
ROLES = Resource("rbac.authorization.k8s.io", "v1", "roles", "Role")
ROLE_BINDINGS = Resource("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding")


async def test_a_namespace_whose_account_is_gone_finishes_deleting(
    helm_controller: Manager, kube: ResourceClient, namespace: str, helm_repo: HelmRepo
) -> None:
    """The release was made as the tenant's account; once that account is gone
    nothing can uninstall as it, and the namespace deletion must still end."""
    doomed = f"{namespace}-doomed"[:63]
    await kube.create(NAMESPACES, {"metadata": {"name": doomed}})
    try:
        helm_repo.package("app", "1.0.0", values={"greeting": "hello"})
        await repository(kube, doomed, helm_repo)
        await kube.create(SERVICE_ACCOUNTS, {"metadata": {"name": "tenant"}}, doomed)
        await kube.create(ROLES, {
            "metadata": {"name": "tenant"},
            "rules": [{"apiGroups": [""], "resources": ["configmaps", "secrets"],
                       "verbs": ["*"]}],
        }, doomed)  # fmt: skip
        await kube.create(ROLE_BINDINGS, {
            "metadata": {"name": "tenant"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                        "name": "tenant"},
            "subjects": [{"kind": "ServiceAccount", "name": "tenant", "namespace": doomed}],
        }, doomed)  # fmt: skip
        body = release("app", doomed, serviceAccountName="tenant")
        await kube.create(HELM_RELEASES, body, doomed)
        await wait_condition(kube, doomed, "app", "Ready", "True", "InstallSucceeded")
        await kube.delete(ROLE_BINDINGS, "tenant", doomed)
        await kube.delete(SERVICE_ACCOUNTS, "tenant", doomed)

        await kube.delete(NAMESPACES, doomed)

        async def namespace_gone() -> bool:
            return await kube.get_or_none(NAMESPACES, doomed) is None

        await eventually(namespace_gone, timeout=60, interval=0.5)
    finally:
        if await kube.get_or_none(NAMESPACES, doomed) is not None:
            await kube.delete(NAMESPACES, doomed)
