"""The connection to the user's cluster, through the user's own kubeconfig.

The command acts as the person running it (their context, their `as`
impersonation), so Kubernetes RBAC decides what it may see and change.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import yaml
from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.config.config_exception import ConfigException
from kubernetes_asyncio.stream import WsApiClient

from eddy_runtime.client import KubeconfigError, load_configuration, new_client
from eddy_runtime.client import kubeconfig_impersonation as impersonation_of
from eddy_runtime.resources import ResourceClient

from .errors import CliError, explain

T = TypeVar("T")

FIELD_MANAGER = "eddy"


@dataclass
class Settings:
    """The options every command shares."""

    kubeconfig: str = ""
    context: str = ""
    namespace: str = "flux-system"

    def kubeconfig_path(self) -> str:
        """--kubeconfig, else $KUBECONFIG (its first existing file), else ~/.kube/config."""
        if self.kubeconfig:
            if not Path(self.kubeconfig).is_file():
                raise CliError(f"kubeconfig {self.kubeconfig} does not exist; fix --kubeconfig")
            return self.kubeconfig
        for candidate in os.environ.get("KUBECONFIG", "").split(os.pathsep):
            if candidate and Path(candidate).is_file():
                return candidate
        default = Path.home() / ".kube" / "config"
        if default.is_file():
            return str(default)
        raise CliError(
            "no kubeconfig found: pass --kubeconfig, set KUBECONFIG, or create ~/.kube/config"
        )


@dataclass
class Cluster:
    """An open connection: the generated client and eddy's dict-based one."""

    api: ApiClient
    client: ResourceClient
    server: str
    context: str

    async def version(self) -> dict[str, Any]:
        return await self.client.get_path("/version")

    async def pod_get(
        self, namespace: str, pod: str, port: int, path: str, timeout: float = 10.0
    ) -> tuple[int, str]:
        """GET http://localhost:<port><path> inside a Pod, through a port-forward.

        A port-forward enters the Pod's network namespace through its kubelet, so it
        works where the API server cannot reach Pod addresses and where network
        policies admit only the Pod's neighbours (as eddy's do): what `kubectl
        port-forward` does, for one request. Returns the status and up to 64 KiB.
        """
        ws_api = WsApiClient(configuration=self.api.configuration)
        ws_api.default_headers.update(self.api.default_headers)
        request = (
            f"GET {path} HTTP/1.0\r\nHost: localhost:{port}\r\nConnection: close\r\n\r\n"
        ).encode()
        try:
            async with asyncio.timeout(timeout):
                connecting = await ws_api.call_api(
                    f"/api/v1/namespaces/{namespace}/pods/{pod}/portforward", "GET",
                    query_params=[("ports", str(port))], auth_settings=["BearerToken"],
                    _preload_content=False,
                )  # fmt: skip
                async with connecting as ws:
                    return await _exchange(ws, request)
        finally:
            await ws_api.close()


# Port-forward channels for the one port asked for: its data, and its errors.
_DATA, _ERROR = 0, 1


async def _exchange(ws: Any, request: bytes) -> tuple[int, str]:
    """Send one HTTP request over a port-forward's data channel; read the answer."""
    seen: set[int] = set()
    body = bytearray()
    errors = bytearray()
    sent = False
    async for message in ws:
        if message.type != aiohttp.WSMsgType.BINARY or not message.data:
            if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.ERROR):
                break
            continue
        channel, payload = message.data[0], message.data[1:]
        if channel not in seen:
            seen.add(channel)
            payload = payload[2:]  # each channel opens with its port number
        if channel == _DATA:
            body += payload
        elif channel == _ERROR:
            errors += payload
        if not sent and {_DATA, _ERROR} <= seen:
            await ws.send_bytes(bytes([_DATA]) + request)
            sent = True
        if len(body) > 65536 or errors:
            break
    if errors and not body:
        raise OSError(errors.decode(errors="replace").strip() or "port-forward failed")
    head, _, rest = bytes(body).partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0].split()
    if len(status_line) < 2 or not status_line[1].isdigit():
        raise OSError("no HTTP answer through the port-forward")
    return int(status_line[1]), rest[:65536].decode(errors="replace")


def _check_context(path: str, context: str) -> str:
    """The context that will be used; refuses one the kubeconfig does not have."""
    try:
        with open(path) as handle:
            doc = yaml.safe_load(handle) or {}
    except (OSError, yaml.YAMLError) as err:
        raise CliError(f"cannot read kubeconfig {path}: {err}") from None
    if not isinstance(doc, dict):
        raise CliError(f"kubeconfig {path} is not a kubeconfig (expected a YAML mapping)")
    names = [str(c.get("name")) for c in doc.get("contexts") or [] if isinstance(c, dict)]
    chosen = context or str(doc.get("current-context") or "")
    if not chosen:
        raise CliError(f"kubeconfig {path} has no current-context; pass --context NAME")
    if chosen not in names:
        known = ", ".join(names) or "none"
        raise CliError(
            f"context {chosen!r} is not in kubeconfig {path} (it has: {known}); "
            "pass --context with one of them"
        )
    return chosen


@asynccontextmanager
async def connect(settings: Settings) -> AsyncIterator[Cluster]:
    """A connection to the cluster of the chosen kubeconfig and context."""
    path = settings.kubeconfig_path()
    context = _check_context(path, settings.context)
    try:
        configuration = await load_configuration(path, context)
        impersonate = impersonation_of(path, context)
    except (ConfigException, KubeconfigError) as err:
        raise CliError(f"kubeconfig {path}, context {context!r}: {err}") from None
    api = new_client(configuration, impersonate)
    try:
        yield Cluster(api, ResourceClient(api, FIELD_MANAGER), str(configuration.host), context)
    finally:
        await api.close()


def run(settings: Settings, work: Callable[[Cluster], Awaitable[T]]) -> T:
    """Connect, run `work` on the event loop, and turn API failures into one line."""

    async def connected() -> T:
        async with connect(settings) as cluster:
            try:
                return await work(cluster)
            except CliError:
                raise
            except Exception as err:
                raise CliError(explain(err, cluster.server)) from err

    return asyncio.run(connected())
