"""The Bucket reconciler: the objects of an S3-compatible bucket become a tar.gz artifact.

Steps, in order: check the stored artifact; list the bucket into an index of keys
and etags, whose digest is the revision exactly as Flux computes it, and fetch the
objects only when that revision is new; then archive what was fetched.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

from eddy_api.common import Reason
from eddy_artifacts.digest import index_digest
from eddy_artifacts.ignore import IGNORE_FILENAME, IgnoreRules, parse_patterns
from eddy_artifacts.limits import ArchiveLimits, archive_limits
from eddy_runtime import Controller, Manager, Obj, Step

from .failures import SourceError, fetch_failed, invalid_spec
from .kinds import BUCKETS
from .reconcile import SourceAttempt, SourceReconciler, duration_of
from .s3 import BucketClient, Budget, Connection, ObjectGone, S3Failure
from .secrets import read_proxy, read_secret
from .storage import Storage
from .tls import tls_context

# Flux's reason for a failed listing or fetch.
BUCKET_OPERATION_FAILED = "BucketOperationFailed"
# Objects fetched at once; each one holds a worker thread while it downloads.
FETCH_CONCURRENCY = 4
MAX_IGNORE_FILE = 1 << 20


class UnsafeKey(Exception):
    """An object key that cannot be written inside the artifact's directory."""


def _shown(key: str, limit: int = 120) -> str:
    """A key for a message: control characters escaped, cut short past `limit`."""
    text = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in key[:limit])
    return f"'{text}'" + (f"... ({len(key)} characters)" if len(key) > limit else "")


def key_parts(key: str, limits: ArchiveLimits) -> tuple[str, ...]:
    """The relative path an object key is written to; UnsafeKey when it would escape."""
    if key.startswith("/"):
        raise UnsafeKey(f"object key {_shown(key)} is an absolute path")
    parts = tuple(key.split("/"))
    if any(part in ("", ".", "..") for part in parts):
        raise UnsafeKey(
            f"object key {_shown(key)} has an empty, '.' or '..' path segment and cannot be "
            "written inside the artifact"
        )
    if "\x00" in key:
        raise UnsafeKey(f"object key {_shown(key)} contains a NUL character")
    if len(key) > limits.max_path_length or len(parts) > limits.max_path_depth:
        raise UnsafeKey(f"object key {_shown(key)} is longer or deeper than an artifact path "
                        f"may be ({limits.max_path_length} characters, "
                        f"{limits.max_path_depth} levels)")  # fmt: skip
    if any(len(part.encode()) > limits.max_name_bytes for part in parts):
        raise UnsafeKey(
            f"object key {_shown(key)} has a path segment longer than {limits.max_name_bytes} bytes"
        )
    return parts


def _fetch_one(
    client: BucketClient, bucket: str, key: str, tree: Path, budget: Budget, limits: ArchiveLimits
) -> str:
    path = tree.joinpath(*key_parts(key, limits))
    path.parent.mkdir(parents=True, exist_ok=True)
    return client.fetch(bucket, key, path, budget)


class BucketAttempt(SourceAttempt):
    def __init__(self, reconciler: BucketReconciler, obj: Obj) -> None:
        super().__init__(reconciler, obj)
        self.bucket = str(self.spec.get("bucketName", ""))
        self.endpoint = str(self.spec.get("endpoint", ""))
        self.limits = archive_limits()
        self.index: dict[str, str] = {}
        self.revision = ""
        self.tree: Path | None = None

    def steps(self) -> Sequence[Step]:
        return [
            Step("storage", self.reconcile_storage, Reason.STORAGE_OPERATION_FAILED),
            Step("source", self.reconcile_source, BUCKET_OPERATION_FAILED),
            Step("artifact", self.reconcile_artifact, Reason.ARCHIVE_OPERATION_FAILED),
        ]

    # -- source -------------------------------------------------------------

    async def reconcile_source(self) -> None:
        """List the bucket into its index; fetch the objects only for a new revision."""
        self._refuse_unsupported()
        connection = await self._connection()
        client = BucketClient(connection)
        tree = self.scratch / "tree"
        tree.mkdir()
        try:
            async with asyncio.timeout(connection.timeout):
                rules = await self._ignore_rules(client, tree)
                self.index = await asyncio.to_thread(self._list, client, rules)
                self.revision = str(index_digest(self.index))
                if self._up_to_date():
                    self.message = f"stored artifact: revision '{self.revision}'"
                    return
                await self._fetch_all(client, tree)
        except TimeoutError as err:
            raise fetch_failed(
                BUCKET_OPERATION_FAILED,
                f"bucket '{self.bucket}' at {self.endpoint} was not listed and fetched within "
                f"spec.timeout ({connection.timeout:g}s)",
            ) from err
        # An object replaced while it was fetched is archived with its new etag.
        self.revision = str(index_digest(self.index))
        self.tree = tree

    def _refuse_unsupported(self) -> None:
        provider = str(self.spec.get("provider") or "generic")
        if provider != "generic":
            raise invalid_spec(
                f"spec.provider '{provider}' is not supported by eddy; use 'generic' with the "
                "bucket's S3-compatible endpoint and keys in spec.secretRef"
            )
        if self.spec.get("sts"):
            raise invalid_spec(
                "spec.sts is not supported by eddy; put static keys in spec.secretRef"
            )
        if self.spec.get("serviceAccountName"):
            raise invalid_spec(
                "spec.serviceAccountName is not supported by eddy; put static keys in "
                "spec.secretRef"
            )
        try:
            parsed = urlsplit(f"//{self.endpoint}")
            _ = parsed.port  # raises on a port that is not a number
            valid = bool(parsed.hostname) and not any(c in self.endpoint for c in "/@?#")
        except ValueError:
            valid = False
        if not valid:
            raise invalid_spec(
                f"spec.endpoint '{self.endpoint}' must be a host name with an optional port, "
                "such as s3.example.com:9000, without a scheme or path; set spec.insecure: "
                "true for plain HTTP",
                Reason.INVALID_URL,
            )

    async def _connection(self) -> Connection:
        timeout = duration_of(self.spec, "timeout", "60s")
        access_key = secret_key = None
        secret = (self.spec.get("secretRef") or {}).get("name")
        if secret:
            data = await read_secret(self.manager.client, self.namespace, str(secret))
            if "accesskey" not in data or "secretkey" not in data:
                raise fetch_failed(
                    Reason.AUTHENTICATION_FAILED,
                    f"invalid '{secret}' secret data: required fields 'accesskey' and "
                    "'secretkey'; fix spec.secretRef",
                )
            access_key = data["accesskey"].decode(errors="replace")
            secret_key = data["secretkey"].decode(errors="replace")
        tls = None
        cert = (self.spec.get("certSecretRef") or {}).get("name")
        if cert:
            tls = tls_context(await read_secret(self.manager.client, self.namespace, str(cert)))
        proxy = None
        proxy_ref = (self.spec.get("proxySecretRef") or {}).get("name")
        if proxy_ref:
            proxy = await read_proxy(self.manager.client, self.namespace, str(proxy_ref))
        return Connection(
            endpoint=self.endpoint,
            secure=not self.spec.get("insecure"),
            timeout=timeout,
            region=str(self.spec.get("region") or "") or None,
            access_key=access_key,
            secret_key=secret_key,
            tls=tls,
            proxy=proxy.address if proxy else None,
            proxy_user=proxy.username if proxy else None,
            proxy_password=proxy.password if proxy else None,
        )

    async def _ignore_rules(self, client: BucketClient, tree: Path) -> IgnoreRules:
        """The bucket's `.sourceignore` (kept in the artifact, as in Flux), then spec.ignore."""
        try:
            if not await asyncio.to_thread(client.exists, self.bucket):
                raise fetch_failed(
                    BUCKET_OPERATION_FAILED,
                    f"bucket '{self.bucket}' not found at {self.endpoint}; create it or fix "
                    "spec.bucketName",
                )
            text = await asyncio.to_thread(
                client.read_small, self.bucket, IGNORE_FILENAME, MAX_IGNORE_FILE
            )
        except S3Failure as err:
            raise self._failed(f"failed to confirm existence of '{self.bucket}' bucket",
                               err) from err  # fmt: skip
        rules = IgnoreRules()
        if text is not None:
            await asyncio.to_thread((tree / IGNORE_FILENAME).write_bytes, text)
            rules.extend(parse_patterns(text.decode(errors="replace")))
        if self.spec.get("ignore"):
            rules.extend(parse_patterns(str(self.spec["ignore"])))
        return rules

    def _list(self, client: BucketClient, rules: IgnoreRules) -> dict[str, str]:
        """Key → etag of every object that goes into the artifact (runs in a thread)."""
        index: dict[str, str] = {}
        try:
            for key, etag in client.objects(self.bucket, str(self.spec.get("prefix") or "")):
                if key.endswith("/") or key == IGNORE_FILENAME or rules.ignored(key):
                    continue
                key_parts(key, self.limits)
                index[key] = etag
                if len(index) > self.limits.max_entries:
                    raise fetch_failed(
                        BUCKET_OPERATION_FAILED,
                        f"bucket '{self.bucket}' holds more than {self.limits.max_entries} "
                        "objects to fetch; narrow spec.prefix or spec.ignore",
                    )
        except UnsafeKey as err:
            raise fetch_failed(
                BUCKET_OPERATION_FAILED,
                f"bucket '{self.bucket}': {err}; rename the object or leave it out with "
                "spec.ignore",
            ) from err
        except S3Failure as err:
            raise self._failed(f"indexation of objects from bucket '{self.bucket}' failed",
                               err) from err  # fmt: skip
        return index

    async def _fetch_all(self, client: BucketClient, tree: Path) -> None:
        budget = Budget(self.limits.max_size or (1 << 62))
        gate = asyncio.Semaphore(FETCH_CONCURRENCY)

        async def fetch(key: str) -> None:
            async with gate:
                try:
                    etag = await asyncio.to_thread(
                        _fetch_one, client, self.bucket, key, tree, budget, self.limits
                    )
                except ObjectGone:
                    # Deleted since it was listed: the artifact is what the bucket holds now.
                    self.index.pop(key, None)
                    return
                except S3Failure as err:
                    raise self._failed(f"failed to get '{_shown(key)[1:-1]}' object", err) from err
                except OSError as err:
                    raise fetch_failed(
                        BUCKET_OPERATION_FAILED,
                        f"cannot write object {_shown(key)}: {err.strerror} (another key is "
                        "a file where this one needs a directory, or the reverse)",
                    ) from err
                if etag and etag != self.index.get(key):
                    self.index[key] = etag

        results = await asyncio.gather(
            *(fetch(key) for key in sorted(self.index)), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result

    def _failed(self, what: str, err: S3Failure) -> SourceError:
        message = f"{what}: {err.message}"
        if err.denied:
            message += (
                "; check the keys in spec.secretRef"
                if (self.spec.get("secretRef") or {}).get("name")
                else "; set spec.secretRef to a Secret with accesskey and secretkey"
            )
        elif err.code == "TooLarge":
            message += "; narrow spec.prefix or spec.ignore"
        return fetch_failed(BUCKET_OPERATION_FAILED, message)

    def _up_to_date(self) -> bool:
        """Same keys and etags, artifact on disk: nothing to fetch."""
        current = self.status.get("artifact")
        return bool(
            current and current.get("revision") == self.revision and self.storage.exists(current)
        )

    # -- artifact -----------------------------------------------------------

    async def reconcile_artifact(self) -> None:
        """Archive the fetched objects into storage; nothing when the revision held."""
        if self.tree is None:
            return
        digest_hex = self.revision.partition(":")[2]
        rel = self.storage.path_for(BUCKETS.kind, self.namespace, self.name,
                                    f"{digest_hex}.tar.gz")  # fmt: skip
        self.artifact = await self.storage.archive(rel, self.tree, self.revision, None)
        self.status["artifact"] = self.artifact
        self.status["url"] = self.artifact["url"]
        if self.spec.get("ignore") is None:
            self.status.pop("observedIgnore", None)
        else:
            self.status["observedIgnore"] = self.spec["ignore"]
        self.message = f"stored artifact: revision '{self.revision}'"
        self.event_message = (
            f"stored artifact with {len(self.index)} fetched files from '{self.bucket}' bucket"
        )


class BucketReconciler(SourceReconciler):
    resource = BUCKETS

    def attempt(self, obj: Obj) -> SourceAttempt:
        return BucketAttempt(self, obj)


def controller(manager: Manager, storage: Storage) -> Controller:
    return Controller(
        name="bucket", resource=BUCKETS, reconciler=BucketReconciler(manager, storage)
    )


__all__ = ["BUCKET_OPERATION_FAILED", "UnsafeKey", "controller", "key_parts"]
