"""Flux's monorepo layout, run by eddy's controllers as processes, from Git and a registry.

The repository is shaped like flux2-kustomize-helm-example: `infrastructure/` and
`apps/` split into ExternalArtifacts by an ArtifactGenerator, an infrastructure
chart installed from an OCIRepository through chartRef, an app chart from a
HelmRepository, and a staging overlay patching the app's HelmRelease values.
Everything reaches Ready, and the apps wait for the infrastructure (dependsOn).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from eddy_runtime.resources import Obj, Resource, ResourceClient
from eddy_testenv import ControlPlane
from eddy_testenv.gitserver import GitHTTPServer, GitRepos
from eddy_testenv.helmrepo import HelmRepo
from eddy_testenv.registry import Registry

from .support import (
    CONFIG_MAPS,
    GIT_REPOSITORIES,
    HELM_RELEASES,
    HELM_REPOSITORIES,
    KUSTOMIZATIONS,
    SUITE_LABEL,
    controller_processes,
    is_ready,
    manifest,
    ready,
    wait_for,
)

pytestmark = pytest.mark.e2e

SUITE = "official-layout"
SELECTOR = f"{SUITE_LABEL}={SUITE}"
LABELS = {SUITE_LABEL: SUITE}
OCI_REPOSITORIES = Resource("source.toolkit.fluxcd.io", "v1", "ocirepositories", "OCIRepository")
EXTERNAL_ARTIFACTS = Resource(
    "source.toolkit.fluxcd.io", "v1", "externalartifacts", "ExternalArtifact"
)
ARTIFACT_GENERATORS = Resource(
    "source.extensions.fluxcd.io", "v1beta1", "artifactgenerators", "ArtifactGenerator"
)
CHART_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"


def doc(api_version: str, kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": api_version, "kind": kind,
            "metadata": {"name": name, "labels": LABELS}, "spec": spec}  # fmt: skip


def monorepo(registry: Registry, chart_path: str, charts: HelmRepo) -> dict[str, str]:
    """The repository's files: infrastructure, apps/base and apps/staging."""
    ingress = [
        doc("source.toolkit.fluxcd.io/v1", "OCIRepository", "ingress-chart", {
            "interval": "10m", "url": registry.url(f"{chart_path}/ingress"), "insecure": True,
            "ref": {"semver": "1.x"},
            "layerSelector": {"mediaType": CHART_LAYER, "operation": "copy"},
        }),
        doc("helm.toolkit.fluxcd.io/v2", "HelmRelease", "ingress", {
            "interval": "10m", "chartRef": {"kind": "OCIRepository", "name": "ingress-chart"},
            "values": {"greeting": "ingress-ready"},
        }),
    ]  # fmt: skip
    podinfo = [
        doc("source.toolkit.fluxcd.io/v1", "HelmRepository", "podinfo",
            {"interval": "10m", "url": charts.url}),
        doc("helm.toolkit.fluxcd.io/v2", "HelmRelease", "podinfo", {
            "interval": "10m",
            "chart": {"metadata": {"labels": LABELS},
                      "spec": {"chart": "podinfo", "version": "6.x",
                               "sourceRef": {"kind": "HelmRepository", "name": "podinfo"}}},
            "values": {"greeting": "base"},
        }),
    ]  # fmt: skip
    staging_patch = {
        "apiVersion": "helm.toolkit.fluxcd.io/v2",
        "kind": "HelmRelease",
        "metadata": {"name": "podinfo"},
        "spec": {"values": {"greeting": "staging"}},
    }
    return {
        "infrastructure/controllers/kustomization.yaml":
            yaml.safe_dump({"resources": ["ingress.yaml"]}),
        "infrastructure/controllers/ingress.yaml": yaml.safe_dump_all(ingress),
        "apps/base/podinfo/kustomization.yaml": yaml.safe_dump({"resources": ["podinfo.yaml"]}),
        "apps/base/podinfo/podinfo.yaml": yaml.safe_dump_all(podinfo),
        "apps/base/podinfo/README.md": "not for the cluster\n",
        "apps/staging/kustomization.yaml": yaml.safe_dump({
            "resources": ["../base/podinfo"],
            "patches": [{"path": "podinfo-values.yaml"}],
        }),
        "apps/staging/podinfo-values.yaml": yaml.safe_dump(staging_patch),
        "clusters/staging/README.md": "the objects a bootstrap would apply\n",
    }  # fmt: skip


def cluster_objects(namespace: str, url: str) -> list[tuple[Resource, Obj]]:
    """What `clusters/staging` holds in Flux's example: the source, generator, Kustomizations."""
    generator = {
        "commonMetadata": {"labels": LABELS},
        "sources": [{"alias": "repo", "kind": "GitRepository", "name": "monorepo"}],
        "artifacts": [
            {"name": "infrastructure", "originRevision": "@repo",
             "copy": [{"from": "@repo/infrastructure/**", "to": "@artifact/"}]},
            {"name": "apps", "originRevision": "@repo",
             "copy": [{"from": "@repo/apps/**", "to": "@artifact/", "exclude": ["*.md"]}]},
        ],
    }  # fmt: skip

    def ks(name: str, source: str, path: str, **extra: Any) -> Obj:
        spec = {"interval": "10m", "retryInterval": "2s", "path": path, "prune": True,
                "wait": True, "targetNamespace": namespace,
                "sourceRef": {"kind": "ExternalArtifact", "name": source}, **extra}  # fmt: skip
        return manifest(KUSTOMIZATIONS, name, namespace, spec, SUITE)

    return [
        (GIT_REPOSITORIES, manifest(GIT_REPOSITORIES, "monorepo", namespace,
                                    {"interval": "1m", "url": url, "ref": {"branch": "main"}},
                                    SUITE)),
        (ARTIFACT_GENERATORS, manifest(ARTIFACT_GENERATORS, "monorepo", namespace, generator,
                                       SUITE)),
        (KUSTOMIZATIONS, ks("infra-controllers", "infrastructure", "./controllers")),
        (KUSTOMIZATIONS, ks("apps", "apps", "./staging",
                            dependsOn=[{"name": "infra-controllers"}])),
    ]  # fmt: skip


async def test_the_flux_example_layout_runs(
    control_plane: ControlPlane,
    kube: ResourceClient,
    namespace: str,
    git_repos: GitRepos,
    git_server: GitHTTPServer,
    helm_repo: HelmRepo,
    oci_registry_anonymous: Registry,
) -> None:
    registry = oci_registry_anonymous
    chart_path = f"charts/{namespace[:40]}"
    registry.publish("ingress", "1.2.0", repository=chart_path)
    helm_repo.package("podinfo", "6.5.0")
    repo = f"monorepo-{namespace}"
    git_repos.create(repo)
    git_repos.commit(repo, monorepo(registry, chart_path, helm_repo))
    with (
        tempfile.TemporaryDirectory(prefix="eddy-e2e-layout-") as tmp,
        controller_processes(control_plane.kubeconfig, Path(tmp),
                             ["source", "kustomize", "helm"], SELECTOR),
    ):  # fmt: skip
        for resource, obj in cluster_objects(namespace, git_server.repo_url(repo)):
            await kube.create(resource, obj, namespace)

        async def all_ready() -> list[str] | None:
            waiting = []
            for resource, name in (
                (GIT_REPOSITORIES, "monorepo"), (ARTIFACT_GENERATORS, "monorepo"),
                (EXTERNAL_ARTIFACTS, "infrastructure"), (EXTERNAL_ARTIFACTS, "apps"),
                (KUSTOMIZATIONS, "infra-controllers"), (KUSTOMIZATIONS, "apps"),
                (OCI_REPOSITORIES, "ingress-chart"), (HELM_RELEASES, "ingress"),
                (HELM_REPOSITORIES, "podinfo"), (HELM_RELEASES, "podinfo"),
            ):  # fmt: skip
                if not is_ready(await kube.get_or_none(resource, name, namespace)):
                    waiting.append(f"{resource.kind}/{name}")
            # wait_for reports the last answer: the objects still waiting.
            return ["all Ready"] if not waiting else None

        await wait_for("every object of the layout is Ready", all_ready, timeout=240)

        # The infrastructure chart came from the registry, the app chart from the
        # Helm repository, with the staging overlay's values.
        ingress = await kube.get(CONFIG_MAPS, "ingress-ingress", namespace)
        assert ingress["data"] == {"greeting": "ingress-ready"}
        podinfo = await kube.get(CONFIG_MAPS, "podinfo-podinfo", namespace)
        assert podinfo["data"] == {"greeting": "staging"}
        release = await kube.get(HELM_RELEASES, "ingress", namespace)
        assert release["status"]["lastAttemptedRevision"] == "1.2.0"

        # dependsOn: the apps were applied only once the infrastructure was Ready.
        infra = await kube.get(KUSTOMIZATIONS, "infra-controllers", namespace)
        infra_ready = ready(infra)["lastTransitionTime"]
        app_repo = await kube.get(HELM_REPOSITORIES, "podinfo", namespace)
        assert app_repo["metadata"]["creationTimestamp"] >= infra_ready
        apps = await kube.get(EXTERNAL_ARTIFACTS, "apps", namespace)
        meta = apps["status"]["artifact"]["metadata"]
        assert meta["org.opencontainers.image.revision"].startswith("main@sha1:")
