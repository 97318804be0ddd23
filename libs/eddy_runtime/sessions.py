"""The HTTP session a reconciler downloads artifacts with, opened on first use.

aiohttp sessions must be made inside the running loop and are worth reusing across
reconciles (connection pooling); every controller that fetches needs the same care.
"""

from __future__ import annotations

import aiohttp


class LazySession:
    """Call it for the session; it is created on first call and after a close."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    def __call__(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
