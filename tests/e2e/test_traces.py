"""One trace per commit, across processes, as Jaeger shows it.

The source-, kustomize-, helm- and image-automation-controller run as their own
processes and export spans to a real Jaeger; a pushed commit must come back from
Jaeger's query API as one trace: the GitRepository pass that stored it, then the
Kustomization that applied it and the HelmChart and HelmRelease that released it,
each under the pass that handed it on, with the revision and outcome on the spans.
A new image tag is one trace too, from the scan that found it through the policy
and the automation's commit to the fetch and apply of that commit.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from eddy_runtime.resources import Resource, ResourceClient
from eddy_testenv import ControlPlane
from eddy_testenv.controllers import ControllerProcess
from eddy_testenv.gitserver import GitHTTPServer, GitRepo
from eddy_testenv.jaeger import Jaeger, spans_of
from eddy_testenv.ociartifacts import push_files
from eddy_testenv.registry import Registry

from .support import (
    CONFIG_MAPS,
    GIT_REPOSITORIES,
    HELM_RELEASES,
    IMAGE_POLICIES,
    IMAGE_REPOSITORIES,
    IMAGE_UPDATE_AUTOMATIONS,
    KUSTOMIZATIONS,
    SUITE_LABEL,
    config_map,
    controller_processes,
    is_ready,
    manifest,
    request_reconcile,
    wait_for,
)

SUITE = "traces"
TRACEPARENT = "eddy.dev/traceparent"
COMMIT_TRACEPARENT = "eddy.dev/commit-traceparent"


def operations(spans: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(s["service"], s["operationName"]) for s in spans}


def dangling(spans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Spans whose parent has not reached Jaeger yet: a step's span ends, and is sent,
    before the reconcile span it belongs to."""
    ids = {s["spanID"] for s in spans}
    return [s for s in spans if s["parent"] is not None and s["parent"] not in ids]


async def whole_trace(
    jaeger: Jaeger, trace_id: str, wanted: set[tuple[str, str]], what: str
) -> list[dict[str, Any]]:
    """The trace's spans once Jaeger has every `wanted` operation and every span's parent."""

    async def complete() -> list[dict[str, Any]] | None:
        found = await asyncio.to_thread(jaeger.trace, trace_id)
        spans = spans_of(found) if found else []
        return spans if wanted <= operations(spans) and not dangling(spans) else None

    spans: list[dict[str, Any]] = await wait_for(f"trace {trace_id} holds {what}", complete, 60)
    return spans


def chart(version: str) -> dict[str, str]:
    return {
        "chart/Chart.yaml": f"apiVersion: v2\nname: greeter\nversion: {version}\n",
        "chart/templates/configmap.yaml": (
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-chart\n"
            "data:\n  version: " + version + "\n"
        ),
    }


@pytest.fixture(scope="module")
def traced(control_plane: ControlPlane, jaeger: Jaeger) -> Iterator[dict[str, ControllerProcess]]:
    with (
        tempfile.TemporaryDirectory(prefix="eddy-e2e-traces-") as tmp,
        controller_processes(
            control_plane.kubeconfig, Path(tmp), ["source", "kustomize", "helm", "image"],
            # Debug lines are written inside step spans: the log test reads them.
            f"{SUITE_LABEL}={SUITE}", extra={"kustomize": ["--log-level=debug"]},
            env=jaeger.exporter_env(),
        ) as running,
    ):  # fmt: skip
        yield running


async def test_one_commit_is_one_trace_from_fetch_to_apply_and_release(
    traced: dict[str, ControllerProcess],
    jaeger: Jaeger,
    kube: ResourceClient,
    namespace: str,
    git_repo: GitRepo,
    git_server: GitHTTPServer,
) -> None:
    first = git_repo.commit(
        {"app/settings.yaml": config_map("settings", greeting="one"), **chart("0.1.0")}
    )
    objects: list[tuple[Resource, str, dict[str, Any]]] = [
        (GIT_REPOSITORIES, "app", {"interval": "1h", "url": git_server.repo_url(git_repo.name),
                                   "ref": {"branch": "main"}}),
        (KUSTOMIZATIONS, "app", {"interval": "1h", "path": "./app", "prune": True,
                                 "targetNamespace": namespace,
                                 "sourceRef": {"kind": "GitRepository", "name": "app"}}),
        (HELM_RELEASES, "greeter", {"interval": "1h", "chart": {
            "metadata": {"labels": {SUITE_LABEL: SUITE}},
            "spec": {"chart": "./chart", "sourceRef": {"kind": "GitRepository", "name": "app"}}}}),
    ]  # fmt: skip
    for resource, name, spec in objects:
        await kube.create(resource, manifest(resource, name, namespace, spec, SUITE), namespace)

    async def applied(revision_of: str, version: str) -> bool:
        kustomization = await kube.get_or_none(KUSTOMIZATIONS, "app", namespace)
        release = await kube.get_or_none(HELM_RELEASES, "greeter", namespace)
        return (
            is_ready(kustomization)
            and (kustomization or {})["status"].get("lastAppliedRevision") == revision_of
            and is_ready(release)
            and ((release or {})["status"].get("history") or [{}])[0].get("chartVersion") == version
        )

    await wait_for("the first commit is applied and released",
                   lambda: applied(f"main@sha1:{first}", "0.1.0"), timeout=120)  # fmt: skip

    # A new commit on a setup that has settled: its work is one trace.
    second = git_repo.commit(
        {"app/settings.yaml": config_map("settings", greeting="two"), **chart("0.2.0")}
    )
    revision = f"main@sha1:{second}"
    await kube.patch(
        GIT_REPOSITORIES, "app",
        {"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": second}}}, namespace,
    )  # fmt: skip
    await wait_for("the second commit is applied and released",
                   lambda: applied(revision, "0.2.0"), timeout=120)  # fmt: skip
    settings = await kube.get(CONFIG_MAPS, "settings", namespace)
    assert settings["data"] == {"greeting": "two"}

    source = await kube.get(GIT_REPOSITORIES, "app", namespace)
    artifact = source["status"]["artifact"]
    assert artifact["revision"] == revision
    trace_id = artifact["metadata"][TRACEPARENT].split("-")[1]

    wanted = {
        ("kustomize-controller", "step check health"),
        ("helm-controller", "step release"),
    }
    spans = await whole_trace(jaeger, trace_id, wanted, "every controller's spans")
    assert {s["traceID"] for s in spans} == {trace_id}
    by_id: dict[str, dict[str, Any]] = {s["spanID"]: s for s in spans}

    def children(span: dict[str, Any]) -> list[dict[str, Any]]:
        return sorted(
            (s for s in spans if s["parent"] == span["spanID"]), key=lambda s: int(s["startTime"])
        )

    def one(service: str, operation: str, last_step: str = "", **attributes: str) -> dict[str, Any]:
        """The span of that name and attributes; of several passes, the one that got furthest."""
        matches = [
            s for s in spans
            if (s["service"], s["operationName"]) == (service, operation)
            and all(s["attributes"].get(k) == v for k, v in attributes.items())
            and (not last_step or last_step in names(children(s)))
        ]  # fmt: skip
        assert matches, (service, operation, attributes, last_step)
        return matches[0]

    def names(found: list[dict[str, Any]]) -> set[str]:
        return {s["operationName"] for s in found}

    def parent(span: dict[str, Any]) -> dict[str, Any]:
        assert span["parent"] in by_id, f"{span['operationName']} has no parent in the trace"
        return by_id[span["parent"]]

    # source-controller: the GitRepository pass that stored the revision is the root.
    fetched = one("source-controller", "reconcile", kind="GitRepository", name="app")
    assert fetched["parent"] is None
    assert fetched["attributes"]["revision"] == revision
    assert fetched["attributes"]["outcome"] == "success"
    assert {"step source", "step artifact"} <= names(children(fetched))

    # kustomize-controller: its pass on that revision continues the trace.
    applying = one(
        "kustomize-controller", "reconcile", "step check health", kind="Kustomization", name="app"
    )
    assert parent(applying) is fetched
    assert applying["attributes"]["revision"] == revision
    assert applying["attributes"]["namespace"] == namespace
    assert applying["attributes"]["outcome"] == "success"
    steps = children(applying)
    assert [s["operationName"] for s in steps] == [
        "step resolve source", "step check dependencies", "step report progress",
        "step fetch artifact", "step build", "step apply", "step prune", "step check health",
    ]  # fmt: skip
    for span in steps:
        assert span["attributes"]["revision"] == revision
        assert span["attributes"]["outcome"] == "success"
    assert int(applying["startTime"]) >= int(fetched["startTime"])

    # The chart: the HelmChart pass built from that revision, then the release of it.
    packaged = one("source-controller", "reconcile", "step artifact", kind="HelmChart")
    assert parent(packaged) is fetched
    released = one("helm-controller", "reconcile", "step release", kind="HelmRelease")
    assert parent(released) is packaged
    assert released["attributes"]["revision"] == "0.2.0"
    assert {"step fetch chart", "step release"} <= names(children(released))

    # A log line written inside a span leads to it; every line a step writes is one.
    records = traced["kustomize"].log_records()
    in_steps = [r for r in records if r.get("step")]
    assert in_steps and all(r.get("trace_id") and r.get("span_id") for r in in_steps)
    lines = [r for r in records if r.get("trace_id") == trace_id]
    assert {(r.get("name"), r.get("revision")) for r in lines} == {("app", revision)}
    assert {r["span_id"] for r in lines} <= set(by_id)
    assert "step build" in {by_id[str(r["span_id"])]["operationName"] for r in lines}


def image_config(image: str, namespace: str) -> str:
    """A ConfigMap naming the app's image, kept current by the ImagePolicy `app`."""
    return (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-image\ndata:\n"
        f'  image: {image} # {{"$imagepolicy": "{namespace}:app"}}\n'
    )


async def test_a_new_image_tag_is_one_trace_from_scan_to_apply(
    traced: dict[str, ControllerProcess],
    jaeger: Jaeger,
    kube: ResourceClient,
    namespace: str,
    git_repo: GitRepo,
    git_server: GitHTTPServer,
    oci_registry_anonymous: Registry,
) -> None:
    registry = oci_registry_anonymous
    repository = f"traces/app-{namespace}"
    image = f"{registry.host}/{repository}"
    await push_files(registry, repository, "1.0.0", {"app": "1.0.0"})
    git_repo.commit({"deploy/image.yaml": image_config(f"{image}:1.0.0", namespace)})
    automation = {
        "interval": "1h", "sourceRef": {"kind": "GitRepository", "name": "app"},
        "git": {"checkout": {"ref": {"branch": "main"}}, "push": {"branch": "main"},
                "commit": {"author": {"name": "Image Bot", "email": "bot@example.com"}}},
        "update": {"path": "./deploy", "strategy": "Setters"},
    }  # fmt: skip
    objects: list[tuple[Resource, str, dict[str, Any]]] = [
        (GIT_REPOSITORIES, "app", {"interval": "1h", "url": git_server.repo_url(git_repo.name),
                                   "ref": {"branch": "main"}}),
        (KUSTOMIZATIONS, "app", {"interval": "1h", "path": "./deploy", "prune": True,
                                 "targetNamespace": namespace,
                                 "sourceRef": {"kind": "GitRepository", "name": "app"}}),
        (IMAGE_REPOSITORIES, "app", {"interval": "1h", "image": image, "insecure": True}),
        (IMAGE_POLICIES, "app", {"imageRepositoryRef": {"name": "app"},
                                 "policy": {"semver": {"range": ">=1.0.0"}}}),
        (IMAGE_UPDATE_AUTOMATIONS, "app", automation),
    ]  # fmt: skip
    for resource, name, spec in objects:
        await kube.create(resource, manifest(resource, name, namespace, spec, SUITE), namespace)

    async def applied(tag: str) -> str | None:
        kustomization = await kube.get_or_none(KUSTOMIZATIONS, "app", namespace)
        applied = await kube.get_or_none(CONFIG_MAPS, "app-image", namespace)
        if not is_ready(kustomization) or (applied or {}).get("data") != {
            "image": f"{image}:{tag}"
        }:
            return None
        return str((kustomization or {})["status"]["lastAppliedRevision"])

    async def settled() -> bool:
        automated = await kube.get_or_none(IMAGE_UPDATE_AUTOMATIONS, "app", namespace)
        return is_ready(automated) and bool(await applied("1.0.0"))

    await wait_for("the first image is applied and the automation idle", settled, timeout=120)

    # CI pushes a new tag; the rescan (as `flux reconcile image repository` asks for it)
    # finds it, the policy picks it, the automation commits it.
    await push_files(registry, repository, "1.1.0", {"app": "1.1.0"})
    await request_reconcile(kube, IMAGE_REPOSITORIES, "app", namespace)

    async def pushed() -> str | None:
        automated = await kube.get_or_none(IMAGE_UPDATE_AUTOMATIONS, "app", namespace)
        commit = ((automated or {}).get("status") or {}).get("lastPushCommit")
        return str(commit) if commit and git_repo.log()[0].sha == commit else None

    commit = await wait_for("the automation pushes the new tag", pushed, timeout=120)
    # The GitRepository fetches it (at its interval, or as a Receiver asks); its pass
    # continues the automation's trace.
    await request_reconcile(kube, GIT_REPOSITORIES, "app", namespace)
    revision = await wait_for("the commit is applied", lambda: applied("1.1.0"), timeout=120)
    assert revision == f"main@sha1:{commit}"

    source = await kube.get(GIT_REPOSITORIES, "app", namespace)
    named, _, parent = source["metadata"]["annotations"][COMMIT_TRACEPARENT].partition(" ")
    assert named == commit
    trace_id = parent.split("-")[1]
    assert source["status"]["artifact"]["metadata"][TRACEPARENT].split("-")[1] == trace_id

    wanted = {("image-automation-controller", "step list tags"),
              ("kustomize-controller", "step check health")}  # fmt: skip
    spans = await whole_trace(jaeger, trace_id, wanted, "the image and source controllers' spans")
    assert {s["traceID"] for s in spans} == {trace_id}
    by_id = {s["spanID"]: s for s in spans}

    def steps(span: dict[str, Any]) -> list[str]:
        under = sorted((s for s in spans if s["parent"] == span["spanID"]),
                       key=lambda s: int(s["startTime"]))  # fmt: skip
        return [s["operationName"] for s in under if s["operationName"].startswith("step ")]

    def parent(span: dict[str, Any], service: str, kind: str) -> dict[str, Any]:
        """The span's parent, which must be that controller's pass over that kind."""
        assert span["parent"] in by_id, f"{span['attributes'].get('kind')} has no parent"
        found = by_id[span["parent"]]
        assert (found["service"], found["operationName"]) == (service, "reconcile"), found
        assert (found["attributes"]["kind"], found["attributes"]["name"]) == (kind, "app")
        return found

    # apply ← fetch ← commit ← policy ← scan: from the pass that applied the commit up
    # to the scan that found the tag, each pass under the one that handed it on.
    applying = next(
        s for s in spans
        if (s["service"], s["operationName"]) == ("kustomize-controller", "reconcile")
        and s["attributes"].get("revision") == revision and "step apply" in steps(s)
    )  # fmt: skip
    fetched = parent(applying, "source-controller", "GitRepository")
    assert fetched["attributes"]["revision"] == revision
    assert "step artifact" in steps(fetched)
    committed = parent(fetched, "image-automation-controller", "ImageUpdateAutomation")
    assert "step push" in steps(committed)
    picked = parent(committed, "image-automation-controller", "ImagePolicy")
    assert "step pick tag" in steps(picked)
    scanned = parent(picked, "image-automation-controller", "ImageRepository")
    assert scanned["parent"] is None
    assert steps(scanned) == ["step check spec", "step list tags"]
    for span in (scanned, picked, committed, fetched, applying):
        assert span["attributes"]["outcome"] == "success", span["attributes"]
        assert span["attributes"]["namespace"] == namespace
    order = [int(s["startTime"]) for s in (scanned, picked, committed, fetched, applying)]
    assert order == sorted(order)
