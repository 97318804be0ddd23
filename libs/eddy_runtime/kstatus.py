"""kstatus: is a live object healthy? The rules per kind, in one place.

The kustomize-controller waits on them and the dashboard shows them, so eddy,
Flux and the dashboard agree on what "healthy" means.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .resources import Obj

CURRENT = "Current"
IN_PROGRESS = "InProgress"
FAILED = "Failed"
NOT_FOUND = "NotFound"


@dataclass(frozen=True)
class Health:
    state: str
    message: str = ""


def _conditions(obj: Obj) -> dict[str, dict[str, Any]]:
    found = (obj.get("status") or {}).get("conditions") or []
    return {str(c.get("type")): c for c in found if isinstance(c, dict)}


def _int(status: dict[str, Any], key: str) -> int:
    value = status.get(key)
    return int(value) if isinstance(value, int) else 0


def _generation_observed(obj: Obj) -> bool:
    generation = (obj.get("metadata") or {}).get("generation")
    observed = (obj.get("status") or {}).get("observedGeneration")
    return generation is None or observed is None or int(observed) >= int(generation)


def _deployment(obj: Obj) -> Health:
    status = obj.get("status") or {}
    if "observedGeneration" not in status:
        return Health(IN_PROGRESS, "Deployment not yet observed by its controller")
    conds = _conditions(obj)
    progressing = conds.get("Progressing", {})
    if progressing.get("reason") == "ProgressDeadlineExceeded":
        return Health(FAILED, f"Progress deadline exceeded: {progressing.get('message', '')}")
    desired = int((obj.get("spec") or {}).get("replicas", 1))
    updated, ready = _int(status, "updatedReplicas"), _int(status, "readyReplicas")
    available, total = _int(status, "availableReplicas"), _int(status, "replicas")
    if updated < desired:
        return Health(IN_PROGRESS, f"Updated: {updated}/{desired}")
    if total > updated:
        return Health(IN_PROGRESS, f"Pending termination: {total - updated}")
    if available < desired:
        return Health(IN_PROGRESS, f"Available: {available}/{desired}")
    if ready < desired:
        return Health(IN_PROGRESS, f"Ready: {ready}/{desired}")
    if conds.get("Available", {}).get("status") == "False":
        return Health(IN_PROGRESS, "Deployment not Available")
    return Health(CURRENT, f"Deployment is available. Replicas: {total}")


def _statefulset(obj: Obj) -> Health:
    status = obj.get("status") or {}
    spec = obj.get("spec") or {}
    if "observedGeneration" not in status:
        return Health(IN_PROGRESS, "StatefulSet not yet observed by its controller")
    desired = int(spec.get("replicas", 1))
    ready, current = _int(status, "readyReplicas"), _int(status, "currentReplicas")
    if ready < desired:
        return Health(IN_PROGRESS, f"Ready: {ready}/{desired}")
    strategy = (spec.get("updateStrategy") or {}).get("type", "RollingUpdate")
    if strategy == "RollingUpdate":
        partition = int(
            ((spec.get("updateStrategy") or {}).get("rollingUpdate") or {}).get("partition", 0)
        )
        updated = _int(status, "updatedReplicas")
        if updated < desired - partition:
            return Health(IN_PROGRESS, f"Updated: {updated}/{desired - partition}")
        if partition == 0 and status.get("currentRevision") != status.get("updateRevision"):
            return Health(IN_PROGRESS, "Waiting for the update revision to become current")
        if partition == 0 and current < desired:
            return Health(IN_PROGRESS, f"Current: {current}/{desired}")
    return Health(CURRENT, f"All replicas scheduled as expected. Replicas: {ready}")


def _daemonset(obj: Obj) -> Health:
    status = obj.get("status") or {}
    if "observedGeneration" not in status:
        return Health(IN_PROGRESS, "DaemonSet not yet observed by its controller")
    desired = _int(status, "desiredNumberScheduled")
    for key, label in (
        ("currentNumberScheduled", "Scheduled"),
        ("updatedNumberScheduled", "Updated"),
        ("numberAvailable", "Available"),
        ("numberReady", "Ready"),
    ):
        if _int(status, key) < desired:
            return Health(IN_PROGRESS, f"{label}: {_int(status, key)}/{desired}")
    return Health(CURRENT, f"All replicas scheduled as expected. Replicas: {desired}")


def _job(obj: Obj) -> Health:
    conds = _conditions(obj)
    if conds.get("Failed", {}).get("status") == "True":
        return Health(FAILED, f"Job failed: {conds['Failed'].get('message', '')}".strip())
    if conds.get("Complete", {}).get("status") == "True":
        return Health(CURRENT, "Job completed")
    return Health(IN_PROGRESS, "Job in progress")


def _pod(obj: Obj) -> Health:
    status = obj.get("status") or {}
    phase = status.get("phase", "Pending")
    if phase == "Succeeded":
        return Health(CURRENT, "Pod has completed successfully")
    if phase == "Failed":
        return Health(FAILED, f"Pod failed: {status.get('message') or status.get('reason', '')}")
    for container in status.get("containerStatuses") or []:
        waiting = (container.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in ("CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull"):
            return Health(FAILED, f"container {container.get('name')}: {waiting['reason']}")
    if phase == "Running" and _conditions(obj).get("Ready", {}).get("status") == "True":
        return Health(CURRENT, "Pod is Ready")
    return Health(IN_PROGRESS, f"Pod phase: {phase}")


def _pvc(obj: Obj) -> Health:
    phase = (obj.get("status") or {}).get("phase")
    if phase == "Bound":
        return Health(CURRENT, "PVC is Bound")
    return Health(IN_PROGRESS, f"PVC is not Bound, phase: {phase or 'Pending'}")


def _service(obj: Obj) -> Health:
    spec = obj.get("spec") or {}
    if spec.get("type") == "LoadBalancer":
        ingress = ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress")
        if not ingress:
            return Health(IN_PROGRESS, "LoadBalancer has no address yet")
    return Health(CURRENT, "Service is ready")


def _crd(obj: Obj) -> Health:
    conds = _conditions(obj)
    if conds.get("NamesAccepted", {}).get("status") == "False":
        return Health(FAILED, f"names not accepted: {conds['NamesAccepted'].get('message', '')}")
    if conds.get("Established", {}).get("status") == "True":
        return Health(CURRENT, "CRD is established")
    return Health(IN_PROGRESS, "CRD is not established yet")


def _generic(obj: Obj) -> Health:
    conds = _conditions(obj)
    if conds.get("Stalled", {}).get("status") == "True":
        return Health(FAILED, str(conds["Stalled"].get("message", "Stalled")))
    ready = conds.get("Ready")
    if ready is not None:
        if ready.get("status") == "True":
            return Health(CURRENT, str(ready.get("message", "Ready")))
        return Health(IN_PROGRESS, str(ready.get("message") or "not Ready"))
    if conds.get("Reconciling", {}).get("status") == "True":
        return Health(IN_PROGRESS, str(conds["Reconciling"].get("message", "Reconciling")))
    return Health(CURRENT, "Resource is current")


_RULES = {
    ("apps", "Deployment"): _deployment,
    ("apps", "StatefulSet"): _statefulset,
    ("apps", "DaemonSet"): _daemonset,
    ("batch", "Job"): _job,
    ("", "Pod"): _pod,
    ("", "PersistentVolumeClaim"): _pvc,
    ("", "Service"): _service,
    ("apiextensions.k8s.io", "CustomResourceDefinition"): _crd,
}


def assess(obj: Obj | None) -> Health:
    """The kstatus state of a live object (None: it does not exist)."""
    if obj is None:
        return Health(NOT_FOUND, "object not found")
    if (obj.get("metadata") or {}).get("deletionTimestamp"):
        return Health(IN_PROGRESS, "object is being deleted")
    group = str(obj.get("apiVersion", "")).rpartition("/")[0]
    rule = _RULES.get((group, str(obj.get("kind", ""))))
    if rule is None:
        if not _generation_observed(obj):
            return Health(IN_PROGRESS, "the latest generation is not observed yet")
        return _generic(obj)
    if not _generation_observed(obj):
        return Health(IN_PROGRESS, "the latest generation is not observed yet")
    return rule(obj)
