"""OCI HelmRepositories and the HelmCharts pulled from them, against a real registry.

Charts are pushed with the pinned helm; the controller logs in, lists tags, pulls
the manifest and the chart layer, and stores exactly the bytes that were pushed.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest

from eddy_runtime.resources import SECRETS, ResourceClient
from eddy_testenv.controlplane import free_port
from eddy_testenv.observe import condition, events_for
from eddy_testenv.ociartifacts import cosign_key, public_pem, sign_tag
from eddy_testenv.registry import Registry
from source_controller.kinds import HELM_CHARTS, HELM_REPOSITORIES

from .conftest import RunningController
from .support import (
    assert_verification_error,
    create_secret,
    eventually,
    failed,
    helm_chart,
    helm_repository,
    ready,
    request_reconcile,
    until_ready,
    verification_refused,
    warning_reasons,
)

pytestmark = pytest.mark.integration

HR, HC = HELM_REPOSITORIES, HELM_CHARTS


def oci_repository_obj(name: str, namespace: str, url: str, **spec: object) -> dict[str, object]:
    return helm_repository(name, namespace, url, type="oci", **spec)


async def credentials(kube: ResourceClient, namespace: str, registry: Registry) -> None:
    assert registry.username is not None and registry.password is not None
    await create_secret(kube, namespace, "creds",
                        {"username": registry.username, "password": registry.password})  # fmt: skip


async def test_chart_by_semver_from_a_registry_with_basic_auth(
    kube: ResourceClient,
    namespace: str,
    oci_registry: Registry,
    oci_repository: str,
    source_controller: RunningController,
) -> None:
    pushed = {v: oci_registry.publish("demo", v, repository=oci_repository)
              for v in ("1.0.0", "1.1.0", "2.0.0")}  # fmt: skip
    await credentials(kube, namespace, oci_registry)
    url = oci_registry.url(oci_repository)
    await kube.create(HR, oci_repository_obj("charts", namespace, url, insecure=True,
                                             secretRef={"name": "creds"}))  # fmt: skip
    repo = await ready(kube, HR, namespace, "charts")
    assert "artifact" not in repo["status"] and "url" not in repo["status"]

    await kube.create(HC, helm_chart("demo", namespace, "demo", "HelmRepository", "charts",
                                     version="1.x"))  # fmt: skip
    await kube.create(HC, helm_chart("exact", namespace, "demo", "HelmRepository", "charts",
                                     version="2.0.0"))  # fmt: skip
    chart = await until_ready(kube, HC, namespace, "demo")
    status = chart["status"]
    artifact = status["artifact"]
    assert artifact["revision"] == "1.1.0"
    assert status["observedChartName"] == "demo"
    assert "observedSourceArtifactRevision" not in status
    stored = source_controller.storage.absolute(artifact["path"])
    assert stored.name == "demo-1.1.0.tgz"
    assert stored.read_bytes() == pushed["1.1.0"].read_bytes()
    assert artifact["digest"] == "sha256:" + hashlib.sha256(stored.read_bytes()).hexdigest()
    assert artifact["size"] == stored.stat().st_size
    assert condition(chart, "ArtifactInStorage")["status"] == "True"
    exact = await until_ready(kube, HC, namespace, "exact")
    assert exact["status"]["artifact"]["revision"] == "2.0.0"

    async def pulled_event() -> list[dict[str, Any]]:
        found = await events_for(kube, namespace, "demo")
        return [e for e in found if e["reason"] == "ChartPullSucceeded"]

    [event] = await eventually(pulled_event)
    assert event["message"] == "pulled 'demo' chart with version '1.1.0'"
    assert event["metadata"]["annotations"]["source.toolkit.fluxcd.io/revision"] == "1.1.0"

    # A new tag in range is picked up at the next reconcile, with no source artifact to wait on.
    pushed["1.2.0"] = oci_registry.publish("demo", "1.2.0", repository=oci_repository)
    await request_reconcile(kube, HC, namespace, "demo")

    async def upgraded() -> dict[str, object] | None:
        current = await kube.get(HC, "demo", namespace)
        found = (current.get("status") or {}).get("artifact") or {}
        return found if found.get("revision") == "1.2.0" else None

    newer = await eventually(upgraded)
    assert source_controller.storage.absolute(str(newer["path"])).read_bytes() == (
        pushed["1.2.0"].read_bytes()
    )


async def test_tls_registry_with_docker_config_secret(
    kube: ResourceClient,
    namespace: str,
    oci_registry_tls: Registry,
    oci_repository: str,
    source_controller: RunningController,
) -> None:
    registry = oci_registry_tls
    assert registry.ca_file is not None and registry.password is not None
    archive = registry.publish("demo", "0.4.0+build.1", repository=oci_repository)
    auth = base64.b64encode(f"{registry.username}:{registry.password}".encode()).decode()
    config = json.dumps({"auths": {registry.host: {"auth": auth}}}).encode()
    await kube.create(SECRETS, {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "docker"},
        "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": base64.b64encode(config).decode()},
    }, namespace)  # fmt: skip
    await create_secret(kube, namespace, "ca", {"ca.crt": registry.ca_file.read_bytes()})
    url = registry.url(oci_repository)
    await kube.create(HR, oci_repository_obj("trusted", namespace, url,
                                             secretRef={"name": "docker"},
                                             certSecretRef={"name": "ca"}))  # fmt: skip
    await kube.create(HR, oci_repository_obj("untrusted", namespace, url,
                                             secretRef={"name": "docker"}))  # fmt: skip
    await ready(kube, HR, namespace, "trusted")
    obj = await failed(kube, HR, namespace, "untrusted")
    assert "certSecretRef" in condition(obj, "Ready")["message"]

    await kube.create(HC, helm_chart("demo", namespace, "demo", "HelmRepository", "trusted"))
    chart = await until_ready(kube, HC, namespace, "demo")
    artifact = chart["status"]["artifact"]
    # Helm pushes build metadata as '_' in the tag; the revision is the chart version.
    assert artifact["revision"] == "0.4.0+build.1"
    stored = source_controller.storage.absolute(artifact["path"])
    assert stored.read_bytes() == archive.read_bytes()


async def test_anonymous_registry_with_values_files(
    kube: ResourceClient,
    namespace: str,
    oci_registry_anonymous: Registry,
    oci_repository: str,
    source_controller: RunningController,
) -> None:
    oci_registry_anonymous.publish(
        "demo", "3.0.0", repository=oci_repository,
        values={"greeting": "hello", "replicas": 1},
        templates={"cm.yaml": "kind: ConfigMap\n", "prod.yaml": "# not a values file\n"},
    )  # fmt: skip
    url = oci_registry_anonymous.url(oci_repository)
    await kube.create(HR, oci_repository_obj("open", namespace, url, insecure=True))
    await ready(kube, HR, namespace, "open")
    await kube.create(HC, helm_chart("demo", namespace, "demo", "HelmRepository", "open",
                                     valuesFiles=["values.yaml"]))  # fmt: skip
    chart = await until_ready(kube, HC, namespace, "demo")
    assert chart["status"]["artifact"]["revision"] == "3.0.0"
    assert chart["status"]["observedValuesFiles"] == ["values.yaml"]


async def test_registry_failures(
    kube: ResourceClient,
    namespace: str,
    oci_registry: Registry,
    oci_repository: str,
    source_controller: RunningController,
) -> None:
    oci_registry.publish("demo", "1.0.0", repository=oci_repository)
    oci_registry.publish("image", "1.0.0", repository=oci_repository)
    url = oci_registry.url(oci_repository)
    await credentials(kube, namespace, oci_registry)
    await create_secret(kube, namespace, "wrong",
                        {"username": str(oci_registry.username), "password": "nope"})  # fmt: skip
    down = f"oci://127.0.0.1:{free_port()}/charts"
    await kube.create(HR, oci_repository_obj("good", namespace, url, insecure=True,
                                             secretRef={"name": "creds"}))  # fmt: skip
    await kube.create(HR, oci_repository_obj("wrong", namespace, url, insecure=True,
                                             secretRef={"name": "wrong"}))  # fmt: skip
    await kube.create(HR, oci_repository_obj("anonymous", namespace, url, insecure=True))
    await kube.create(HR, oci_repository_obj("down", namespace, down, insecure=True))
    await kube.create(HR, oci_repository_obj("https", namespace, url, secretRef={"name": "creds"}))
    await kube.create(HR, oci_repository_obj("badurl", namespace, "https://example.invalid/x"))

    obj = await failed(kube, HR, namespace, "wrong")
    assert condition(obj, "Ready")["reason"] == "AuthenticationFailed"
    assert condition(obj, "FetchFailed")["status"] == "True"
    assert "refused the credentials" in condition(obj, "Ready")["message"]
    obj = await failed(kube, HR, namespace, "down")
    assert "cannot reach registry" in condition(obj, "Ready")["message"]
    obj = await failed(kube, HR, namespace, "https")
    assert "spec.insecure" in condition(obj, "Ready")["message"]
    obj = await failed(kube, HR, namespace, "badurl")
    assert condition(obj, "Ready")["reason"] == "URLInvalid"
    assert condition(obj, "Stalled")["status"] == "True"
    # Without a secretRef there is nothing to log in with: Ready, as Flux does.
    await ready(kube, HR, namespace, "good")
    await ready(kube, HR, namespace, "anonymous")

    charts = {
        "missing": ("good", {"chart": "nothere"}, "InvalidChartReference", "'nothere' not found"),
        "norange": ("good", {"version": ">=5"}, "InvalidChartReference", "matches '>=5'"),
        "noexact": ("good", {"version": "9.9.9"}, "InvalidChartReference", "demo:9.9.9 not found"),
        "badrange": ("good", {"version": ">=>1"}, "InvalidConfiguration", "spec.version"),
        "wrongpw": ("wrong", {}, "AuthenticationFailed", "refused the credentials"),
        "nocreds": ("anonymous", {}, "AuthenticationFailed", "requires credentials"),
        "down": ("down", {}, "ChartPullFailed", "cannot reach registry"),
    }
    for name, (source, spec, _, _) in charts.items():
        body = helm_chart(name, namespace, "demo", "HelmRepository", source)
        body["spec"].update(spec)  # type: ignore[attr-defined]
        await kube.create(HC, body)
    for name, (_, _, reason, words) in charts.items():
        obj = await failed(kube, HC, namespace, name)
        assert condition(obj, "Ready")["reason"] == reason, name
        assert words in condition(obj, "Ready")["message"], (name, condition(obj, "Ready"))
        assert "artifact" not in obj["status"]
        assert reason in await warning_reasons(kube, namespace, name)


async def test_last_good_chart_stays_when_the_tag_goes(
    kube: ResourceClient,
    namespace: str,
    oci_registry: Registry,
    oci_repository: str,
    source_controller: RunningController,
) -> None:
    oci_registry.publish("demo", "1.0.0", repository=oci_repository)
    await credentials(kube, namespace, oci_registry)
    url = oci_registry.url(oci_repository)
    await kube.create(HR, oci_repository_obj("charts", namespace, url, insecure=True,
                                             secretRef={"name": "creds"}))  # fmt: skip
    await kube.create(HC, helm_chart("demo", namespace, "demo", "HelmRepository", "charts"))
    chart = await until_ready(kube, HC, namespace, "demo")
    artifact = chart["status"]["artifact"]

    oci_registry.delete_tag(f"{oci_repository}/demo", "1.0.0")
    await request_reconcile(kube, HC, namespace, "demo")

    async def failing() -> dict[str, object] | None:
        current = await kube.get(HC, "demo", namespace)
        ready_cond = condition(current, "Ready")
        return current if ready_cond.get("status") == "False" else None

    current = await eventually(failing)
    assert condition(current, "Ready")["reason"] == "InvalidChartReference"
    assert current["status"]["artifact"]["digest"] == artifact["digest"]  # type: ignore[index]
    assert source_controller.storage.exists(artifact)


async def test_cosign_signed_charts(
    kube: ResourceClient,
    namespace: str,
    oci_registry_anonymous: Registry,
    oci_repository: str,
    source_controller: RunningController,
) -> None:
    registry = oci_registry_anonymous
    trusted, other = cosign_key(), cosign_key()
    archive = registry.publish("demo", "1.0.0", repository=oci_repository)
    registry.publish("forged", "1.0.0", repository=oci_repository)
    registry.publish("plain", "1.0.0", repository=oci_repository)
    await sign_tag(registry, f"{oci_repository}/demo", "1.0.0", trusted)
    await sign_tag(registry, f"{oci_repository}/forged", "1.0.0", other)
    await create_secret(kube, namespace, "cosign-keys",
                        {"key.pub": public_pem(trusted), "README": "not a key"})  # fmt: skip
    await kube.create(HR, oci_repository_obj("open", namespace, registry.url(oci_repository),
                                             insecure=True))  # fmt: skip
    keys = {"provider": "cosign", "secretRef": {"name": "cosign-keys"}}
    charts = {
        "demo": ("demo", keys),
        "forged": ("forged", keys),
        "plain": ("plain", keys),
        "notation": ("demo", {"provider": "notation", "secretRef": {"name": "cosign-keys"}}),
        "keyless": ("demo", {"provider": "cosign"}),
    }
    for name, (chart, verify) in charts.items():
        await kube.create(HC, helm_chart(name, namespace, chart, "HelmRepository", "open",
                                         verify=verify))  # fmt: skip

    obj = await until_ready(kube, HC, namespace, "demo")
    verified = condition(obj, "SourceVerified")
    assert verified["status"] == "True" and verified["reason"] == "Succeeded"
    assert verified["message"] == "verified signature of version 1.0.0"
    artifact = obj["status"]["artifact"]
    assert source_controller.storage.absolute(artifact["path"]).read_bytes() == (
        archive.read_bytes()
    )

    for name, words in (("forged", "none of the 1 signatures"),
                        ("plain", "no cosign signature found")):  # fmt: skip
        obj = await failed(kube, HC, namespace, name)
        assert "artifact" not in obj["status"], name
        assert_verification_error(obj, name, words)
        for kind in ("Ready", "SourceVerified"):
            assert f"/{name}@sha256:" in condition(obj, kind)["message"], condition(obj, kind)
        assert "VerificationError" in await warning_reasons(kube, namespace, name)
    for name, words in (("notation", "spec.verify.provider 'notation' is not supported"),
                        ("keyless", "spec.verify.secretRef")):  # fmt: skip
        obj = await failed(kube, HC, namespace, name)
        assert condition(obj, "Stalled")["status"] == "True", name
        assert words in condition(obj, "Ready")["message"], condition(obj, "Ready")

    # A newer version that nobody signed is refused; the verified chart stays served.
    registry.publish("demo", "1.1.0", repository=oci_repository)
    await request_reconcile(kube, HC, namespace, "demo")
    obj = await verification_refused(kube, HC, namespace, "demo")
    assert condition(obj, "Ready")["status"] == "False"
    assert "/demo@sha256:" in condition(obj, "Ready")["message"]
    assert obj["status"]["artifact"] == artifact
    assert source_controller.storage.exists(artifact)
