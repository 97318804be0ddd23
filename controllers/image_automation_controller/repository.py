"""The ImageRepository reconciler: scan a registry's tags, keep them, summarize in status.

The full tag list stays in this process (`TagStore`), for the ImagePolicies that
read it; status holds only the count, a hash and the ten latest tags, as Flux's.
"""

from __future__ import annotations

import hashlib
import re
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

from eddy_api.image import DEFAULT_EXCLUSION_LIST, ImageRepositorySpec
from eddy_api.schema import unhonoured_in_use
from eddy_runtime import Attempt, Manager, Result, Step, StepError
from eddy_runtime.conditions import SUCCEEDED, now_rfc3339
from eddy_runtime.durations import parse_duration
from eddy_runtime.finalizers import finalized
from eddy_runtime.reconciler import refuse_unsupported
from eddy_runtime.secrets import read_secret
from eddy_runtime.sessions import LazySession

from .objects import IMAGE_REPOSITORIES, Obj, name_of, spec_of
from .registry import (
    AUTHENTICATION_FAILED,
    Client,
    Credentials,
    ImageName,
    ScanError,
    credentials_from_dockerconfig,
    parse_image,
)
from .reporting import Report, interval_of
from .traces import Handoffs

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


def scan_key(namespace: str, name: str) -> str:
    """The key an ImageRepository's scan is handed on under (see `Handoffs`)."""
    return f"ImageRepository/{namespace}/{name}"


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
    def __init__(self, manager: Manager, store: TagStore, handoffs: Handoffs) -> None:
        self.manager = manager
        self.store = store
        self.handoffs = handoffs
        self.session = LazySession()

    async def close(self) -> None:
        await self.session.close()

    async def _secret(self, namespace: str, name: str, field: str) -> dict[str, bytes]:
        data = await read_secret(self.manager.client, namespace, name)
        if data is None:
            raise ScanError(
                AUTHENTICATION_FAILED,
                f"secret '{namespace}/{name}' named in {field} not found; create it or fix {field}",
            )
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
        return await finalized(self.manager.client, IMAGE_REPOSITORIES, obj, self.scan, self.forget)

    async def forget(self, obj: Obj) -> None:
        self.store.forget(*name_of(obj))
        self.handoffs.forget(scan_key(*name_of(obj)))

    async def scan(self, obj: Obj) -> Result:
        return await ImageRepositoryAttempt(self, obj).run()


class ImageRepositoryAttempt(Attempt):
    """One pass over one ImageRepository: check the spec, list the tags, summarize."""

    def __init__(self, reconciler: ImageRepositoryReconciler, obj: Obj) -> None:
        self.reconciler = reconciler
        self.obj = obj
        self.report = Report(reconciler.manager, IMAGE_REPOSITORIES, obj)
        self.spec = spec_of(obj)
        patterns = self.spec.get("exclusionList")
        if patterns is None:
            patterns = list(DEFAULT_EXCLUSION_LIST)
        self.patterns = [str(p) for p in patterns]
        self.image: ImageName | None = None
        self.tags: list[str] = []

    def steps(self) -> list[Step]:
        return [Step("check spec", self.check_spec), Step("list tags", self.list_tags)]

    async def failed(self, err: StepError) -> Result:
        return await self.report.failed(err)

    async def check_spec(self) -> Result | None:
        # accessFrom is not acted on by Flux either: accepted as Flux accepts it.
        unsupported = [
            path
            for path in unhonoured_in_use(ImageRepositorySpec, self.spec)
            if path != "spec.accessFrom"
        ]
        refuse_unsupported(unsupported, IMAGE_REPOSITORIES.kind)
        try:
            self.image = parse_image(str(self.spec.get("image") or ""))
        except ScanError as err:
            raise ScanError(err.reason, err.message, stalled=True) from None
        try:
            exclude([], self.patterns)
        except ValueError as err:
            raise StepError(str(err), reason=INVALID_EXCLUSION, stalled=True) from None
        return None

    async def list_tags(self) -> Result | None:
        assert self.image is not None
        try:
            timeout = (
                parse_duration(str(self.spec.get("timeout") or ""))
                if self.spec.get("timeout")
                else 0
            )
        except ValueError:
            timeout = 0
        client = Client(
            self.reconciler.session(),
            insecure=bool(self.spec.get("insecure")),
            credentials=await self.reconciler.credentials(self.obj, self.image.host),
            ssl_context=await self.reconciler.tls(self.obj),
            timeout=timeout or min(interval_of(self.obj), 120.0),
        )
        self.tags = exclude(await client.list_tags(self.image), self.patterns)
        return None

    async def succeeded(self) -> Result:
        assert self.image is not None
        report = self.report
        scan = self.reconciler.store.put(*name_of(self.obj), self.tags)
        previous = report.before.get("lastScanResult") or {}
        report.status["canonicalImageName"] = self.image.canonical
        report.status["observedExclusionList"] = self.patterns
        report.status["lastScanResult"] = {
            "revision": scan.revision,
            "tagCount": len(scan.tags),
            "scanTime": now_rfc3339(),
            "latestTags": latest_tags(scan.tags),
        }
        if previous.get("revision") != scan.revision:
            # A scan that found new tags starts the trace its policies and automations
            # continue, on to the commit and what applies it.
            self.reconciler.handoffs.record(scan_key(*name_of(self.obj)), scan.revision)
        message = f"successful scan: found {len(scan.tags)} tags"
        news = previous.get("revision") != scan.revision or not report.was_ready
        await report.ready(SUCCEEDED, message, message if news else None)
        return Result.after(interval_of(self.obj))
