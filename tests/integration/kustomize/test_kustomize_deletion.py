"""Deleting a Kustomization whose ServiceAccount is gone ends, and says what it left.

Pruning must act as the tenant's account; once that account is gone nothing can act
for it again, so the finalizer is released with a Warning instead of blocking the
deletion (and a namespace deletion) forever.
"""

from __future__ import annotations

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException

from eddy_runtime.resources import Resource, ResourceClient
from eddy_testenv.observe import events_for

from .conftest import StartController
from .support import (
    CONFIG_MAPS,
    KUSTOMIZATIONS,
    Sources,
    config_map,
    create_kustomization,
    eventually,
    ready,
)

pytestmark = pytest.mark.integration

SERVICE_ACCOUNTS = Resource("", "v1", "serviceaccounts", "ServiceAccount")
ROLES = Resource("rbac.authorization.k8s.io", "v1", "roles", "Role")
ROLE_BINDINGS = Resource("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding")


async def tenant(kube: ResourceClient, namespace: str) -> None:
    """A ServiceAccount that may do anything with ConfigMaps in `namespace`."""
    await kube.create(SERVICE_ACCOUNTS, {"metadata": {"name": "tenant", "namespace": namespace}})
    await kube.create(ROLES, {
        "metadata": {"name": "configmaps", "namespace": namespace},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["*"]}],
    })  # fmt: skip
    await kube.create(ROLE_BINDINGS, {
        "metadata": {"name": "tenant", "namespace": namespace},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "configmaps"},
        "subjects": [{"kind": "ServiceAccount", "name": "tenant", "namespace": namespace}],
    })  # fmt: skip


async def remove_tenant(kube: ResourceClient, namespace: str) -> None:
    await kube.delete(ROLE_BINDINGS, "tenant", namespace)
    await kube.delete(SERVICE_ACCOUNTS, "tenant", namespace)


async def test_deleting_after_the_account_is_gone_ends_with_a_warning(
    kube: ResourceClient, sources: Sources, start_controller: StartController, namespace: str
) -> None:
    await tenant(kube, namespace)
    await sources.publish("repo", {"app/cm.yaml": config_map("applied", a="b")})
    await start_controller()
    await create_kustomization(kube, "app", namespace, path="./app", serviceAccountName="tenant")
    await ready(kube, namespace, "app")
    await remove_tenant(kube, namespace)

    await kube.delete(KUSTOMIZATIONS, "app", namespace)

    async def deleted() -> bool:
        return await kube.get_or_none(KUSTOMIZATIONS, "app", namespace) is None

    await eventually(deleted, timeout=30)
    warnings = [e for e in await events_for(kube, namespace, "app") if e["type"] == "Warning"]
    messages = "\n".join(e["message"] for e in warnings)
    assert f"ServiceAccount '{namespace}/tenant' is gone" in messages
    assert f"ConfigMap/{namespace}/applied" in messages
    # Left in place, as the Warning says: nothing could delete it as the tenant.
    assert await kube.get_or_none(CONFIG_MAPS, "applied", namespace) is not None


async def test_a_namespace_whose_account_is_gone_finishes_deleting(
    kube: ResourceClient, api_client: ApiClient, sources: Sources,
    start_controller: StartController, namespace: str,
) -> None:  # fmt: skip
    doomed = f"{namespace}-doomed"[:63]
    core = client.CoreV1Api(api_client)
    await core.create_namespace(body={"metadata": {"name": doomed}})
    try:
        await tenant(kube, doomed)
        await sources.publish("repo", {"app/cm.yaml": config_map("applied", a="b")}, doomed)
        await start_controller()
        await create_kustomization(kube, "app", doomed, path="./app", serviceAccountName="tenant")
        await ready(kube, doomed, "app")
        await remove_tenant(kube, doomed)

        await core.delete_namespace(doomed)

        async def namespace_gone() -> bool:
            try:
                await core.read_namespace(doomed)
            except ApiException as err:
                return err.status == 404
            return False

        await eventually(namespace_gone, timeout=60, interval=0.5)
    finally:
        try:
            await core.delete_namespace(doomed)
        except ApiException as err:
            if err.status != 404:
                raise


async def test_deleting_after_the_objects_are_gone_ends_without_the_rights(
    kube: ResourceClient, sources: Sources, start_controller: StartController, namespace: str
) -> None:
    """The account still exists but may no longer read what it applied; the objects
    are gone already, as the controller can see: nothing is left to wait for."""
    await tenant(kube, namespace)
    await sources.publish("repo", {"app/cm.yaml": config_map("applied", a="b")})
    await start_controller()
    await create_kustomization(kube, "app", namespace, path="./app", serviceAccountName="tenant")
    await ready(kube, namespace, "app")
    await kube.delete(ROLE_BINDINGS, "tenant", namespace)
    await kube.delete(CONFIG_MAPS, "applied", namespace)

    await kube.delete(KUSTOMIZATIONS, "app", namespace)

    async def deleted() -> bool:
        return await kube.get_or_none(KUSTOMIZATIONS, "app", namespace) is None

    await eventually(deleted, timeout=30)
    warnings = [e for e in await events_for(kube, namespace, "app") if e["type"] == "Warning"]
    assert any("none of the applied objects exists any more" in e["message"] for e in warnings)
    assert await kube.get_or_none(SERVICE_ACCOUNTS, "tenant", namespace) is not None
