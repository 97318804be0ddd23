"""The Helm index cache: hits and misses counted per HelmRepository, entries age out."""

from __future__ import annotations

from eddy_runtime.metrics import Registry
from source_controller.helm.cache import CACHE_HIT, CACHE_MISS, IndexCache, cache_events


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def cache(max_size: int = 2) -> tuple[IndexCache, Clock]:
    clock = Clock()
    return IndexCache(max_size, 10.0, 5.0, cache_events(Registry()), clock), clock


def counted(index_cache: IndexCache, event: str, name: str = "repo") -> float:
    return index_cache.events.value(event_type=event, name=name, namespace="ns")


def test_a_used_index_is_kept_for_another_ttl_and_an_unused_one_expires() -> None:
    index_cache, clock = cache()
    assert index_cache.get("a.yaml", "repo", "ns") is None
    assert index_cache.put("a.yaml", {"entries": {}})
    clock.now = 8.0
    assert index_cache.get("a.yaml", "repo", "ns") == {"entries": {}}
    clock.now = 17.0  # 9s after its last use: still there
    assert index_cache.get("a.yaml", "repo", "ns") is not None
    clock.now = 28.0  # 11s after
    assert index_cache.get("a.yaml", "repo", "ns") is None
    assert (counted(index_cache, CACHE_HIT), counted(index_cache, CACHE_MISS)) == (2, 2)
    assert len(index_cache) == 0


def test_a_full_cache_stores_nothing_more_until_entries_expire() -> None:
    index_cache, clock = cache(max_size=1)
    assert index_cache.put("a.yaml", {})
    assert not index_cache.put("b.yaml", {})
    assert index_cache.put("a.yaml", {"again": True})
    clock.now = 11.0
    assert index_cache.put("b.yaml", {})
    assert len(index_cache) == 1


def test_a_deleted_repository_loses_its_series_only() -> None:
    index_cache, _ = cache()
    index_cache.get("a.yaml", "repo", "ns")
    index_cache.get("b.yaml", "other", "ns")
    index_cache.forget("repo", "ns")
    text = index_cache.events.expose()
    assert 'name="repo"' not in text
    assert 'gotk_cache_events_total{event_type="cache_miss",name="other",namespace="ns"} 1' in text
