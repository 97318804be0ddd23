"""What an application applied: its inventory entries, or its Helm release's manifest.

Both the tree and the health of an application start from this list of
{apiVersion, kind, namespace, name}.
"""

from __future__ import annotations

import asyncio
from typing import Any

from eddy_api.helm import HelmRelease
from eddy_helm import manifest, records
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
    namespace = HelmRelease.from_dict(obj).records_namespace()
    secret = await client.get_or_none(
        SECRETS, f"sh.helm.release.v1.{release}.v{version}", namespace
    )
    if secret is None:
        return []
    encoded = str(_dict(secret.get("data")).get("release", ""))
    release_ns = latest.get("namespace") or spec.get("targetNamespace")
    # Megabytes of JSON and YAML for some charts: decoded in a thread.
    return await asyncio.to_thread(
        release_objects, encoded, str(release_ns or obj["metadata"]["namespace"])
    )


def release_objects(encoded: str, target_ns: str) -> list[dict[str, str]]:
    """The objects in a Helm release record as Helm stores it in a Secret's `release` key.

    The record is read as the helm-controller reads it (eddy_helm.records: bounded,
    base64 of base64 of gzipped JSON) and its manifest parsed as drift detection
    parses it; objects without a namespace are in the release's. ValueError says
    what is wrong with the record.
    """
    try:
        release = records.decode({"data": {"release": encoded}})
        objects = manifest.release_objects(release.manifest)
    except (records.RecordError, manifest.ManifestError) as err:
        raise ValueError(str(err)) from err
    return [
        {
            "apiVersion": str(doc["apiVersion"]),
            "kind": str(doc["kind"]),
            "name": str(_dict(doc.get("metadata")).get("name", "")),
            "namespace": str(_dict(doc.get("metadata")).get("namespace") or target_ns),
        }
        for doc in objects
    ]


async def inventory_refs(client: ResourceClient, obj: Obj) -> list[dict[str, str]]:
    """{apiVersion, kind, namespace, name} of each object the application applied."""
    if obj.get("kind") == "HelmRelease":
        return await _helm_manifest_refs(client, obj)
    entries = _dict(_dict(obj.get("status")).get("inventory")).get("entries") or []
    return [r for r in (_parse_id(_dict(e)) for e in entries) if r]
