"""HelmRepository and HelmChart against a real chart repository and real Git."""

from __future__ import annotations

import hashlib
import io
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from eddy_runtime.resources import ResourceClient
from eddy_testenv.gitserver import GitHTTPServer, GitRepos
from eddy_testenv.helmrepo import HelmRepo
from eddy_testenv.observe import condition, events_for
from source_controller.kinds import GIT_REPOSITORIES, HELM_CHARTS, HELM_REPOSITORIES

from .conftest import RunningController, running_controller
from .support import (
    PASSWORD,
    USERNAME,
    create_secret,
    eventually,
    failed,
    git_repository,
    handled,
    helm_chart,
    helm_repository,
    ready,
    request_reconcile,
    until_ready,
    warning_reasons,
)

pytestmark = pytest.mark.integration

HR, HC = HELM_REPOSITORIES, HELM_CHARTS


def chart_files(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as tar:
        return {
            m.name: tar.extractfile(m).read()  # type: ignore[union-attr]
            for m in tar.getmembers()
            if m.isfile()
        }


async def test_repository_with_auth_and_tls_and_chart_by_semver(
    kube: ResourceClient,
    namespace: str,
    helm_repo_factory: Callable[..., HelmRepo],
    source_controller: RunningController,
) -> None:
    repo = helm_repo_factory(username=USERNAME, password=PASSWORD, tls=True)
    for version in ("1.0.0", "1.1.0", "2.0.0"):
        repo.package("demo", version)
    assert repo.ca_file is not None
    await create_secret(kube, namespace, "creds", {"username": USERNAME, "password": PASSWORD})
    await create_secret(kube, namespace, "ca", {"ca.crt": repo.ca_file.read_bytes()})
    await kube.create(HR, helm_repository("charts", namespace, repo.url,
                                          secretRef={"name": "creds"},
                                          certSecretRef={"name": "ca"}))  # fmt: skip
    obj = await ready(kube, HR, namespace, "charts")
    artifact = obj["status"]["artifact"]
    index = (repo.root / "index.yaml").read_bytes()
    assert artifact["revision"] == "sha256:" + hashlib.sha256(index).hexdigest()
    assert source_controller.storage.absolute(artifact["path"]).read_bytes() == index
    assert obj["status"]["url"] == artifact["url"]

    await kube.create(HC, helm_chart("demo", namespace, "demo", "HelmRepository", "charts",
                                     version="1.x"))  # fmt: skip
    chart = await until_ready(kube, HC, namespace, "demo")
    status = chart["status"]
    assert status["artifact"]["revision"] == "1.1.0"
    assert status["observedChartName"] == "demo"
    assert status["observedSourceArtifactRevision"] == artifact["revision"]
    stored = source_controller.storage.absolute(status["artifact"]["path"])
    assert stored.read_bytes() == (repo.root / "demo-1.1.0.tgz").read_bytes()

    async def announced() -> bool:
        found = await events_for(kube, namespace, "demo")
        return any(e["reason"] == "ChartPullSucceeded" for e in found)

    await eventually(announced)

    # A new version in the index reaches the chart through the repository's artifact.
    repo.package("demo", "1.2.0")
    stamp = await request_reconcile(kube, HR, namespace, "charts")
    await handled(kube, HR, namespace, "charts", stamp)

    async def upgraded() -> bool:
        current = await kube.get(HC, "demo", namespace)
        return (current.get("status") or {}).get("artifact", {}).get("revision") == "1.2.0"

    await eventually(upgraded)


async def test_charts_of_one_repository_share_its_cached_index(
    control_plane: Any,
    kube: ResourceClient,
    namespace: str,
    helm_repo_factory: Callable[..., HelmRepo],
    tmp_path: Path,
) -> None:
    repo = helm_repo_factory()
    repo.package("demo", "1.0.0")
    async with running_controller(
        control_plane, namespace, tmp_path / "storage", helm_cache_max_size=10
    ) as running:
        await kube.create(HR, helm_repository("charts", namespace, repo.url))
        await ready(kube, HR, namespace, "charts")
        for name in ("one", "two"):
            await kube.create(HC, helm_chart(name, namespace, "demo", "HelmRepository", "charts"))
            await until_ready(kube, HC, namespace, name)
        events = running.manager.metrics.registry.expose().splitlines()

        def counted(event: str) -> float:
            series = f'gotk_cache_events_total{{event_type="{event}",name="charts",'
            found = [line for line in events if line.startswith(series)]
            return float(found[0].rpartition(" ")[2]) if found else 0.0

        # The first chart read and parsed the index; later passes found it in the cache.
        assert counted("cache_miss") == 1
        assert counted("cache_hit") >= 1

        await kube.delete(HR, "charts", namespace)

        async def forgotten() -> bool:
            return "gotk_cache_events_total{" not in running.manager.metrics.registry.expose()

        await eventually(forgotten)


async def test_repository_and_chart_failures(
    kube: ResourceClient,
    namespace: str,
    helm_repo_factory: Callable[..., HelmRepo],
    source_controller: RunningController,
) -> None:
    good = helm_repo_factory()
    good.package("demo", "1.0.0")
    tampered = helm_repo_factory()
    tampered.package("demo", "1.0.0")
    (tampered.root / "demo-1.0.0.tgz").write_bytes(b"not the indexed chart")
    broken = helm_repo_factory()
    broken.write_malformed_index("yaml")
    private = helm_repo_factory(username=USERNAME, password=PASSWORD)
    private.package("demo", "1.0.0")
    await create_secret(kube, namespace, "wrong", {"username": USERNAME, "password": "nope"})
    await kube.create(HR, helm_repository("good", namespace, good.url))
    await kube.create(HR, helm_repository("tampered", namespace, tampered.url))
    await kube.create(HR, helm_repository("broken", namespace, broken.url))
    await kube.create(HR, helm_repository("wrong", namespace, private.url,
                                          secretRef={"name": "wrong"}))  # fmt: skip
    await kube.create(HR, helm_repository("nosecret", namespace, private.url,
                                          secretRef={"name": "absent"}))  # fmt: skip
    obj = await failed(kube, HR, namespace, "broken")
    assert condition(obj, "Ready")["reason"] == "IndexationFailed"
    assert "not valid YAML" in condition(obj, "Ready")["message"]
    obj = await failed(kube, HR, namespace, "wrong")
    assert condition(obj, "Ready")["reason"] == "IndexationFailed"
    assert "HTTP 401" in condition(obj, "Ready")["message"]
    obj = await failed(kube, HR, namespace, "nosecret")
    assert condition(obj, "Ready")["reason"] == "AuthenticationFailed"
    await ready(kube, HR, namespace, "good")
    await ready(kube, HR, namespace, "tampered")

    charts = {
        "missing": ("good", {"chart": "nothere"}, "ChartPullFailed", "no chart named 'nothere'"),
        "norange": ("good", {"version": ">=5"}, "ChartPullFailed", "matches '>=5'"),
        "tampered": ("tampered", {}, "ChartPullFailed", "has digest"),
        "nosource": ("absent", {}, "SourceUnavailable", "does not exist"),
        "verify": ("good", {"verify": {"provider": "cosign", "secretRef": {"name": "keys"}}},
                   "VerificationError", "spec.verify: chart 'demo' comes from a HelmRepository "
                   "that is not of type oci"),
    }  # fmt: skip
    for name, (source, spec, _, _) in charts.items():
        body = helm_chart(name, namespace, "demo", "HelmRepository", source)
        body["spec"].update(spec)  # type: ignore[attr-defined]
        await kube.create(HC, body)
    for name, (_, _, reason, words) in charts.items():
        obj = await failed(kube, HC, namespace, name)
        assert condition(obj, "Ready")["reason"] == reason, name
        assert words in condition(obj, "Ready")["message"], (name, condition(obj, "Ready"))
        assert reason in await warning_reasons(kube, namespace, name)


async def test_chart_from_git_with_values_files_and_strategies(
    kube: ResourceClient,
    namespace: str,
    git_repos: GitRepos,
    git_server: GitHTTPServer,
    source_controller: RunningController,
    tmp_path: Path,
) -> None:
    repo = f"{namespace}-charts"
    meta = {"apiVersion": "v2", "name": "demo", "version": "0.3.0"}
    git_repos.create(repo, {
        "charts/demo/Chart.yaml": yaml.safe_dump(meta),
        "charts/demo/values.yaml": "greeting: hello\nreplicas: 1\nnested: {a: 1, b: 2}\n",
        "charts/demo/templates/cm.yaml": "kind: ConfigMap\n",
        "env/prod.yaml": "replicas: 3\nnested: {b: 20}\n",
    })  # fmt: skip
    await kube.create(GIT_REPOSITORIES, git_repository("charts", namespace,
                                                       git_server.repo_url(repo),
                                                       ref={"branch": "main"}))  # fmt: skip
    values = ["charts/demo/values.yaml", "env/prod.yaml"]
    await kube.create(HC, helm_chart("by-version", namespace, "./charts/demo", "GitRepository",
                                     "charts", valuesFiles=values))  # fmt: skip
    await kube.create(HC, helm_chart("by-revision", namespace, "charts/demo", "GitRepository",
                                     "charts", reconcileStrategy="Revision"))  # fmt: skip
    await kube.create(HC, helm_chart("no-chart", namespace, "charts/none", "GitRepository",
                                     "charts"))  # fmt: skip
    source = await until_ready(kube, GIT_REPOSITORIES, namespace, "charts")
    revision = source["status"]["artifact"]["revision"]
    sha = revision.rsplit(":", 1)[1]

    obj = await until_ready(kube, HC, namespace, "by-version")
    assert obj["status"]["artifact"]["revision"] == "0.3.0"
    assert obj["status"]["observedSourceArtifactRevision"] == revision
    assert obj["status"]["observedValuesFiles"] == values
    files = chart_files(source_controller.storage.absolute(obj["status"]["artifact"]["path"]))
    merged = yaml.safe_load(io.BytesIO(files["demo/values.yaml"]))
    assert merged == {"greeting": "hello", "replicas": 3, "nested": {"a": 1, "b": 20}}

    obj = await until_ready(kube, HC, namespace, "by-revision")
    assert obj["status"]["artifact"]["revision"] == f"0.3.0+{sha[:12]}"
    files = chart_files(source_controller.storage.absolute(obj["status"]["artifact"]["path"]))
    assert yaml.safe_load(files["demo/Chart.yaml"])["version"] == f"0.3.0+{sha[:12]}"

    obj = await failed(kube, HC, namespace, "no-chart")
    assert condition(obj, "Ready")["reason"] == "ChartPackageFailed"
    assert condition(obj, "BuildFailed")["status"] == "True"

    # A new commit: Revision makes a new chart; ChartVersion keeps its artifact.
    git_repos.commit(repo, {"README.md": "docs\n"})
    before = (await kube.get(HC, "by-version", namespace))["status"]["artifact"]
    stamp = await request_reconcile(kube, GIT_REPOSITORIES, namespace, "charts")
    source = await handled(kube, GIT_REPOSITORIES, namespace, "charts", stamp)
    new_sha = source["status"]["artifact"]["revision"].rsplit(":", 1)[1]
    assert new_sha != sha

    async def rebuilt() -> bool:
        current = await kube.get(HC, "by-revision", namespace)
        return current["status"]["artifact"]["revision"] == f"0.3.0+{new_sha[:12]}"

    await eventually(rebuilt)
    after = await kube.get(HC, "by-version", namespace)
    assert after["status"]["artifact"]["digest"] == before["digest"]
