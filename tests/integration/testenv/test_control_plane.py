"""The local control plane behaves like a real Kubernetes API, because it is one.

Each test checks an API guarantee the controllers rely on.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes_asyncio import client, watch
from kubernetes_asyncio.client.exceptions import ApiException

from eddy_testenv import ControlPlane

GROUP = "envcheck.eddy.dev"
VERSION = "v1"
PLURAL = "gadgets"
MERGE = "application/merge-patch+json"

GADGET_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": f"{PLURAL}.{GROUP}"},
    "spec": {
        "group": GROUP,
        "scope": "Namespaced",
        "names": {
            "plural": PLURAL,
            "singular": "gadget",
            "kind": "Gadget",
            "listKind": "GadgetList",
        },
        "versions": [
            {
                "name": VERSION,
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "properties": {"size": {"type": "integer"}},
                            },
                            "status": {
                                "type": "object",
                                "properties": {"phase": {"type": "string"}},
                            },
                        },
                    }
                },
            }
        ],
    },
}


@pytest.fixture(scope="module")
def crd_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("crds")
    (directory / "gadgets.yaml").write_text(yaml.safe_dump(GADGET_CRD))
    return directory


@pytest.fixture
async def gadgets(
    control_plane: ControlPlane, crd_dir: Path, api_client: client.ApiClient
) -> client.CustomObjectsApi:
    await control_plane.install_crds(crd_dir)
    return client.CustomObjectsApi(api_client)


def gadget(name: str, size: int = 1) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Gadget",
        "metadata": {"name": name},
        "spec": {"size": size},
    }


async def test_crd_with_status_subresource_becomes_established(
    control_plane: ControlPlane, crd_dir: Path, api_client: client.ApiClient
) -> None:
    names = await control_plane.install_crds(crd_dir)
    assert names == [f"{PLURAL}.{GROUP}"]
    crd = await client.ApiextensionsV1Api(api_client).read_custom_resource_definition(names[0])
    conditions = {c.type: c.status for c in crd.status.conditions}
    assert conditions["Established"] == "True"
    assert crd.spec.versions[0].subresources.status == {}


async def test_status_write_keeps_generation_spec_write_bumps_it(
    gadgets: client.CustomObjectsApi, namespace: str
) -> None:
    created = await gadgets.create_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, gadget("g1")
    )
    assert created["metadata"]["generation"] == 1

    with_status = await gadgets.patch_namespaced_custom_object_status(
        GROUP,
        VERSION,
        namespace,
        PLURAL,
        "g1",
        {"status": {"phase": "Ready"}},
        _content_type=MERGE,
    )
    assert with_status["status"]["phase"] == "Ready"
    assert with_status["metadata"]["generation"] == 1

    with_spec = await gadgets.patch_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, "g1", {"spec": {"size": 3}}, _content_type=MERGE
    )
    assert with_spec["metadata"]["generation"] == 2
    # The main resource ignores status; the status subresource ignores spec.
    assert with_spec["status"]["phase"] == "Ready"


async def test_update_with_stale_resource_version_conflicts(
    gadgets: client.CustomObjectsApi, namespace: str
) -> None:
    created = await gadgets.create_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, gadget("g2")
    )
    stale = dict(created)
    await gadgets.patch_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, "g2", {"spec": {"size": 2}}, _content_type=MERGE
    )
    stale["spec"] = {"size": 9}
    with pytest.raises(ApiException) as caught:
        await gadgets.replace_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, "g2", stale
        )
    assert caught.value.status == 409
    current = await gadgets.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "g2")
    assert current["spec"]["size"] == 2


async def test_watch_delivers_added_modified_deleted_in_order(
    gadgets: client.CustomObjectsApi, namespace: str
) -> None:
    listed = await gadgets.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)
    since = listed["metadata"]["resourceVersion"]

    async def change() -> None:
        await gadgets.create_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, gadget("g3")
        )
        await gadgets.patch_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, "g3", {"spec": {"size": 5}}, _content_type=MERGE
        )
        await gadgets.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "g3")

    seen: list[tuple[str, int | None]] = []
    stream = watch.Watch()
    writer = asyncio.create_task(change())
    try:
        async with asyncio.timeout(20):
            async for event in stream.stream(
                gadgets.list_namespaced_custom_object,
                GROUP,
                VERSION,
                namespace,
                PLURAL,
                resource_version=since,
                timeout_seconds=15,
            ):
                obj = event["object"]
                seen.append((event["type"], obj.get("spec", {}).get("size")))
                if event["type"] == "DELETED":
                    break
    finally:
        stream.stop()
        await writer
    assert seen == [("ADDED", 1), ("MODIFIED", 5), ("DELETED", 5)]


async def test_server_side_apply_conflicts_between_managers_unless_forced(
    api_client: client.ApiClient, namespace: str
) -> None:
    core = client.CoreV1Api(api_client)
    apply = "application/apply-patch+yaml"

    def config_map(value: str) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "shared", "namespace": namespace},
            "data": {"owner": value},
        }

    await core.patch_namespaced_config_map(
        "shared", namespace, config_map("first"), field_manager="first", _content_type=apply
    )
    with pytest.raises(ApiException) as caught:
        await core.patch_namespaced_config_map(
            "shared", namespace, config_map("second"), field_manager="second", _content_type=apply
        )
    assert caught.value.status == 409
    assert "conflict" in caught.value.body.lower()

    forced = await core.patch_namespaced_config_map(
        "shared",
        namespace,
        config_map("second"),
        field_manager="second",
        force=True,
        _content_type=apply,
    )
    assert forced.data == {"owner": "second"}
    managers = {entry.manager for entry in forced.metadata.managed_fields}
    assert "second" in managers and "first" not in managers
