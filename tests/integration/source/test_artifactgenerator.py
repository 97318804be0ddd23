"""ArtifactGenerators: a monorepo artifact split into ExternalArtifacts by copy rules.

The source is an OCIRepository pulled from a real registry; the generator runs in
the same source-controller and publishes ExternalArtifacts that consumers download.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from eddy_runtime.resources import ResourceClient
from eddy_testenv.observe import condition, events_for
from eddy_testenv.ociartifacts import push_files
from eddy_testenv.registry import Registry
from source_controller.kinds import ARTIFACT_GENERATORS, EXTERNAL_ARTIFACTS, OCI_REPOSITORIES

from .conftest import RunningController
from .support import download, eventually, failed, until_ready

pytestmark = pytest.mark.integration

AG, EA = ARTIFACT_GENERATORS, EXTERNAL_ARTIFACTS
MONOREPO = {
    "infrastructure/controllers/ingress.yaml": "kind: HelmRelease\n",
    "infrastructure/configs/issuer.yaml": "kind: ClusterIssuer\n",
    "apps/base/podinfo/release.yaml": "kind: HelmRelease\n",
    "apps/base/podinfo/README.md": "docs\n",
    "apps/staging/kustomization.yaml": "resources: [../base/podinfo]\n",
}
COMMIT = "main@sha1:" + "1" * 40


def generator(name: str, namespace: str, artifacts: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": AG.api_version, "kind": AG.kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"sources": [{"alias": "repo", "kind": "OCIRepository", "name": "monorepo"}],
                 "artifacts": artifacts},
    }  # fmt: skip


SPLIT = [
    {"name": "infrastructure", "originRevision": "@repo",
     "copy": [{"from": "@repo/infrastructure/**", "to": "@artifact/"}]},
    {"name": "apps", "originRevision": "@repo",
     "copy": [{"from": "@repo/apps/", "to": "@artifact/", "exclude": ["*.md"]}]},
]  # fmt: skip


async def monorepo(kube: ResourceClient, namespace: str, registry: Registry, path: str) -> None:
    await kube.create(OCI_REPOSITORIES, {
        "apiVersion": OCI_REPOSITORIES.api_version, "kind": OCI_REPOSITORIES.kind,
        "metadata": {"name": "monorepo", "namespace": namespace},
        "spec": {"url": registry.url(path), "interval": "1h", "insecure": True},
    })  # fmt: skip


async def test_a_monorepo_split_flows_by_watch(
    kube: ResourceClient,
    namespace: str,
    oci_registry_anonymous: Registry,
    oci_repository: str,
    source_controller: RunningController,
    tmp_path: Path,
) -> None:
    registry = oci_registry_anonymous
    await push_files(registry, oci_repository, "latest", MONOREPO, revision=COMMIT)
    await monorepo(kube, namespace, registry, oci_repository)
    await kube.create(AG, generator("split", namespace, SPLIT))

    async def ready_artifact(name: str, not_digest: str = "") -> dict[str, Any] | None:
        obj = await kube.get_or_none(EA, name, namespace)
        artifact = ((obj or {}).get("status") or {}).get("artifact") or {}
        ok = condition(obj or {}, "Ready").get("status") == "True"
        return artifact if ok and artifact.get("digest") not in ("", None, not_digest) else None

    infra = await eventually(lambda: ready_artifact("infrastructure"))
    apps = await eventually(lambda: ready_artifact("apps"))
    assert infra["revision"] == f"latest@{infra['digest']}"
    assert infra["metadata"] == {"org.opencontainers.image.revision": COMMIT}
    assert await download(infra, tmp_path / "infra") == {
        "configs/issuer.yaml": b"kind: ClusterIssuer\n",
        "controllers/ingress.yaml": b"kind: HelmRelease\n",
    }
    assert await download(apps, tmp_path / "apps") == {
        "apps/base/podinfo/release.yaml": b"kind: HelmRelease\n",
        "apps/staging/kustomization.yaml": b"resources: [../base/podinfo]\n",
    }
    obj = await kube.get(EA, "apps", namespace)
    assert obj["spec"]["sourceRef"] == {"apiVersion": AG.api_version, "kind": AG.kind,
                                        "name": "split", "namespace": namespace}  # fmt: skip
    assert obj["metadata"]["labels"]["source.extensions.fluxcd.io/generator"] == "split"
    gen = await until_ready(kube, AG, namespace, "split")
    assert [i["name"] for i in gen["status"]["inventory"]] == ["infrastructure", "apps"]

    # A new monorepo revision touching only apps: apps moves by watch, infrastructure keeps
    # its artifact (same content, same digest, no new Event).
    changed = {**MONOREPO, "apps/staging/kustomization.yaml": "resources: [../base]\n"}
    await push_files(registry, oci_repository, "latest", changed, revision=COMMIT)
    await kube.patch(OCI_REPOSITORIES, "monorepo",
                     {"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": "1"}}},
                     namespace)  # fmt: skip
    newer = await eventually(lambda: ready_artifact("apps", not_digest=apps["digest"]))
    files = await download(newer, tmp_path / "apps2")
    assert files["apps/staging/kustomization.yaml"] == b"resources: [../base]\n"
    assert (await kube.get(EA, "infrastructure", namespace))["status"]["artifact"] == infra
    events = [e for e in await events_for(kube, namespace, "infrastructure")
              if e["reason"] == "NewArtifact"]  # fmt: skip
    assert len(events) == 1

    # An artifact dropped from the spec is deleted with its files.
    await kube.patch(AG, "split", {"spec": {"artifacts": SPLIT[:1]}}, namespace)

    async def gone() -> bool:
        return await kube.get_or_none(EA, "apps", namespace) is None

    await eventually(gone)
    assert not source_controller.storage.absolute(f"externalartifact/{namespace}/apps").exists()


async def test_bad_generators_say_why(
    kube: ResourceClient,
    namespace: str,
    oci_registry_anonymous: Registry,
    oci_repository: str,
    source_controller: RunningController,
) -> None:
    await push_files(oci_registry_anonymous, oci_repository, "latest", MONOREPO)
    await monorepo(kube, namespace, oci_registry_anonymous, oci_repository)
    await until_ready(kube, OCI_REPOSITORIES, namespace, "monorepo")
    cases = {
        "alias": ([{"name": "a", "copy": [{"from": "@nope/x", "to": "@artifact/"}]}],
                  "ValidationFailed", "unknown source alias '@nope'", True),
        "twice": ([{"name": "a", "copy": [{"from": "@repo/apps/", "to": "@artifact/"}]},
                   {"name": "a", "copy": [{"from": "@repo/apps/", "to": "@artifact/"}]}],
                  "ValidationFailed", "declared twice", True),
        "overlap": ([{"name": "a", "copy": [
                        {"from": "@repo/infrastructure/configs/issuer.yaml",
                         "to": "@artifact/out"},
                        {"from": "@repo/apps/**", "to": "@artifact/out/"}]}],
                    "BuildFailed", "two copy rules overlap", False),
        "missing": ([{"name": "a", "copy": [{"from": "@repo/nothere.yaml", "to": "@artifact/"}]}],
                    "BuildFailed", "'@repo/nothere.yaml' does not exist", False),
    }  # fmt: skip
    for name, (artifacts, _, _, _) in cases.items():
        await kube.create(AG, generator(name, namespace, artifacts))
    for name, (_, reason, words, stalled) in cases.items():
        obj = await failed(kube, AG, namespace, name)
        ready = condition(obj, "Ready")
        assert ready["reason"] == reason and words in ready["message"], (name, ready)
        assert (condition(obj, "Stalled").get("status") == "True") == stalled, name
    assert not (await kube.list(EA, namespace)).get("items")
