"""Flux manifests against a real API server with eddy's CRDs installed.

Valid manifests must be accepted verbatim; invalid ones must be refused with the
API server's own 422 error naming the field, as a user would see from kubectl.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from eddy_api import examples
from eddy_api.kinds import by_kind

pytestmark = pytest.mark.integration


def _coordinates(obj: dict[str, Any]) -> tuple[str, str, str]:
    group, version = obj["apiVersion"].split("/")
    return group, version, by_kind(obj["kind"]).INFO.plural


async def create(api_client: client.ApiClient, obj: dict[str, Any]) -> dict[str, Any]:
    group, version, plural = _coordinates(obj)
    created: dict[str, Any] = await client.CustomObjectsApi(
        api_client
    ).create_namespaced_custom_object(
        group, version, obj["metadata"]["namespace"], plural, body=obj
    )
    return created


async def get(
    api_client: client.ApiClient, obj: dict[str, Any], version: str | None = None
) -> dict[str, Any]:
    group, stored_version, plural = _coordinates(obj)
    found: dict[str, Any] = await client.CustomObjectsApi(api_client).get_namespaced_custom_object(
        group,
        version or stored_version,
        obj["metadata"]["namespace"],
        plural,
        obj["metadata"]["name"],
    )
    return found


def contains(big: Any, small: Any) -> bool:
    """Whether `big` holds everything in `small`; the server may add defaults."""
    if isinstance(small, dict):
        return isinstance(big, dict) and all(
            k in big and contains(big[k], v) for k, v in small.items()
        )
    return bool(big == small)


async def rejection(api_client: client.ApiClient, obj: dict[str, Any]) -> tuple[int, str]:
    """Status code and message of the API server's refusal; fails if it accepts."""
    with pytest.raises(ApiException) as caught:
        await create(api_client, obj)
    body = json.loads(caught.value.body or "{}")
    return caught.value.status, str(body.get("message", caught.value.body))


@pytest.mark.parametrize(
    "kind",
    [
        "GitRepository",
        "Kustomization",
        "ImageRepository",
        "ImagePolicy",
        "HelmRepository",
        "HelmChart",
        "HelmRelease",
        "ImageUpdateAutomation",
    ],
)
async def test_flux_manifest_is_accepted(
    api_client: client.ApiClient, namespace: str, kind: str
) -> None:
    manifest = examples.find(examples.accepted(namespace), kind)
    created = await create(api_client, manifest)
    assert created["kind"] == kind
    assert contains(created["spec"], manifest["spec"]), "the server changed the manifest"


async def test_all_examples_apply_together(api_client: client.ApiClient, namespace: str) -> None:
    for manifest in examples.accepted(namespace):
        await create(api_client, manifest)


async def test_server_applies_schema_defaults(api_client: client.ApiClient, namespace: str) -> None:
    docs = examples.accepted(namespace)
    git = examples.find(docs, "GitRepository")
    await create(api_client, git)
    stored = await get(api_client, git)
    assert stored["spec"]["timeout"] == "60s"
    assert stored["status"]["observedGeneration"] == -1

    policy = examples.find(docs, "ImagePolicy")
    await create(api_client, policy)
    stored = await get(api_client, policy)
    assert stored["spec"]["digestReflectionPolicy"] == "Never"


async def test_image_kinds_read_through_both_versions(
    api_client: client.ApiClient, namespace: str
) -> None:
    policy = examples.find(examples.accepted(namespace), "ImagePolicy")
    await create(api_client, policy)
    as_v1 = await get(api_client, policy, version="v1")
    assert as_v1["apiVersion"] == "image.toolkit.fluxcd.io/v1"
    assert as_v1["spec"]["policy"] == {"semver": {"range": ">=1.0.0"}}


Mutation = Callable[[dict[str, Any]], None]


def _drop(*path: str) -> Mutation:
    def mutate(obj: dict[str, Any]) -> None:
        target = obj
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return mutate


def _set(value: Any, *path: str) -> Mutation:
    def mutate(obj: dict[str, Any]) -> None:
        target = obj
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return mutate


INVALID = [
    ("Kustomization", _drop("spec", "sourceRef"), "spec.sourceRef"),
    ("Kustomization", _drop("spec", "prune"), "spec.prune"),
    ("Kustomization", _set("5 minutes", "spec", "interval"), "spec.interval"),
    ("Kustomization", _set("Foo", "spec", "sourceRef", "kind"), "spec.sourceRef.kind"),
    ("GitRepository", _drop("spec", "url"), "spec.url"),
    ("GitRepository", _set("ftp://example.com/repo", "spec", "url"), "spec.url"),
    ("GitRepository", _set("1 minute", "spec", "interval"), "spec.interval"),
    ("HelmRepository", _set("svn", "spec", "type"), "spec.type"),
    ("HelmChart", _set("S3", "spec", "sourceRef", "kind"), "spec.sourceRef.kind"),
    ("HelmRelease", _drop("spec", "chart"), "spec"),
    ("ImageRepository", _drop("spec", "image"), "spec.image"),
    ("ImagePolicy", _set({"alphabetical": {"order": "up"}}, "spec", "policy"), "spec.policy"),
]


@pytest.mark.parametrize(
    ("kind", "mutate", "field"),
    INVALID,
    ids=[f"{kind}-{field}-{i}" for i, (kind, _, field) in enumerate(INVALID)],
)
async def test_invalid_manifest_is_rejected(
    api_client: client.ApiClient, namespace: str, kind: str, mutate: Mutation, field: str
) -> None:
    manifest = examples.find(examples.accepted(namespace), kind)
    mutate(manifest)
    status, message = await rejection(api_client, manifest)
    assert status == 422, message
    assert field in message, message


async def test_helm_release_needs_exactly_one_chart_source(
    api_client: client.ApiClient, namespace: str
) -> None:
    release = examples.find(examples.accepted(namespace), "HelmRelease")
    release["spec"]["chartRef"] = {"kind": "HelmChart", "name": "podinfo"}
    status, message = await rejection(api_client, release)
    assert status == 422, message
    assert "chartRef" in message, message


async def table_columns(api_client: client.ApiClient, obj: dict[str, Any]) -> dict[str, Any]:
    """The row `kubectl get` prints for an object: column name -> cell."""
    group, version, plural = _coordinates(obj)
    path = f"/apis/{group}/{version}/namespaces/{obj['metadata']['namespace']}/{plural}"
    response = await api_client.call_api(
        f"{path}/{obj['metadata']['name']}",
        "GET",
        header_params={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"},
        auth_settings=["BearerToken"],
        _preload_content=False,
    )
    table = json.loads(await response.read())
    names = [c["name"] for c in table["columnDefinitions"]]
    return dict(zip(names, table["rows"][0]["cells"], strict=True))


async def test_kubectl_get_columns(api_client: client.ApiClient, namespace: str) -> None:
    docs = examples.accepted(namespace)
    git = examples.find(docs, "GitRepository")
    await create(api_client, git)
    row = await table_columns(api_client, git)
    assert list(row) == ["Name", "URL", "Age", "Ready", "Status"]
    assert row["URL"] == git["spec"]["url"]

    chart = examples.find(docs, "HelmChart")
    await create(api_client, chart)
    row = await table_columns(api_client, chart)
    assert row["Chart"] == "podinfo" and row["Source Kind"] == "HelmRepository"
