"""The chart a HelmRelease installs: the HelmChart made from `spec.chart`, or `spec.chartRef`.

The source-controller builds chart artifacts; the helm-controller only declares the
HelmChart it wants (or names a HelmChart or OCIRepository in chartRef), waits for
its artifact and downloads it, digest verified.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from eddy_api.common import Artifact, artifact_of
from eddy_artifacts import ArtifactError, ArtifactNotFound, fetch_artifact
from eddy_runtime import conditions
from eddy_runtime.conditions import is_ready
from eddy_runtime.informer import Informer
from eddy_runtime.reconciler import StepError
from eddy_runtime.resources import ApiError, ResourceClient

from .objects import (
    CHART_SOURCES,
    HELM_CHARTS,
    HELM_RELEASES,
    Obj,
    helm_chart_name,
    helm_chart_namespace,
    owner_labels,
    spec_of,
)


class ChartNotReady(Exception):
    """The HelmChart has no usable artifact yet: wait for it, do not fail."""


class ChartRefused(Exception):
    """The reference cannot work until the spec is edited."""


def chart_key(obj: Obj) -> tuple[str, str, str]:
    """(kind, namespace, name) of the chart source this release follows."""
    spec = spec_of(obj)
    ref = spec.get("chartRef")
    if isinstance(ref, dict):
        namespace = str(ref.get("namespace") or obj["metadata"]["namespace"])
        return str(ref.get("kind", "")), namespace, str(ref.get("name", ""))
    return HELM_CHARTS.kind, helm_chart_namespace(obj), helm_chart_name(obj)


# Fields of the HelmChart spec set only when the release sets them; removed when it stops.
_OPTIONAL = ("valuesFiles", "ignoreMissingValuesFiles", "verify")


def desired_chart(obj: Obj, default_interval: str) -> Obj:
    """The HelmChart for spec.chart, labelled (and, in the same namespace, owned) by the release."""
    template = spec_of(obj).get("chart") or {}
    tspec = template.get("spec") or {}
    ref = tspec.get("sourceRef") or {}
    namespace, name = helm_chart_namespace(obj), helm_chart_name(obj)
    tmeta = template.get("metadata") or {}
    labels = {**(tmeta.get("labels") or {}), **owner_labels(obj)}
    spec: dict[str, Any] = {
        "chart": tspec.get("chart", ""),
        "version": tspec.get("version") or "*",
        "sourceRef": {"kind": ref.get("kind", ""), "name": ref.get("name", "")},
        "interval": tspec.get("interval") or default_interval,
        "reconcileStrategy": tspec.get("reconcileStrategy") or "ChartVersion",
    }
    if ref.get("apiVersion"):
        spec["sourceRef"]["apiVersion"] = ref["apiVersion"]
    if tspec.get("valuesFiles"):
        spec["valuesFiles"] = list(tspec["valuesFiles"])
    if tspec.get("ignoreMissingValuesFiles"):
        spec["ignoreMissingValuesFiles"] = True
    if isinstance(tspec.get("verify"), dict):
        spec["verify"] = dict(tspec["verify"])
    meta: dict[str, Any] = {"name": name, "namespace": namespace, "labels": labels}
    if tmeta.get("annotations"):
        meta["annotations"] = dict(tmeta["annotations"])
    release_meta = obj["metadata"]
    # Owner references cannot cross namespaces; labels tie the two together otherwise.
    if namespace == release_meta["namespace"] and release_meta.get("uid"):
        meta["ownerReferences"] = [
            {
                "apiVersion": HELM_RELEASES.api_version,
                "kind": HELM_RELEASES.kind,
                "name": release_meta["name"],
                "uid": release_meta["uid"],
                "controller": True,
                "blockOwnerDeletion": False,
            }
        ]
    return {"apiVersion": HELM_CHARTS.api_version, "kind": HELM_CHARTS.kind,
            "metadata": meta, "spec": spec}  # fmt: skip


def _differs(current: Obj, desired: Obj) -> bool:
    cur_spec = current.get("spec") or {}
    for key, value in desired["spec"].items():
        if cur_spec.get(key) != value:
            return True
    for key in _OPTIONAL:
        if key in cur_spec and key not in desired["spec"]:
            return True
    labels = (current.get("metadata") or {}).get("labels") or {}
    return any(labels.get(k) != v for k, v in desired["metadata"]["labels"].items())


async def ensure_chart(client: ResourceClient, cache: Informer, obj: Obj) -> Obj:
    """Create or update the HelmChart for spec.chart; returns it as the server has it."""
    interval = str(spec_of(obj).get("interval") or "10m")
    desired = desired_chart(obj, interval)
    namespace, name = desired["metadata"]["namespace"], desired["metadata"]["name"]
    current = cache.get(name, namespace) or await client.get_or_none(HELM_CHARTS, name, namespace)
    if current is None:
        try:
            return await client.create(HELM_CHARTS, desired, namespace)
        except ApiError as err:
            if not err.already_exists:
                raise
            current = await client.get(HELM_CHARTS, name, namespace)
    if not _differs(current, desired):
        return current
    spec = {**{key: None for key in _OPTIONAL}, **desired["spec"]}
    current_verify = (current.get("spec") or {}).get("verify")
    if spec["verify"] is not None and isinstance(current_verify, dict):
        # A merge patch keeps keys it does not name: name the ones the release dropped.
        spec["verify"] = {**{key: None for key in current_verify}, **spec["verify"]}
    patch: dict[str, Any] = {"metadata": {"labels": desired["metadata"]["labels"]}, "spec": spec}
    return await client.patch(HELM_CHARTS, name, patch, namespace)


async def delete_chart(client: ResourceClient, obj: Obj) -> None:
    """Remove the HelmChart made for spec.chart, when it is still ours."""
    if not isinstance(spec_of(obj).get("chart"), dict):
        return
    namespace, name = helm_chart_namespace(obj), helm_chart_name(obj)
    found = await client.get_or_none(HELM_CHARTS, name, namespace)
    labels = ((found or {}).get("metadata") or {}).get("labels") or {}
    if found is not None and all(labels.get(k) == v for k, v in owner_labels(obj).items()):
        try:
            await client.delete(HELM_CHARTS, name, namespace)
        except ApiError as err:
            if not err.not_found:
                raise


async def referenced_chart(
    client: ResourceClient,
    caches: Mapping[str, Informer],
    obj: Obj,
    no_cross_namespace_refs: bool,
) -> Obj:
    """The HelmChart or OCIRepository that spec.chartRef names; other kinds are refused."""
    kind, namespace, name = chart_key(obj)
    resource, cache = CHART_SOURCES.get(kind), caches.get(kind)
    if resource is None or cache is None:
        served = ", ".join(sorted(CHART_SOURCES))
        raise ChartRefused(
            f"chartRef kind {kind} is not served by eddy yet; reference one of {served}, or use "
            "spec.chart with a HelmRepository or GitRepository source"
        )
    if no_cross_namespace_refs and namespace != obj["metadata"]["namespace"]:
        raise ChartRefused(
            f"cannot use {kind} '{namespace}/{name}': cross-namespace references are "
            "disabled on this controller"
        )
    found = cache.get(name, namespace) or await client.get_or_none(resource, name, namespace)
    if found is None:
        raise ChartNotReady(f"{kind} '{namespace}/{name}' not found")
    return found


def ready_artifact(chart: Obj) -> Artifact:
    """The chart source's artifact, or ChartNotReady quoting why it has none."""
    meta = chart["metadata"]
    where = f"{chart.get('kind', HELM_CHARTS.kind)} '{meta.get('namespace')}/{meta['name']}'"
    artifact = artifact_of(chart)
    if artifact is None or not artifact.url or not artifact.digest:
        ready = conditions.get(chart.get("status") or {}, conditions.READY)
        why = f": {ready.get('message')}" if ready and ready.get("message") else ""
        raise ChartNotReady(f"{where} is not ready{why}")
    generation = meta.get("generation")
    observed = (chart.get("status") or {}).get("observedGeneration")
    if generation is not None and observed != generation and not is_ready(chart):
        # An artifact from before the spec changed is not the chart that was asked for.
        raise ChartNotReady(f"{where} is not ready: reconciling its new spec")
    return artifact


async def download_chart(
    session: aiohttp.ClientSession, artifact: Artifact, where: str, dest: Path
) -> Path:
    """Fetch, verify and extract the chart; returns the chart's directory."""
    try:
        await fetch_artifact(session, artifact.url, artifact.digest, dest)
    except ArtifactNotFound as err:
        raise ChartNotReady(
            f"artifact of {where} not found for revision {artifact.revision}"
        ) from err
    except ArtifactError as err:
        raise StepError(
            f"failed to fetch chart {where} version {artifact.revision}: {err}"
        ) from err
    return await asyncio.to_thread(_chart_dir, dest)


def _chart_dir(root: Path) -> Path:
    found = [p.parent for p in root.glob("*/Chart.yaml")]
    if (root / "Chart.yaml").is_file():
        return root
    if len(found) != 1:
        raise StepError("the chart artifact does not hold exactly one chart")
    return found[0]


def chart_version(chart_dir: Path) -> str:
    """The version in a chart's Chart.yaml (for charts from OCI artifacts)."""
    try:
        meta = yaml.safe_load((chart_dir / "Chart.yaml").read_text())
    except (OSError, yaml.YAMLError) as err:
        raise StepError(f"cannot read the chart's Chart.yaml: {err}") from err
    version = meta.get("version") if isinstance(meta, dict) else None
    if not version:
        raise StepError("the chart's Chart.yaml has no version")
    return str(version)
