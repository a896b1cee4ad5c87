"""The work queue: dedup, one worker per key, per-key backoff on fake time, shutdown."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from shoal.controllers.clock import FakeClock
from shoal.controllers.workqueue import ExponentialBackoff, WorkQueue


def test_backoff_doubles_from_5ms_to_1000s_cap() -> None:
    limiter = ExponentialBackoff()
    delays = [limiter.when("k") for _ in range(22)]
    assert delays[:4] == [0.005, 0.01, 0.02, 0.04]
    assert delays[-1] == 1000.0
    assert all(b == min(a * 2, 1000.0) for a, b in itertools.pairwise(delays))
    assert limiter.failures("k") == 22
    assert limiter.when("other") == 0.005
    limiter.forget("k")
    assert limiter.when("k") == 0.005


def test_backoff_does_not_overflow() -> None:
    limiter = ExponentialBackoff()
    for _ in range(2000):
        delay = limiter.when("k")
    assert delay == 1000.0


async def test_add_dedupes_queued_keys(clock: FakeClock) -> None:
    q = WorkQueue(clock=clock)
    for key in ["a", "b", "a", "a", "c", "b"]:
        q.add(key)
    assert len(q) == 3
    assert [await q.get() for _ in range(3)] == ["a", "b", "c"]


async def test_key_added_while_processing_comes_back_once_after_done(clock: FakeClock) -> None:
    q = WorkQueue(clock=clock)
    q.add("a")
    assert await q.get() == "a"
    for _ in range(5):
        q.add("a")
    assert len(q) == 0  # not handed to another worker while in flight
    q.done("a")
    assert len(q) == 1
    assert await q.get() == "a"
    q.done("a")
    assert q.idle and q.delayed == 0


async def test_workers_never_process_a_key_concurrently(clock: FakeClock) -> None:
    q = WorkQueue(clock=clock)
    in_flight: set[str] = set()
    overlaps = 0
    runs = 0

    async def process(key: str) -> None:
        nonlocal overlaps, runs
        runs += 1
        if key in in_flight:
            overlaps += 1
        in_flight.add(key)
        await asyncio.sleep(0.001)
        in_flight.discard(key)

    q.start(process, workers=8)
    for _ in range(50):
        q.add("same")
        await asyncio.sleep(0)
    await q.shutdown()
    assert overlaps == 0
    assert 1 <= runs < 50


async def test_rate_limited_requeue_waits_on_the_clock(clock: FakeClock) -> None:
    q = WorkQueue(clock=clock)
    q.add_rate_limited("k")
    q.add_rate_limited("k")  # second failure: 10 ms, but the 5 ms entry is earlier
    assert len(q) == 0
    assert clock.pending() == [0.005]
    await clock.advance(0.004)
    assert len(q) == 0
    await clock.advance(0.001)
    assert len(q) == 1
    assert q.num_requeues("k") == 2
    q.forget("k")
    assert q.num_requeues("k") == 0


async def test_add_after_keeps_the_earliest_deadline(clock: FakeClock) -> None:
    q = WorkQueue(clock=clock)
    q.add_after("k", 10)
    q.add_after("k", 3)
    q.add_after("k", 7)
    assert clock.pending() == [3]
    await clock.advance(3)
    assert len(q) == 1
    assert clock.pending() == []
    q.add_after("now", 0)
    assert len(q) == 2


async def test_shutdown_drains_queued_and_in_flight_keys(clock: FakeClock) -> None:
    q = WorkQueue(clock=clock)
    done: list[str] = []
    release = asyncio.Event()

    async def process(key: str) -> None:
        await release.wait()
        done.append(key)

    q.start(process, workers=2)
    for key in "abcde":
        q.add(key)
    q.add_after("later", 5)
    await asyncio.sleep(0)
    stopping = asyncio.create_task(q.shutdown())
    await asyncio.sleep(0)
    q.add("ignored")
    release.set()
    await stopping
    assert sorted(done) == list("abcde")
    assert clock.pending() == []


async def test_shutdown_cancels_what_outlives_the_deadline(clock: FakeClock) -> None:
    q = WorkQueue(clock=clock)
    cancelled = asyncio.Event()

    async def process(key: str) -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    q.start(process, workers=1)
    q.add("stuck")
    await asyncio.sleep(0)
    await q.shutdown(timeout=0.01)
    assert cancelled.is_set()


async def test_worker_survives_a_failing_process_and_backs_off(clock: FakeClock) -> None:
    q = WorkQueue(clock=clock)
    calls: list[float] = []

    async def process(key: str) -> None:
        calls.append(clock.monotonic())
        raise RuntimeError("boom")

    q.start(process)
    q.add("k")
    await clock.advance(0.1)
    assert calls[:4] == pytest.approx([0.0, 0.005, 0.015, 0.035])
    await q.shutdown()
