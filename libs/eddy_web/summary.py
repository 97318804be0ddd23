"""One compact row per object for the lists: state, source, revision, times.

The browser receives these rows instead of whole objects, so a thousand
applications fit in one small message and render in one pass.
"""

from __future__ import annotations

from typing import Any

from eddy_git import commits
from eddy_runtime import conditions
from eddy_runtime.annotations import is_suspended, requested_at
from eddy_runtime.resources import Obj

# The state a person filters on, worst first.
FAILED, STALLED, WAITING, RECONCILING, SUSPENDED, READY, UNKNOWN = (
    "Failed", "Stalled", "Waiting", "Reconciling", "Suspended", "Ready", "Unknown",
)  # fmt: skip
STATES = (FAILED, STALLED, WAITING, RECONCILING, SUSPENDED, UNKNOWN, READY)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def state_of(obj: Obj) -> tuple[str, str, str]:
    """(state, reason, message) of an object from its kstatus conditions."""
    status = _dict(obj.get("status"))
    ready = conditions.get(status, conditions.READY) or {}
    reason, message = str(ready.get("reason", "")), str(ready.get("message", ""))
    if is_suspended(obj):
        return SUSPENDED, reason, message or "reconciliation is suspended"
    stalled = conditions.get(status, conditions.STALLED)
    if stalled and stalled.get("status") == conditions.TRUE:
        return STALLED, str(stalled.get("reason", "")), str(stalled.get("message", ""))
    if not ready and "observedGeneration" not in status:
        return UNKNOWN, "", "not reconciled yet: is its controller running?"
    if ready.get("status") != conditions.TRUE and reason == conditions.DEPENDENCY_NOT_READY:
        return WAITING, reason, message
    generation = _dict(obj.get("metadata")).get("generation")
    observed = status.get("observedGeneration")
    behind = generation is not None and observed != generation
    retrying = conditions.get(status, conditions.RECONCILING) or {}
    if (
        ready.get("status") == conditions.FALSE
        and retrying.get("reason") == conditions.PROGRESSING_WITH_RETRY
    ):
        # It failed and is trying again: a failure to the person looking.
        return FAILED, reason, message
    if conditions.is_true(status, conditions.RECONCILING) or (behind and not ready):
        cond = conditions.get(status, conditions.RECONCILING) or ready
        return RECONCILING, str(cond.get("reason", "")), str(cond.get("message", ""))
    if ready.get("status") == conditions.TRUE:
        return (RECONCILING if behind else READY), reason, message
    if ready.get("status") == conditions.FALSE:
        return FAILED, reason, message
    return UNKNOWN, reason, message or "not reconciled yet"


def source_ref(obj: Obj) -> dict[str, str] | None:
    """The source an application builds from: {kind, namespace, name}."""
    spec = _dict(obj.get("spec"))
    own = str(_dict(obj.get("metadata")).get("namespace", ""))
    if obj.get("kind") == "HelmRelease":
        ref = _dict(spec.get("chartRef")) or _dict(
            _dict(_dict(spec.get("chart")).get("spec")).get("sourceRef")
        )
    else:
        ref = _dict(spec.get("sourceRef"))
    if not ref.get("name"):
        return None
    return {
        "kind": str(ref.get("kind", "")),
        "namespace": str(ref.get("namespace") or own),
        "name": str(ref["name"]),
    }


def helm_chart_of(obj: Obj) -> dict[str, str] | None:
    """The HelmChart the helm-controller makes for a HelmRelease's spec.chart."""
    spec = _dict(obj.get("spec"))
    if not spec.get("chart"):
        return None
    meta = _dict(obj.get("metadata"))
    source = source_ref(obj) or {}
    namespace = source.get("namespace") or str(meta.get("namespace", ""))
    return {
        "kind": "HelmChart",
        "namespace": namespace,
        "name": f"{meta.get('namespace')}-{meta.get('name')}",
    }


def _revision(obj: Obj) -> tuple[str, str]:
    """(applied revision, attempted revision)."""
    status = _dict(obj.get("status"))
    if obj.get("kind") == "HelmRelease":
        history = status.get("history") or []
        latest = _dict(history[0]) if history else {}
        applied = (
            f"{latest.get('chartName')}@{latest.get('chartVersion')}"
            if latest.get("chartName")
            else ""
        )
        return applied, str(status.get("lastAttemptedRevision") or "")
    artifact = _dict(status.get("artifact"))
    if artifact:
        return str(artifact.get("revision", "")), ""
    return (
        str(status.get("lastAppliedRevision") or ""),
        str(status.get("lastAttemptedRevision") or ""),
    )


def _last_applied(obj: Obj) -> str:
    status = _dict(obj.get("status"))
    history = status.get("history") or []
    if history and isinstance(history[0], dict):
        latest = history[0]
        found = latest.get("lastReconciled") or latest.get("lastDeployed")
        if found:
            return str(found)
    artifact = _dict(status.get("artifact"))
    if artifact.get("lastUpdateTime"):
        return str(artifact["lastUpdateTime"])
    ready = conditions.get(status, conditions.READY) or {}
    if ready.get("status") == conditions.TRUE:
        return str(ready.get("lastTransitionTime", ""))
    return ""


def _health(obj: Obj) -> str:
    """Healthy when the Healthy condition (wait/healthChecks) says so; else Ready's word."""
    status = _dict(obj.get("status"))
    healthy = conditions.get(status, "Healthy")
    if healthy is not None:
        return "Healthy" if healthy.get("status") == conditions.TRUE else "Degraded"
    released = conditions.get(status, "Released")
    if released is not None:
        return "Healthy" if released.get("status") == conditions.TRUE else "Degraded"
    return ""


def commit_of(artifact: dict[str, Any]) -> dict[str, str] | None:
    """The commit a Git artifact was built from, as its metadata names it."""
    metadata = _dict(artifact.get("metadata"))
    if not (metadata.get(commits.AUTHOR_KEY) or metadata.get(commits.MESSAGE_KEY)):
        return None
    return {
        "author": str(metadata.get(commits.AUTHOR_KEY, "")),
        "date": str(metadata.get(commits.DATE_KEY, "")),
        "message": str(metadata.get(commits.MESSAGE_KEY, "")),
    }


def row(obj: Obj) -> dict[str, Any]:
    """The list row of any object the dashboard shows."""
    meta = _dict(obj.get("metadata"))
    status = _dict(obj.get("status"))
    spec = _dict(obj.get("spec"))
    state, reason, message = state_of(obj)
    applied, attempted = _revision(obj)
    found: dict[str, Any] = {
        "kind": obj.get("kind", ""),
        "namespace": meta.get("namespace", ""),
        "name": meta.get("name", ""),
        "state": state,
        "reason": reason,
        "message": message[:500],
        "suspended": is_suspended(obj),
        "created": meta.get("creationTimestamp", ""),
        "revision": applied,
        "attempted": attempted if attempted != applied else "",
        "lastApplied": _last_applied(obj),
        "interval": spec.get("interval", ""),
        "requestedAt": requested_at(obj) or "",
        "handledAt": status.get("lastHandledReconcileAt", ""),
        "health": _health(obj),
    }
    source = source_ref(obj)
    if source:
        found["source"] = source
    deps = spec.get("dependsOn")
    if isinstance(deps, list) and deps:
        own = meta.get("namespace", "")
        found["dependsOn"] = [
            {"namespace": str(d.get("namespace") or own), "name": str(d.get("name"))}
            for d in deps
            if isinstance(d, dict) and d.get("name")
        ]
    found.update(_kind_facts(obj, spec, status))
    return found


def _kind_facts(obj: Obj, spec: dict[str, Any], status: dict[str, Any]) -> dict[str, Any]:
    kind = obj.get("kind")
    artifact = _dict(status.get("artifact"))
    facts: dict[str, Any] = {}
    if artifact:
        facts["artifact"] = {
            "revision": artifact.get("revision", ""),
            "digest": artifact.get("digest", ""),
            "size": artifact.get("size"),
            "lastUpdateTime": artifact.get("lastUpdateTime", ""),
            "url": artifact.get("url", ""),
        }
        commit = commit_of(artifact)
        if commit:
            facts["artifact"]["commit"] = commit
    if kind == "Kustomization":
        facts["path"] = spec.get("path", "")
        facts["inventory"] = len(_dict(status.get("inventory")).get("entries") or [])
        if spec.get("targetNamespace"):
            facts["targetNamespace"] = spec["targetNamespace"]
    elif kind == "HelmRelease":
        chart = _dict(_dict(spec.get("chart")).get("spec"))
        facts["chart"] = chart.get("chart", "")
        facts["releaseName"] = spec.get("releaseName") or (
            f"{spec['targetNamespace']}-{_dict(obj.get('metadata')).get('name')}"
            if spec.get("targetNamespace")
            else _dict(obj.get("metadata")).get("name", "")
        )
        facts["targetNamespace"] = spec.get("targetNamespace") or _dict(obj.get("metadata")).get(
            "namespace", ""
        )
    elif kind in ("GitRepository", "OCIRepository", "HelmRepository", "Bucket"):
        facts["url"] = spec.get("url") or spec.get("endpoint", "")
        ref = _dict(spec.get("ref"))
        facts["ref"] = next((f"{k}: {v}" for k, v in ref.items() if v), "")
    elif kind == "HelmChart":
        facts["chart"] = spec.get("chart", "")
        facts["version"] = spec.get("version", "")
    elif kind == "ImageRepository":
        scan = _dict(status.get("lastScanResult"))
        facts["image"] = spec.get("image", "")
        facts["lastScan"] = scan.get("scanTime", "")
        facts["tagCount"] = scan.get("tagCount")
        facts["latestTags"] = (scan.get("latestTags") or [])[:5]
    elif kind == "ImagePolicy":
        latest = _dict(status.get("latestRef"))
        image = status.get("latestImage") or (
            f"{latest.get('name')}:{latest.get('tag')}" if latest.get("name") else ""
        )
        facts["latestImage"] = image
        facts["repository"] = _dict(spec.get("imageRepositoryRef")).get("name", "")
    elif kind == "ImageUpdateAutomation":
        push = _dict(status.get("lastPushCommit") and status)
        facts["lastPushCommit"] = push.get("lastPushCommit", "")
        facts["lastPushTime"] = status.get("lastPushTime", "")
        facts["lastAutomationRunTime"] = status.get("lastAutomationRunTime", "")
    return facts
