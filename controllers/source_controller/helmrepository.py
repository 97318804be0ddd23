"""The HelmRepository reconciler: a repository's index.yaml becomes an artifact.

`type: default` downloads and validates the index; `type: oci` logs in to the
registry (it answers and accepts the credentials) and is Ready without an artifact.
"""

from __future__ import annotations

import asyncio
import ssl
import tempfile
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp

from eddy_api.common import Reason
from eddy_artifacts.digest import bytes_digest
from eddy_runtime import Controller, Manager, Obj, Result, Step

from .failures import invalid_spec
from .helm.cache import IndexCache
from .helm.http import MAX_INDEX_SIZE, RepoAccess, download, repo_access
from .helm.index import parse_index
from .helm.oci import RegistryClient, connection_error, parse_oci_url
from .kinds import HELM_REPOSITORIES
from .reconcile import SourceAttempt, SourceReconciler, duration_of
from .storage import Storage


class HelmRepositoryAttempt(SourceAttempt):
    def __init__(self, reconciler: HelmRepositoryReconciler, obj: Obj) -> None:
        super().__init__(reconciler, obj)
        self.url = str(self.spec.get("url", ""))
        self.oci = self.spec.get("type") == "oci"

    def interval(self) -> float:
        return duration_of(self.spec, "interval", "1m")

    def steps(self) -> Sequence[Step]:
        return [
            Step("storage", self.reconcile_storage, Reason.STORAGE_OPERATION_FAILED),
            Step("source", self.reconcile_source, Reason.FAILED),
        ]

    async def reconcile_storage(self) -> Result | None:
        if self.oci:
            # An OCI repository is only logged in to: it has no artifact.
            self.status.pop("artifact", None)
            self.status.pop("url", None)
            return None
        return await super().reconcile_storage()

    async def reconcile_source(self) -> None:
        timeout = duration_of(self.spec, "timeout", "60s")
        access = await repo_access(self.manager.client, self.namespace, self.spec)
        if self.oci:
            await self._check_registry(access, timeout)
            self.message = "Helm repository is Ready"
            return
        scheme = urlsplit(self.url).scheme
        if scheme not in ("http", "https"):
            raise invalid_spec(f"spec.url must be http(s):// for type default, not {scheme}://")
        index_url = self.url.rstrip("/") + "/index.yaml"
        data = await download(
            index_url,
            access,
            timeout,
            MAX_INDEX_SIZE,
            Reason.INDEXATION_FAILED,
            "the repository index",
        )
        index = await asyncio.to_thread(parse_index, data)
        revision = str(bytes_digest(data))
        count = sum(len(v or []) for v in (index.get("entries") or {}).values())
        self.message = f"stored artifact: revision '{revision}'"
        current = self.status.get("artifact")
        if current and current.get("revision") == revision and self.storage.exists(current):
            return
        rel = self.storage.path_for(
            HELM_REPOSITORIES.kind, self.namespace, self.name, f"index-{revision[7:]}.yaml"
        )
        with tempfile.TemporaryDirectory(prefix="eddy-index-") as tmp:
            staged = Path(tmp) / "index.yaml"
            await asyncio.to_thread(staged.write_bytes, data)
            self.artifact = await self.storage.store_file(rel, staged, revision)
        self.status["artifact"] = self.artifact
        self.status["url"] = self.artifact["url"]
        self.event_message = f"stored fetched index of size {len(data)} with {count} chart versions"

    async def _check_registry(self, access: RepoAccess, timeout: float) -> None:
        """Log in to the registry: it answers /v2/ and accepts the credentials (if any)."""
        location = parse_oci_url(self.url, bool(self.spec.get("insecure")))
        try:
            async with aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=timeout)
            ) as session:
                await RegistryClient(session, location, access.basic, access.tls).login()
        except (aiohttp.ClientError, TimeoutError, ssl.SSLError) as err:
            raise connection_error(err, location, Reason.FAILED) from err

    def new_revision(self) -> bool:
        return not self.oci and super().new_revision()


class HelmRepositoryReconciler(SourceReconciler):
    resource = HELM_REPOSITORIES

    def __init__(
        self, manager: Manager, storage: Storage, index_cache: IndexCache | None = None
    ) -> None:
        super().__init__(manager, storage)
        self.index_cache = index_cache

    def attempt(self, obj: Obj) -> SourceAttempt:
        return HelmRepositoryAttempt(self, obj)

    async def forget(self, obj: Obj) -> None:
        await super().forget(obj)
        if self.index_cache is not None:
            self.index_cache.forget(obj["metadata"]["name"], obj["metadata"]["namespace"])


def controller(
    manager: Manager, storage: Storage, index_cache: IndexCache | None = None
) -> Controller:
    return Controller(
        name="helmrepository",
        resource=HELM_REPOSITORIES,
        reconciler=HelmRepositoryReconciler(manager, storage, index_cache),
    )
