"""Work queue guarantees: dedup, one holder per key, delayed adds, backoff and jitter."""

from __future__ import annotations

import asyncio
import random

import pytest

from eddy_runtime.workqueue import Backoff, ShutDown, WorkQueue, jittered


async def test_a_key_is_queued_at_most_once() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add("a")
    queue.add("a")
    queue.add("b")
    assert len(queue) == 2
    assert await queue.get() == "a"
    assert await queue.get() == "b"


async def test_a_key_being_processed_is_not_handed_out_again_until_done() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add("a")
    key = await queue.get()
    queue.add("a")
    assert len(queue) == 0
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(queue.get(), 0.05)
    queue.done(key)
    assert await asyncio.wait_for(queue.get(), 1) == "a"


async def test_add_after_fires_once_and_earliest_wins() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add_after("a", 0.5)
    queue.add_after("a", 0.05)
    queue.add_after("a", 0.3)
    assert await asyncio.wait_for(queue.get(), 0.3) == "a"
    queue.done("a")
    assert queue.scheduled_in("a") is None


async def test_get_cancels_a_pending_schedule_for_that_key() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add_after("a", 0.1)
    queue.add("a")
    await queue.get()
    queue.done("a")
    await asyncio.sleep(0.15)
    assert len(queue) == 0


def test_backoff_doubles_up_to_the_cap_and_forgets() -> None:
    backoff = Backoff(min_delay=0.5, max_delay=3.0)
    assert [backoff.next_delay("k") for _ in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert backoff.failures("k") == 5
    backoff.forget("k")
    assert backoff.next_delay("k") == 0.5
    assert backoff.next_delay("other") == 0.5


def test_backoff_does_not_overflow_after_many_failures() -> None:
    backoff = Backoff(min_delay=1, max_delay=900)
    for _ in range(5000):
        delay = backoff.next_delay("k")
    assert delay == 900


def test_jitter_stays_within_the_percentage() -> None:
    rng = random.Random(7)
    values = [jittered(60.0, 5, rng) for _ in range(1000)]
    assert min(values) >= 57.0 and max(values) <= 63.0
    assert max(values) - min(values) > 3.0
    assert jittered(60.0, 0) == 60.0


async def test_shut_down_wakes_waiters() -> None:
    queue: WorkQueue[str] = WorkQueue()
    waiter = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    queue.shut_down()
    with pytest.raises(ShutDown):
        await asyncio.wait_for(waiter, 1)
    queue.add("a")
    assert len(queue) == 0


async def test_many_workers_never_hold_one_key_twice() -> None:
    queue: WorkQueue[int] = WorkQueue()
    holding: set[int] = set()
    overlaps = 0
    handled = 0

    async def worker() -> None:
        nonlocal overlaps, handled
        while True:
            try:
                key = await queue.get()
            except ShutDown:
                return
            if key in holding:
                overlaps += 1
            holding.add(key)
            await asyncio.sleep(0.001)
            holding.discard(key)
            handled += 1
            queue.done(key)

    workers = [asyncio.create_task(worker()) for _ in range(8)]
    for _ in range(50):
        for key in range(3):
            queue.add(key)
        await asyncio.sleep(0.0005)
    for _ in range(500):
        if not (len(queue) or queue.processing):
            break
        await asyncio.sleep(0.01)
    queue.shut_down()
    await asyncio.gather(*workers)
    assert overlaps == 0
    assert handled >= 3


async def test_token_bucket_allows_a_burst_then_paces() -> None:
    from eddy_runtime.ratelimit import TokenBucket

    bucket = TokenBucket(qps=100, burst=5)
    loop = asyncio.get_running_loop()
    start = loop.time()
    for _ in range(5):
        await bucket.acquire()
    assert loop.time() - start < 0.02
    for _ in range(5):
        await bucket.acquire()
    assert loop.time() - start >= 0.04


async def test_a_rate_limited_retry_is_never_later_than_its_cap() -> None:
    queue: WorkQueue[str] = WorkQueue(Backoff(min_delay=10.0, max_delay=100.0))
    assert queue.add_rate_limited("a", at_most=0.05) == 0.05
    assert await asyncio.wait_for(queue.get(), 1) == "a"
    # The failure still counts, so the next uncapped delay has doubled.
    assert queue.backoff.failures("a") == 1
    queue.done("a")
    assert queue.add_rate_limited("b") == 10.0
