"""Which resource path and scope serve a given apiVersion and kind, asked of the cluster.

Manifests name kinds; the API needs plural resource paths and whether a kind is
namespaced. CRDs appear while a Kustomization applies, so lookups refresh on a miss.
A group version the server cannot describe (an aggregated API answering 503) is an
error, never "no such kind": pruning must not mistake an outage for absence.
"""

from __future__ import annotations

import asyncio
import time

import aiohttp

from .reconciler import StepError
from .resources import ApiError, Resource, ResourceClient

# A miss re-reads a group version at most this often: a kind that is really
# unknown must not cost a discovery request per object.
_REFRESH_AFTER = 0.5


class DiscoveryError(StepError):
    """The API server could not say what a group version serves, for now."""


class Discovery:
    """A cache of the cluster's discovery documents, one per group version."""

    def __init__(self, client: ResourceClient) -> None:
        self.client = client
        self._kinds: dict[str, dict[str, Resource]] = {}
        self._fetched: dict[str, float] = {}
        self._failed: dict[str, str] = {}
        self._lock = asyncio.Lock()

    async def lookup(self, api_version: str, kind: str) -> Resource | None:
        """The Resource serving `kind` in `api_version`, or None if the cluster lacks it.

        Raises DiscoveryError when the server could not answer for `api_version`.
        """
        found = self._kinds.get(api_version, {}).get(kind)
        if found is not None:
            return found
        async with self._lock:
            found = self._kinds.get(api_version, {}).get(kind)
            fetched = self._fetched.get(api_version)
            if found is None and (fetched is None or time.monotonic() - fetched > _REFRESH_AFTER):
                await self._fetch(api_version)
                found = self._kinds.get(api_version, {}).get(kind)
            failure = self._failed.get(api_version)
        if found is None and failure is not None:
            raise DiscoveryError(failure)
        return found

    def forget(self, api_version: str) -> None:
        """Drop what is known of a group version (after a CRD for it was applied)."""
        self._kinds.pop(api_version, None)
        self._fetched.pop(api_version, None)
        self._failed.pop(api_version, None)

    async def _fetch(self, api_version: str) -> None:
        group, _, version = api_version.rpartition("/")
        path = f"/apis/{group}/{version}" if group else f"/api/{version}"
        kinds: dict[str, Resource] = {}
        self._fetched[api_version] = time.monotonic()
        try:
            document = await self.client.get_path(path)
        except ApiError as err:
            if err.status != 404:
                # Remembered as long as a fetch would be: a kind of an unavailable
                # API must not cost a discovery request per object either.
                detail = (err.message or err.reason or "no answer").strip()
                self._failed[api_version] = (
                    f"discovery of {api_version} failed ({err.status}): {detail}"
                )
                return
            document = {}  # the group version is not served: an answer, not an outage
        except (aiohttp.ClientError, OSError, TimeoutError) as err:
            self._failed[api_version] = f"discovery of {api_version} failed: {err}"
            return
        self._failed.pop(api_version, None)
        for item in document.get("resources") or []:
            plural = str(item.get("name", ""))
            if not plural or "/" in plural:
                continue  # subresources such as deployments/scale
            kinds[str(item.get("kind"))] = Resource(
                group, version, plural, str(item.get("kind")), bool(item.get("namespaced"))
            )
        self._kinds[api_version] = kinds
