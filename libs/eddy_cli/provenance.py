"""Why an object is in the cluster: who applied it, from which source, revision, commit and line.

Follows the labels and annotations eddy (like Flux) and Helm put on what they
apply: object → HelmRelease → Kustomization → source → revision → Git commit →
the file and line that define it, and what changed it on the way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .definition import (
    Change,
    Place,
    Target,
    find_definitions,
    kustomization_changes,
    normalize,
    spec_changes,
    substitutions,
)
from .errors import CliError
from .gitsource import read_commit
from .kube import Cluster
from .resources import HELM_RELEASES, KUSTOMIZATIONS, SOURCES

Doc = dict[str, Any]

KUSTOMIZE_NAME = "kustomize.toolkit.fluxcd.io/name"
KUSTOMIZE_NAMESPACE = "kustomize.toolkit.fluxcd.io/namespace"
SUBSTITUTE = "kustomize.toolkit.fluxcd.io/substitute"
HELM_NAME = "helm.toolkit.fluxcd.io/name"
HELM_NAMESPACE = "helm.toolkit.fluxcd.io/namespace"
RELEASE_NAME = "meta.helm.sh/release-name"
RELEASE_NAMESPACE = "meta.helm.sh/release-namespace"
ORIGIN_SOURCE = "org.opencontainers.image.source"
ORIGIN_REVISION = "org.opencontainers.image.revision"


@dataclass
class Answer:
    """Everything `eddy why` found, as data."""

    object: Doc
    applied_by: list[Doc] = field(default_factory=list)
    source: Doc | None = None
    commit: Doc | None = None
    defined_at: list[Doc] = field(default_factory=list)
    changes: list[Doc] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def managed(self) -> bool:
        return bool(self.applied_by)

    def as_dict(self) -> Doc:
        out: Doc = {"object": self.object, "appliedBy": self.applied_by}
        for key, value in (
            ("source", self.source),
            ("commit", self.commit),
            ("definedAt", self.defined_at),
            ("changes", self.changes),
            ("notes", self.notes),
        ):
            if value:
                out[key] = value
        return out


def _describe(obj: Doc) -> Doc:
    meta = obj["metadata"]
    out = {
        "apiVersion": obj.get("apiVersion", ""),
        "kind": obj.get("kind", ""),
        "name": meta["name"],
    }
    if meta.get("namespace"):
        out["namespace"] = meta["namespace"]
    return out


def _ready(obj: Doc) -> str:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return f"{cond.get('status')}: {cond.get('message', '')}".strip()
    return "Unknown"


def _target(obj: Doc) -> Target:
    meta = obj["metadata"]
    group, _, version = str(obj.get("apiVersion", "")).rpartition("/")
    spec = obj.get("spec") or {}
    pod = (spec.get("template") or {}).get("spec") or spec
    images = [
        str(c.get("image", ""))
        for key in ("containers", "initContainers")
        for c in pod.get(key) or []
        if isinstance(c, dict)
    ]
    return Target(
        group, version, str(obj.get("kind", "")), meta["name"], meta.get("namespace", ""),
        meta.get("labels") or {}, images,
    )  # fmt: skip


async def _helm_release(cluster: Cluster, obj: Doc) -> Doc | None:
    meta = obj["metadata"]
    labels, notes = meta.get("labels") or {}, meta.get("annotations") or {}
    if labels.get(HELM_NAME) and labels.get(HELM_NAMESPACE):
        return await cluster.client.get_or_none(
            HELM_RELEASES, labels[HELM_NAME], labels[HELM_NAMESPACE]
        )
    release, where = notes.get(RELEASE_NAME), notes.get(RELEASE_NAMESPACE)
    if not release:
        return None
    releases, _ = await cluster.client.list_all(HELM_RELEASES)
    for candidate in releases:
        for snapshot in ((candidate.get("status") or {}).get("history") or [])[:1]:
            if snapshot.get("name") == release and snapshot.get("namespace") == where:
                return candidate
    return None


def _helm_link(release: Doc) -> Doc:
    spec, status = release.get("spec") or {}, release.get("status") or {}
    meta = release["metadata"]
    chart = (spec.get("chart") or {}).get("spec") or {}
    latest = (status.get("history") or [{}])[0]
    chart_name = latest.get("chartName") or chart.get("chart", "")
    chart_version = latest.get("chartVersion") or chart.get("version", "")
    link: Doc = {
        "kind": "HelmRelease",
        "namespace": meta["namespace"],
        "name": meta["name"],
        "ready": _ready(release),
        "chart": f"{chart_name} {chart_version}".strip(),
    }
    if latest.get("name"):
        link["release"] = f"{latest.get('namespace')}/{latest['name']} v{latest.get('version')}"
    ref = chart.get("sourceRef") or spec.get("chartRef") or {}
    if ref:
        where = ref.get("namespace") or meta["namespace"]
        link["chartSource"] = f"{ref.get('kind')} {where}/{ref.get('name')}"
    values = ["spec.values"] if spec.get("values") else []
    for item in spec.get("valuesFrom") or []:
        key = f" key {item['valuesKey']}" if item.get("valuesKey") else ""
        values.append(f"{item.get('kind')} {item.get('name')}{key}")
    if values:
        link["values"] = values
    return link


async def explain(cluster: Cluster, obj: Doc) -> Answer:
    answer = Answer(_describe(obj))
    subject = obj
    release = await _helm_release(cluster, obj)
    if release is not None:
        answer.applied_by.append(_helm_link(release))
        # The HelmRelease is itself defined somewhere: follow it to its file.
        subject = release
    labels = subject["metadata"].get("labels") or {}
    name, namespace = labels.get(KUSTOMIZE_NAME), labels.get(KUSTOMIZE_NAMESPACE)
    if not (name and namespace):
        if release is None:
            answer.notes.append(
                "not applied by eddy or Flux: it has no kustomize.toolkit.fluxcd.io labels "
                "and no Helm release annotations"
            )
        return answer
    kustomization = await cluster.client.get_or_none(KUSTOMIZATIONS, name, namespace)
    if kustomization is None:
        answer.applied_by.append({"kind": "Kustomization", "namespace": namespace, "name": name})
        answer.notes.append(
            f"Kustomization {namespace}/{name} named by its labels no longer exists"
        )
        return answer
    await _kustomization(cluster, kustomization, subject, answer)
    return answer


async def _kustomization(cluster: Cluster, ks: Doc, subject: Doc, answer: Answer) -> None:
    spec, status = ks.get("spec") or {}, ks.get("status") or {}
    meta = ks["metadata"]
    revision = status.get("lastAppliedRevision") or status.get("lastAttemptedRevision") or ""
    root = normalize(spec.get("path"))
    answer.applied_by.append(
        {
            "kind": "Kustomization", "namespace": meta["namespace"], "name": meta["name"],
            "path": spec.get("path") or "./", "revision": revision, "ready": _ready(ks),
        }
    )  # fmt: skip
    ref = spec.get("sourceRef") or {}
    kind, where = str(ref.get("kind", "")), ref.get("namespace") or meta["namespace"]
    res = SOURCES.get(kind)
    if res is None:
        answer.notes.append(f"source kind {kind!r} is not one eddy knows")
        return
    source = await cluster.client.get_or_none(res, ref.get("name", ""), where)
    if source is None:
        answer.source = {"kind": kind, "namespace": where, "name": ref.get("name")}
        answer.notes.append(f"{kind} {where}/{ref.get('name')} no longer exists")
        return
    artifact = (source.get("status") or {}).get("artifact") or {}
    answer.source = {
        "kind": kind, "namespace": where, "name": ref.get("name"),
        "url": (source.get("spec") or {}).get("url", ""),
        "revision": artifact.get("revision", ""),
    }  # fmt: skip
    # An OCI artifact names where its files came from (`eddy push artifact --source
    # --revision`, or flux's): the origin, when the publisher recorded it.
    origin = artifact.get("metadata") or {}
    for key, label in ((ORIGIN_SOURCE, "originUrl"), (ORIGIN_REVISION, "originRevision")):
        if origin.get(key):
            answer.source[label] = str(origin[key])
    if artifact.get("revision") and revision and artifact["revision"] != revision:
        answer.notes.append(
            f"the source has moved on to {artifact['revision']}; the Kustomization has not "
            "applied it yet"
        )
    target = _target(subject)
    changes = spec_changes(f"{meta['namespace']}/{meta['name']}", spec, target)
    if kind != "GitRepository" or not revision:
        answer.changes = [c.as_dict() for c in changes]
        if kind != "GitRepository":
            answer.notes.append(
                f"a {kind} has no commits of its own: its revision (and the origin its "
                "publisher recorded, if any) is where the trail ends"
            )
        return
    try:
        commit = await read_commit(cluster, source, revision)
    except CliError as err:
        answer.changes = [c.as_dict() for c in changes]
        answer.notes.append(f"cannot read the commit: {err.message}")
        return
    answer.commit = commit.as_dict()
    places = find_definitions(
        commit.files, root, target, spec.get("namePrefix") or "", spec.get("nameSuffix") or ""
    )
    if not places:
        answer.notes.append(
            f"no file under {spec.get('path') or './'} at this commit defines "
            f"{target.kind} {target.name}; it may come from a generator or a remote base"
        )
    answer.defined_at = [p.as_dict() for p in places]
    changes = kustomization_changes(commit.files, root, target) + changes
    if places:
        disabled = (subject["metadata"].get("annotations") or {}).get(SUBSTITUTE) == "disabled"
        changes += substitutions(places[0], spec.get("postBuild"), disabled)
    answer.changes = [c.as_dict() for c in changes]


__all__ = ["Answer", "Change", "Place", "explain"]
