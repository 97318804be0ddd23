"""A bucket on an S3-compatible server, as the Bucket reconciler uses it: list and fetch.

minio's client is synchronous, so every call here is meant for a worker thread;
its failures come out as one `S3Failure` whose message says what the server or the
network answered, never a credential. minio is imported on first use: it takes
seconds to load on a busy machine, and a controller without Buckets never needs it.
"""

from __future__ import annotations

import contextlib
import os
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import urllib3
from urllib3.exceptions import HTTPError, MaxRetryError, ProxyError, SSLError

if TYPE_CHECKING:
    from minio import Minio

CHUNK = 1 << 16
# Connections kept per host: as many as the Bucket reconciler fetches at once.
POOL_SIZE = 4
# Codes an S3 server answers with when the keys are wrong or lack permission.
AUTH_CODES = frozenset(
    {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken"}
)


@dataclass(frozen=True)
class Connection:
    """Where the server is and how to talk to it."""

    endpoint: str
    secure: bool
    timeout: float
    region: str | None = None
    access_key: str | None = None
    secret_key: str | None = None
    tls: ssl.SSLContext | None = None
    proxy: str | None = None
    proxy_user: str | None = None
    proxy_password: str | None = None


class S3Failure(Exception):
    """A call failed; `code` is the S3 error code when the server gave one."""

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.code = code

    @property
    def denied(self) -> bool:
        return self.code in AUTH_CODES


class ObjectGone(S3Failure):
    """The object was listed but is no longer there."""


class Budget:
    """Bytes the fetched objects may still add up to, shared by the fetching threads."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._used = 0
        self._lock = threading.Lock()

    def take(self, size: int) -> bool:
        with self._lock:
            self._used += size
            return self._used <= self.limit


class BucketClient:
    """One bucket's client: a connection pool (through the proxy, if any) and minio on top."""

    def __init__(self, connection: Connection) -> None:
        from minio import Minio

        timeout = urllib3.Timeout(connect=connection.timeout, read=connection.timeout)
        retries = urllib3.Retry(total=2, backoff_factor=0.2, status_forcelist=(500, 502, 503, 504))
        context = connection.tls or ssl.create_default_context()
        http: urllib3.PoolManager
        if connection.proxy:
            headers = None
            if connection.proxy_user is not None:
                headers = urllib3.make_headers(
                    proxy_basic_auth=f"{connection.proxy_user}:{connection.proxy_password or ''}"
                )
            http = urllib3.ProxyManager(
                connection.proxy,
                proxy_headers=headers,
                timeout=timeout,
                retries=retries,
                ssl_context=context,
                maxsize=POOL_SIZE,
            )
        else:
            http = urllib3.PoolManager(
                timeout=timeout, retries=retries, ssl_context=context, maxsize=POOL_SIZE
            )
        self.endpoint = connection.endpoint
        self._minio: Minio = Minio(
            connection.endpoint,
            access_key=connection.access_key or None,
            secret_key=connection.secret_key or None,
            secure=connection.secure,
            region=connection.region or None,
            http_client=http,
        )

    def exists(self, bucket: str) -> bool:
        with self._failures():
            return self._minio.bucket_exists(bucket)

    def objects(self, bucket: str, prefix: str) -> Iterator[tuple[str, str]]:
        """(key, etag) of every object under prefix, etags without their quotes."""
        with self._failures():
            for obj in self._minio.list_objects(bucket, prefix=prefix or None, recursive=True):
                if obj.object_name is not None:
                    yield obj.object_name, (obj.etag or "").strip('"')

    def read_small(self, bucket: str, key: str, limit: int) -> bytes | None:
        """A small object's bytes (such as `.sourceignore`); None when there is none."""
        try:
            with self._failures():
                response = self._minio.get_object(bucket, key)
                try:
                    data = response.read(limit + 1)
                finally:
                    response.close()
                    response.release_conn()
        except ObjectGone:
            return None
        if len(data) > limit:
            raise S3Failure(f"object '{key}' is larger than {limit} bytes")
        return data

    def fetch(self, bucket: str, key: str, dest: Path, budget: Budget) -> str:
        """Write the object to `dest` (which must not exist); its etag as served."""
        with self._failures():
            response = self._minio.get_object(bucket, key)
            try:
                etag = str(response.headers.get("ETag", "")).strip('"')
                flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                with os.fdopen(os.open(dest, flags, 0o644), "wb") as out:
                    for chunk in response.stream(CHUNK):
                        if not budget.take(len(chunk)):
                            raise S3Failure(
                                f"the objects add up to more than {budget.limit >> 20} MiB",
                                code="TooLarge",
                            )
                        out.write(chunk)
            finally:
                response.close()
                response.release_conn()
        return etag

    def _failures(self) -> contextlib.AbstractContextManager[None]:
        return _failures(self.endpoint)


@contextlib.contextmanager
def _failures(endpoint: str) -> Iterator[None]:
    """Turns what minio and urllib3 raise into S3Failure."""
    from minio.error import InvalidResponseError, MinioException, S3Error

    try:
        yield
    except S3Failure:
        raise
    except S3Error as err:
        if err.code in ("NoSuchKey", "NoSuchObject"):
            raise ObjectGone(f"{err.code}: {err.message}", err.code or "") from err
        raise S3Failure(f"{err.code}: {err.message}", err.code or "") from err
    except InvalidResponseError as err:
        if getattr(err, "_code", 0) == 407:
            raise S3Failure(
                "the proxy in spec.proxySecretRef refused the request (HTTP 407); check its "
                "username and password",
                code="Proxy",
            ) from err
        raise S3Failure(f"the server at {endpoint} answered: {err}") from err
    except MaxRetryError as err:
        raise _network_failure(endpoint, err.reason) from err
    except HTTPError as err:
        raise _network_failure(endpoint, err) from err
    except (MinioException, ValueError) as err:
        raise S3Failure(str(err)) from err


def _network_failure(endpoint: str, reason: BaseException | None) -> S3Failure:
    if isinstance(reason, ProxyError):
        return S3Failure(f"cannot reach {endpoint} through the proxy in spec.proxySecretRef: "
                         f"{reason.__cause__ or reason}", code="Proxy")  # fmt: skip
    if isinstance(reason, SSLError):
        return S3Failure(
            f"TLS with {endpoint} failed ({reason}); add its CA as ca.crt to "
            "spec.certSecretRef, or set spec.insecure: true for a plain-HTTP endpoint",
            code="TLS",
        )
    return S3Failure(f"cannot reach {endpoint}: {reason}", code="Network")
