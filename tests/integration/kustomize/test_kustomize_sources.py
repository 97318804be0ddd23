"""Source kinds besides GitRepository: OCIRepository, Bucket and ExternalArtifact artifacts applied.

Sources publish their status by hand here, as a source-controller would; the point
is that the kind is followed by watch and refused across namespaces like any other.
"""

from __future__ import annotations

from typing import Any

import pytest

from eddy_runtime.resources import Resource, ResourceClient
from eddy_testenv.observe import condition

from .conftest import StartController
from .support import (
    BUCKETS,
    CONFIG_MAPS,
    EXTERNAL_ARTIFACTS,
    KUSTOMIZATIONS,
    OCI_REPOSITORIES,
    Sources,
    config_map,
    create_kustomization,
    eventually,
    ready,
)

pytestmark = pytest.mark.integration

OCI = {"kind": "OCIRepository", "name": "manifests"}


@pytest.mark.parametrize(
    "kind", [OCI_REPOSITORIES, BUCKETS, EXTERNAL_ARTIFACTS], ids=lambda r: r.kind
)
async def test_revisions_flow_by_watch(
    kube: ResourceClient,
    sources: Sources,
    start_controller: StartController,
    namespace: str,
    kind: Resource,
) -> None:
    first = await sources.publish("manifests", {"app/cm.yaml": config_map("app", v="1")},
                                  kind=kind)  # fmt: skip
    await start_controller()
    await create_kustomization(kube, "app", namespace, path="./app",
                               sourceRef={"kind": kind.kind, "name": "manifests"})  # fmt: skip
    obj = await ready(kube, namespace, "app", first)
    assert first.startswith("sha256:" if kind is BUCKETS else "latest@sha256:")
    assert condition(obj, "Ready")["message"] == f"Applied revision: {first}"
    assert (await kube.get(CONFIG_MAPS, "app", namespace))["data"] == {"v": "1"}

    # A new artifact reaches the Kustomization through the watch, long before its interval.
    second = await sources.publish("manifests", {"app/cm.yaml": config_map("app", v="2")},
                                   kind=kind)  # fmt: skip
    await ready(kube, namespace, "app", second)
    assert (await kube.get(CONFIG_MAPS, "app", namespace))["data"] == {"v": "2"}


async def test_sources_across_namespaces_are_refused_when_disabled(
    kube: ResourceClient, sources: Sources, start_controller: StartController, namespace: str
) -> None:
    await start_controller(no_cross_namespace_refs=True)
    await create_kustomization(kube, "elsewhere", namespace, path="./app",
                               sourceRef={**OCI, "namespace": "default"})  # fmt: skip
    await create_kustomization(kube, "bucket", namespace, path="./app",
                               sourceRef={"kind": "Bucket", "name": "b",
                                          "namespace": "default"})  # fmt: skip

    async def refused(name: str) -> dict[str, Any] | None:
        obj = await kube.get(KUSTOMIZATIONS, name, namespace)
        return obj if condition(obj, "Ready").get("reason") == "AccessDenied" else None

    obj = await eventually(lambda: refused("elsewhere"))
    message = condition(obj, "Ready")["message"]
    assert "OCIRepository 'default/manifests'" in message and "cross-namespace" in message
    assert condition(obj, "Stalled")["status"] == "True"
    obj = await eventually(lambda: refused("bucket"))
    message = condition(obj, "Ready")["message"]
    assert "Bucket 'default/b'" in message and "cross-namespace" in message
