"""The order objects are applied in: definitions and cluster-wide objects first.

A custom resource cannot be created before its CRD is Established, nor a Deployment
before its Namespace exists; Flux's staged apply ordering, written for eddy.
"""

from __future__ import annotations

from .objects import CRD_KIND, NAMESPACE_KIND, Obj

# Kinds that others depend on come first within a stage; unknown kinds last.
_KIND_ORDER = [
    CRD_KIND,
    NAMESPACE_KIND,
    "ResourceQuota",
    "StorageClass",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "SecretList",
    "ConfigMap",
    "PriorityClass",
    "RuntimeClass",
    "IngressClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "ClusterRole",
    "ClusterRoleList",
    "ClusterRoleBinding",
    "ClusterRoleBindingList",
    "Role",
    "RoleList",
    "RoleBinding",
    "RoleBindingList",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "Ingress",
    "APIService",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
]
_RANK = {kind: i for i, kind in enumerate(_KIND_ORDER)}


def sort_key(obj: Obj) -> tuple[int, str, str, str]:
    meta = obj.get("metadata") or {}
    kind = str(obj.get("kind", ""))
    return (
        _RANK.get(kind, len(_KIND_ORDER)),
        kind,
        str(meta.get("namespace") or ""),
        str(meta.get("name", "")),
    )


def in_apply_order(objects: list[Obj]) -> list[Obj]:
    return sorted(objects, key=sort_key)


def in_delete_order(objects: list[Obj]) -> list[Obj]:
    """Reverse of apply order: workloads go before the Namespaces and CRDs they need."""
    return sorted(objects, key=sort_key, reverse=True)
