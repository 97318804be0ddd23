"""chartRef to an OCIRepository or ExternalArtifact: a chart pushed with `helm push`, installed.

The source-controller (a process) pulls the chart from a real registry; the
release follows the chart's own version and keeps the artifact digest, as Flux does.
"""

from __future__ import annotations

from typing import Any

import pytest

from eddy_runtime.manager import Manager
from eddy_runtime.resources import SECRETS, Resource, ResourceClient
from eddy_testenv.observe import condition
from eddy_testenv.ociartifacts import cosign_key, public_pem, sign_tag
from eddy_testenv.registry import Registry
from eddy_testenv.waiting import eventually
from helm_controller.objects import HELM_CHARTS, HELM_RELEASES, OCI_REPOSITORIES

from .support import (
    HELM_REPOSITORIES,
    TEMPLATES,
    TIMEOUT,
    HelmCLI,
    publish_app_chart,
    release,
    wait_condition,
)

pytestmark = pytest.mark.integration

CHART_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
ARTIFACT_GENERATORS = Resource(
    "source.extensions.fluxcd.io", "v1beta1", "artifactgenerators", "ArtifactGenerator"
)


def oci_chart(name: str, namespace: str, url: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": OCI_REPOSITORIES.api_version, "kind": OCI_REPOSITORIES.kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"url": url, "interval": "1h", "insecure": True, "ref": {"semver": "1.x"},
                 "layerSelector": {"mediaType": CHART_LAYER, "operation": "copy"}, **spec},
    }  # fmt: skip


def chart_ref_release(name: str, namespace: str, source: str) -> dict[str, Any]:
    obj = release(name, namespace, chartRef={"kind": "OCIRepository", "name": source})
    del obj["spec"]["chart"]
    return obj


async def test_chart_ref_to_an_oci_repository_installs_and_upgrades(
    helm_controller: Manager,
    kube: ResourceClient,
    namespace: str,
    oci_registry_anonymous: Registry,
    helm_cli: HelmCLI,
) -> None:
    registry = oci_registry_anonymous
    path = publish_app_chart(registry, namespace, "1.0.0", "from-oci")
    await kube.create(OCI_REPOSITORIES, oci_chart("app-chart", namespace,
                                                  registry.url(f"{path}/app")))  # fmt: skip
    await kube.create(HELM_RELEASES, chart_ref_release("app", namespace, "app-chart"))

    obj = await wait_condition(kube, namespace, "app", "Ready", "True", "InstallSucceeded")
    status = obj["status"]
    assert status["lastAttemptedRevision"] == "1.0.0"
    assert status["lastAttemptedRevisionDigest"].startswith("sha256:")
    assert status["history"][0]["chartVersion"] == "1.0.0"
    assert "helmChart" not in status
    [found] = await helm_cli.releases(namespace)
    assert (found["chart"], found["status"]) == ("app-1.0.0", "deployed")

    # A new version in range: the source picks it up, the release follows by watch.
    registry.publish("app", "1.1.0", repository=path, templates=TEMPLATES,
                     values={"greeting": "newer"})  # fmt: skip
    await kube.patch(OCI_REPOSITORIES, "app-chart",
                     {"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": "now"}}},
                     namespace)  # fmt: skip

    async def upgraded() -> dict[str, Any] | None:
        current = await kube.get(HELM_RELEASES, "app", namespace)
        ready = condition(current, "Ready")
        history = (current.get("status") or {}).get("history") or [{}]
        done = ready.get("reason") == "UpgradeSucceeded" and history[0].get("chartVersion")
        return current if done == "1.1.0" else None

    obj = await eventually(upgraded, timeout=TIMEOUT)
    assert obj["status"]["lastAttemptedRevision"] == "1.1.0"
    assert [r["chart"] for r in await helm_cli.releases(namespace)] == ["app-1.1.0"]


async def test_chart_ref_waits_for_a_missing_oci_repository(
    helm_controller: Manager, kube: ResourceClient, namespace: str
) -> None:
    await kube.create(HELM_RELEASES, chart_ref_release("app", namespace, "nowhere"))
    obj = await wait_condition(kube, namespace, "app", "Ready", "False", "ArtifactFailed")
    assert f"OCIRepository '{namespace}/nowhere' not found" in condition(obj, "Ready")["message"]


async def test_chart_ref_to_an_external_artifact_from_a_generator(
    helm_controller: Manager,
    kube: ResourceClient,
    namespace: str,
    oci_registry_anonymous: Registry,
    helm_cli: HelmCLI,
) -> None:
    registry = oci_registry_anonymous
    path = publish_app_chart(registry, namespace, "2.0.0", "generated")
    await kube.create(OCI_REPOSITORIES, oci_chart("app-chart", namespace,
                                                  registry.url(f"{path}/app"),
                                                  ref={"tag": "2.0.0"}))  # fmt: skip
    await kube.create(ARTIFACT_GENERATORS, {
        "apiVersion": ARTIFACT_GENERATORS.api_version, "kind": ARTIFACT_GENERATORS.kind,
        "metadata": {"name": "charts", "namespace": namespace},
        "spec": {"sources": [{"alias": "oci", "kind": "OCIRepository", "name": "app-chart"}],
                 "artifacts": [{"name": "app", "copy": [{"from": "@oci/app/",
                                                         "to": "@artifact/"}]}]},
    }, namespace)  # fmt: skip
    obj = release("app", namespace, chartRef={"kind": "ExternalArtifact", "name": "app"})
    del obj["spec"]["chart"]
    await kube.create(HELM_RELEASES, obj, namespace)

    obj = await wait_condition(kube, namespace, "app", "Ready", "True", "InstallSucceeded")
    assert obj["status"]["lastAttemptedRevision"] == "2.0.0"
    assert obj["status"]["lastAttemptedRevisionDigest"].startswith("sha256:")
    [found] = await helm_cli.releases(namespace)
    assert (found["chart"], found["status"]) == ("app-2.0.0", "deployed")


async def test_chart_verify_reaches_the_helm_chart_and_a_signed_chart_installs(
    helm_controller: Manager,
    kube: ResourceClient,
    namespace: str,
    oci_registry_anonymous: Registry,
    helm_cli: HelmCLI,
) -> None:
    registry = oci_registry_anonymous
    path = publish_app_chart(registry, namespace, "1.0.0", "signed")
    key = cosign_key()
    await sign_tag(registry, f"{path}/app", "1.0.0", key)
    await kube.create(SECRETS, {
        "metadata": {"name": "cosign-keys"},
        "stringData": {"cosign.pub": public_pem(key).decode()},
    }, namespace)  # fmt: skip
    await kube.create(HELM_REPOSITORIES, {
        "apiVersion": HELM_REPOSITORIES.api_version, "kind": HELM_REPOSITORIES.kind,
        "metadata": {"name": "charts"},
        "spec": {"url": registry.url(path), "type": "oci", "insecure": True, "interval": "1h"},
    }, namespace)  # fmt: skip
    verify = {"provider": "cosign", "secretRef": {"name": "cosign-keys"}}
    obj = release("app", namespace)
    obj["spec"]["chart"]["spec"]["verify"] = verify
    await kube.create(HELM_RELEASES, obj, namespace)

    await wait_condition(kube, namespace, "app", "Ready", "True", "InstallSucceeded")
    chart = await kube.get(HELM_CHARTS, f"{namespace}-app", namespace)
    assert chart["spec"]["verify"] == verify
    verified = condition(chart, "SourceVerified")
    assert verified["status"] == "True" and verified["message"] == (
        "verified signature of version 1.0.0"
    )
    assert [r["name"] for r in await helm_cli.releases(namespace)] == ["app"]

    # Dropping verify from the release drops it from its HelmChart.
    patch = {"spec": {"chart": {"spec": {"verify": None}}}}
    await kube.patch(HELM_RELEASES, "app", patch, namespace)

    async def unverified() -> dict[str, Any] | None:
        current = await kube.get(HELM_CHARTS, f"{namespace}-app", namespace)
        return None if "verify" in current["spec"] else current

    await eventually(unverified, timeout=TIMEOUT)
