"""A token bucket for requests to the API server (--kube-api-qps, --kube-api-burst).

A controller catching up on thousands of objects must not flood the API server;
the same limits Flux exposes bound eddy's request rate.
"""

from __future__ import annotations

import asyncio
import time


class TokenBucket:
    """`qps` tokens a second, at most `burst` saved up; `acquire` waits for one."""

    def __init__(self, qps: float, burst: int) -> None:
        self.qps = qps
        self.burst = max(1, burst)
        self._tokens = float(self.burst)
        self._stamp = time.monotonic()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        if self.qps <= 0:
            return
        async with self._lock:
            now = time.monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.qps)
            self._stamp = now
            if self._tokens < 1:
                wait = (1 - self._tokens) / self.qps
                await asyncio.sleep(wait)
                self._stamp = time.monotonic()
                self._tokens = 1.0
            self._tokens -= 1
