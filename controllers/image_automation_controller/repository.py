"""The ImageRepository reconciler: scan a registry's tags, keep them, summarize in status.

The full tag list stays in this process (`TagStore`), for the ImagePolicies that
read it; status holds only the count, a hash and the ten latest tags, as Flux's.
"""

from __future__ import annotations

import base64
import hashlib
import re
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

from eddy_api.image import DEFAULT_EXCLUSION_LIST
from eddy_runtime import Manager, Result
from eddy_runtime.conditions import SUCCEEDED, now_rfc3339
from eddy_runtime.durations import parse_duration
from eddy_runtime.resources import SECRETS
from eddy_runtime.sessions import LazySession

from .objects import IMAGE_REPOSITORIES, Obj, name_of, spec_of
from .registry import (
    AUTHENTICATION_FAILED,
    Client,
    Credentials,
    ScanError,
    credentials_from_dockerconfig,
    parse_image,
)
from .reporting import Report, interval_of, retry_after

INVALID_EXCLUSION = "InvalidExclusionList"
LATEST_TAGS = 10


@dataclass(frozen=True)
class Scan:
    revision: str
    tags: tuple[str, ...]


class TagStore:
    """The tags of each ImageRepository from its last scan, by "namespace/name"."""

    def __init__(self) -> None:
        self._scans: dict[str, Scan] = {}

    def put(self, namespace: str, name: str, tags: list[str]) -> Scan:
        ordered = tuple(sorted(set(tags)))
        revision = hashlib.sha256("\n".join(ordered).encode()).hexdigest()
        scan = Scan(revision, ordered)
        self._scans[f"{namespace}/{name}"] = scan
        return scan

    def get(self, namespace: str, name: str) -> Scan | None:
        return self._scans.get(f"{namespace}/{name}")

    def forget(self, namespace: str, name: str) -> None:
        self._scans.pop(f"{namespace}/{name}", None)


def exclude(tags: list[str], patterns: list[str]) -> list[str]:
    """Tags matching none of the patterns; ValueError names a pattern that is not a regex."""
    compiled: list[re.Pattern[str]] = []
    for pattern in patterns:
        try:
            compiled.append(re.compile(pattern))
        except re.error as err:
            raise ValueError(
                f"spec.exclusionList entry {pattern!r} is not a regular expression: {err}"
            ) from None
    return [t for t in tags if not any(p.search(t) for p in compiled)]


def latest_tags(tags: tuple[str, ...] | list[str]) -> list[str]:
    return sorted(tags, reverse=True)[:LATEST_TAGS]


class ImageRepositoryReconciler:
    def __init__(self, manager: Manager, store: TagStore) -> None:
        self.manager = manager
        self.store = store
        self.session = LazySession()

    async def close(self) -> None:
        await self.session.close()

    async def _secret(self, namespace: str, name: str, field: str) -> dict[str, bytes]:
        secret = await self.manager.client.get_or_none(SECRETS, name, namespace)
        if secret is None:
            raise ScanError(
                AUTHENTICATION_FAILED,
                f"secret '{namespace}/{name}' named in {field} not found; create it or fix {field}",
            )
        data = {k: base64.b64decode(v or "") for k, v in (secret.get("data") or {}).items()}
        return data

    async def credentials(self, obj: Obj, host: str) -> Credentials | None:
        ref = (spec_of(obj).get("secretRef") or {}).get("name")
        if not ref:
            return None
        namespace, _ = name_of(obj)
        data = await self._secret(namespace, ref, "spec.secretRef")
        raw = data.get(".dockerconfigjson") or data.get(".dockercfg")
        if not raw:
            raise ScanError(
                AUTHENTICATION_FAILED,
                f"secret '{namespace}/{ref}' has no "
                "'.dockerconfigjson' key; create it with `kubectl create secret "
                "docker-registry`",
            )
        try:
            found = credentials_from_dockerconfig(raw, host)
        except ScanError as err:
            raise ScanError(err.reason, f"secret '{namespace}/{ref}': {err.message}") from None
        if found is None:
            raise ScanError(
                AUTHENTICATION_FAILED, f"secret '{namespace}/{ref}' has no credentials for {host}"
            )
        return found

    async def tls(self, obj: Obj) -> ssl.SSLContext | None:
        ref = (spec_of(obj).get("certSecretRef") or {}).get("name")
        if not ref:
            return None
        namespace, _ = name_of(obj)
        data = await self._secret(namespace, ref, "spec.certSecretRef")
        context = ssl.create_default_context()
        try:
            if data.get("ca.crt"):
                context.load_verify_locations(cadata=data["ca.crt"].decode())
            if data.get("tls.crt") and data.get("tls.key"):
                # ssl loads client pairs from files only; a private temp dir holds them
                # for the moment it takes.
                with tempfile.TemporaryDirectory(prefix="eddy-tls-") as tmp:
                    cert, key = Path(tmp) / "tls.crt", Path(tmp) / "tls.key"
                    cert.write_bytes(data["tls.crt"])
                    key.write_bytes(data["tls.key"])
                    key.chmod(0o600)
                    context.load_cert_chain(str(cert), str(key))
        except (ssl.SSLError, ValueError, UnicodeDecodeError) as err:
            raise ScanError(
                AUTHENTICATION_FAILED,
                f"secret '{namespace}/{ref}' does not hold "
                f"a usable ca.crt / tls.crt / tls.key: {err}",
            ) from None
        return context

    async def reconcile(self, obj: Obj) -> Result:
        namespace, name = name_of(obj)
        if (obj.get("metadata") or {}).get("deletionTimestamp"):
            self.store.forget(namespace, name)
            return Result.done()
        report = Report(self.manager, IMAGE_REPOSITORIES, obj)
        spec = spec_of(obj)
        patterns = spec.get("exclusionList")
        if patterns is None:
            patterns = list(DEFAULT_EXCLUSION_LIST)
        try:
            timeout = parse_duration(str(spec.get("timeout") or "")) if spec.get("timeout") else 0
        except ValueError:
            timeout = 0
        try:
            image = parse_image(str(spec.get("image") or ""))
        except ScanError as err:
            return await report.failed(err.reason, err.message, None)
        try:
            exclude([], [str(p) for p in patterns])
        except ValueError as err:
            return await report.failed(INVALID_EXCLUSION, str(err), None)
        try:
            client = Client(
                self.session(),
                insecure=bool(spec.get("insecure")),
                credentials=await self.credentials(obj, image.host),
                ssl_context=await self.tls(obj),
                timeout=timeout or min(interval_of(obj), 120.0),
            )
            tags = await client.list_tags(image)
        except ScanError as err:
            return await report.failed(err.reason, err.message, retry_after(obj))
        kept = exclude(tags, [str(p) for p in patterns])
        scan = self.store.put(namespace, name, kept)
        previous = report.before.get("lastScanResult") or {}
        report.status["canonicalImageName"] = image.canonical
        report.status["observedExclusionList"] = [str(p) for p in patterns]
        report.status["lastScanResult"] = {
            "revision": scan.revision,
            "tagCount": len(scan.tags),
            "scanTime": now_rfc3339(),
            "latestTags": latest_tags(scan.tags),
        }
        message = f"successful scan: found {len(scan.tags)} tags"
        news = previous.get("revision") != scan.revision or not report.was_ready
        await report.ready(SUCCEEDED, message, message if news else None)
        return Result.after(interval_of(obj))
