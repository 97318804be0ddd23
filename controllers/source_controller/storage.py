"""The artifact storage directory: where each object's artifacts live, and their cleanup.

Layout and URLs follow Flux (`<kind>/<namespace>/<name>/<file>`), so consumers and
tooling that build paths from status.artifact keep working; the artifact server
serves exactly this tree.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eddy_artifacts.archive import IgnoreFilter, build_archive
from eddy_artifacts.digest import file_digest
from eddy_runtime.conditions import now_rfc3339
from eddy_runtime.manager import Server

from .failures import storage_failed


@dataclass(frozen=True)
class Retention:
    """How many older artifacts of an object to keep, and for how long (seconds)."""

    records: int = 2
    ttl: float = 60.0


class Storage:
    """Artifacts under `root`, advertised at `http://<advertised>/<path>`.

    An advertised port 0 (a server bound to any free port, as in tests) stands for
    the port `server` is bound to.
    """

    def __init__(
        self,
        root: Path,
        advertised: str,
        retention: Retention | None = None,
        server: Server | None = None,
    ) -> None:
        self.root = root
        self._advertised = advertised
        self.retention = retention or Retention()
        self.server = server

    @property
    def advertised(self) -> str:
        host, _, port = self._advertised.rpartition(":")
        if port == "0" and self.server is not None and self.server.port:
            return f"{host}:{self.server.port}"
        return self._advertised

    @staticmethod
    def object_dir(kind: str, namespace: str, name: str) -> str:
        return f"{kind.lower()}/{namespace}/{name}"

    def path_for(self, kind: str, namespace: str, name: str, filename: str) -> str:
        return f"{self.object_dir(kind, namespace, name)}/{filename}"

    def absolute(self, rel: str) -> Path:
        return self.root / rel

    def url(self, rel: str) -> str:
        return f"http://{self.advertised}/{rel}"

    def exists(self, artifact: dict[str, Any] | None) -> bool:
        if not artifact or not artifact.get("path"):
            return False
        return self.absolute(str(artifact["path"])).is_file()

    def artifact(self, rel: str, revision: str, digest: str, size: int) -> dict[str, Any]:
        """The status.artifact for a stored file."""
        return {
            "path": rel,
            "url": self.url(rel),
            "revision": revision,
            "digest": digest,
            "lastUpdateTime": now_rfc3339(),
            "size": size,
        }

    def with_current_url(self, artifact: dict[str, Any]) -> dict[str, Any]:
        """The artifact with its URL rebuilt, in case the advertised address changed."""
        return {**artifact, "url": self.url(str(artifact["path"]))}

    async def archive(
        self, rel: str, tree: Path, revision: str, ignore: IgnoreFilter | None
    ) -> dict[str, Any]:
        """Build the tar.gz of `tree` at `rel` (atomically) and describe it."""
        try:
            info = await asyncio.to_thread(build_archive, tree, self.absolute(rel), ignore)
        except OSError as err:
            raise storage_failed(f"cannot write artifact {rel}: {err}") from err
        return self.artifact(rel, revision, str(info.digest), info.size)

    async def store_file(self, rel: str, source: Path, revision: str) -> dict[str, Any]:
        """Copy a finished file (a chart, an index) into storage at `rel`, atomically."""
        try:
            return await asyncio.to_thread(self._store_file, rel, source, revision)
        except OSError as err:
            raise storage_failed(f"cannot write artifact {rel}: {err}") from err

    def _store_file(self, rel: str, source: Path, revision: str) -> dict[str, Any]:
        dest = self.absolute(rel)
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=dest.parent)
        os.close(fd)
        try:
            shutil.copyfile(source, tmp)
            os.chmod(tmp, 0o644)
            os.replace(tmp, dest)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        return self.artifact(rel, revision, str(file_digest(dest)), dest.stat().st_size)

    async def collect_garbage(self, kind: str, namespace: str, name: str, keep: str) -> list[str]:
        """Remove the object's older artifacts beyond the retention; the removed paths."""
        return await asyncio.to_thread(self._collect, self.object_dir(kind, namespace, name), keep)

    def _collect(self, directory: str, keep: str) -> list[str]:
        folder = self.absolute(directory)
        try:
            entries = [e for e in os.scandir(folder) if e.is_file(follow_symlinks=False)]
        except FileNotFoundError:
            return []
        now = time.time()
        # Newest first: the current artifact plus `records - 1` predecessors stay,
        # and only while they are younger than the TTL.
        entries.sort(key=lambda e: e.stat().st_mtime, reverse=True)
        kept = 1
        removed: list[str] = []
        for entry in entries:
            rel = f"{directory}/{entry.name}"
            if rel == keep:
                continue
            stale = entry.name.startswith(".tmp-") and now - entry.stat().st_mtime > 3600
            young = now - entry.stat().st_mtime < self.retention.ttl
            if not entry.name.startswith(".") and kept < self.retention.records and young:
                kept += 1
                continue
            if entry.name.startswith(".") and not stale:
                continue
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)
            removed.append(rel)
        return removed

    async def remove_all(self, kind: str, namespace: str, name: str) -> None:
        """Remove every artifact of an object (it is being deleted)."""
        folder = self.absolute(self.object_dir(kind, namespace, name))
        try:
            await asyncio.to_thread(shutil.rmtree, folder, ignore_errors=False)
        except FileNotFoundError:
            return
        except OSError as err:
            raise storage_failed(f"cannot remove artifacts in {folder}: {err}") from err
