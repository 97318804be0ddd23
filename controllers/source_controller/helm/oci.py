"""Helm charts in OCI registries: login check, tags, manifest and chart layer.

An OCI HelmRepository has no index: a chart's versions are the tags of
`<url>/<chart>`, and the chart is the layer of Helm's media type in the manifest.
"""

from __future__ import annotations

import json
import re
import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp

import eddy_oci
from eddy_api.common import Reason
from eddy_artifacts.digest import bytes_digest
from eddy_oci.auth import docker_config_auth
from eddy_oci.client import CredentialsRefused, OCIError, TooLarge
from eddy_runtime.semver import InvalidVersion, parse_range, versions_of

from ..failures import SourceError, fetch_failed, invalid_spec

CHART_LAYER_MEDIA_TYPE = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
CHART_CONFIG_MEDIA_TYPE = "application/vnd.cncf.helm.config.v1+json"
MANIFEST_MEDIA_TYPES = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
MAX_MANIFEST_SIZE = 4 << 20
MAX_TAGS_PAGES = 100
INVALID_CHART_REFERENCE = "InvalidChartReference"

# Flux takes a full semantic version as the tag itself, without listing tags.
_EXACT = re.compile(
    r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?"
)


@dataclass(frozen=True)
class OCILocation:
    """Where a HelmRepository of type oci points: registry base URL and path prefix."""

    base_url: str
    host: str
    prefix: str

    def repository(self, chart: str) -> str:
        name = chart.strip("/")
        return f"{self.prefix}/{name}" if self.prefix else name

    def reference(self, chart: str, tag: str = "") -> str:
        """oci://host/prefix/chart[:tag], for messages."""
        ref = f"oci://{self.host}/{self.repository(chart)}"
        return f"{ref}:{tag}" if tag else ref


def parse_oci_url(url: str, insecure: bool) -> OCILocation:
    """The registry behind `oci://host[:port][/path]`; plain HTTP only when insecure."""
    parts = urlsplit(url)
    if parts.scheme != "oci" or not parts.netloc:
        raise invalid_spec(
            f"spec.url '{url}' is not an OCI registry URL; use oci://<host>[/<path>]",
            Reason.INVALID_URL,
        )
    if parts.query or parts.fragment or "@" in parts.netloc:
        raise invalid_spec(
            f"spec.url '{url}' must not carry credentials, a query or a fragment",
            Reason.INVALID_URL,
        )
    scheme = "http" if insecure else "https"
    return OCILocation(f"{scheme}://{parts.netloc}", parts.netloc, parts.path.strip("/"))


def tag_for(version: str) -> str:
    # OCI tags cannot hold '+', so Helm pushes build metadata with '_' instead.
    return version.replace("+", "_")


def version_of(tag: str) -> str:
    return tag.replace("_", "+")


def is_exact_version(wanted: str) -> bool:
    return _EXACT.fullmatch(wanted.strip()) is not None


def select_version(tags: list[str], wanted: str, chart: str) -> str:
    """The highest version among the tags matching `wanted` (Masterminds syntax)."""
    try:
        versions = parse_range(wanted or "*")
    except InvalidVersion as err:
        raise invalid_spec(f"spec.version: {err}") from err
    candidates = versions_of([version_of(tag) for tag in tags], str)
    if not candidates:
        raise fetch_failed(
            INVALID_CHART_REFERENCE,
            f"no chart versions of '{chart}' in the registry: none of its "
            f"{len(tags)} tags is a semantic version",
        )
    best = versions.best(candidates)
    if best is None:
        found = ", ".join(str(v) for v in sorted(candidates, reverse=True)[:10])
        raise fetch_failed(
            INVALID_CHART_REFERENCE,
            f"no '{chart}' chart version matches '{wanted}' (found {found}); fix spec.version "
            "or push a matching version",
        )
    return candidates[best]


def basic_from_docker_config(data: bytes, host: str) -> str | None:
    """The basic Authorization header for `host` in a `.dockerconfigjson`, if any."""
    try:
        return docker_config_auth(data, host)
    except OCIError as err:
        raise SourceError(
            Reason.AUTHENTICATION_FAILED,
            f"the .dockerconfigjson in spec.secretRef is not valid JSON: {err.message}",
            condition="FetchFailed",
        ) from err


class RegistryClient:
    """The distribution API of one registry, for charts: eddy_oci's client underneath
    (basic auth up front, Bearer challenges answered from their realm), its failures
    told in terms of the HelmRepository."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        location: OCILocation,
        basic: str | None,
        tls: ssl.SSLContext | None,
    ) -> None:
        self.location = location
        self.basic = basic
        self.oci = eddy_oci.RegistryClient(session, location.base_url, basic, tls)

    def _refused(self) -> SourceError:
        if self.basic:
            return fetch_failed(
                Reason.AUTHENTICATION_FAILED,
                f"registry {self.location.host} refused the credentials in spec.secretRef; "
                "check the username and password",
            )
        return fetch_failed(
            Reason.AUTHENTICATION_FAILED,
            f"registry {self.location.host} requires credentials; set spec.secretRef on the "
            "HelmRepository",
        )

    async def get(
        self, path: str, *, accept: str | None = None, max_size: int = MAX_MANIFEST_SIZE
    ) -> tuple[int, dict[str, str], bytes]:
        """GET path (relative to the registry); 401s are answered once, then refused."""
        headers = {"Accept": accept} if accept else None
        try:
            status, found, body = await self.oci.request(
                "GET", path, headers=headers, max_size=max_size
            )
        except CredentialsRefused as err:
            raise self._refused() from err
        except TooLarge as err:
            raise fetch_failed(Reason.CHART_PULL_FAILED, err.message) from err
        except OCIError as err:
            # What is left is the token service failing us.
            raise fetch_failed(Reason.AUTHENTICATION_FAILED, err.message) from err
        return status, found, body if status == 200 else b""

    async def login(self) -> None:
        """GET /v2/: the registry answers, and accepts the credentials (if any)."""
        status, _, _ = await self._get_or_unauthenticated("/v2/")
        if status >= 500:
            raise fetch_failed(
                Reason.FAILED, f"registry {self.location.host} answered HTTP {status}"
            )
        if status not in (200, 401):
            raise fetch_failed(
                Reason.FAILED,
                f"{self.location.base_url} answered HTTP {status} at /v2/: it is not an OCI "
                "registry; check spec.url",
            )

    async def _get_or_unauthenticated(self, path: str) -> tuple[int, dict[str, str], bytes]:
        try:
            return await self.get(path)
        except SourceError:
            # Without credentials a 401 is no error: Flux logs in only with a secretRef.
            if self.basic:
                raise
            return 401, {}, b""

    async def tags(self, repository: str, chart: str) -> list[str]:
        """Every tag of a repository, following the API's pagination."""
        tags: list[str] = []
        path: str | None = f"/v2/{repository}/tags/list?n=1000"
        pages = 0
        while path and pages < MAX_TAGS_PAGES:
            pages += 1
            status, headers, body = await self.get(path)
            if status == 404:
                raise fetch_failed(
                    INVALID_CHART_REFERENCE,
                    f"chart '{chart}' not found at {self.location.reference(chart)}; check "
                    "spec.chart and the HelmRepository's spec.url",
                )
            if status != 200:
                raise fetch_failed(
                    Reason.CHART_PULL_FAILED,
                    f"listing tags of {self.location.reference(chart)} answered HTTP {status}",
                )
            try:
                listed = json.loads(body).get("tags") or []
            except (ValueError, AttributeError) as err:
                raise fetch_failed(
                    Reason.CHART_PULL_FAILED,
                    f"the tag list of {self.location.reference(chart)} is not valid JSON",
                ) from err
            tags += [str(t) for t in listed]
            path = _next_page(headers.get("Link", ""))
        return tags

    async def manifest(self, repository: str, tag: str, chart: str) -> tuple[dict[str, Any], str]:
        """The manifest a tag points at, and its digest (what signatures sign)."""
        status, _, body = await self.get(
            f"/v2/{repository}/manifests/{tag}", accept=", ".join(MANIFEST_MEDIA_TYPES)
        )
        ref = self.location.reference(chart, tag)
        if status == 404:
            raise fetch_failed(
                INVALID_CHART_REFERENCE,
                f"chart version {ref} not found; check spec.version and spec.chart",
            )
        if status != 200:
            raise fetch_failed(Reason.CHART_PULL_FAILED, f"manifest of {ref}: HTTP {status}")
        try:
            manifest = json.loads(body)
        except ValueError as err:
            raise fetch_failed(
                Reason.CHART_PULL_FAILED, f"the manifest of {ref} is not valid JSON"
            ) from err
        if not isinstance(manifest, dict):
            raise fetch_failed(Reason.CHART_PULL_FAILED, f"the manifest of {ref} is malformed")
        return manifest, str(bytes_digest(body))

    async def blob(self, repository: str, digest: str, max_size: int, what: str) -> bytes:
        """The blob, refused unless its sha256 is the digest the manifest names."""
        if not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
            raise fetch_failed(
                Reason.CHART_PULL_FAILED, f"{what} has an unsupported digest '{digest}'"
            )
        status, _, body = await self.get(f"/v2/{repository}/blobs/{digest}", max_size=max_size)
        if status != 200:
            raise fetch_failed(Reason.CHART_PULL_FAILED, f"downloading {what}: HTTP {status}")
        actual = str(bytes_digest(body))
        if actual != digest:
            raise fetch_failed(
                Reason.CHART_PULL_FAILED,
                f"{what} has digest {actual} but its manifest says {digest}; the registry is "
                "inconsistent or the download was tampered with",
            )
        return body


def _next_page(link: str) -> str | None:
    # Link: </v2/name/tags/list?last=x&n=100>; rel="next"
    match = re.search(r'<([^>]+)>\s*;\s*rel="?next"?', link)
    return match[1] if match else None


def chart_layer(manifest: dict[str, Any], ref: str) -> dict[str, Any]:
    """The manifest's chart layer; an artifact of another kind is an error."""
    layers = manifest.get("layers")
    if not isinstance(layers, list):
        raise fetch_failed(Reason.CHART_PULL_FAILED, f"the manifest of {ref} has no layers")
    for layer in layers:
        if isinstance(layer, dict) and layer.get("mediaType") == CHART_LAYER_MEDIA_TYPE:
            return layer
    kinds = ", ".join(str(x.get("mediaType")) for x in layers if isinstance(x, dict)) or "none"
    raise fetch_failed(
        Reason.CHART_PULL_FAILED,
        f"{ref} is not a Helm chart: no layer of type {CHART_LAYER_MEDIA_TYPE} (found {kinds})",
    )


def connection_error(err: Exception, location: OCILocation, reason: str) -> SourceError:
    """Network failures as a message that says where and what to check."""
    if isinstance(err, aiohttp.ClientConnectorCertificateError):
        return fetch_failed(
            reason,
            f"TLS verification of registry {location.host} failed; add its CA as ca.crt to "
            "spec.certSecretRef",
        )
    if isinstance(err, aiohttp.ClientSSLError | ssl.SSLError):
        return fetch_failed(
            reason,
            f"TLS with registry {location.host} failed ({err}); for a plain-HTTP registry set "
            "spec.insecure: true",
        )
    if isinstance(err, TimeoutError):
        return fetch_failed(reason, f"registry {location.host} did not answer in time")
    return fetch_failed(reason, f"cannot reach registry {location.host}: {err}")
