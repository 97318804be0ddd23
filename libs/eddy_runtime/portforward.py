"""One HTTP request inside a Pod, through a port-forward: how `eddy check` and the
dashboard ask a controller's /healthz, /readyz and /metrics.

A port-forward enters the Pod's network namespace through its kubelet, so it
works where the API server cannot reach Pod addresses and where network policies
admit only the Pod's neighbours (as eddy's do): what `kubectl port-forward` does,
for one request, with the caller's own rights (`create` on `pods/portforward`).
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.stream import WsApiClient

# Port-forward channels for the one port asked for: its data, and its errors.
_DATA, _ERROR = 0, 1
MAX_BODY = 65536


async def pod_get(
    api: ApiClient, namespace: str, pod: str, port: int, path: str, timeout: float = 10.0
) -> tuple[int, str]:
    """GET http://localhost:<port><path> inside a Pod: the status and up to 64 KiB.

    Raises OSError when the port-forward carries no HTTP answer (nothing listens),
    aiohttp.ClientError or kubernetes' ApiException when the API server refuses it.
    """
    ws_api = WsApiClient(configuration=api.configuration)
    ws_api.default_headers.update(api.default_headers)
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


async def _exchange(ws: Any, request: bytes) -> tuple[int, str]:
    """Send one HTTP request over the data channel; read the answer until it closes."""
    seen: set[int] = set()
    body = bytearray()
    errors = bytearray()
    sent = False
    async for message in ws:
        if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.ERROR):
            break
        if message.type != aiohttp.WSMsgType.BINARY or not message.data:
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
        if len(body) > MAX_BODY or errors:
            break
    if errors and not body:
        raise OSError(errors.decode(errors="replace").strip() or "port-forward failed")
    head, _, rest = bytes(body).partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0].split()
    if len(status_line) < 2 or not status_line[1].isdigit():
        raise OSError("no HTTP answer through the port-forward")
    return int(status_line[1]), rest[:MAX_BODY].decode(errors="replace")
