"""What an application applied: its inventory entries, or its Helm release's manifest.

Both the tree and the health of an application start from this list of
{apiVersion, kind, namespace, name}.
"""

from __future__ import annotations

import base64
import gzip
import json
from typing import Any

import yaml

from eddy_runtime.resources import SECRETS, Obj, ResourceClient

__all__ = ["inventory_refs", "release_objects"]


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _parse_id(entry: dict[str, Any]) -> dict[str, str] | None:
    parts = str(entry.get("id", "")).split("_")
    if len(parts) != 4:
        return None
    namespace, name, group, kind = parts
    version = str(entry.get("v", "v1"))
    return {
        "namespace": namespace,
        "name": name,
        "kind": kind,
        "apiVersion": f"{group}/{version}" if group else version,
    }


async def _helm_manifest_refs(client: ResourceClient, obj: Obj) -> list[dict[str, str]]:
    """The objects of a Helm release's latest revision, read from Helm's own storage."""
    status = _dict(obj.get("status"))
    history = status.get("history") or []
    if not history:
        return []
    latest = _dict(history[0])
    spec = _dict(obj.get("spec"))
    release, version = latest.get("name"), latest.get("version")
    # Where the helm-controller keeps the records: status says, else the spec's rule.
    namespace = str(
        status.get("storageNamespace") or spec.get("storageNamespace")
        or obj["metadata"]["namespace"]
    )  # fmt: skip
    secret = await client.get_or_none(
        SECRETS, f"sh.helm.release.v1.{release}.v{version}", namespace
    )
    if secret is None:
        return []
    encoded = str(_dict(secret.get("data")).get("release", ""))
    release_ns = latest.get("namespace") or spec.get("targetNamespace")
    return release_objects(encoded, str(release_ns or obj["metadata"]["namespace"]))


def release_objects(encoded: str, target_ns: str) -> list[dict[str, str]]:
    """The objects in a Helm release record as Helm stores it in a Secret's `release` key.

    The Secret's data is base64 (the API's) of base64 (Helm's) of gzipped JSON,
    whose `manifest` is the rendered YAML; objects without a namespace are in the
    release's.
    """
    raw = base64.b64decode(base64.b64decode(encoded))
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    manifest = str(json.loads(raw).get("manifest", ""))
    refs = []
    for doc in yaml.safe_load_all(manifest):
        if not isinstance(doc, dict) or not doc.get("kind"):
            continue
        meta = _dict(doc.get("metadata"))
        refs.append(
            {
                "apiVersion": str(doc.get("apiVersion", "")),
                "kind": str(doc["kind"]),
                "name": str(meta.get("name", "")),
                "namespace": str(meta.get("namespace") or target_ns),
            }
        )
    return refs


async def inventory_refs(client: ResourceClient, obj: Obj) -> list[dict[str, str]]:
    """{apiVersion, kind, namespace, name} of each object the application applied."""
    if obj.get("kind") == "HelmRelease":
        return await _helm_manifest_refs(client, obj)
    entries = _dict(_dict(obj.get("status")).get("inventory")).get("entries") or []
    return [r for r in (_parse_id(_dict(e)) for e in entries) if r]
