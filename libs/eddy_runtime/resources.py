"""One dynamic client for any resource: objects in and out as plain dicts.

Every controller reads and writes custom resources through this client, which calls
the REST API directly and parses JSON itself instead of building generated models.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp
from kubernetes_asyncio.client import ApiClient

from .ratelimit import TokenBucket

Obj = dict[str, Any]


def describe(obj: Obj) -> str:
    """`Kind/namespace/name`, or `Kind/name` for cluster-scoped objects."""
    found = obj.get("metadata")
    m = found if isinstance(found, dict) else {}
    namespace = m.get("namespace")
    name = m.get("name", "")
    return f"{obj.get('kind')}/{namespace}/{name}" if namespace else f"{obj.get('kind')}/{name}"


MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"


@dataclass(frozen=True)
class Resource:
    """Where a kind lives in the API: group, version, plural, kind, namespaced."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{quote(namespace, safe='')}"
        base += f"/{self.plural}"
        if name:
            base += f"/{quote(name, safe='')}"
        return base

    def __str__(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural


SECRETS = Resource("", "v1", "secrets", "Secret")
CONFIG_MAPS = Resource("", "v1", "configmaps", "ConfigMap")
EVENTS = Resource("", "v1", "events", "Event")
NAMESPACES = Resource("", "v1", "namespaces", "Namespace", namespaced=False)
LEASES = Resource("coordination.k8s.io", "v1", "leases", "Lease")
CRDS = Resource(
    "apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition",
    namespaced=False,
)  # fmt: skip


class ApiError(Exception):
    """A non-2xx answer from the API server, with its Status reason and message."""

    def __init__(self, status: int, reason: str, message: str, body: Obj | None = None) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message
        self.body = body or {}

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def conflict(self) -> bool:
        return self.status == 409

    @property
    def gone(self) -> bool:
        return self.status == 410

    @property
    def already_exists(self) -> bool:
        return self.status == 409 and self.reason == "AlreadyExists"


def _query(**params: Any) -> dict[str, Any]:
    """Query parameters, leaving out the empty ones (the API server's defaults)."""
    return {name: value for name, value in params.items() if value}


def _api_error(status: int, raw: bytes) -> ApiError:
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    if isinstance(body, dict):
        return ApiError(status, str(body.get("reason", "")), str(body.get("message", "")), body)
    return ApiError(status, "", raw[:200].decode(errors="replace"))


class ResourceClient:
    """get/list/watch/create/replace/patch/patch-status/delete for any Resource."""

    def __init__(
        self, api: ApiClient, field_manager: str = "eddy", limiter: TokenBucket | None = None
    ) -> None:
        self.api = api
        self.field_manager = field_manager
        self.limiter = limiter

    async def _call(
        self,
        method: str,
        path: str,
        query: Mapping[str, Any] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        timeout: aiohttp.ClientTimeout | float | None = None,
    ) -> aiohttp.ClientResponse:
        headers = {"Accept": "application/json", "Content-Type": content_type}
        if self.limiter is not None:
            await self.limiter.acquire()
        params = [
            (k, str(v).lower() if isinstance(v, bool) else v) for k, v in (query or {}).items()
        ]
        resp: aiohttp.ClientResponse = await self.api.call_api(
            path, method,
            query_params=params, header_params=headers, body=body,
            auth_settings=["BearerToken"], _preload_content=False,
            _request_timeout=timeout or 60.0,
        )  # fmt: skip
        return resp

    async def _json(self, method: str, path: str, **kwargs: Any) -> Obj:
        resp = await self._call(method, path, **kwargs)
        try:
            raw = await resp.read()
        finally:
            resp.release()
        if not 200 <= resp.status < 300:
            raise _api_error(resp.status, raw)
        result: Obj = json.loads(raw) if raw else {}
        return result

    async def get(self, res: Resource, name: str, namespace: str | None = None) -> Obj:
        return await self._json("GET", res.path(namespace, name))

    async def get_or_none(
        self, res: Resource, name: str, namespace: str | None = None
    ) -> Obj | None:
        try:
            return await self.get(res, name, namespace)
        except ApiError as err:
            if err.not_found:
                return None
            raise

    async def list(
        self,
        res: Resource,
        namespace: str | None = None,
        label_selector: str = "",
        field_selector: str = "",
        limit: int = 0,
        continue_: str = "",
        resource_version: str = "",
    ) -> Obj:
        """One page of a list, the raw List object (items, metadata.resourceVersion)."""
        query = _query(
            labelSelector=label_selector, fieldSelector=field_selector, limit=limit,
            resourceVersion=resource_version, **{"continue": continue_},
        )  # fmt: skip
        return await self._json("GET", res.path(namespace), query=query)

    async def list_all(
        self, res: Resource, namespace: str | None = None, label_selector: str = "", page: int = 500
    ) -> tuple[builtins.list[Obj], str]:
        """Every item, paging through; returns the items and the list's resourceVersion."""
        items: builtins.list[Obj] = []
        token = ""
        while True:
            result = await self.list(res, namespace, label_selector, limit=page, continue_=token)
            kind = res.kind
            for item in result.get("items") or []:
                # List items come without apiVersion/kind; callers expect full objects.
                item.setdefault("apiVersion", res.api_version)
                item.setdefault("kind", kind)
                items.append(item)
            meta = result.get("metadata") or {}
            token = meta.get("continue") or ""
            if not token:
                return items, str(meta.get("resourceVersion", ""))

    async def watch(
        self,
        res: Resource,
        namespace: str | None = None,
        resource_version: str = "",
        label_selector: str = "",
        timeout_seconds: int = 300,
        bookmarks: bool = True,
    ) -> AsyncIterator[Obj]:
        """Watch events as dicts {type, object}; ends when the server closes the stream.

        A line that is not JSON is yielded as {"type": "UNDECODABLE", "raw": ...} so the
        caller can log it and carry on rather than lose the stream.
        """
        query = _query(
            watch=True, timeoutSeconds=timeout_seconds, resourceVersion=resource_version,
            labelSelector=label_selector, allowWatchBookmarks=bookmarks,
        )  # fmt: skip
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=timeout_seconds + 30)
        resp = await self._call("GET", res.path(namespace), query=query, timeout=timeout)
        try:
            if not 200 <= resp.status < 300:
                raise _api_error(resp.status, await resp.read())
            buffer = bytearray()
            async for chunk in resp.content.iter_any():
                buffer.extend(chunk)
                start = 0
                while (end := buffer.find(b"\n", start)) >= 0:
                    line = bytes(buffer[start:end])
                    start = end + 1
                    if line.strip():
                        yield _decode_event(line)
                del buffer[:start]
            if buffer.strip():
                yield _decode_event(bytes(buffer))
        finally:
            resp.release()

    async def create(self, res: Resource, obj: Obj, namespace: str | None = None) -> Obj:
        ns = namespace or obj.get("metadata", {}).get("namespace")
        return await self._json("POST", res.path(ns), body=obj, query=self._fm())

    async def replace(self, res: Resource, obj: Obj) -> Obj:
        meta = obj["metadata"]
        path = res.path(meta.get("namespace"), meta["name"])
        return await self._json("PUT", path, body=obj, query=self._fm())

    async def patch(
        self,
        res: Resource,
        name: str,
        patch: Any,
        namespace: str | None = None,
        patch_type: str = MERGE_PATCH,
        subresource: str = "",
        force: bool = False,
        dry_run: bool = False,
    ) -> Obj:
        """Patch with merge (default), JSON patch or server-side apply (`APPLY_PATCH`).

        `dry_run` asks the server to validate and answer without persisting anything.
        """
        path = res.path(namespace, name) + (f"/{subresource}" if subresource else "")
        query = self._fm()
        if patch_type == APPLY_PATCH and force:
            query["force"] = True
        if dry_run:
            query["dryRun"] = "All"
        return await self._json("PATCH", path, body=patch, content_type=patch_type, query=query)

    async def apply(
        self, res: Resource, obj: Obj, force: bool = True, dry_run: bool = False
    ) -> Obj:
        meta = obj["metadata"]
        return await self.patch(
            res, meta["name"], obj, meta.get("namespace"), APPLY_PATCH, force=force,
            dry_run=dry_run,
        )  # fmt: skip

    async def get_path(self, path: str) -> Obj:
        """GET any API path as JSON, e.g. discovery documents such as /apis/apps/v1."""
        return await self._json("GET", path)

    async def patch_status(
        self, res: Resource, name: str, patch: Any, namespace: str | None = None,
        patch_type: str = MERGE_PATCH,
    ) -> Obj:  # fmt: skip
        return await self.patch(res, name, patch, namespace, patch_type, subresource="status")

    async def delete(
        self, res: Resource, name: str, namespace: str | None = None, propagation: str = ""
    ) -> Obj | None:
        """Delete; None when it was already gone."""
        body = {"propagationPolicy": propagation} if propagation else None
        try:
            return await self._json("DELETE", res.path(namespace, name), body=body)
        except ApiError as err:
            if err.not_found:
                return None
            raise

    def _fm(self) -> dict[str, Any]:
        return {"fieldManager": self.field_manager}


def _decode_event(line: bytes) -> Obj:
    try:
        event = json.loads(line)
    except ValueError:
        return {"type": "UNDECODABLE", "raw": line[:200].decode(errors="replace")}
    if not isinstance(event, dict):
        return {"type": "UNDECODABLE", "raw": line[:200].decode(errors="replace")}
    return event
