"""A work queue of object keys: deduplicated, never handing out a key twice at once.

Reconcilers must see each object serially; failures back off exponentially up to a cap.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class ShutDown(Exception):
    """Raised by `WorkQueue.get` once the queue is shut down and drained of waiters."""


@dataclass
class Backoff:
    """Per-key exponential backoff: min_delay * 2**failures, never above max_delay."""

    min_delay: float = 0.75
    max_delay: float = 900.0
    _failures: dict[Hashable, int] = field(default_factory=dict)

    def next_delay(self, key: Hashable) -> float:
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        # Past 2**64 the float still works but there is no point computing it.
        exponent = min(failures, 64)
        return float(min(self.min_delay * (2**exponent), self.max_delay))

    def failures(self, key: Hashable) -> int:
        return self._failures.get(key, 0)

    def forget(self, key: Hashable) -> None:
        self._failures.pop(key, None)


def jittered(seconds: float, percent: float, rng: random.Random | None = None) -> float:
    """`seconds` moved by up to +/- `percent`% so that periodic requeues spread out."""
    if seconds <= 0 or percent <= 0:
        return seconds
    spread = seconds * percent / 100.0
    return seconds + (rng or random).uniform(-spread, spread)


class WorkQueue(Generic[K]):
    """FIFO of keys with three guarantees.

    A key is queued at most once (`add` of a queued key is a no-op); a key handed out
    by `get` is not handed out again until `done`; a key added while it is being
    processed is queued again when `done` is called.
    """

    def __init__(
        self, backoff: Backoff | None = None, on_wait: Callable[[float], None] | None = None
    ) -> None:
        """`on_wait(seconds)` is told how long each key handed out waited in the queue."""
        self.backoff = backoff or Backoff()
        self.on_wait = on_wait
        self._queue: deque[K] = deque()
        self._queued_at: dict[K, float] = {}
        self._dirty: set[K] = set()
        self._processing: dict[K, float] = {}
        self._timers: dict[K, tuple[float, asyncio.TimerHandle]] = {}
        self._wakeup = asyncio.Event()
        self._shutting_down = False
        self.adds_total = 0
        self.retries_total = 0

    def __len__(self) -> int:
        return len(self._queue)

    @property
    def processing(self) -> int:
        return len(self._processing)

    def processing_for(self) -> list[float]:
        """Seconds each key handed out and not yet done has been processed."""
        now = time.monotonic()
        return [now - since for since in self._processing.values()]

    def is_queued(self, key: K) -> bool:
        return key in self._dirty

    def add(self, key: K) -> None:
        if self._shutting_down or key in self._dirty:
            return
        self.adds_total += 1
        self._dirty.add(key)
        if key in self._processing:
            return
        self._append(key)

    def add_after(self, key: K, delay: float) -> None:
        """Queue `key` after `delay` seconds; an earlier pending schedule wins."""
        if self._shutting_down:
            return
        if delay <= 0:
            self.add(key)
            return
        loop = asyncio.get_running_loop()
        due = loop.time() + delay
        pending = self._timers.get(key)
        if pending is not None:
            if pending[0] <= due:
                return
            pending[1].cancel()
        handle = loop.call_at(due, self._fire, key)
        self._timers[key] = (due, handle)

    def add_rate_limited(self, key: K, at_most: float | None = None) -> float:
        """Queue `key` after its next backoff delay (capped at `at_most`); returns it."""
        delay = self.backoff.next_delay(key)
        if at_most is not None:
            delay = min(delay, at_most)
        self.retries_total += 1
        self.add_after(key, delay)
        return delay

    def forget(self, key: K) -> None:
        self.backoff.forget(key)

    def scheduled_in(self, key: K) -> float | None:
        pending = self._timers.get(key)
        if pending is None:
            return None
        return max(0.0, pending[0] - asyncio.get_running_loop().time())

    async def get(self) -> K:
        """The next key to process; the caller must call `done(key)` afterwards."""
        while not self._queue:
            if self._shutting_down:
                raise ShutDown()
            self._wakeup.clear()
            await self._wakeup.wait()
        key = self._queue.popleft()
        self._dirty.discard(key)
        now = time.monotonic()
        queued = self._queued_at.pop(key, now)
        if self.on_wait is not None:
            self.on_wait(now - queued)
        self._processing[key] = now
        # The reconcile about to run decides the next schedule for this key.
        pending = self._timers.pop(key, None)
        if pending is not None:
            pending[1].cancel()
        return key

    def done(self, key: K) -> None:
        self._processing.pop(key, None)
        if key in self._dirty:
            self._append(key)

    def shut_down(self) -> None:
        """Stop accepting keys and wake every waiting `get` so workers can exit."""
        self._shutting_down = True
        for _, handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        self._queue.clear()
        self._queued_at.clear()
        self._dirty.clear()
        self._notify()

    def _fire(self, key: K) -> None:
        self._timers.pop(key, None)
        self.add(key)

    def _append(self, key: K) -> None:
        self._queue.append(key)
        self._queued_at[key] = time.monotonic()
        self._notify()

    def _notify(self) -> None:
        self._wakeup.set()
