"""Read bytes that someone else controls with a cap: HTTP bodies, gzip data, process output.

A registry, a Git or Helm server, a tenant's Secret or a build can all answer with
more than fits in memory, compressed a thousandfold; these readers stop at the
limit instead, and say what was too large and how large it may be.
"""

from __future__ import annotations

import asyncio
import zlib

import aiohttp

from eddy_artifacts.errors import ArtifactError, InputTooLarge

_CHUNK = 1 << 16


def human(size: int) -> str:
    """A size for a message: MiB from one MiB up, bytes below."""
    if size >= 1 << 20:
        return f"{size / (1 << 20):g} MiB"
    return f"{size} bytes"


def too_large(what: str, limit: int) -> InputTooLarge:
    return InputTooLarge(f"{what} is larger than {human(limit)}; refusing to read it")


async def read_response(response: aiohttp.ClientResponse, limit: int, what: str) -> bytes:
    """The body of response (decompressed, if the server compressed it), at most limit bytes."""
    if response.content_length is not None and response.content_length > limit:
        raise too_large(what, limit)
    body = bytearray()
    async for chunk in response.content.iter_chunked(_CHUNK):
        body += chunk
        if len(body) > limit:
            raise too_large(what, limit)
    return bytes(body)


async def read_stream(stream: asyncio.StreamReader, limit: int, what: str) -> bytes:
    """Everything stream yields until EOF, at most limit bytes."""
    out = bytearray()
    while chunk := await stream.read(_CHUNK):
        out += chunk
        if len(out) > limit:
            raise too_large(what, limit)
    return bytes(out)


def gunzip(data: bytes, limit: int, what: str) -> bytes:
    """data decompressed from gzip, refusing to produce more than limit bytes."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as err:
        raise ArtifactError(f"{what} is not valid gzip data: {err}") from err
    if len(out) > limit:
        raise too_large(f"{what} (decompressed)", limit)
    if not inflater.eof:
        raise ArtifactError(f"{what} is not valid gzip data: it is cut short")
    return out
