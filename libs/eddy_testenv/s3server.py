"""A real S3-compatible server on loopback (S3Proxy), for Bucket tests.

Buckets must be tested against a server that checks signatures, lists and serves
objects the way users' object stores do, with access keys and TLS; S3Proxy
implements the S3 API in Java. It keeps objects in memory (its `transient`
backend): a directory-backed store cannot hold the keys with `..` segments or a
leading `/` that the safety tests upload. Objects are put and removed through the
S3 API with minio, as a user's CI would upload them; `put_raw` signs the upload
itself for the keys minio refuses to send.
"""

from __future__ import annotations

import datetime
import hashlib
import io
import os
import secrets
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import urllib3
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from minio import Minio
from minio.credentials.credentials import Credentials
from minio.signer import sign_v4_s3

from eddy_testenv.controlplane import free_port
from eddy_testenv.gitserver import TLSFiles
from eddy_testenv.process import Process, ProcessError, Service, find_binary

# A JVM with a hundred jars starts slowly on a busy machine.
_START_TIMEOUT = 180.0


class S3Server(Service):
    """`s3proxy` as a child process: plain HTTP at `endpoint`, HTTPS at `tls_endpoint`.

    Every request must be signed with `access_key`/`secret_key`; the HTTPS side uses
    a certificate from a throwaway CA at `ca_file`.
    """

    def __init__(self, *, workdir: Path | None = None) -> None:
        self.use_workdir(workdir, "eddy-s3-")
        self.access_key = f"eddy{secrets.token_hex(4)}"
        self.secret_key = secrets.token_hex(16)
        self.port = free_port()
        self.tls_port = free_port()
        self.endpoint = f"127.0.0.1:{self.port}"
        self.tls_endpoint = f"127.0.0.1:{self.tls_port}"
        self.tls = TLSFiles.generate(self.workdir / "tls")
        self._process: Process | None = None
        self.client = Minio(
            self.endpoint,
            access_key=self.access_key,
            secret_key=self.secret_key,
            secure=False,
            http_client=urllib3.PoolManager(
                timeout=urllib3.Timeout(connect=10, read=30), retries=urllib3.Retry(total=2)
            ),
        )

    @property
    def ca_file(self) -> Path:
        return self.tls.ca_cert

    # -- life --------------------------------------------------------------

    def _keystore(self, password: str) -> Path:
        """The serving certificate and key as the PKCS#12 keystore Jetty reads."""
        cert = x509.load_pem_x509_certificate(self.tls.cert.read_bytes())
        key = serialization.load_pem_private_key(self.tls.key.read_bytes(), password=None)
        data = pkcs12.serialize_key_and_certificates(
            b"s3proxy",
            key,  # type: ignore[arg-type]
            cert,
            None,
            serialization.BestAvailableEncryption(password.encode()),
        )
        path = self.workdir / "keystore.p12"
        path.write_bytes(data)
        return path

    def _properties(self) -> Path:
        password = secrets.token_hex(8)
        lines = {
            "s3proxy.endpoint": f"http://{self.endpoint}",
            "s3proxy.secure-endpoint": f"https://{self.tls_endpoint}",
            "s3proxy.keystore-path": str(self._keystore(password)),
            "s3proxy.keystore-password": password,
            "s3proxy.authorization": "aws-v2-or-v4",
            "s3proxy.identity": self.access_key,
            "s3proxy.credential": self.secret_key,
            "jclouds.provider": "transient",
        }
        path = self.workdir / "s3proxy.properties"
        path.write_text("".join(f"{k}={v}\n" for k, v in lines.items()))
        return path

    def start(self) -> None:
        properties = self._properties()
        process = Process("s3proxy", [find_binary("s3proxy"), "--properties", str(properties)],
                          self.workdir / "s3proxy.log")  # fmt: skip
        # A quick start matters more than peak speed for a test server.
        env = {
            **os.environ,
            "LOG_LEVEL": "warn",
            "JAVA_OPTS": "-XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xmx256m",
        }
        process.start(env)
        self._process = process
        process.wait_ready(
            self._answers, f"did not answer on {self.endpoint}", _START_TIMEOUT, interval=0.2
        )

    def _answers(self) -> bool:
        try:
            urllib.request.urlopen(f"http://{self.endpoint}/", timeout=5).close()
        except urllib.error.HTTPError:
            return True  # it answers (403: the request was not signed)
        except OSError:
            return False
        return True

    def stop(self) -> None:
        if self._process:
            self._process.stop()
        self.remove_workdir()

    # -- objects -----------------------------------------------------------

    def create_bucket(self, name: str) -> None:
        self.client.make_bucket(name)

    def put(self, bucket: str, key: str, data: bytes | str) -> str:
        """Upload an object; its etag as the server lists it."""
        body = data.encode() if isinstance(data, str) else data
        result = self.client.put_object(bucket, key, io.BytesIO(body), len(body))
        return str(result.etag).strip('"')

    def put_raw(self, bucket: str, key: str, data: bytes | str) -> None:
        """Upload under any key, `..` segments and a leading `/` included, signed here."""
        body = data.encode() if isinstance(data, str) else data
        quoted = "/".join(
            "%2E" * len(part) if part in (".", "..") else urllib.parse.quote(part, safe="")
            for part in key.split("/")
        )
        url = urllib.parse.urlsplit(f"http://{self.endpoint}/{bucket}/{quoted}")
        sha = hashlib.sha256(body).hexdigest()
        date = datetime.datetime.now(datetime.UTC)
        headers = sign_v4_s3(
            method="PUT",
            url=url,
            region="us-east-1",
            headers={
                "Host": self.endpoint,
                "x-amz-content-sha256": sha,
                "x-amz-date": date.strftime("%Y%m%dT%H%M%SZ"),
            },
            credentials=Credentials(self.access_key, self.secret_key),
            content_sha256=sha,
            date=date,
        )
        flat = {k: v if isinstance(v, str) else ",".join(v) for k, v in headers.items()}
        response = urllib3.PoolManager().request("PUT", url.geturl(), body=body, headers=flat)
        if response.status != 200:
            raise ProcessError(f"putting {key!r} answered HTTP {response.status}: "
                               f"{response.data[:200]!r}")  # fmt: skip

    def remove(self, bucket: str, key: str) -> None:
        self.client.remove_object(bucket, key)

    def etags(self, bucket: str, prefix: str = "") -> dict[str, str]:
        """Key → etag of every object, as a listing shows them."""
        return {
            str(obj.object_name): str(obj.etag).strip('"')
            for obj in self.client.list_objects(bucket, prefix=prefix or None, recursive=True)
        }
