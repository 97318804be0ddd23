"""Read Helm's own release records (Secrets `sh.helm.release.v1.<name>.v<version>`).

What Helm stored is the truth about a release: its status, chart, values and test
hooks. The HelmRelease's status.history is a summary of these records.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from eddy_artifacts.bounded import gunzip
from eddy_artifacts.errors import ArtifactError
from eddy_runtime.reconciler import StepError
from eddy_runtime.resources import SECRETS, ResourceClient

from .values import Values, config_digest

DEPLOYED = "deployed"
FAILED = "failed"
SUPERSEDED = "superseded"
UNINSTALLED = "uninstalled"
UNINSTALLING = "uninstalling"
PENDING = ("pending-install", "pending-upgrade", "pending-rollback")

_GZIP_MAGIC = b"\x1f\x8b"
SNAPSHOT_API_VERSION = "v2"
# A record fits in a Secret (1 MiB); Helm's JSON compresses a few times, never a
# thousandfold as a crafted record would.
MAX_RECORD_SIZE = 32 << 20


class RecordError(StepError):
    """A stored release record cannot be read; the message names the Secret."""


@dataclass(frozen=True)
class Release:
    name: str
    namespace: str
    version: int
    status: str
    chart_name: str
    chart_version: str
    app_version: str
    config: Values
    first_deployed: str
    last_deployed: str
    deleted: str
    description: str
    test_hooks: dict[str, dict[str, str]]
    digest: str
    # The rendered YAML Helm applied (hooks not included).
    manifest: str = ""

    @property
    def config_digest(self) -> str:
        return config_digest(self.config)

    def snapshot(self) -> dict[str, Any]:
        """The status.history entry for this record."""
        out: dict[str, Any] = {
            "apiVersion": SNAPSHOT_API_VERSION,
            "name": self.name,
            "namespace": self.namespace,
            "version": self.version,
            "status": self.status,
            "chartName": self.chart_name,
            "chartVersion": self.chart_version,
            "configDigest": self.config_digest,
            "digest": self.digest,
            "firstDeployed": self.first_deployed,
            "lastDeployed": self.last_deployed,
        }
        if self.app_version:
            out["appVersion"] = self.app_version
        if self.deleted:
            out["deleted"] = self.deleted
        if self.test_hooks:
            out["testHooks"] = self.test_hooks
        return out


_TIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def _timestamp(value: Any) -> str:
    """Helm writes RFC 3339 with nanoseconds and an offset; status wants seconds and Z."""
    found = _TIME.match(str(value or ""))
    if found is None or found.group(1).startswith("0001-"):
        return ""
    offset = "+00:00" if found.group(3) == "Z" else found.group(3)
    parsed = datetime.fromisoformat(found.group(1) + offset)
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _record(secret: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
    """The release of a Helm record Secret (base64 of base64 of gzip of JSON) and its bytes."""
    name = str((secret.get("metadata") or {}).get("name") or "")
    what = f"Helm release record '{name[:80]}'"
    fix = "it was not written by Helm; delete it or fix its data"
    try:
        raw = base64.b64decode((secret.get("data") or {}).get("release", ""))
        data = base64.b64decode(raw)
        if data[:2] == _GZIP_MAGIC:
            data = gunzip(data, MAX_RECORD_SIZE, what)
        elif len(data) > MAX_RECORD_SIZE:
            raise RecordError(f"{what} is larger than {MAX_RECORD_SIZE >> 20} MiB; {fix}")
        rel = json.loads(data)
    except ArtifactError as err:
        raise RecordError(f"{err}; {fix}") from err
    except (binascii.Error, ValueError, RecursionError) as err:
        raise RecordError(f"{what} is not valid base64 JSON; {fix}") from err
    if not isinstance(rel, dict):
        raise RecordError(f"{what} does not hold a release; {fix}")
    return rel, data


def decode(secret: dict[str, Any]) -> Release:
    rel, data = _record(secret)
    info = rel.get("info") or {}
    meta = (rel.get("chart") or {}).get("metadata") or {}
    hooks: dict[str, dict[str, str]] = {}
    for hook in rel.get("hooks") or []:
        if "test" not in (hook.get("events") or []):
            continue
        run = hook.get("last_run") or {}
        entry = {
            "lastStarted": _timestamp(run.get("started_at")),
            "lastCompleted": _timestamp(run.get("completed_at")),
            "phase": str(run.get("phase") or ""),
        }
        hooks[str(hook.get("name"))] = {k: v for k, v in entry.items() if v}
    return Release(
        name=str(rel.get("name", "")),
        namespace=str(rel.get("namespace", "")),
        version=int(rel.get("version", 0)),
        status=str(info.get("status", "")),
        chart_name=str(meta.get("name", "")),
        chart_version=str(meta.get("version", "")),
        app_version=str(meta.get("appVersion") or ""),
        config=rel.get("config") or {},
        first_deployed=_timestamp(info.get("first_deployed")),
        last_deployed=_timestamp(info.get("last_deployed")),
        deleted=_timestamp(info.get("deleted")),
        description=str(info.get("description") or ""),
        test_hooks=hooks,
        digest=f"sha256:{hashlib.sha256(data).hexdigest()}",
        manifest=str(rel.get("manifest") or ""),
    )


async def history(client: ResourceClient, namespace: str, name: str) -> list[Release]:
    """Every stored record of the release, newest first."""
    items, _ = await client.list_all(SECRETS, namespace, f"owner=helm,name={name}")
    records = [s for s in items if s.get("type") == "helm.sh/release.v1" and (s.get("data") or {})]
    releases = await asyncio.to_thread(lambda: [decode(s) for s in records])
    return sorted(releases, key=lambda r: r.version, reverse=True)


def latest(releases: list[Release]) -> Release | None:
    return releases[0] if releases else None


def last_successful(releases: list[Release], below: int | None = None) -> Release | None:
    """The newest record that was deployed at some point (deployed or superseded)."""
    for rel in releases:
        if below is not None and rel.version >= below:
            continue
        if rel.status in (DEPLOYED, SUPERSEDED):
            return rel
    return None


def snapshots(releases: list[Release], limit: int = 5) -> list[dict[str, Any]]:
    """Newest first, down to and including the newest deployed one."""
    out: list[dict[str, Any]] = []
    for rel in releases[: max(limit, 1)]:
        out.append(rel.snapshot())
        if rel.status == DEPLOYED:
            break
    return out
