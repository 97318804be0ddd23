"""The ArtifactGenerator reconciler: ExternalArtifacts composed from other sources' artifacts.

Steps, in order: validate the spec (aliases, copy rules, cross-namespace refusal),
read the sources' artifacts from this controller's storage (and stop when none of
them moved), build each output tree by its copy rules, then store each artifact and
publish it in its ExternalArtifact's status; ExternalArtifacts no longer declared
are deleted with their files.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eddy_api.common import Reason, artifact_of
from eddy_api.sourceext import GENERATOR_LABEL
from eddy_artifacts.errors import ArtifactError
from eddy_artifacts.extract import extract_archive
from eddy_runtime import (
    Controller,
    Manager,
    Obj,
    Result,
    Step,
    StepError,
    Watch,
    conditions,
    ref_key,
    tracing,
)
from eddy_runtime.conditions import now_rfc3339
from eddy_runtime.predicates import artifact_changed
from eddy_runtime.resources import ApiError

from .failures import SourceError
from .generate import CopyError, CopyRule, apply_rule, rule_of
from .kinds import (
    ARTIFACT_GENERATORS,
    BUCKETS,
    EXTERNAL_ARTIFACTS,
    GIT_REPOSITORIES,
    HELM_CHARTS,
    OCI_REPOSITORIES,
)
from .reconcile import SourceAttempt, SourceReconciler
from .storage import Storage

log = logging.getLogger("eddy.source")

# source-watcher's reasons.
VALIDATION_FAILED = "ValidationFailed"
SOURCE_FETCH_FAILED = "SourceFetchFailed"
BUILD_FAILED = "BuildFailed"
ORIGIN_REVISION = "org.opencontainers.image.revision"
SOURCE_INDEX = "source"
_SOURCES = {
    r.kind: r
    for r in (GIT_REPOSITORIES, OCI_REPOSITORIES, BUCKETS, HELM_CHARTS, EXTERNAL_ARTIFACTS)
}


def _stalled(reason: str, message: str) -> SourceError:
    return SourceError(reason, message, stalled=True)


@dataclass
class Output:
    name: str
    rules: list[CopyRule]
    revision: str
    origin: str


class ArtifactGeneratorAttempt(SourceAttempt):
    status_url = False

    def __init__(self, reconciler: ArtifactGeneratorReconciler, obj: Obj) -> None:
        super().__init__(reconciler, obj)
        self.no_cross_namespace_refs = reconciler.no_cross_namespace_refs
        self.sources: dict[str, Obj] = {}
        self.outputs: list[Output] = []
        self.aliases: dict[str, dict[str, Any]] = {}
        self.inventory: list[dict[str, str]] = []
        self.built: dict[str, dict[str, Any]] = {}
        self.sources_digest = ""
        self.up_to_date = False

    def interval(self) -> float:
        return 3600.0  # source-watcher's fixed requeue; sources arrive by watch

    async def failed(self, err: StepError) -> Result:
        """Reported like every source; a transient failure retries with backoff, not in 1h."""
        result = await super().failed(err)
        return result if err.stalled else Result.retry(at_most=60.0)

    def steps(self) -> Sequence[Step]:
        return [
            Step("validate", self.validate, VALIDATION_FAILED),
            Step("sources", self.read_sources, SOURCE_FETCH_FAILED),
            Step("build", self.build, BUILD_FAILED),
            Step("publish", self.publish, Reason.RECONCILIATION_FAILED),
        ]

    async def validate(self) -> None:
        """Aliases unique and known, copy rules well-formed, names unique, namespaces allowed."""
        if self.spec.get("pathPattern"):
            raise _stalled(
                VALIDATION_FAILED,
                "spec.pathPattern is not supported by eddy yet; list the artifacts explicitly",
            )
        aliases: dict[str, dict[str, Any]] = {}
        for ref in self.spec.get("sources") or []:
            alias = str(ref.get("alias", ""))
            if alias in aliases:
                raise _stalled(VALIDATION_FAILED, f"source alias '{alias}' is used twice")
            namespace = str(ref.get("namespace") or self.namespace)
            if self.no_cross_namespace_refs and namespace != self.namespace:
                raise _stalled(
                    Reason.ACCESS_DENIED,
                    f"cannot use {ref.get('kind')} '{namespace}/{ref.get('name')}': "
                    "cross-namespace references are disabled on this controller",
                )
            if ref.get("kind") not in _SOURCES:
                raise _stalled(
                    VALIDATION_FAILED,
                    f"source kind {ref.get('kind')} of alias '{alias}' is not served by eddy yet",
                )
            aliases[alias] = {**ref, "namespace": namespace}
        names: set[str] = set()
        for item in self.spec.get("artifacts") or []:
            name = str(item.get("name", ""))
            if name in names:
                raise _stalled(VALIDATION_FAILED, f"artifact name '{name}' is declared twice")
            names.add(name)
            try:
                rules = [rule_of(op) for op in item.get("copy") or []]
            except CopyError as err:
                raise _stalled(VALIDATION_FAILED, f"artifact '{name}': {err}") from err
            wanted = {r.alias for r in rules}
            for field in ("revision", "originRevision"):
                if item.get(field):
                    wanted.add(str(item[field]).lstrip("@"))
            unknown = sorted(wanted - aliases.keys())
            if unknown:
                raise _stalled(
                    VALIDATION_FAILED,
                    f"artifact '{name}' uses unknown source alias "
                    f"'@{unknown[0]}'; known: " + ", ".join(f"@{a}" for a in sorted(aliases)),
                )
            self.outputs.append(
                Output(
                    name,
                    rules,
                    str(item.get("revision") or ""),
                    str(item.get("originRevision") or ""),
                )
            )
        self.aliases = aliases

    async def read_sources(self) -> None:
        """Each source with an artifact in storage; stop here when none of them moved."""
        for alias, ref in self.aliases.items():
            kind, name, namespace = str(ref["kind"]), str(ref["name"]), str(ref["namespace"])
            found = await self.manager.client.get_or_none(_SOURCES[kind], name, namespace)
            artifact = ((found or {}).get("status") or {}).get("artifact")
            if found is None or not artifact or not self.storage.exists(artifact):
                why = "does not exist" if found is None else "has no artifact yet"
                raise SourceError(
                    SOURCE_FETCH_FAILED, f"source @{alias} ({kind} '{namespace}/{name}') {why}"
                )
            self.sources[alias] = artifact
        self.sources_digest = sources_digest(self.sources)
        current = self.status.get("inventory") or []
        self.up_to_date = (
            self.status.get("observedSourcesDigest") == self.sources_digest
            and conditions.get(self.status, conditions.READY) is not None
            and (conditions.get(self.status, conditions.READY) or {}).get("observedGeneration")
            == self.generation
            and [i.get("name") for i in current] == [o.name for o in self.outputs]
            and all(
                self.storage.absolute(self._rel(i["name"], i["filename"])).is_file()
                for i in current
            )
        )
        if self.up_to_date:
            self.inventory = current
            self.message = f"reconciliation finished, {len(current)} artifact(s) up to date"

    def _rel(self, name: str, filename: str) -> str:
        return self.storage.path_for(EXTERNAL_ARTIFACTS.kind, self.namespace, name, filename)

    async def build(self) -> None:
        if self.up_to_date:
            return
        trees: dict[str, Path] = {}
        for alias, artifact in self.sources.items():
            tree = self.scratch / "sources" / alias
            try:
                await asyncio.to_thread(
                    extract_archive, self.storage.absolute(str(artifact["path"])), tree
                )
            except (ArtifactError, OSError) as err:
                raise SourceError(
                    SOURCE_FETCH_FAILED, f"cannot read the artifact of source @{alias}: {err}"
                ) from err
            trees[alias] = tree
        for output in self.outputs:
            out = self.scratch / "out" / output.name
            out.mkdir(parents=True)
            try:
                for rule in output.rules:
                    await asyncio.to_thread(apply_rule, rule, trees[rule.alias], out)
            except CopyError as err:
                raise SourceError(BUILD_FAILED, f"artifact '{output.name}': {err}") from err
            await self._store(output, out)

    async def _store(self, output: Output, tree: Path) -> None:
        staging = self._rel(output.name, ".build.tar.gz")
        built = await self.storage.archive(staging, tree, "", None)
        digest = str(built["digest"])
        filename = f"{digest.split(':', 1)[1]}.tar.gz"
        final = self.storage.absolute(self._rel(output.name, filename))
        await asyncio.to_thread(self.storage.absolute(staging).replace, final)
        revision = f"latest@{digest}"
        if output.revision:
            revision = str(self.sources[output.revision.lstrip("@")]["revision"])
        artifact = self.storage.artifact(
            self._rel(output.name, filename), revision, digest, int(built["size"])
        )
        if output.origin:
            source = self.sources[output.origin.lstrip("@")]
            origin = (source.get("metadata") or {}).get(ORIGIN_REVISION) or source["revision"]
            artifact["metadata"] = {ORIGIN_REVISION: str(origin)}
        # Consumers of this artifact continue the trace of the source revision it came from.
        tracing.record_in(artifact)
        self.built[output.name] = artifact
        self.inventory.append(
            {
                "name": output.name,
                "namespace": self.namespace,
                "digest": digest,
                "filename": filename,
            }
        )

    async def publish(self) -> None:
        """Each ExternalArtifact created or updated; ones no longer declared deleted."""
        if not self.up_to_date:
            for name, artifact in self.built.items():
                await self._apply(name, artifact)
        keep = {o.name for o in self.outputs}
        for old in self.status.get("inventory") or []:
            if old.get("name") not in keep:
                await self._remove(str(old["name"]))
        self.status["inventory"] = self.inventory
        self.status["observedSourcesDigest"] = self.sources_digest
        if not self.up_to_date:
            self.message = f"reconciliation finished, {len(self.inventory)} artifact(s) stored"
            self.event_message = self.message

    async def _apply(self, name: str, artifact: dict[str, Any]) -> None:
        client = self.manager.client
        meta = self.obj["metadata"]
        common = self.spec.get("commonMetadata") or {}
        labels = {**(common.get("labels") or {}), GENERATOR_LABEL: self.name}
        body: dict[str, Any] = {
            "apiVersion": EXTERNAL_ARTIFACTS.api_version,
            "kind": EXTERNAL_ARTIFACTS.kind,
            "metadata": {
                "name": name,
                "namespace": self.namespace,
                "labels": labels,
                "annotations": common.get("annotations") or {},
                "ownerReferences": [
                    {
                        "apiVersion": ARTIFACT_GENERATORS.api_version,
                        "kind": ARTIFACT_GENERATORS.kind,
                        "name": self.name,
                        "uid": meta.get("uid"),
                        "controller": True,
                        "blockOwnerDeletion": False,
                    }
                ],
            },
            "spec": {
                "sourceRef": {
                    "apiVersion": ARTIFACT_GENERATORS.api_version,
                    "kind": ARTIFACT_GENERATORS.kind,
                    "name": self.name,
                    "namespace": self.namespace,
                }
            },
        }
        existing = await client.get_or_none(EXTERNAL_ARTIFACTS, name, self.namespace)
        if existing is None:
            existing = await client.create(EXTERNAL_ARTIFACTS, body, self.namespace)
        else:
            patch = {
                "metadata": {"labels": labels, "annotations": body["metadata"]["annotations"]},
                "spec": body["spec"],
            }
            existing = await client.patch(EXTERNAL_ARTIFACTS, name, patch, self.namespace)
        current = artifact_of(existing)
        old = current.digest if current is not None else None
        message = f"stored artifact for revision '{artifact['revision']}'"
        # Consumers trust an artifact only when the status answers the object's generation.
        generation = existing["metadata"].get("generation")
        status = {
            "observedGeneration": generation,
            "artifact": artifact,
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": Reason.SUCCEEDED,
                    "message": message,
                    "lastTransitionTime": now_rfc3339(),
                    "observedGeneration": generation,
                }
            ],
        }
        observed = (existing.get("status") or {}).get("observedGeneration")
        if old == artifact["digest"] and observed == generation:
            return
        await client.patch_status(EXTERNAL_ARTIFACTS, name, {"status": status}, self.namespace)
        await self.manager.events.event(
            existing,
            "Normal",
            Reason.NEW_ARTIFACT,
            message,
            annotations={"source.toolkit.fluxcd.io/revision": str(artifact["revision"])},
        )
        await self.storage.collect_garbage(
            EXTERNAL_ARTIFACTS.kind, self.namespace, name, str(artifact["path"])
        )

    async def _remove(self, name: str) -> None:
        try:
            await self.manager.client.delete(EXTERNAL_ARTIFACTS, name, self.namespace)
        except ApiError as err:
            if not err.not_found:
                raise
        await self.storage.remove_all(EXTERNAL_ARTIFACTS.kind, self.namespace, name)


class ArtifactGeneratorReconciler(SourceReconciler):
    resource = ARTIFACT_GENERATORS

    def __init__(self, manager: Manager, storage: Storage, no_cross_namespace_refs: bool) -> None:
        super().__init__(manager, storage)
        self.no_cross_namespace_refs = no_cross_namespace_refs

    def attempt(self, obj: Obj) -> SourceAttempt:
        return ArtifactGeneratorAttempt(self, obj)

    async def forget(self, obj: Obj) -> None:
        """The generated artifacts go with the generator (their objects go by ownership)."""
        namespace = obj["metadata"]["namespace"]
        for entry in (obj.get("status") or {}).get("inventory") or []:
            await self.storage.remove_all(EXTERNAL_ARTIFACTS.kind, namespace, str(entry["name"]))


def sources_digest(sources: dict[str, dict[str, Any]]) -> str:
    """One digest of every source's artifact by alias: it changes when any of them moves."""
    digest = hashlib.sha256()
    for alias in sorted(sources):
        artifact = sources[alias]
        digest.update(f"{alias}={artifact.get('revision')}@{artifact.get('digest')}\n".encode())
    return "sha256:" + digest.hexdigest()


def trace_parent_from(manager: Manager) -> Callable[[Obj], str | None]:
    """A generator pass on moved sources continues the trace of the newest source artifact."""
    caches = {kind: manager.informer(resource) for kind, resource in _SOURCES.items()}

    def trace_parent(obj: Obj) -> str | None:
        own = obj["metadata"]["namespace"]
        found: dict[str, dict[str, Any]] = {}
        for ref in (obj.get("spec") or {}).get("sources") or []:
            cache = caches.get(str(ref.get("kind", "")))
            source = (
                cache.get(str(ref.get("name")), str(ref.get("namespace") or own)) if cache else None
            )
            artifact = ((source or {}).get("status") or {}).get("artifact")
            if not artifact:
                return None
            found[str(ref.get("alias", ""))] = artifact
        observed = (obj.get("status") or {}).get("observedSourcesDigest")
        if not found or sources_digest(found) == observed:
            return None
        newest = max(found.values(), key=lambda a: str(a.get("lastUpdateTime") or ""))
        return tracing.parent_of(newest, None)

    return trace_parent


def generator_sources(obj: Obj) -> list[str]:
    """Index: the sources a generator reads, as ref_keys."""
    own = obj["metadata"]["namespace"]
    return [
        ref_key(str(ref.get("kind", "")), str(ref.get("namespace") or own), str(ref.get("name")))
        for ref in (obj.get("spec") or {}).get("sources") or []
        if ref.get("name")
    ]


def controller(manager: Manager, storage: Storage, no_cross_namespace_refs: bool) -> Controller:
    return Controller(
        name="artifactgenerator",
        resource=ARTIFACT_GENERATORS,
        reconciler=ArtifactGeneratorReconciler(manager, storage, no_cross_namespace_refs),
        watches=[
            Watch(r, index=SOURCE_INDEX, predicate=artifact_changed) for r in _SOURCES.values()
        ],
        indexes={SOURCE_INDEX: generator_sources},
        trace_parent=trace_parent_from(manager),
    )
