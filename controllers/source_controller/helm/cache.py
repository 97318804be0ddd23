"""Parsed Helm repository indexes kept between HelmChart passes, as Flux's --helm-cache-* flags ask.

An index can be megabytes of YAML, read and parsed by every pass of every chart
built from it; the cache saves that. Off unless --helm-cache-max-size is above 0, as
in Flux; lookups count in `gotk_cache_events_total` with Flux's labels.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from eddy_runtime.metrics import Counter, Registry

CACHE_HIT, CACHE_MISS = "cache_hit", "cache_miss"


def cache_events(registry: Registry) -> Counter:
    """Flux's series: lookups by outcome, for the HelmRepository whose index was looked up."""
    return registry.register(
        Counter(
            "gotk_cache_events_total",
            "Total number of cache retrieval events for a Gitops Toolkit resource reconciliation.",
            ("event_type", "name", "namespace"),
        )
    )


class IndexCache:
    """Indexes by the path of the HelmRepository artifact they were read from.

    The path names the index's digest, so a new index is a new entry and the old one
    ages out. A hit keeps an entry for another `ttl`; expired entries are dropped
    every `purge_interval`; a full cache stores nothing more until entries expire.
    """

    def __init__(
        self,
        max_size: int,
        ttl: float,
        purge_interval: float,
        events: Counter,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_size = max_size
        self.ttl = ttl
        self.purge_interval = purge_interval
        self.events = events
        self.clock = clock
        self._items: dict[str, tuple[dict[str, Any], float]] = {}
        self._purged = clock()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, path: str, name: str, namespace: str) -> dict[str, Any] | None:
        """The index read from `path`, counted as a hit or a miss of that HelmRepository."""
        now = self._purge()
        found = self._items.get(path)
        if found is None or found[1] <= now:
            self.events.inc(event_type=CACHE_MISS, name=name, namespace=namespace)
            return None
        self.events.inc(event_type=CACHE_HIT, name=name, namespace=namespace)
        self._items[path] = (found[0], now + self.ttl)
        return found[0]

    def put(self, path: str, index: dict[str, Any]) -> bool:
        """Keep `index`; False when the cache is full."""
        now = self._purge()
        if path not in self._items and len(self._items) >= self.max_size:
            return False
        self._items[path] = (index, now + self.ttl)
        return True

    def forget(self, name: str, namespace: str) -> None:
        """A deleted HelmRepository's series go, as Flux removes them."""
        for event in (CACHE_HIT, CACHE_MISS):
            self.events.remove(event_type=event, name=name, namespace=namespace)

    def _purge(self) -> float:
        now = self.clock()
        if now - self._purged >= self.purge_interval:
            self._items = {k: v for k, v in self._items.items() if v[1] > now}
            self._purged = now
        return now
