"""The HelmChart reconciler: a chart from a HelmRepository, GitRepository or Bucket, packaged.

From a repository: the newest version in range, downloaded and checked against the
index digest; from an OCI repository, the newest tag in range, checked against the
manifest's layer digest. From Git: the chart directory of the source artifact, packaged with
the values files merged. Either way the artifact is the chart's .tgz.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from eddy_api.common import SOURCE_VERIFIED, Reason
from eddy_artifacts.digest import bytes_digest, parse_revision
from eddy_artifacts.errors import ArtifactError
from eddy_artifacts.extract import extract_archive
from eddy_oci.client import OCIError
from eddy_runtime import Controller, Manager, Obj, Step, Watch, conditions, ref_key, tracing
from eddy_runtime.predicates import artifact_changed

from .failures import SourceError, fetch_failed, invalid_spec, storage_failed
from .helm.cache import IndexCache
from .helm.http import MAX_CHART_SIZE, download, repo_access
from .helm.index import parse_index, select
from .helm.oci import (
    RegistryClient,
    chart_layer,
    connection_error,
    is_exact_version,
    parse_oci_url,
    select_version,
    tag_for,
)
from .helm.package import (
    inside,
    merge_values_files,
    package,
    read_chart_meta,
)
from .kinds import BUCKETS, GIT_REPOSITORIES, HELM_CHARTS, HELM_REPOSITORIES
from .reconcile import SourceAttempt, SourceReconciler, duration_of
from .signatures import refuse_unsupported, verify_cosign
from .storage import Storage

SOURCE_INDEX = "source"
SOURCE_UNAVAILABLE = "SourceUnavailable"
_SOURCES = {r.kind: r for r in (HELM_REPOSITORIES, GIT_REPOSITORIES, BUCKETS)}

log = logging.getLogger("eddy.source")


class HelmChartAttempt(SourceAttempt):
    def __init__(self, reconciler: HelmChartReconciler, obj: Obj) -> None:
        super().__init__(reconciler, obj)
        self.chart = str(self.spec.get("chart", ""))
        self.values_files = [str(v) for v in self.spec.get("valuesFiles") or []]
        self.source: Obj = {}
        self.index_cache = reconciler.index_cache

    def steps(self) -> Sequence[Step]:
        return [
            Step("storage", self.reconcile_storage, Reason.STORAGE_OPERATION_FAILED),
            Step("source", self.reconcile_source, SOURCE_UNAVAILABLE),
            Step("artifact", self.reconcile_artifact, Reason.CHART_PULL_FAILED),
        ]

    async def reconcile_source(self) -> None:
        """The source object, which must exist and (except OCI, which has none) have an artifact."""
        ref = self.spec.get("sourceRef") or {}
        kind, name = str(ref.get("kind", "")), str(ref.get("name", ""))
        resource = _SOURCES.get(kind)
        if resource is None:
            raise invalid_spec(f"sourceRef.kind '{kind}' is not supported (HelmRepository, "
                               "GitRepository, Bucket)")  # fmt: skip
        found = await self.manager.client.get_or_none(resource, name, self.namespace)
        if found is None:
            raise fetch_failed(SOURCE_UNAVAILABLE,
                               f"{kind} '{self.namespace}/{name}' does not exist")  # fmt: skip
        self.source = found
        oci = kind == "HelmRepository" and (found.get("spec") or {}).get("type") == "oci"
        self._check_verify(oci)
        artifact = (found.get("status") or {}).get("artifact")
        if not oci and (not artifact or not self.storage.exists(artifact)):
            raise fetch_failed(
                SOURCE_UNAVAILABLE,
                f"{kind} '{self.namespace}/{name}' has no artifact yet; see its status",
            )

    def _check_verify(self, oci: bool) -> None:
        """spec.verify needs signatures eddy can check: cosign, with keys, in a registry."""
        verify = self.spec.get("verify")
        if verify is None:
            conditions.delete(self.status, SOURCE_VERIFIED)
            return
        if not oci:
            raise invalid_spec(
                f"spec.verify: chart '{self.chart}' comes from a HelmRepository that is not of "
                "type oci, whose charts carry no signature eddy can verify; remove spec.verify "
                "or pull the chart from an OCI HelmRepository",
                Reason.VERIFICATION_ERROR,
            )
        refuse_unsupported(verify)

    async def reconcile_artifact(self) -> None:
        if self.source.get("kind") in ("GitRepository", "Bucket"):
            await self._from_tree()
        elif (self.source.get("spec") or {}).get("type") == "oci":
            await self._from_registry()
        else:
            await self._from_repository()
        self.status["observedChartName"] = self.chart
        if self.values_files:
            self.status["observedValuesFiles"] = self.values_files
        else:
            self.status.pop("observedValuesFiles", None)

    def _up_to_date(self, revision: str) -> bool:
        current = self.status.get("artifact")
        return bool(
            current
            and current.get("revision") == revision
            and self.storage.exists(current)
            and self.status.get("observedChartName") == self.chart
            and (self.status.get("observedValuesFiles") or []) == self.values_files
            and self.status.get("observedGeneration") == self.generation
        )

    async def _index(self, path: str) -> dict[str, Any]:
        """The HelmRepository's stored index, parsed, or as the cache kept it."""
        cache = self.index_cache
        repo = self.source["metadata"]
        if cache is not None:
            found = cache.get(path, repo["name"], repo["namespace"])
            if found is not None:
                return found
        index_path = self.storage.absolute(path)
        # Megabytes of YAML: read and parsed in a thread, as the HelmRepository parses it.
        index = await asyncio.to_thread(lambda: parse_index(index_path.read_bytes()))
        if cache is not None and not cache.put(path, index):
            log.info("the Helm index cache is full (--helm-cache-max-size); index not cached")
        return index

    async def _from_repository(self) -> None:
        repo = self.source
        artifact = repo["status"]["artifact"]
        index = await self._index(str(artifact["path"]))
        spec = repo.get("spec") or {}
        chosen = select(index, self.chart, str(self.spec.get("version") or "*"), spec["url"])
        version = chosen.version
        self.status["observedSourceArtifactRevision"] = artifact["revision"]
        if self._up_to_date(version):
            self.message = f"pulled '{self.chart}' chart with version '{version}'"
            return
        access = await repo_access(self.manager.client, self.namespace, spec)
        timeout = duration_of(spec, "timeout", "60s")
        what = f"chart {self.chart} {version}"
        data = await download(
            chosen.url, access, timeout, MAX_CHART_SIZE, Reason.CHART_PULL_FAILED, what
        )
        actual = bytes_digest(data)
        if chosen.digest and chosen.digest.removeprefix("sha256:") != actual.hex:
            raise fetch_failed(
                Reason.CHART_PULL_FAILED,
                f"chart {self.chart} {version} from {chosen.url} has digest {actual} but the "
                f"index says sha256:{chosen.digest.removeprefix('sha256:')}; the repository "
                "is inconsistent or the download was tampered with",
            )
        await self._store_pulled(data, version)

    async def _from_registry(self) -> None:
        """The newest tag in range of <HelmRepository url>/<chart>, pulled from the registry."""
        spec = self.source.get("spec") or {}
        self.status.pop("observedSourceArtifactRevision", None)
        location = parse_oci_url(str(spec.get("url", "")), bool(spec.get("insecure")))
        access = await repo_access(self.manager.client, self.namespace, spec)
        timeout = duration_of(spec, "timeout", "60s")
        wanted = str(self.spec.get("version") or "*")
        repository = location.repository(self.chart)
        try:
            # spec.timeout bounds the whole pull (every tags page, the manifest, the
            # layer), not each request alone.
            async with (
                asyncio.timeout(timeout),
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session,
            ):
                registry = RegistryClient(session, location, access.basic, access.tls)
                if is_exact_version(wanted):
                    version = wanted.strip()
                else:
                    tags = await registry.tags(repository, self.chart)
                    version = select_version(tags, wanted, self.chart)
                manifest: dict[str, Any] | None = None
                if self.spec.get("verify") is not None:
                    # At every pass, as Flux does: a tag can be moved to other content.
                    manifest, digest = await registry.manifest(
                        repository, tag_for(version), self.chart
                    )
                    await self._verify(registry, repository, digest, version)
                if self._up_to_date(version):
                    self.message = f"pulled '{self.chart}' chart with version '{version}'"
                    return
                ref = location.reference(self.chart, tag_for(version))
                if manifest is None:
                    manifest, _ = await registry.manifest(repository, tag_for(version), self.chart)
                layer = chart_layer(manifest, ref)
                data = await registry.blob(repository, str(layer.get("digest", "")),
                                           MAX_CHART_SIZE, f"chart layer of {ref}")  # fmt: skip
        except (aiohttp.ClientError, TimeoutError, ssl.SSLError) as err:
            raise connection_error(err, location, Reason.CHART_PULL_FAILED) from err
        await self._store_pulled(data, version)

    async def _verify(
        self, registry: RegistryClient, repository: str, digest: str, version: str
    ) -> None:
        """The cosign signature of the chart version's manifest, checked with the trusted keys."""
        ref = registry.location.reference(self.chart, tag_for(version))
        try:
            await verify_cosign(self, registry.oci, repository, digest,
                                f"verified signature of version {version}")  # fmt: skip
        except OCIError as err:
            raise fetch_failed(
                Reason.CHART_PULL_FAILED, f"reading the signatures of {ref}: {err.message}"
            ) from err

    async def _store_pulled(self, data: bytes, version: str) -> None:
        """Store a downloaded chart archive, repackaged when valuesFiles are merged in."""
        self.event_reason = Reason.CHART_PULL_SUCCEEDED
        archive = self.scratch / f"{self.chart}-{version}.tgz"
        await asyncio.to_thread(archive.write_bytes, data)
        # Unpacked even when stored as pulled: an archive that could not be unpacked
        # safely (a path out of the chart, a link, a bomb) is refused here, not served.
        unpacked = self.scratch / "chart"
        try:
            await asyncio.to_thread(extract_archive, archive, unpacked)
        except (ArtifactError, OSError) as err:
            raise fetch_failed(
                Reason.CHART_PULL_FAILED,
                f"chart '{self.chart}' {version} is not a safe chart archive: {err}",
            ) from err
        if self.values_files:
            chart_dir = _single_dir(unpacked)
            archive = await self._package(chart_dir, chart_dir, None)
        await self._store(archive, version, f"pulled '{self.chart}' chart with version '{version}'")

    async def _from_tree(self) -> None:
        """Package the chart directory of a GitRepository's or a Bucket's artifact."""
        artifact = self.source["status"]["artifact"]
        revision = str(artifact["revision"])
        self.status["observedSourceArtifactRevision"] = revision
        root = self.scratch / "source"
        await self._extract(self.storage.absolute(str(artifact["path"])), root)
        chart_dir = inside(root, self.chart, "spec.chart")
        if not chart_dir.is_dir():
            raise SourceError(
                Reason.CHART_PACKAGE_FAILED,
                f"chart path '{self.chart}' does not exist in the source revision {revision}",
                condition="BuildFailed",
            )
        meta = await asyncio.to_thread(read_chart_meta, chart_dir)
        version = str(meta["version"])
        if self.spec.get("reconcileStrategy") == "Revision":
            digest = parse_revision(revision).digest.hex
            version = f"{version}+{digest[:12]}"
        if self._up_to_date(version):
            self.message = f"packaged '{meta['name']}' chart with version '{version}'"
            return
        archive = await self._package(chart_dir, root, version)
        self.event_reason = Reason.CHART_PACKAGE_SUCCEEDED
        await self._store(
            archive, version, f"packaged '{meta['name']}' chart with version '{version}'"
        )

    async def _package(self, chart_dir: Path, values_root: Path, version: str | None) -> Path:
        if self.values_files:
            ignore = bool(self.spec.get("ignoreMissingValuesFiles"))
            merged = await asyncio.to_thread(
                merge_values_files, values_root, self.values_files, ignore
            )
            text = yaml.safe_dump(merged, sort_keys=False)
            await asyncio.to_thread((chart_dir / "values.yaml").write_text, text)
        return await package(chart_dir, self.scratch / "out", self.scratch / "helm", version)

    async def _extract(self, archive: Path, dest: Path) -> None:
        try:
            await asyncio.to_thread(extract_archive, archive, dest)
        except (ArtifactError, OSError) as err:
            raise storage_failed(f"cannot unpack {archive.name}: {err}") from err

    async def _store(self, archive: Path, version: str, message: str) -> None:
        name = self.chart.rstrip("/").rsplit("/", 1)[-1]
        rel = self.storage.path_for(HELM_CHARTS.kind, self.namespace, self.name,
                                    f"{name}-{version}.tgz")  # fmt: skip
        self.artifact = await self.storage.store_file(rel, archive, version)
        self.status["artifact"] = self.artifact
        self.status["url"] = self.artifact["url"]
        self.message = message
        self.event_message = message


def _single_dir(root: Path) -> Path:
    dirs = [p for p in root.iterdir() if p.is_dir()]
    if len(dirs) != 1:
        raise fetch_failed(Reason.CHART_PULL_FAILED, "the chart archive has no single top folder")
    return dirs[0]


class HelmChartReconciler(SourceReconciler):
    resource = HELM_CHARTS

    def __init__(
        self, manager: Manager, storage: Storage, index_cache: IndexCache | None = None
    ) -> None:
        super().__init__(manager, storage)
        self.index_cache = index_cache

    def attempt(self, obj: Obj) -> SourceAttempt:
        return HelmChartAttempt(self, obj)


def chart_source(obj: Obj) -> list[str]:
    """Index: the source a HelmChart builds from, as a ref_key."""
    ref = (obj.get("spec") or {}).get("sourceRef") or {}
    if not ref.get("name"):
        return []
    return [ref_key(str(ref.get("kind", "")), obj["metadata"]["namespace"], str(ref["name"]))]


def trace_parent_from(manager: Manager) -> Callable[[Obj], str | None]:
    """A chart built from a source revision it has not built from yet continues its trace."""
    caches = {r.kind: manager.informer(r) for r in (GIT_REPOSITORIES, HELM_REPOSITORIES)}

    def trace_parent(obj: Obj) -> str | None:
        ref = (obj.get("spec") or {}).get("sourceRef") or {}
        cache = caches.get(str(ref.get("kind", "")))
        source = cache.get(str(ref.get("name")), obj["metadata"]["namespace"]) if cache else None
        artifact = ((source or {}).get("status") or {}).get("artifact")
        done = (obj.get("status") or {}).get("observedSourceArtifactRevision")
        return tracing.parent_of(artifact, done)

    return trace_parent


def controller(
    manager: Manager, storage: Storage, index_cache: IndexCache | None = None
) -> Controller:
    return Controller(
        name="helmchart",
        resource=HELM_CHARTS,
        reconciler=HelmChartReconciler(manager, storage, index_cache),
        watches=[
            Watch(HELM_REPOSITORIES, index=SOURCE_INDEX, predicate=artifact_changed),
            Watch(GIT_REPOSITORIES, index=SOURCE_INDEX, predicate=artifact_changed),
            Watch(BUCKETS, index=SOURCE_INDEX, predicate=artifact_changed),
        ],
        indexes={SOURCE_INDEX: chart_source},
        trace_parent=trace_parent_from(manager),
    )
