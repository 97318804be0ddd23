"""HTTP to Helm repositories: credentials and TLS from Secrets, bounded downloads.

Index files and chart archives come from the same servers with the same
credentials; both go through here so auth and TLS errors read the same.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp

from eddy_api.common import Reason
from eddy_artifacts.bounded import read_response
from eddy_artifacts.errors import InputTooLarge
from eddy_runtime.resources import ResourceClient

from ..failures import SourceError, fetch_failed
from ..secrets import read_secret
from ..tls import tls_context
from .oci import basic_from_docker_config

MAX_INDEX_SIZE = 50 << 20
MAX_CHART_SIZE = 100 << 20


@dataclass(frozen=True)
class RepoAccess:
    """How to reach one repository; `host` limits where credentials are sent."""

    # The Authorization header value for basic auth, if credentials were given.
    basic: str | None = None
    tls: ssl.SSLContext | None = None
    host: str = ""
    pass_credentials: bool = False

    def __repr__(self) -> str:
        return "RepoAccess(<redacted>)"

    def headers_for(self, url: str) -> dict[str, str]:
        # Credentials go to the repository's own host only, unless passCredentials.
        if self.basic and (self.pass_credentials or urlsplit(url).netloc == self.host):
            return {"Authorization": self.basic}
        return {}


async def repo_access(
    client: ResourceClient, namespace: str, spec: dict[str, object]
) -> RepoAccess:
    """Credentials (secretRef) and TLS material (certSecretRef, else secretRef) of a spec."""
    url = str(spec.get("url", ""))
    basic = None
    tls_data: dict[str, bytes] = {}
    secret_ref = spec.get("secretRef")
    if isinstance(secret_ref, dict) and secret_ref.get("name"):
        data = await read_secret(client, namespace, str(secret_ref["name"]))
        username, password = data.get("username"), data.get("password")
        if username or password:
            if not (username and password):
                raise SourceError(
                    Reason.AUTHENTICATION_FAILED,
                    f"secret '{namespace}/{secret_ref['name']}' needs both 'username' and "
                    "'password'",
                    condition="FetchFailed",
                )
            basic = aiohttp.encode_basic_auth(username.decode(), password.decode())
        elif data.get(".dockerconfigjson") and spec.get("type") == "oci":
            # Registry credentials are often kept as a docker-registry Secret.
            basic = basic_from_docker_config(data[".dockerconfigjson"], urlsplit(url).netloc)
        tls_data = {k: v for k, v in data.items() if k in ("ca.crt", "tls.crt", "tls.key")}
    cert_ref = spec.get("certSecretRef")
    if isinstance(cert_ref, dict) and cert_ref.get("name"):
        tls_data = await read_secret(client, namespace, str(cert_ref["name"]))
    return RepoAccess(
        basic, tls_context(tls_data), urlsplit(url).netloc, bool(spec.get("passCredentials"))
    )


async def download(
    url: str, access: RepoAccess, timeout: float, max_size: int, reason: str, what: str
) -> bytes:
    """GET url into memory (bounded); failures become `reason` with a remedy."""
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session,
            session.get(url, headers=access.headers_for(url), ssl=access.tls or True) as resp,
        ):
            if resp.status == 401 or resp.status == 403:
                raise fetch_failed(
                    reason,
                    f"cannot download {what} from {url}: HTTP {resp.status}; check the "
                    "username and password in spec.secretRef",
                )
            if resp.status != 200:
                raise fetch_failed(
                    reason, f"cannot download {what} from {url}: HTTP {resp.status} {resp.reason}"
                )
            return await read_response(resp, max_size, f"{what} at {url}")
    except InputTooLarge as err:
        raise fetch_failed(reason, str(err)) from err
    except TimeoutError as err:
        # Before ClientError: aiohttp's timeouts are both.
        raise fetch_failed(
            reason, f"downloading {what} from {url} timed out after {timeout:g}s"
        ) from err
    except aiohttp.ClientConnectorCertificateError as err:
        raise fetch_failed(
            reason,
            f"cannot download {what} from {url}: TLS verification failed; add the CA as "
            "ca.crt to spec.certSecretRef",
        ) from err
    except aiohttp.ClientError as err:
        raise fetch_failed(reason, f"cannot download {what} from {url}: {err}") from err
