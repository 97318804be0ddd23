"""The HTTP server consumers download artifacts from: the storage directory, read-only.

It serves regular files under the storage root and nothing else: no listings, no
path that climbs out (`..`, encoded or not), no symlink that points elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote

from aiohttp import web


def resolve_request_path(root: Path, raw_path: str) -> Path | None:
    """The file a request path names inside root, or None when it must not be served.

    The raw (still percent-encoded) path is decoded once here and checked segment
    by segment, so `%2e%2e` and `%2f` get the same scrutiny as their plain forms;
    the resolved file must then still be a regular file inside the real root.
    """
    decoded = unquote(raw_path.split("?", 1)[0], errors="strict")
    if "\x00" in decoded or "\\" in decoded:
        return None
    segments = decoded.split("/")
    if segments[:1] != [""]:
        return None
    parts = segments[1:]
    if not parts or any(p in ("", ".", "..") for p in parts):
        return None
    real_root = os.path.realpath(root)
    candidate = os.path.realpath(os.path.join(real_root, *parts))
    if os.path.commonpath([real_root, candidate]) != real_root or candidate == real_root:
        return None
    # A symlink anywhere on the way is refused, even one that stays inside:
    # storage never creates links, so one is either an accident or an attack.
    if candidate != os.path.join(real_root, *parts):
        return None
    if not os.path.isfile(candidate):
        return None
    return Path(candidate)


def artifact_app(root: Path) -> web.Application:
    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            path = resolve_request_path(root, request.raw_path)
        except UnicodeDecodeError:
            path = None
        if path is None:
            raise web.HTTPNotFound()
        # FileResponse sends Content-Length, an ETag from size and mtime, and
        # answers If-None-Match / If-Modified-Since with 304.
        return web.FileResponse(path, headers={"Cache-Control": "no-cache"})

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    return app
