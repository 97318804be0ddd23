"""The distribution API of one registry: manifests and blobs, up and down, with auth.

Basic credentials are sent up front (registries answer 401 without them); a
Bearer challenge is answered from its realm, for the scope it names. Every
download is bounded and every blob checked against its digest.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import re
import ssl
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode, urljoin

import aiohttp

from eddy_artifacts.bounded import read_response
from eddy_artifacts.errors import InputTooLarge

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MANIFEST_MEDIA_TYPES = (OCI_MANIFEST, "application/vnd.docker.distribution.manifest.v2+json")
MAX_MANIFEST_SIZE = 4 << 20
_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


class OCIError(Exception):
    """A registry operation failed; the message says where and what to check."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class CredentialsRefused(OCIError):
    """The registry (or its token service) turned the credentials down: 401 or 403."""


class ProxyRefused(OCIError):
    """The HTTP proxy on the way turned the request down (407, or a refused tunnel)."""


class TooLarge(OCIError):
    """An answer was larger than the caller allows."""


def basic_auth(username: str, password: str) -> str:
    """The Authorization header value for basic credentials."""
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _challenge(headers: Any) -> tuple[str, dict[str, str]]:
    header = headers.get("WWW-Authenticate", "")
    scheme, _, rest = header.partition(" ")
    return scheme.lower(), dict(_CHALLENGE_PARAM.findall(rest))


class RegistryClient:
    """One registry, reached at `base_url` (http only when the caller says so)."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        basic: str | None = None,
        tls: ssl.SSLContext | None = None,
        proxied: bool = False,
    ) -> None:
        self.session = session
        self.base_url = base_url.rstrip("/")
        self.host = self.base_url.split("://", 1)[-1]
        self.basic = basic
        self.ssl: ssl.SSLContext | bool = tls or True
        # Through a proxy, a 401 may be the proxy's (tinyproxy answers so) and not the registry's.
        self.proxied = proxied
        self._tokens: dict[str, str] = {}
        self._scope = ""

    # -- transport -----------------------------------------------------------

    def _headers(self, extra: dict[str, str] | None) -> dict[str, str]:
        headers = dict(extra or {})
        token = self._tokens.get(self._scope)
        if token:
            headers["Authorization"] = f"Bearer {token}"
        elif self.basic:
            headers["Authorization"] = self.basic
        return headers

    def refused(self) -> OCIError:
        if self.proxied:
            return CredentialsRefused(
                f"registry {self.host} or the HTTP proxy on the way refused the credentials; "
                "check the registry's and the proxy's username and password",
                401,
            )
        if self.basic:
            return CredentialsRefused(
                f"registry {self.host} refused the credentials; check the username and password",
                401,
            )
        return CredentialsRefused(f"registry {self.host} requires credentials; log in first", 401)

    def _proxy_refused(self, status: int) -> ProxyRefused:
        return ProxyRefused(
            f"the HTTP proxy on the way to registry {self.host} refused the request "
            f"(HTTP {status}); check the proxy's username and password",
            407,
        )

    def _check_proxy(self, status: int) -> None:
        if status == 407:
            raise self._proxy_refused(status)

    @contextlib.asynccontextmanager
    async def _proxy_errors(self) -> AsyncIterator[None]:
        """A tunnel (CONNECT) the proxy refuses for its credentials, said as the proxy's."""
        try:
            yield
        except aiohttp.ClientHttpProxyError as err:
            if err.status in (401, 407):
                raise self._proxy_refused(err.status) from err
            raise

    async def _token(self, params: dict[str, str]) -> None:
        realm = params.get("realm", "")
        if not realm.startswith(("http://", "https://")):
            raise OCIError(f"registry {self.host} asked for a token without a valid realm")
        query = {k: v for k, v in params.items() if k in ("service", "scope")}
        url = realm + ("&" if "?" in realm else "?") + urlencode(query) if query else realm
        headers = {"Authorization": self.basic} if self.basic else {}
        async with (
            self._proxy_errors(),
            self.session.get(url, headers=headers, ssl=self.ssl) as resp,
        ):
            self._check_proxy(resp.status)
            if resp.status in (401, 403):
                raise self.refused()
            if resp.status != 200:
                raise OCIError(f"token service of {self.host} answered HTTP {resp.status}")
            body = await resp.json(content_type=None)
        token = body.get("token") or body.get("access_token") if isinstance(body, dict) else None
        if not token:
            raise OCIError(f"token service of {self.host} answered without a token")
        self._scope = params.get("scope", "")
        self._tokens[self._scope] = str(token)

    async def request(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        data: bytes | None = None,
        max_size: int = MAX_MANIFEST_SIZE,
    ) -> tuple[int, dict[str, str], bytes]:
        """One request (path relative to the registry, or a URL it gave); 401 answered once."""
        url = urljoin(self.base_url + "/", path.lstrip("/")) if "://" not in path else path
        for attempt in range(2):
            async with (
                self._proxy_errors(),
                self.session.request(
                    method, url, headers=self._headers(headers), data=data, ssl=self.ssl
                ) as resp,
            ):
                self._check_proxy(resp.status)
                if resp.status == 401:
                    scheme, params = _challenge(resp.headers)
                    if attempt == 0 and scheme == "bearer":
                        await self._token(params)
                        continue
                    raise self.refused()
                if resp.status == 403:
                    raise CredentialsRefused(
                        f"registry {self.host} denied {method} {path.split('?')[0]} (HTTP 403); "
                        "the credentials may not allow it",
                        403,
                    )
                body = b""
                if method != "HEAD":
                    try:
                        body = await read_response(resp, max_size, url)
                    except InputTooLarge as err:
                        raise TooLarge(str(err)) from err
                return resp.status, dict(resp.headers), body
        raise self.refused()  # pragma: no cover - the loop always returns or raises

    # -- the distribution API -------------------------------------------------

    async def ping(self) -> None:
        """GET /v2/: the registry answers as a registry and takes the credentials."""
        status, _, _ = await self.request("GET", "/v2/")
        if status != 200:
            raise OCIError(
                f"{self.base_url}/v2/ answered HTTP {status}: is it an OCI registry?", status
            )

    async def has_blob(self, repository: str, digest: str) -> bool:
        status, _, _ = await self.request("HEAD", f"/v2/{repository}/blobs/{digest}")
        return status == 200

    async def upload_blob(self, repository: str, data: bytes) -> str:
        """Upload `data` (once: an existing blob is not sent again); returns its digest."""
        digest = sha256(data)
        if await self.has_blob(repository, digest):
            return digest
        status, headers, body = await self.request("POST", f"/v2/{repository}/blobs/uploads/")
        location = headers.get("Location", "")
        if status != 202 or not location:
            raise OCIError(
                f"starting an upload to {self.host}/{repository} answered HTTP {status}: "
                f"{body[:200].decode(errors='replace')}",
                status,
            )
        if "://" not in location:
            location = urljoin(self.base_url + "/", location.lstrip("/"))
        target = location + ("&" if "?" in location else "?") + urlencode({"digest": digest})
        status, _, body = await self.request(
            "PUT", target, data=data, headers={"Content-Type": "application/octet-stream"}
        )
        if status != 201:
            raise OCIError(
                f"uploading a blob to {self.host}/{repository} answered HTTP {status}: "
                f"{body[:200].decode(errors='replace')}",
                status,
            )
        return digest

    async def put_manifest(
        self, repository: str, reference: str, manifest: bytes, media_type: str = OCI_MANIFEST
    ) -> str:
        """Store a manifest under a tag (or its digest); returns the manifest's digest."""
        status, _, body = await self.request(
            "PUT",
            f"/v2/{repository}/manifests/{reference}",
            data=manifest,
            headers={"Content-Type": media_type},
        )
        if status != 201:
            raise OCIError(
                f"storing the manifest {self.host}/{repository}:{reference} answered HTTP "
                f"{status}: {body[:200].decode(errors='replace')}",
                status,
            )
        return sha256(manifest)

    async def manifest(self, repository: str, reference: str) -> tuple[dict[str, Any], str]:
        """The manifest of a tag or digest, and its digest (checked when asked by digest)."""
        status, _, body = await self.request(
            "GET",
            f"/v2/{repository}/manifests/{reference}",
            headers={"Accept": ", ".join(MANIFEST_MEDIA_TYPES)},
        )
        where = f"{self.host}/{repository}:{reference}"
        if status == 404:
            raise OCIError(f"{where} not found; check the repository and tag", 404)
        if status != 200:
            raise OCIError(f"the manifest of {where} answered HTTP {status}", status)
        digest = sha256(body)
        if _DIGEST.fullmatch(reference) and digest != reference:
            raise OCIError(f"the manifest of {where} has digest {digest}, not {reference}")
        try:
            manifest = json.loads(body)
        except ValueError as err:
            raise OCIError(f"the manifest of {where} is not valid JSON") from err
        if not isinstance(manifest, dict):
            raise OCIError(f"the manifest of {where} is malformed")
        return manifest, digest

    async def blob(self, repository: str, digest: str, max_size: int, what: str = "") -> bytes:
        """A blob, refused unless its sha256 is `digest`."""
        what = what or f"blob {digest} of {self.host}/{repository}"
        if not _DIGEST.fullmatch(digest):
            raise OCIError(f"{what} has an unsupported digest {digest!r}")
        status, _, body = await self.request(
            "GET", f"/v2/{repository}/blobs/{digest}", max_size=max_size
        )
        if status != 200:
            raise OCIError(f"downloading {what} answered HTTP {status}", status)
        actual = sha256(body)
        if actual != digest:
            raise OCIError(
                f"{what} has digest {actual} but its manifest says {digest}; the registry is "
                "inconsistent or the download was tampered with"
            )
        return body
