"""Find a Kustomization's source and download its artifact, verified, into a work dir.

Sources are read only through `status.artifact` and its URL, the contract every
source kind fulfils; the one artifact fetcher checks the digest before extracting.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import aiohttp

from eddy_api.common import Artifact, artifact_of
from eddy_artifacts import ArtifactError, ArtifactNotFound, fetch_artifact
from eddy_kustomize.objects import SOURCES, Obj
from eddy_runtime.conditions import is_ready
from eddy_runtime.informer import Informer
from eddy_runtime.reconciler import StepError
from eddy_runtime.resources import ResourceClient


class SourceNotReady(Exception):
    """The source exists but has no artifact yet, or does not exist yet: wait, do not fail."""


class SourceRefused(Exception):
    """The reference itself is not allowed or not supported."""


def source_ref(kustomization: Obj) -> tuple[str, str, str]:
    """(kind, namespace, name) of the source; the namespace defaults to the Kustomization's."""
    ref = (kustomization.get("spec") or {}).get("sourceRef") or {}
    namespace = ref.get("namespace") or kustomization["metadata"]["namespace"]
    return str(ref.get("kind", "")), str(namespace), str(ref.get("name", ""))


async def find_source(
    kustomization: Obj,
    caches: Mapping[str, Informer],
    client: ResourceClient,
    no_cross_namespace_refs: bool,
) -> Obj:
    kind, namespace, name = source_ref(kustomization)
    own_namespace = kustomization["metadata"]["namespace"]
    if no_cross_namespace_refs and namespace != own_namespace:
        raise SourceRefused(
            f"cannot use {kind} '{namespace}/{name}': cross-namespace references are disabled "
            "on this controller; put the source in the Kustomization's namespace"
        )
    resource, cache = SOURCES.get(kind), caches.get(kind)
    if resource is None or cache is None:
        served = ", ".join(sorted(SOURCES))
        raise SourceRefused(f"source kind {kind} is not served by eddy yet; use one of {served}")
    source = cache.get(name, namespace) or await client.get_or_none(resource, name, namespace)
    if source is None:
        raise SourceNotReady(f"Source '{kind}/{namespace}/{name}' not found")
    return source


def ready_artifact(source: Obj) -> Artifact:
    """The source's current artifact; SourceNotReady when it has none yet."""
    found = artifact_of(source)
    meta = source["metadata"]
    where = f"{source.get('kind')}/{meta.get('namespace')}/{meta['name']}"
    if found is None or not found.url or not found.digest:
        raise SourceNotReady(f"Source artifact not found for {where}")
    if not is_ready(source) and not found.revision:
        raise SourceNotReady(f"Source {where} is not ready")
    return found


async def download(session: aiohttp.ClientSession, artifact: Artifact, dest: Path) -> None:
    """Fetch, verify and extract; errors name the revision and say what went wrong."""
    try:
        await fetch_artifact(session, artifact.url, artifact.digest, dest)
    except ArtifactNotFound as err:
        # The source has moved on or not stored it yet: wait for it, as for a
        # source without an artifact, rather than fail.
        raise SourceNotReady(
            f"Source is not ready, artifact not found for revision {artifact.revision}"
        ) from err
    except ArtifactError as err:
        raise StepError(f"failed to fetch artifact of revision {artifact.revision}: {err}") from err
