"""Buckets against a real S3-compatible server (S3Proxy): keys, prefix, ignore, TLS, bad keys,
proxies, and what consumes them (Kustomization, HelmChart, ArtifactGenerator).

Objects are uploaded through the S3 API; the tests read back what a user sees:
status, Events, the artifact served over HTTP, and what a Kustomization applies.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from eddy_runtime.resources import SECRETS, Resource, ResourceClient
from eddy_testenv.httpproxy import HTTPProxy
from eddy_testenv.managers import running_manager
from eddy_testenv.observe import condition, events_for
from eddy_testenv.process import find_binary
from eddy_testenv.s3server import S3Server
from kustomize_controller.controller import NAME as KUSTOMIZE_NAME
from kustomize_controller.controller import Settings as KustomizeSettings
from kustomize_controller.controller import controllers as kustomize_controllers
from source_controller.kinds import (
    ARTIFACT_GENERATORS,
    BUCKETS,
    EXTERNAL_ARTIFACTS,
    HELM_CHARTS,
)

from .conftest import RunningController
from .support import (
    create_secret,
    download,
    eventually,
    failed,
    handled,
    helm_chart,
    request_reconcile,
    until_ready,
)

pytestmark = pytest.mark.integration

KUSTOMIZATIONS = Resource("kustomize.toolkit.fluxcd.io", "v1", "kustomizations", "Kustomization")
CONFIG_MAPS = Resource("", "v1", "configmaps", "ConfigMap")
# Plain HTTP, with the keys from the Secret `keys_secret` creates.
PLAIN = {"insecure": True, "secretRef": {"name": "keys"}}


def bucket_source(name: str, namespace: str, bucket: str, endpoint: str, **spec: Any) -> Any:
    return {
        "apiVersion": BUCKETS.api_version, "kind": BUCKETS.kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"bucketName": bucket, "endpoint": endpoint, "interval": "1h",
                 "timeout": "20s", **spec},
    }  # fmt: skip


def flux_revision(etags: dict[str, str]) -> str:
    """What Flux names a bucket's content: sha256 over sorted `key etag` lines."""
    lines = "".join(f"{key} {etags[key]}\n" for key in sorted(etags))
    return "sha256:" + hashlib.sha256(lines.encode()).hexdigest()


async def keys_secret(
    kube: ResourceClient, namespace: str, s3: S3Server, name: str = "keys"
) -> None:
    await create_secret(kube, namespace, name,
                        {"accesskey": s3.access_key, "secretkey": s3.secret_key})  # fmt: skip


def config_map(name: str, value: str) -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  v: '{value}'\n"


async def test_fetch_with_keys_prefix_and_ignore(
    kube: ResourceClient,
    namespace: str,
    s3_server: S3Server,
    s3_bucket: str,
    source_controller: RunningController,
    tmp_path: Path,
) -> None:
    s3 = s3_server
    s3.put(s3_bucket, ".sourceignore", "*.md\n")
    s3.put(s3_bucket, "apps/app.yaml", config_map("app", "1"))
    s3.put(s3_bucket, "apps/README.md", "# ignored by .sourceignore\n")
    s3.put(s3_bucket, "apps/skip/secret.yaml", "ignored by spec.ignore\n")
    s3.put(s3_bucket, "other/outside.yaml", "outside the prefix\n")
    await keys_secret(kube, namespace, s3)
    await kube.create(BUCKETS, bucket_source("app", namespace, s3_bucket, s3.endpoint,
                                             insecure=True, secretRef={"name": "keys"},
                                             prefix="apps/", ignore="skip/\n"))  # fmt: skip
    obj = await until_ready(kube, BUCKETS, namespace, "app")
    artifact = obj["status"]["artifact"]
    expected = flux_revision({"apps/app.yaml": s3.etags(s3_bucket)["apps/app.yaml"]})
    assert artifact["revision"] == expected
    assert artifact["path"] == f"bucket/{namespace}/app/{expected[7:]}.tar.gz"
    assert obj["status"]["url"] == artifact["url"]
    assert obj["status"]["observedIgnore"] == "skip/\n"
    assert condition(obj, "Ready")["message"] == f"stored artifact: revision '{expected}'"
    assert condition(obj, "ArtifactInStorage")["status"] == "True"
    files = await download(artifact, tmp_path / "a")
    # The bucket's .sourceignore travels in the artifact, as with Flux.
    assert files == {".sourceignore": b"*.md\n", "apps/app.yaml": config_map("app", "1").encode()}

    async def new_artifacts() -> list[dict[str, Any]]:
        found = await events_for(kube, namespace, "app")
        return [e for e in found if e["reason"] == "NewArtifact"]

    [event] = await eventually(new_artifacts)
    assert event["message"] == f"stored artifact with 1 fetched files from '{s3_bucket}' bucket"

    # Nothing changed in the bucket: the same artifact, not fetched and stored again.
    stamp = await request_reconcile(kube, BUCKETS, namespace, "app")
    again = await handled(kube, BUCKETS, namespace, "app", stamp)
    assert condition(again, "Ready")["status"] == "True"
    assert again["status"]["artifact"] == artifact

    # An object outside the prefix changes nothing; one inside is a new revision.
    s3.put(s3_bucket, "other/outside.yaml", "changed\n")
    s3.put(s3_bucket, "apps/more.yaml", config_map("more", "1"))
    await request_reconcile(kube, BUCKETS, namespace, "app")
    etags = s3.etags(s3_bucket, "apps/")
    newer = flux_revision({k: etags[k] for k in ("apps/app.yaml", "apps/more.yaml")})

    async def moved() -> dict[str, Any] | None:
        current = (await kube.get(BUCKETS, "app", namespace))["status"].get("artifact") or {}
        return current if current.get("revision") == newer else None

    files = await download(await eventually(moved), tmp_path / "b")
    assert sorted(files) == [".sourceignore", "apps/app.yaml", "apps/more.yaml"]


async def test_tls_with_cert_secret_ref(
    kube: ResourceClient,
    namespace: str,
    s3_server: S3Server,
    s3_bucket: str,
    source_controller: RunningController,
    tmp_path: Path,
) -> None:
    s3 = s3_server
    s3.put(s3_bucket, "app.yaml", config_map("app", "tls"))
    await keys_secret(kube, namespace, s3)
    await create_secret(kube, namespace, "ca", {"ca.crt": s3.ca_file.read_bytes()})
    keys = {"secretRef": {"name": "keys"}, "region": "us-east-1"}
    await kube.create(BUCKETS, bucket_source("tls", namespace, s3_bucket, s3.tls_endpoint,
                                             certSecretRef={"name": "ca"}, **keys))  # fmt: skip
    await kube.create(BUCKETS, bucket_source("untrusted", namespace, s3_bucket,
                                             s3.tls_endpoint, **keys))  # fmt: skip
    obj = await until_ready(kube, BUCKETS, namespace, "tls")
    assert await download(obj["status"]["artifact"], tmp_path / "a") == {
        "app.yaml": config_map("app", "tls").encode()
    }
    obj = await failed(kube, BUCKETS, namespace, "untrusted")
    ready = condition(obj, "Ready")
    assert ready["reason"] == "BucketOperationFailed"
    assert f"TLS with {s3.tls_endpoint} failed" in ready["message"]
    assert "spec.certSecretRef" in ready["message"]
    assert condition(obj, "FetchFailed")["status"] == "True"


async def test_wrong_keys_keep_the_last_artifact(
    kube: ResourceClient,
    namespace: str,
    s3_server: S3Server,
    s3_bucket: str,
    source_controller: RunningController,
) -> None:
    s3 = s3_server
    s3.put(s3_bucket, "app.yaml", config_map("app", "1"))
    await keys_secret(kube, namespace, s3)
    await kube.create(BUCKETS, bucket_source("app", namespace, s3_bucket, s3.endpoint,
                                             **PLAIN))  # fmt: skip
    good = (await until_ready(kube, BUCKETS, namespace, "app"))["status"]["artifact"]

    wrong = {"data": {"secretkey": "bjB0LXRoZS1zM2NyZXQ="}}  # n0t-the-s3cret
    await kube.patch(SECRETS, "keys", wrong, namespace)
    stamp = await request_reconcile(kube, BUCKETS, namespace, "app")
    obj = await handled(kube, BUCKETS, namespace, "app", stamp)
    ready = condition(obj, "Ready")
    assert ready["reason"] == "BucketOperationFailed"
    assert f"failed to confirm existence of '{s3_bucket}' bucket" in ready["message"]
    assert "check the keys in spec.secretRef" in ready["message"]
    assert "n0t-the-s3cret" not in str(obj["status"]) and s3.secret_key not in str(obj)
    assert obj["status"]["artifact"] == good

    # A Secret without the keys Flux requires.
    await kube.create(BUCKETS, bucket_source("nokeys", namespace, s3_bucket, s3.endpoint,
                                             insecure=True,
                                             secretRef={"name": "other"}))  # fmt: skip
    await create_secret(kube, namespace, "other", {"username": "x"})
    obj = await failed(kube, BUCKETS, namespace, "nokeys")
    assert condition(obj, "Ready")["reason"] == "AuthenticationFailed"
    assert "required fields 'accesskey' and 'secretkey'" in condition(obj, "Ready")["message"]


@pytest.mark.parametrize("bad_key", ["apps/../../etc/evil.yaml", "/abs/evil.yaml"])
async def test_unsafe_keys_are_refused_and_the_last_artifact_kept(
    kube: ResourceClient,
    namespace: str,
    s3_server: S3Server,
    s3_bucket: str,
    source_controller: RunningController,
    bad_key: str,
) -> None:
    s3 = s3_server
    s3.put(s3_bucket, "apps/app.yaml", config_map("app", "1"))
    await keys_secret(kube, namespace, s3)
    await kube.create(BUCKETS, bucket_source("app", namespace, s3_bucket, s3.endpoint,
                                             **PLAIN))  # fmt: skip
    good = (await until_ready(kube, BUCKETS, namespace, "app"))["status"]["artifact"]

    s3.put_raw(s3_bucket, bad_key, "kind: Evil\n")
    assert bad_key in s3.etags(s3_bucket)
    stamp = await request_reconcile(kube, BUCKETS, namespace, "app")
    obj = await handled(kube, BUCKETS, namespace, "app", stamp)
    ready = condition(obj, "Ready")
    assert ready["reason"] == "BucketOperationFailed"
    assert f"object key '{bad_key}'" in ready["message"]
    assert condition(obj, "Stalled").get("status") != "True"
    assert obj["status"]["artifact"] == good


async def test_unsupported_settings_are_refused(
    kube: ResourceClient, namespace: str, source_controller: RunningController
) -> None:
    await kube.create(BUCKETS, bucket_source("aws", namespace, "b", "s3.amazonaws.com",
                                             provider="aws"))  # fmt: skip
    await kube.create(BUCKETS, bucket_source("scheme", namespace, "b", "http://127.0.0.1:9"))
    obj = await failed(kube, BUCKETS, namespace, "aws")
    assert condition(obj, "Stalled")["status"] == "True"
    assert "spec.provider 'aws' is not supported" in condition(obj, "Ready")["message"]
    obj = await failed(kube, BUCKETS, namespace, "scheme")
    assert condition(obj, "Ready")["reason"] == "URLInvalid"
    assert "spec.endpoint 'http://127.0.0.1:9'" in condition(obj, "Ready")["message"]


async def test_a_changed_object_is_applied_by_a_kustomization(
    kube: ResourceClient,
    control_plane: Any,
    namespace: str,
    s3_server: S3Server,
    s3_bucket: str,
    source_controller: RunningController,
) -> None:
    s3 = s3_server
    s3.put(s3_bucket, "deploy/cm.yaml", config_map("from-bucket", "1"))
    await keys_secret(kube, namespace, s3)
    await kube.create(BUCKETS, bucket_source("manifests", namespace, s3_bucket, s3.endpoint,
                                             **PLAIN))  # fmt: skip
    settings = KustomizeSettings(kustomize=find_binary("kustomize"))
    async with running_manager(KUSTOMIZE_NAME, str(control_plane.kubeconfig),
                               lambda m: kustomize_controllers(m, settings),
                               watch_all_namespaces=False,
                               runtime_namespace=namespace):  # fmt: skip
        await kube.create(KUSTOMIZATIONS, {
            "apiVersion": KUSTOMIZATIONS.api_version, "kind": KUSTOMIZATIONS.kind,
            "metadata": {"name": "app", "namespace": namespace},
            "spec": {"interval": "1h", "path": "./deploy", "prune": True,
                     "targetNamespace": namespace,
                     "sourceRef": {"kind": "Bucket", "name": "manifests"}},
        })  # fmt: skip

        async def applied(value: str) -> dict[str, Any] | None:
            found = await kube.get_or_none(CONFIG_MAPS, "from-bucket", namespace)
            return found if found and (found.get("data") or {}).get("v") == value else None

        await eventually(lambda: applied("1"), 60)
        s3.put(s3_bucket, "deploy/cm.yaml", config_map("from-bucket", "2"))
        await request_reconcile(kube, BUCKETS, namespace, "manifests")
        await eventually(lambda: applied("2"), 60)
        revision = (await kube.get(BUCKETS, "manifests", namespace))["status"]["artifact"][
            "revision"
        ]

        async def recorded() -> dict[str, Any] | None:
            ks = await kube.get(KUSTOMIZATIONS, "app", namespace)
            return ks if ks["status"].get("lastAppliedRevision") == revision else None

        ks = await eventually(recorded)
        assert condition(ks, "Ready")["message"] == f"Applied revision: {revision}"
        await kube.delete(KUSTOMIZATIONS, "app", namespace)
        await eventually(lambda: _gone(kube, namespace))


async def _gone(kube: ResourceClient, namespace: str) -> bool:
    return await kube.get_or_none(KUSTOMIZATIONS, "app", namespace) is None


async def test_proxy_secret_ref_carries_the_bucket_traffic(
    kube: ResourceClient,
    namespace: str,
    s3_server: S3Server,
    s3_bucket: str,
    http_proxy: HTTPProxy,
    source_controller: RunningController,
) -> None:
    s3 = s3_server
    s3.put(s3_bucket, "app.yaml", config_map("app", "1"))
    await keys_secret(kube, namespace, s3)
    assert http_proxy.username is not None and http_proxy.password is not None
    await create_secret(kube, namespace, "proxy", {"address": http_proxy.address,
                                                   "username": http_proxy.username,
                                                   "password": http_proxy.password})  # fmt: skip
    await kube.create(BUCKETS, bucket_source("app", namespace, s3_bucket, s3.endpoint,
                                             proxySecretRef={"name": "proxy"},
                                             **PLAIN))  # fmt: skip
    await until_ready(kube, BUCKETS, namespace, "app")
    listing = f"GET http://{s3.endpoint}/{s3_bucket}?"
    fetch = f"GET http://{s3.endpoint}/{s3_bucket}/app.yaml"
    seen = http_proxy.requests()
    assert any(r.startswith(listing) for r in seen) and fetch in seen

    # Unchanged: the bucket is listed again through the proxy, the object not fetched.
    before = len(http_proxy.requests())
    stamp = await request_reconcile(kube, BUCKETS, namespace, "app")
    obj = await handled(kube, BUCKETS, namespace, "app", stamp)
    assert condition(obj, "Ready")["status"] == "True"
    later = http_proxy.requests()[before:]
    assert any(r.startswith(listing) for r in later)
    assert fetch not in later


async def test_a_bucket_feeds_a_helm_chart_and_an_artifact_generator(
    kube: ResourceClient,
    namespace: str,
    s3_server: S3Server,
    s3_bucket: str,
    source_controller: RunningController,
    tmp_path: Path,
) -> None:
    s3 = s3_server
    s3.put(s3_bucket, "charts/demo/Chart.yaml", "apiVersion: v2\nname: demo\nversion: 0.3.1\n")
    s3.put(s3_bucket, "charts/demo/templates/cm.yaml", config_map("demo", "{{ .Values.v }}"))
    s3.put(s3_bucket, "charts/demo/values.yaml", "v: one\n")
    s3.put(s3_bucket, "apps/app.yaml", config_map("app", "1"))
    await keys_secret(kube, namespace, s3)
    await kube.create(BUCKETS, bucket_source("store", namespace, s3_bucket, s3.endpoint,
                                             **PLAIN))  # fmt: skip
    await until_ready(kube, BUCKETS, namespace, "store")
    await kube.create(HELM_CHARTS, helm_chart("demo", namespace, "./charts/demo", "Bucket",
                                              "store"))  # fmt: skip
    await kube.create(ARTIFACT_GENERATORS, {
        "apiVersion": ARTIFACT_GENERATORS.api_version, "kind": ARTIFACT_GENERATORS.kind,
        "metadata": {"name": "split", "namespace": namespace},
        "spec": {"sources": [{"alias": "store", "kind": "Bucket", "name": "store"}],
                 "artifacts": [{"name": "apps",
                                "copy": [{"from": "@store/apps/**", "to": "@artifact/"}]}]},
    })  # fmt: skip
    chart = await until_ready(kube, HELM_CHARTS, namespace, "demo")
    assert chart["status"]["artifact"]["revision"] == "0.3.1"
    assert chart["status"]["artifact"]["path"].endswith("demo-0.3.1.tgz")
    apps = await until_ready(kube, EXTERNAL_ARTIFACTS, namespace, "apps", 60)
    files = await download(apps["status"]["artifact"], tmp_path / "apps")
    assert files == {"app.yaml": config_map("app", "1").encode()}
