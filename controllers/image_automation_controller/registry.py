"""List an image's tags over the OCI distribution API, with the registry's own auth flow.

`GET /v2/<name>/tags/list`, following `Link` pages; a 401 is answered with the
credentials from a dockerconfigjson Secret, as Basic or via the Bearer token realm.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import aiohttp

from eddy_artifacts.bounded import human, read_response
from eddy_artifacts.errors import InputTooLarge
from eddy_runtime.reconciler import StepError

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
_PAGE = 1000
_MAX_PAGES = 1000
# One answer (some registries list every tag with its manifests in one page), and
# all the pages of one listing together.
MAX_RESPONSE = 16 << 20
MAX_LISTING = 64 << 20
_CHALLENGE = re.compile(r'(\w+)="([^"]*)"')
_LINK_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')

AUTHENTICATION_FAILED = "AuthenticationFailed"
READ_OPERATION_FAILED = "ReadOperationFailed"
IMAGE_NOT_FOUND = "ImageNotFound"
INVALID_IMAGE = "InvalidImage"


class ScanError(StepError):
    """A scan that failed, with a Flux-style reason and a message a person can act on."""

    def __init__(self, reason: str, message: str, *, stalled: bool = False) -> None:
        super().__init__(message, reason=reason, stalled=stalled)


@dataclass(frozen=True)
class ImageName:
    """Where an image lives: the registry host and the repository path in it."""

    host: str
    repository: str

    @property
    def canonical(self) -> str:
        return f"{self.host}/{self.repository}"

    @property
    def api_host(self) -> str:
        return DOCKER_HUB_API if self.host == DOCKER_HUB else self.host


def parse_image(image: str) -> ImageName:
    """Split `ghcr.io/org/app`, `localhost:5000/app` or `alpine` the way Docker does."""
    text = image.strip()
    if not text or "://" in text or any(c.isspace() for c in text):
        raise ScanError(
            INVALID_IMAGE, f"spec.image {image!r} is not an image name, e.g. ghcr.io/org/app"
        )
    if "@" in text or ":" in text.rsplit("/", 1)[-1]:
        raise ScanError(
            INVALID_IMAGE,
            f"spec.image {image!r} must not have a tag or digest; "
            "the repository is scanned for its tags",
        )
    first, sep, rest = text.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        host, path = first, rest
    else:
        host, path = DOCKER_HUB, text
    if host in ("index.docker.io", "registry-1.docker.io"):
        host = DOCKER_HUB
    if host == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    if not re.fullmatch(r"[a-z0-9]+(?:[._-]+[a-z0-9]+)*(?:/[a-z0-9]+(?:[._-]+[a-z0-9]+)*)*", path):
        raise ScanError(
            INVALID_IMAGE,
            f"spec.image {image!r}: the repository path must be "
            "lower case letters, digits and . _ - /",
        )
    return ImageName(host, path)


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str

    def __repr__(self) -> str:
        return "Credentials(<redacted>)"

    def basic(self) -> str:
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode()


def _host_of(key: str) -> str:
    if "://" in key:
        key = urlsplit(key).netloc
    host = key.split("/", 1)[0].lower()
    return DOCKER_HUB if host in ("index.docker.io", "registry-1.docker.io") else host


def credentials_from_dockerconfig(raw: bytes, host: str) -> Credentials | None:
    """The entry of a `.dockerconfigjson` for `host`; None when it has none."""
    try:
        config = json.loads(raw)
    except ValueError as err:
        raise ScanError(AUTHENTICATION_FAILED, f"not valid JSON ({err})") from None
    auths = config.get("auths") if isinstance(config, dict) else None
    if not isinstance(auths, dict):
        raise ScanError(AUTHENTICATION_FAILED, "it has no 'auths' object")
    for key, entry in auths.items():
        if _host_of(str(key)) != host.lower() or not isinstance(entry, dict):
            continue
        username, password = entry.get("username"), entry.get("password")
        if entry.get("auth"):
            try:
                decoded = base64.b64decode(str(entry["auth"])).decode()
            except (ValueError, UnicodeDecodeError):
                raise ScanError(
                    AUTHENTICATION_FAILED, f"the 'auth' of {key} is not base64 of user:password"
                ) from None
            username, _, password = decoded.partition(":")
        if username is not None:
            return Credentials(str(username), str(password or ""))
    return None


@dataclass(frozen=True)
class Client:
    """How to reach one registry: scheme, TLS, credentials and time limit."""

    session: aiohttp.ClientSession
    insecure: bool = False
    credentials: Credentials | None = None
    ssl_context: ssl.SSLContext | None = None
    timeout: float = 60.0

    def base(self, image: ImageName) -> str:
        return f"{'http' if self.insecure else 'https'}://{image.api_host}"

    async def list_tags(self, image: ImageName) -> list[str]:
        """Every tag of the repository, in the order the registry gives them.

        The timeout bounds the whole listing, every page and token request included.
        """
        try:
            async with asyncio.timeout(self.timeout):
                return await self._list_tags(image)
        except TimeoutError:
            raise ScanError(
                READ_OPERATION_FAILED,
                f"listing tags of {image.canonical} took longer than {self.timeout:g}s; "
                "raise spec.timeout or check the registry",
            ) from None

    async def _list_tags(self, image: ImageName) -> list[str]:
        url = f"{self.base(image)}/v2/{image.repository}/tags/list?{urlencode({'n': _PAGE})}"
        scope = f"repository:{image.repository}:pull"
        tags: list[str] = []
        authorization: str | None = None
        listed = 0
        for _ in range(_MAX_PAGES):
            status, headers, body, authorization = await self._get(url, scope, authorization)
            listed += len(body)
            if listed > MAX_LISTING:
                raise ScanError(
                    READ_OPERATION_FAILED,
                    f"listing tags of {image.canonical}: the registry's pages add up to more "
                    f"than {human(MAX_LISTING)}",
                )
            if status == 404:
                raise ScanError(
                    IMAGE_NOT_FOUND,
                    f"repository {image.canonical} not found in the registry; check spec.image",
                )
            if status != 200:
                raise ScanError(
                    READ_OPERATION_FAILED,
                    f"listing tags of {image.canonical}: "
                    f"the registry answered HTTP {status} {_error_text(body)}",
                )
            try:
                page = json.loads(body)
            except ValueError:
                raise ScanError(
                    READ_OPERATION_FAILED,
                    f"listing tags of {image.canonical}: the registry's answer is not JSON",
                ) from None
            listed_tags = page.get("tags") if isinstance(page, dict) else None
            if not isinstance(listed_tags, list | None):
                raise ScanError(
                    READ_OPERATION_FAILED,
                    f"listing tags of {image.canonical}: the registry's answer has no list of tags",
                )
            tags.extend(str(t) for t in (listed_tags or []) if isinstance(t, str))
            link = _LINK_NEXT.search(headers.get("Link", ""))
            if link is None:
                return tags
            following = urljoin(url, link.group(1))
            if _origin(following) != _origin(url):
                # The next page must come from the same registry: credentials go along.
                raise ScanError(
                    READ_OPERATION_FAILED,
                    f"listing tags of {image.canonical}: the registry's next page is on "
                    f"another host ({_origin(following)}); refusing to follow it",
                )
            url = following
        return tags

    async def _request(self, url: str, authorization: str | None) -> tuple[int, Any, bytes]:
        headers = {"Accept": "application/json"}
        if authorization:
            headers["Authorization"] = authorization
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        try:
            async with self.session.get(
                url,
                headers=headers,
                ssl=self.ssl_context if self.ssl_context else True,
                timeout=timeout,
                allow_redirects=True,
            ) as resp:
                body = await read_response(resp, MAX_RESPONSE, f"the answer of {_origin(url)}")
                return resp.status, resp.headers, body
        except InputTooLarge as err:
            raise ScanError(READ_OPERATION_FAILED, str(err)) from None
        except aiohttp.ClientConnectorCertificateError:
            raise ScanError(
                READ_OPERATION_FAILED,
                f"TLS verification of {_origin(url)} "
                "failed; add its CA as ca.crt in spec.certSecretRef",
            ) from None
        except aiohttp.ClientSSLError as err:
            raise ScanError(
                READ_OPERATION_FAILED,
                f"TLS with {_origin(url)} failed ({err}); "
                "for a plain-HTTP registry set spec.insecure: true",
            ) from None
        except TimeoutError:
            # Before OSError, which it is a kind of (aiohttp's timeouts too).
            raise ScanError(
                READ_OPERATION_FAILED,
                f"{_origin(url)} did not answer within "
                f"{self.timeout:g}s; raise spec.timeout or check the registry",
            ) from None
        except aiohttp.TooManyRedirects:
            raise ScanError(
                READ_OPERATION_FAILED, f"{_origin(url)} answered with too many redirects"
            ) from None
        except (aiohttp.ClientError, OSError) as err:
            raise ScanError(
                READ_OPERATION_FAILED, f"cannot reach {_origin(url)}: {err or type(err).__name__}"
            ) from None

    async def _get(
        self, url: str, scope: str, authorization: str | None
    ) -> tuple[int, Any, bytes, str | None]:
        """GET with whatever authorization worked before; on 401, authenticate once."""
        status, headers, body = await self._request(url, authorization)
        if status != 401:
            return status, headers, body, authorization
        challenge = headers.get("WWW-Authenticate", "")
        authorization = await self._authorize(challenge, scope, url)
        status, headers, body = await self._request(url, authorization)
        if status in (401, 403):
            raise ScanError(AUTHENTICATION_FAILED, self._denied(url))
        return status, headers, body, authorization

    def _denied(self, url: str) -> str:
        if self.credentials is None:
            return (
                f"{_origin(url)} requires authentication; set spec.secretRef to a "
                "kubernetes.io/dockerconfigjson Secret with credentials for it"
            )
        return (
            f"{_origin(url)} refused the credentials from spec.secretRef; check the "
            "username and password for this registry"
        )

    async def _authorize(self, challenge: str, scope: str, url: str) -> str:
        scheme, _, params_text = challenge.partition(" ")
        if scheme.lower() == "basic":
            if self.credentials is None:
                raise ScanError(AUTHENTICATION_FAILED, self._denied(url))
            return self.credentials.basic()
        if scheme.lower() != "bearer":
            raise ScanError(
                AUTHENTICATION_FAILED,
                f"{_origin(url)} asks for {scheme or 'an unknown'} authentication, "
                "which is not supported",
            )
        params = dict(_CHALLENGE.findall(params_text))
        realm = params.get("realm")
        if not realm:
            raise ScanError(
                AUTHENTICATION_FAILED, f"{_origin(url)} sent a Bearer challenge without a realm"
            )
        query = {"scope": params.get("scope") or scope}
        if params.get("service"):
            query["service"] = params["service"]
        token_url = f"{realm}{'&' if '?' in realm else '?'}{urlencode(query)}"
        auth = self.credentials.basic() if self.credentials else None
        status, _, body = await self._request(token_url, auth)
        if status in (401, 403):
            raise ScanError(AUTHENTICATION_FAILED, self._denied(url))
        if status != 200:
            raise ScanError(
                AUTHENTICATION_FAILED, f"the token service of {_origin(url)} answered HTTP {status}"
            )
        try:
            answer = json.loads(body)
            token = answer.get("token") or answer.get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not token:
            raise ScanError(
                AUTHENTICATION_FAILED, f"the token service of {_origin(url)} returned no token"
            )
        return f"Bearer {token}"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _error_text(body: bytes) -> str:
    """The first error code and message of a distribution API error body, if any."""
    try:
        errors = json.loads(body).get("errors") or []
        first = errors[0]
        return f"({first.get('code')}: {first.get('message')})"
    except (ValueError, AttributeError, IndexError, TypeError):
        return ""
