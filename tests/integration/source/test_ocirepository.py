"""OCIRepositories against a real registry: Flux artifacts, Helm charts, auth, TLS, cosign.

Artifacts are pushed in Flux's format (and charts with `helm push`); the test reads
back what a user sees: status, Events and the artifact served over HTTP.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

from eddy_runtime.resources import SECRETS, Resource, ResourceClient
from eddy_testenv.controlplane import free_port
from eddy_testenv.httpproxy import HTTPProxy
from eddy_testenv.observe import condition, events_for
from eddy_testenv.ociartifacts import (
    cosign_key,
    public_pem,
    push_files,
    push_layer,
    push_manifest,
    sign,
    tar_gz,
    upload_blob,
)
from eddy_testenv.registry import Registry
from source_controller.kinds import OCI_REPOSITORIES

from .conftest import RunningController
from .support import (
    assert_verification_error,
    create_secret,
    download,
    eventually,
    failed,
    handled,
    request_reconcile,
    until_ready,
    verification_refused,
)

pytestmark = pytest.mark.integration

OCI = OCI_REPOSITORIES
CHART_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
FLUX_LAYER = "application/vnd.cncf.flux.content.v1.tar+gzip"
FILES = {"deploy/app.yaml": "kind: ConfigMap\n", "README.md": "# app\n", "notes.txt": "x\n"}


def oci_source(name: str, namespace: str, url: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": OCI.api_version, "kind": OCI.kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"url": url, "interval": "1h", "timeout": "20s", **spec},
    }  # fmt: skip


async def docker_secret(
    kube: ResourceClient, namespace: str, name: str, registry: Registry, password: str = ""
) -> None:
    auth = f"{registry.username}:{password or registry.password}".encode()
    config = {"auths": {registry.host: {"auth": base64.b64encode(auth).decode()}}}
    await kube.create(SECRETS, {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
        "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": base64.b64encode(json.dumps(config).encode()).decode()},
    }, namespace)  # fmt: skip


async def test_flux_artifact_by_tag_with_basic_auth(
    kube: ResourceClient,
    namespace: str,
    oci_registry: Registry,
    oci_repository: str,
    source_controller: RunningController,
    tmp_path: Path,
) -> None:
    digest = await push_files(oci_registry, oci_repository, "latest", FILES)
    await docker_secret(kube, namespace, "docker", oci_registry)
    url = oci_registry.url(oci_repository)
    await kube.create(OCI, oci_source("app", namespace, url, insecure=True,
                                          secretRef={"name": "docker"},
                                          ignore="notes.txt"))  # fmt: skip
    obj = await until_ready(kube, OCI, namespace, "app")
    status = obj["status"]
    artifact = status["artifact"]
    assert artifact["revision"] == f"latest@{digest}"
    assert status["url"] == artifact["url"]
    assert artifact["path"] == f"ocirepository/{namespace}/app/{digest}.tar.gz"
    meta = artifact["metadata"]
    assert meta["org.opencontainers.image.source"] == "https://github.com/example/app.git"
    assert meta["org.opencontainers.image.revision"].startswith("main@sha1:")
    assert status["observedIgnore"] == "notes.txt"
    assert condition(obj, "Ready")["message"] == f"stored artifact for revision 'latest@{digest}'"
    assert condition(obj, "ArtifactInStorage")["status"] == "True"
    files = await download(artifact, tmp_path / "a")
    assert files == {"README.md": b"# app\n", "deploy/app.yaml": b"kind: ConfigMap\n"}

    async def new_artifact() -> list[dict[str, Any]]:
        return [e for e in await events_for(kube, namespace, "app") if e["reason"] == "NewArtifact"]

    [event] = await eventually(new_artifact)
    assert event["message"].startswith(f"stored artifact with revision 'latest@{digest}' from ")
    assert "origin source 'https://github.com/example/app.git'" in event["message"]

    # The digest did not move: nothing is pulled. The layer is gone from the registry,
    # so a pull would fail; the reconcile stays Ready on the same artifact.
    layer = await _layer_digest(oci_registry, oci_repository, digest)
    status_code, _, _ = oci_registry.request(f"/v2/{oci_repository}/blobs/{layer}", method="DELETE")
    assert status_code == 202
    stamp = await request_reconcile(kube, OCI, namespace, "app")
    again = await handled(kube, OCI, namespace, "app", stamp)
    assert condition(again, "Ready")["status"] == "True"
    assert again["status"]["artifact"] == artifact

    # A new push to the tag is a new revision.
    newer = await push_files(oci_registry, oci_repository, "latest", {"v2.yaml": "kind: v2\n"})
    await request_reconcile(kube, OCI, namespace, "app")

    async def moved() -> dict[str, Any] | None:
        current = (await kube.get(OCI, "app", namespace))["status"].get("artifact") or {}
        return current if current.get("revision") == f"latest@{newer}" else None

    assert await download(await eventually(moved), tmp_path / "b") == {"v2.yaml": b"kind: v2\n"}


async def _layer_digest(registry: Registry, repository: str, digest: str) -> str:
    accept = {"Accept": "application/vnd.oci.image.manifest.v1+json"}
    _, _, body = registry.request(f"/v2/{repository}/manifests/{digest}", headers=accept)
    return str(json.loads(body)["layers"][0]["digest"])


async def test_semver_filter_digest_and_service_account(
    kube: ResourceClient,
    namespace: str,
    oci_registry: Registry,
    oci_repository: str,
    source_controller: RunningController,
) -> None:
    pushed = {}
    for tag in ("1.0.0", "1.1.0", "1.2.0-rc.1", "2.0.0", "not-a-version"):
        pushed[tag] = await push_files(oci_registry, oci_repository, tag, {"v": tag})
    await docker_secret(kube, namespace, "pull", oci_registry)
    account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "puller"},
               "imagePullSecrets": [{"name": "pull"}]}  # fmt: skip
    await kube.create(Resource("", "v1", "serviceaccounts", "ServiceAccount"), account, namespace)
    url = oci_registry.url(oci_repository)
    auth = {"insecure": True, "serviceAccountName": "puller"}
    await kube.create(OCI, oci_source("range", namespace, url, ref={"semver": "1.x"}, **auth))
    await kube.create(OCI, oci_source("rc", namespace, url, **auth,
                                          ref={"semver": ">=1.0.0-0",
                                               "semverFilter": ".*-rc.*"}))  # fmt: skip
    await kube.create(OCI, oci_source("pinned", namespace, url, **auth,
                                          ref={"digest": pushed["1.0.0"],
                                               "tag": "2.0.0"}))  # fmt: skip
    await kube.create(OCI, oci_source("nomatch", namespace, url, ref={"semver": ">=3"}, **auth))
    obj = await until_ready(kube, OCI, namespace, "range")
    assert obj["status"]["artifact"]["revision"] == f"1.1.0@{pushed['1.1.0']}"
    obj = await until_ready(kube, OCI, namespace, "rc")
    assert obj["status"]["artifact"]["revision"] == f"1.2.0-rc.1@{pushed['1.2.0-rc.1']}"
    obj = await until_ready(kube, OCI, namespace, "pinned")
    assert obj["status"]["artifact"]["revision"] == pushed["1.0.0"]
    # Through a proxy that is not there: the registry is not reached directly.
    await create_secret(kube, namespace, "proxy", {"address": f"http://127.0.0.1:{free_port()}"})
    await kube.create(OCI, oci_source("proxied", namespace, url, proxySecretRef={"name": "proxy"},
                                      ref={"tag": "1.0.0"}, **auth))  # fmt: skip
    obj = await failed(kube, OCI, namespace, "proxied")
    assert "cannot reach the proxy in spec.proxySecretRef" in condition(obj, "Ready")["message"]
    obj = await failed(kube, OCI, namespace, "nomatch")
    assert condition(obj, "Ready")["reason"] == "ReadOperationFailed"
    assert "no tag matches semver '>=3'" in condition(obj, "Ready")["message"]


async def test_helm_chart_pushed_by_helm_over_tls(
    kube: ResourceClient,
    namespace: str,
    oci_registry_tls: Registry,
    oci_repository: str,
    source_controller: RunningController,
    tmp_path: Path,
) -> None:
    registry = oci_registry_tls
    assert registry.ca_file is not None
    archive = registry.publish("demo", "1.2.0+build.7", repository=oci_repository)
    registry.publish("demo", "1.0.0", repository=oci_repository)
    await docker_secret(kube, namespace, "docker", registry)
    await create_secret(kube, namespace, "ca", {"ca.crt": registry.ca_file.read_bytes()})
    url = registry.url(f"{oci_repository}/demo")
    access = {"secretRef": {"name": "docker"}, "certSecretRef": {"name": "ca"}}
    chart = {"mediaType": CHART_LAYER, "operation": "copy"}
    await kube.create(OCI, oci_source("copied", namespace, url, layerSelector=chart,
                                          ref={"semver": "1.x"}, **access))  # fmt: skip
    await kube.create(OCI, oci_source("extracted", namespace, url, ref={"tag": "1.0.0"},
                                          **access))  # fmt: skip
    await kube.create(OCI, oci_source("untrusted", namespace, url, ref={"tag": "1.0.0"},
                                          secretRef={"name": "docker"}))  # fmt: skip
    await docker_secret(kube, namespace, "wrong", registry, password="nope")
    await kube.create(OCI, oci_source("wrong", namespace, url, ref={"tag": "1.0.0"},
                                          secretRef={"name": "wrong"},
                                          certSecretRef={"name": "ca"}))  # fmt: skip

    obj = await until_ready(kube, OCI, namespace, "copied")
    artifact = obj["status"]["artifact"]
    # Helm pushes '+' as '_'; with the chart media type the tag reads as the version.
    assert artifact["revision"].startswith("1.2.0_build.7@sha256:")
    assert artifact["path"].endswith(".tgz")
    stored = source_controller.storage.absolute(artifact["path"])
    assert stored.read_bytes() == archive.read_bytes()
    assert artifact["digest"] == "sha256:" + hashlib.sha256(archive.read_bytes()).hexdigest()
    assert obj["status"]["observedLayerSelector"] == chart

    obj = await until_ready(kube, OCI, namespace, "extracted")
    files = await download(obj["status"]["artifact"], tmp_path / "chart")
    assert b"version: 1.0.0" in files["demo/Chart.yaml"]

    obj = await failed(kube, OCI, namespace, "untrusted")
    assert "ca.crt to spec.certSecretRef" in condition(obj, "Ready")["message"]
    obj = await failed(kube, OCI, namespace, "wrong")
    assert condition(obj, "Ready")["reason"] == "AuthenticationFailed"
    assert "refused the credentials" in condition(obj, "Ready")["message"]
    assert registry.password not in json.dumps(obj["status"])


async def test_cosign_signatures_with_public_keys(
    kube: ResourceClient,
    namespace: str,
    oci_registry_anonymous: Registry,
    oci_repository: str,
    source_controller: RunningController,
) -> None:
    registry = oci_registry_anonymous
    trusted, other = cosign_key(), cosign_key()
    signed = await push_files(registry, oci_repository, "signed", {"a.yaml": "a: 1\n"})
    await sign(registry, oci_repository, signed, trusted)
    forged = await push_files(registry, oci_repository, "forged", {"b.yaml": "b: 1\n"})
    await sign(registry, oci_repository, forged, other)
    await push_files(registry, oci_repository, "unsigned", {"c.yaml": "c: 1\n"})
    retired = cosign_key()
    keys = {"old.pub": public_pem(retired), "key.pub": public_pem(trusted), "README": "not a key"}
    await create_secret(kube, namespace, "cosign-keys", keys)
    url = registry.url(oci_repository)
    verify = {"provider": "cosign", "secretRef": {"name": "cosign-keys"}}
    for name in ("signed", "forged", "unsigned"):
        await kube.create(OCI, oci_source(name, namespace, url, insecure=True,
                                              ref={"tag": name}, verify=verify))  # fmt: skip
    await kube.create(OCI, oci_source("keyless", namespace, url, insecure=True,
                                          ref={"tag": "signed"},
                                          verify={"provider": "cosign"}))  # fmt: skip

    obj = await until_ready(kube, OCI, namespace, "signed")
    verified = condition(obj, "SourceVerified")
    assert verified["status"] == "True" and verified["reason"] == "Succeeded"
    assert verified["message"] == f"verified signature of revision signed@{signed}"
    for name, words in (("forged", "none of the 1 signatures"),
                        ("unsigned", "no cosign signature found")):  # fmt: skip
        obj = await failed(kube, OCI, namespace, name)
        assert "artifact" not in obj["status"], name
        assert_verification_error(obj, name, words)
        assert not source_controller.storage.absolute(f"ocirepository/{namespace}/{name}").exists()
    obj = await failed(kube, OCI, namespace, "keyless")
    assert condition(obj, "Stalled")["status"] == "True"
    assert "spec.verify.secretRef" in condition(obj, "Ready")["message"]

    # A new digest under a verified tag is verified again; unsigned, it is refused and the
    # last verified artifact stays.
    before = (await kube.get(OCI, "signed", namespace))["status"]["artifact"]
    await push_files(registry, oci_repository, "signed", {"evil.yaml": "x: 1\n"})
    await request_reconcile(kube, OCI, namespace, "signed")
    obj = await verification_refused(kube, OCI, namespace, "signed")
    assert obj["status"]["artifact"] == before
    assert condition(obj, "Ready")["status"] == "False"


def _bomb() -> bytes:
    """A small gzip that unpacks to more than the 100 MiB an artifact may hold."""
    info = tarfile.TarInfo("zeros")
    info.size = 101 << 20
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9) as gz:
        gz.write(info.tobuf(format=tarfile.PAX_FORMAT))
        chunk = bytes(1 << 20)
        for _ in range(101):
            gz.write(chunk)
        gz.write(bytes(1024))  # the end-of-archive blocks
    return out.getvalue()


async def test_bad_artifacts_keep_the_last_good_one(
    kube: ResourceClient,
    namespace: str,
    oci_registry_anonymous: Registry,
    oci_repository: str,
    source_controller: RunningController,
) -> None:
    registry = oci_registry_anonymous
    repo = oci_repository
    good = await push_files(registry, repo, "good", {"ok.yaml": "ok: 1\n"})
    for tag in ("image", "layer", "bomb", "mismatch", "escape"):
        await push_files(registry, repo, tag, {"ok.yaml": "ok: 1\n"})
    url = registry.url(repo)
    cases = {
        "image": ({}, "is not an OCI artifact"),
        "layer": ({"layerSelector": {"mediaType": FLUX_LAYER}},
                  f"no layer of media type '{FLUX_LAYER}' (found application/x-nope)"),
        "bomb": ({}, "failed to extract layer contents"),
        "mismatch": ({}, "tampered with"),
        "escape": ({}, "failed to extract layer contents"),
    }  # fmt: skip
    for tag, (spec, _) in cases.items():
        await kube.create(OCI, oci_source(tag, namespace, url, insecure=True,
                                              ref={"tag": tag}, **spec))  # fmt: skip
    artifacts = {tag: (await until_ready(kube, OCI, namespace, tag))["status"]["artifact"]
                 for tag in cases}  # fmt: skip

    # Now each tag moves to something broken.
    config = await upload_blob(registry, repo, b"{}")
    await push_manifest(registry, repo, "image", {
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config, "size": 2},
        "layers": [],
    })  # fmt: skip
    content = tar_gz({"other.yaml": "x: 2\n"})
    await push_manifest(registry, repo, "layer", {
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.cncf.flux.config.v1+json",
                   "digest": config, "size": 2},
        "layers": [{"mediaType": "application/x-nope", "size": len(content),
                    "digest": await upload_blob(registry, repo, content)}],
    })  # fmt: skip
    await push_layer(registry, repo, "bomb", _bomb())
    escape = io.BytesIO()
    with gzip.GzipFile(fileobj=escape, mode="wb") as gz, tarfile.open(fileobj=gz, mode="w") as tar:
        info = tarfile.TarInfo("../outside.yaml")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"x: 1"))
    await push_layer(registry, repo, "escape", escape.getvalue())
    mismatch = await push_files(registry, repo, "mismatch", {"m.yaml": "m: 1\n"})
    layer = await _layer_digest(registry, repo, mismatch)
    hexa = layer.split(":")[1]
    blob = registry.workdir / "data/docker/registry/v2/blobs/sha256" / hexa[:2] / hexa / "data"
    blob.write_bytes(blob.read_bytes().replace(b"\x00", b"\x01", 1) + b"tampered")

    for tag in cases:
        await request_reconcile(kube, OCI, namespace, tag)
    for tag, (_, words) in cases.items():
        obj = await failed(kube, OCI, namespace, tag)
        ready_cond = condition(obj, "Ready")
        assert words in ready_cond["message"], (tag, ready_cond)
        assert condition(obj, "FetchFailed")["status"] == "True", tag
        assert obj["status"]["artifact"] == artifacts[tag], tag
        assert source_controller.storage.exists(artifacts[tag])
    # The untouched tag is still pulled alongside the broken ones.
    await kube.create(OCI, oci_source("good", namespace, url, insecure=True,
                                          ref={"tag": "good"}))  # fmt: skip
    obj = await until_ready(kube, OCI, namespace, "good")
    assert obj["status"]["artifact"]["revision"] == f"good@{good}"


async def test_invalid_specs_stall(
    kube: ResourceClient,
    namespace: str,
    oci_registry_anonymous: Registry,
    source_controller: RunningController,
) -> None:
    host = oci_registry_anonymous.host
    cases = {
        "tagged": (f"oci://{host}/app:v1", {}, "URLInvalid", "must not contain a tag"),
        "upper": (f"oci://{host}/App", {}, "URLInvalid", "not a repository name"),
        "digest": (f"oci://{host}/app", {"ref": {"digest": "sha256:abc"}},
                   "InvalidConfiguration", "spec.ref.digest"),
        "provider": (f"oci://{host}/app", {"provider": "aws"}, "InvalidConfiguration",
                     "spec.provider 'aws' is not supported"),
        "notation": (f"oci://{host}/app", {"verify": {"provider": "notation",
                                                      "secretRef": {"name": "x"}}},
                     "VerificationError", "'notation' is not supported"),
    }  # fmt: skip
    for name, (url, spec, _, _) in cases.items():
        await kube.create(OCI, oci_source(name, namespace, url, insecure=True, **spec))
    for name, (_, _, reason, words) in cases.items():
        obj = await failed(kube, OCI, namespace, name)
        assert condition(obj, "Ready")["reason"] == reason, name
        assert words in condition(obj, "Ready")["message"], name
        assert condition(obj, "Stalled")["status"] == "True", name


async def test_proxy_secret_ref_carries_the_registry_traffic(
    kube: ResourceClient,
    namespace: str,
    oci_registry: Registry,
    oci_registry_tls: Registry,
    oci_repository: str,
    http_proxy: HTTPProxy,
    source_controller: RunningController,
) -> None:
    plain = await push_files(oci_registry, oci_repository, "latest", FILES)
    tls = await push_files(oci_registry_tls, oci_repository, "latest", FILES)
    assert oci_registry_tls.ca_file is not None
    await docker_secret(kube, namespace, "docker", oci_registry)
    await docker_secret(kube, namespace, "docker-tls", oci_registry_tls)
    await create_secret(kube, namespace, "ca", {"ca.crt": oci_registry_tls.ca_file.read_bytes()})
    assert http_proxy.username is not None and http_proxy.password is not None
    await create_secret(kube, namespace, "proxy", {"address": http_proxy.address,
                                                   "username": http_proxy.username,
                                                   "password": http_proxy.password})  # fmt: skip
    await create_secret(kube, namespace, "bad-proxy", {"address": http_proxy.address,
                                                       "username": http_proxy.username,
                                                       "password": "not-it"})  # fmt: skip
    proxied = {"proxySecretRef": {"name": "proxy"}}
    await kube.create(OCI, oci_source("plain", namespace, oci_registry.url(oci_repository),
                                      insecure=True, secretRef={"name": "docker"},
                                      **proxied))  # fmt: skip
    await kube.create(OCI, oci_source("tls", namespace, oci_registry_tls.url(oci_repository),
                                      secretRef={"name": "docker-tls"},
                                      certSecretRef={"name": "ca"}, **proxied))  # fmt: skip
    await kube.create(OCI, oci_source("refused", namespace, oci_registry.url(oci_repository),
                                      insecure=True, secretRef={"name": "docker"},
                                      proxySecretRef={"name": "bad-proxy"}))  # fmt: skip
    await kube.create(OCI, oci_source("refused-tls", namespace,
                                      oci_registry_tls.url(oci_repository),
                                      secretRef={"name": "docker-tls"},
                                      certSecretRef={"name": "ca"},
                                      proxySecretRef={"name": "bad-proxy"}))  # fmt: skip
    obj = await until_ready(kube, OCI, namespace, "plain")
    assert obj["status"]["artifact"]["revision"] == f"latest@{plain}"
    obj = await until_ready(kube, OCI, namespace, "tls")
    assert obj["status"]["artifact"]["revision"] == f"latest@{tls}"

    # The proxy's own log: plain HTTP forwarded request by request, TLS tunnelled.
    seen = http_proxy.requests()
    base = f"http://{oci_registry.host}/v2/{oci_repository}"
    assert f"HEAD {base}/manifests/latest" in seen
    assert f"GET {base}/manifests/{plain}" in seen
    assert any(r.startswith(f"GET {base}/blobs/sha256:") for r in seen)
    assert f"CONNECT {oci_registry_tls.host}" in seen

    # Wrong proxy credentials: the proxy turns the requests away (how tinyproxy
    # words that varies), nothing is stored and the password is nowhere in status.
    obj = await failed(kube, OCI, namespace, "refused")
    assert condition(obj, "FetchFailed")["status"] == "True"
    assert "artifact" not in obj["status"] and "not-it" not in str(obj["status"])
    # A refused tunnel is the proxy's doing, and the message sends the user to its Secret.
    obj = await failed(kube, OCI, namespace, "refused-tls")
    message = condition(obj, "Ready")["message"]
    assert "proxy in spec.proxySecretRef refused" in message, message
    assert "registry" not in message.split(";")[0] and "not-it" not in str(obj["status"])
