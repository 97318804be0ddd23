"""Which resource a name typed by a person means: `deploy`, `Deployment`, `ks.kustomize…`.

Two requests of the API server's aggregated discovery describe every kind it
serves; a name matches a kind, its plural, singular or short names, as kubectl does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from eddy_runtime.resources import Resource

from .errors import CliError
from .kube import Cluster

AGGREGATED = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"


@dataclass(frozen=True)
class Known:
    resource: Resource
    names: frozenset[str]


async def _document(cluster: Cluster, path: str) -> dict[str, object]:
    resp = await cluster.api.call_api(
        path, "GET", header_params={"Accept": AGGREGATED}, auth_settings=["BearerToken"],
        _preload_content=False, _request_timeout=30,
    )  # fmt: skip
    try:
        raw = await resp.read()
    finally:
        resp.release()
    if resp.status != 200:
        raise CliError(f"discovery of {path} failed with HTTP {resp.status}")
    found: dict[str, object] = json.loads(raw)
    return found


async def known_kinds(cluster: Cluster) -> list[Known]:
    """Every kind served, at each group's preferred (first listed) version."""
    out: list[Known] = []
    for path in ("/api", "/apis"):
        doc = await _document(cluster, path)
        if doc.get("kind") != "APIGroupDiscoveryList":
            raise CliError(
                "the API server does not offer aggregated discovery (Kubernetes 1.30+); "
                "upgrade the cluster"
            )
        for group in doc.get("items") or []:  # type: ignore[attr-defined]
            name = group.get("metadata", {}).get("name", "")
            versions = group.get("versions") or []
            if not versions:
                continue
            version = versions[0]
            for res in version.get("resources") or []:
                kind = (res.get("responseKind") or {}).get("kind", "")
                plural = res.get("resource", "")
                if not kind or not plural:
                    continue
                names = {kind.lower(), plural, res.get("singularResource", "")}
                names |= set(res.get("shortNames") or [])
                scoped = res.get("scope") == "Namespaced"
                resource = Resource(name, version["version"], plural, kind, scoped)
                out.append(Known(resource, frozenset(n.lower() for n in names if n)))
    return out


async def resolve(cluster: Cluster, typed: str) -> Resource:
    """The one Resource `typed` (kind, plural or short name, maybe `.group`) names."""
    word, _, group = typed.strip().partition(".")
    word = word.lower()
    candidates = [
        k.resource
        for k in await known_kinds(cluster)
        if word in k.names and (not group or k.resource.group == group)
    ]
    if not candidates:
        raise CliError(f"the cluster serves no kind named {typed!r}; see `kubectl api-resources`")
    # As kubectl does: the core and built-in groups win over a CRD of the same name.
    candidates.sort(key=lambda r: (not _builtin(r.group), r.group))
    return candidates[0]


def _builtin(group: str) -> bool:
    return "." not in group or group.endswith(".k8s.io")
