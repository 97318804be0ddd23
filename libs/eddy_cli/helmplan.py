"""What a proposed revision would change in each Helm release it touches.

A HelmRelease is planned when the proposal changes it (a Kustomization of the
source builds it differently) or when its chart comes from the source itself.
Its values are composed as the helm-controller composes them (eddy_helm.values),
the chart is rendered by the pinned helm with the controller's own install or
upgrade command line as a server-side dry run (eddy_helm.render), and each
rendered object is compared field by field with the live one through a
server-side dry-run apply (eddy_helm.manifest, as drift detection does); what
the release Helm last stored holds and the rendering does not would be pruned.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from eddy_api.helm import HelmRelease
from eddy_artifacts import ArtifactError, fetch_artifact
from eddy_helm import postrender, records
from eddy_helm.helm import SERVER_NAME, Helm
from eddy_helm.manifest import (
    ManifestError,
    compare,
    kept,
    objects_of,
    with_helm_metadata,
)
from eddy_helm.render import render
from eddy_helm.values import compose
from eddy_kustomize.apply import CONFIGURED, CREATED
from eddy_kustomize.objects import describe, object_id
from eddy_runtime.discovery import Discovery
from eddy_runtime.reconciler import StepError
from eddy_runtime.resources import ApiError, Resource

from .kube import Cluster
from .plan import PRUNED, Doc, ObjectChange, field_changes, mask_secrets, not_planned

HELM_RELEASES = Resource("helm.toolkit.fluxcd.io", "v2", "helmreleases", "HelmRelease")
CHART_SOURCES = {
    kind: Resource("source.toolkit.fluxcd.io", "v1", plural, kind)
    for kind, plural in (
        ("HelmChart", "helmcharts"),
        ("OCIRepository", "ocirepositories"),
        ("ExternalArtifact", "externalartifacts"),
    )
}
RENDER_TIMEOUT = 120.0


@dataclass
class HelmReleasePlan:
    namespace: str
    name: str
    chart: str
    changes: list[ObjectChange] = field(default_factory=list)
    unchanged: int = 0
    error: str = ""

    def as_dict(self) -> Doc:
        out: Doc = {
            "helmRelease": f"{self.namespace}/{self.name}",
            "chart": self.chart,
            "changes": [c.as_dict() for c in self.changes],
            "unchanged": self.unchanged,
        }
        if self.error:
            out["error"] = self.error
        return out


def _chart_spec(spec: Doc) -> Doc:
    chart = spec.get("chart")
    inner = chart.get("spec") if isinstance(chart, dict) else None
    return inner if isinstance(inner, dict) else {}


def _chart_ref(release: Doc) -> Doc:
    found = (release.get("spec") or {}).get("chartRef")
    return found if isinstance(found, dict) else {}


def _names(ref: Doc, release: Doc, kind: str, name: str, namespace: str) -> bool:
    where = ref.get("namespace") or release["metadata"]["namespace"]
    return ref.get("kind") == kind and ref.get("name") == name and where == namespace


def from_source(release: Doc, kind: str, name: str, namespace: str) -> bool:
    """Whether the release's chart comes from this source (spec.chart's sourceRef), or is
    this source's artifact (spec.chartRef)."""
    ref = _chart_spec(release.get("spec") or {}).get("sourceRef") or {}
    return _names(ref, release, kind, name, namespace) or (
        _names(_chart_ref(release), release, kind, name, namespace)
    )


def _which_chart(release: Doc) -> tuple[str, ...]:
    """What names the chart: its name, version and source (defaults aside), or chartRef."""
    chart = _chart_spec(release.get("spec") or {})
    ref = chart.get("sourceRef") or {}
    own = str(release["metadata"].get("namespace", ""))
    direct = _chart_ref(release)
    return (
        str(chart.get("chart", "")), str(chart.get("version") or "*"),
        str(ref.get("kind", "")), str(ref.get("name", "")), str(ref.get("namespace") or own),
        str(direct.get("kind", "")), str(direct.get("name", "")),
        str(direct.get("namespace") or own) if direct else "",
    )  # fmt: skip


def _one_chart(root: Path) -> Path | None:
    """The chart in a tree: at its root, or the one directory holding a Chart.yaml."""
    if (root / "Chart.yaml").is_file():
        return root
    charts = [p.parent for p in root.glob("*/Chart.yaml")]
    return charts[0] if len(charts) == 1 else None


async def releases_to_plan(
    cluster: Cluster, built: Sequence[Doc], kind: str, name: str, namespace: str
) -> list[tuple[Doc, Doc | None]]:
    """(proposed HelmRelease, live one or None) for each release the proposal touches."""
    items, _ = await cluster.client.list_all(HELM_RELEASES)
    live = {(r["metadata"]["namespace"], r["metadata"]["name"]): r for r in items}
    chosen: dict[tuple[str, str], tuple[Doc, Doc | None]] = {}
    for doc in built:
        key = (str(doc["metadata"].get("namespace", "")), str(doc["metadata"]["name"]))
        current = live.get(key)
        if current is None or (doc.get("spec") or {}) != (current.get("spec") or {}):
            chosen[key] = (doc, current)
    for key, current in live.items():
        spec = current.get("spec") or {}
        if (
            key not in chosen
            and not spec.get("suspend")
            and from_source(current, kind, name, namespace)
        ):
            chosen[key] = (current, current)
    return [chosen[k] for k in sorted(chosen)]


def _inside(root: Path, path: str) -> Path:
    found = (root / path).resolve()
    if found != root.resolve() and root.resolve() not in found.parents:
        raise StepError(f"chart path '{path}' leaves the repository")
    return found


async def _chart_dir(
    cluster: Cluster, proposed: Doc, live: Doc | None, source_root: Path, source: tuple[str, ...],
    workdir: Path,
) -> tuple[Path, str]:  # fmt: skip
    """The chart to render and a label for it: from the proposed tree, else the current
    chart artifact the source-controller built for the release."""
    spec = proposed.get("spec") or {}
    chart = _chart_spec(spec)
    if chart and from_source(proposed, *source):
        path = _inside(source_root, str(chart.get("chart", "")))
        if not (path / "Chart.yaml").is_file():
            raise StepError(f"no Chart.yaml at '{chart.get('chart')}' in the proposed revision")
        return path, f"{chart.get('chart')} (from the proposed revision)"
    if not chart and from_source(proposed, *source):
        proposed_chart = _one_chart(source_root)
        if proposed_chart is None:
            raise StepError("the proposed revision of the chartRef's source holds no one chart")
        return proposed_chart, f"{proposed_chart.name} (from the proposed revision)"
    if live is not None and _which_chart(live) != _which_chart(proposed):
        raise StepError(
            "the proposal changes spec.chart; eddy plan renders only a chart from the "
            "planned source or the chart the cluster holds now"
        )
    typed = HelmRelease.from_dict(proposed)
    if chart:
        res, name, namespace = (
            CHART_SOURCES["HelmChart"], typed.helm_chart_name(), typed.helm_chart_namespace()
        )  # fmt: skip
    else:
        ref = spec.get("chartRef") or {}
        res = CHART_SOURCES.get(str(ref.get("kind")), CHART_SOURCES["HelmChart"])
        name = str(ref.get("name", ""))
        namespace = str(ref.get("namespace") or proposed["metadata"]["namespace"])
    found = await cluster.client.get_or_none(res, name, namespace)
    artifact = ((found or {}).get("status") or {}).get("artifact") or {}
    if not artifact.get("url"):
        raise StepError(f"{res.kind} {namespace}/{name} has no chart artifact yet")
    dest = workdir / "chart"
    try:
        async with aiohttp.ClientSession() as session:
            await fetch_artifact(session, artifact["url"], artifact["digest"], dest, attempts=2)
    except ArtifactError as err:
        raise StepError(
            f"cannot download the chart artifact of {res.kind} {namespace}/{name}: {err}; "
            "run eddy plan where the source-controller's artifact server is reachable"
        ) from err
    root = _one_chart(dest)
    if root is None:
        raise StepError(f"the chart artifact of {res.kind} {namespace}/{name} holds no one chart")
    return root, f"{res.kind} {namespace}/{name} {artifact.get('revision', '')}"


def _previous(stored: Sequence[records.Release]) -> records.Release | None:
    """The release an upgrade starts from: the deployed one, else the newest."""
    deployed = [r for r in stored if r.status == records.DEPLOYED]
    return deployed[0] if deployed else records.latest(list(stored))


def _without_dropped(dry: Doc, previous: Doc, rendered: Doc) -> Doc:
    """The dry-run answer less the fields the previous release rendered and this one does
    not: Helm's upgrade removes those, while a dry-run apply leaves them to their owner."""
    out = copy.deepcopy(dry)

    def drop(into: Doc, before: Doc, now: Doc) -> None:
        for key, value in before.items():
            if key not in now:
                into.pop(key, None)
            elif isinstance(value, dict) and isinstance(now[key], dict):
                inner = into.get(key)
                if isinstance(inner, dict):
                    drop(inner, value, now[key])

    drop(out, previous, rendered)
    return out


async def _compare(
    cluster: Cluster, kinds: Discovery, objects: list[Doc], previous: dict[str, Doc],
    release: str, target: str, masked: list[str],
) -> tuple[list[ObjectChange], int]:  # fmt: skip
    """Each rendered object against the live one, through a server-side dry-run apply."""
    semaphore = asyncio.Semaphore(8)

    async def one(obj: Doc) -> ObjectChange | None:
        desired = with_helm_metadata(obj, release, target)
        async with semaphore:
            found = await compare(cluster.client, kinds, desired)
        if found.live is None or found.dry is None:
            return ObjectChange(CREATED, describe(obj))
        before = previous.get(object_id(obj))
        dry = found.dry if before is None else _without_dropped(found.dry, before, obj)
        secret = obj.get("kind") == "Secret" and obj.get("apiVersion") == "v1"
        fields = field_changes(found.live, dry, secret, masked)
        return ObjectChange(CONFIGURED, describe(obj), fields) if fields else None

    answers = await asyncio.gather(*(one(o) for o in objects))
    changes = [a for a in answers if a is not None]
    return changes, len(answers) - len(changes)


async def plan_release(
    cluster: Cluster, helm: Helm, kinds: Discovery, proposed: Doc, live: Doc | None,
    source_root: Path, source: tuple[str, ...],
) -> HelmReleasePlan:  # fmt: skip
    meta = proposed["metadata"]
    typed = HelmRelease.from_dict(proposed)
    plan = HelmReleasePlan(meta["namespace"], meta["name"], "")
    release, target = typed.release_name(), typed.release_namespace()
    plan.error = not_planned(typed_spec(proposed), "HelmRelease")
    if plan.error:
        return plan
    masked: list[str] = []
    try:
        with tempfile.TemporaryDirectory(prefix="eddy-plan-helm-") as tmp:
            workdir = Path(tmp)
            chart, plan.chart = await _chart_dir(
                cluster, proposed, live, source_root, source, workdir
            )
            values, masked = await compose(cluster.client, meta["namespace"], typed_spec(proposed))
            values_file = workdir / "values.json"
            values_file.touch(mode=0o600)
            await asyncio.to_thread(values_file.write_text, json.dumps(values))
            # Where the records are now (the controller moves them when the rule changes).
            live_status = (live or {}).get("status") or {}
            storage = str(live_status.get("storageNamespace") or "") or typed.storage_namespace()
            stored = await records.history(cluster.client, storage, release)
            previous = _previous(stored)
            # As the controller decides: upgrade a deployed release, else install (over
            # a history that holds the name, like the controller's --replace). The helm
            # command finds a release only beside its objects: one stored elsewhere is
            # rendered as an install there.
            upgrade = any(r.status == records.DEPLOYED for r in stored) and storage == target
            extra: tuple[str, ...] = ("--kube-context", cluster.context) if cluster.context else ()
            if stored and not upgrade and storage == target:
                extra += ("--replace",)
            rendered = await render(
                helm, typed_spec(proposed), release, target, chart, values_file,
                Path(cluster.kubeconfig), upgrade, extra,
                # Post-rendered as the helm-controller does, origin labels included.
                postrender.document(
                    typed_spec(proposed), postrender.origin_labels(meta["name"], meta["namespace"])
                ),
            )  # fmt: skip
        after = await objects_of(rendered, target, kinds)
        before = await objects_of(previous.manifest, target, kinds) if previous else []
        earlier = {object_id(o): o for o in before}
        plan.changes, plan.unchanged = await _compare(
            cluster, kinds, after, earlier, release, target, masked
        )
    except (StepError, ApiError, OSError, ManifestError) as err:
        text = err.message if isinstance(err, StepError) else str(err)
        plan.error = str(mask_secrets(text, masked))
        return plan
    now = {object_id(o) for o in after}
    for obj in before:
        if object_id(obj) not in now and not kept(obj):
            plan.changes.append(ObjectChange(PRUNED, describe(obj)))
    return plan


def typed_spec(obj: Doc) -> dict[str, Any]:
    spec = obj.get("spec")
    return spec if isinstance(spec, dict) else {}


async def plan_releases(
    cluster: Cluster, kinds: Discovery, helm_path: str, built: Sequence[Doc], source_root: Path,
    source: tuple[str, str, str], helm_server: str = SERVER_NAME,
) -> list[HelmReleasePlan]:  # fmt: skip
    touched = await releases_to_plan(cluster, built, *source)
    if not touched:
        return []
    try:
        # eddy-helm-server is helm's post-renderer here, as it is the controller's.
        helm = Helm.create(helm_path, server=helm_server, serve=False)
        beside = Path(helm.binary).parent / SERVER_NAME
        if helm.server_binary is None and helm_server == SERVER_NAME and os.access(beside, os.X_OK):
            helm.server_binary = str(beside)
    except FileNotFoundError as err:
        raise StepError(f"{err}; install helm or pass --helm-path") from err
    try:
        return list(
            await asyncio.gather(
                *(
                    plan_release(cluster, helm, kinds, p, live, source_root, source)
                    for p, live in touched
                )
            )
        )
    finally:
        await asyncio.to_thread(_remove, helm.home)


def _remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
