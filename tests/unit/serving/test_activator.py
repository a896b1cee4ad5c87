"""The activator's slots and queues: concurrency limits, Knative's balancing policies,
bounded waiting, draining, and the per-second metrics it keeps."""

from __future__ import annotations

import asyncio
import random

import pytest

from shoal.serving.activator import (
    INSTANCE_QUEUE_FACTOR,
    Overloaded,
    RevisionBackend,
    RevisionStats,
    Timeouts,
)


class Request:
    def __init__(self) -> None:
        self.address: str | None = None

    def granted(self, address: str) -> None:
        self.address = address


def backend(cc: int, addresses: list[str], *, in_path: bool = True) -> RevisionBackend:
    b = RevisionBackend("default/r", 0.0, rng=random.Random(1))
    b.configure(cc, Timeouts())
    b.set_endpoints(addresses)
    b.set_in_path(in_path)
    return b


def test_a_hard_limit_holds_requests_until_a_slot_frees() -> None:
    b = backend(1, ["a"])
    first, second = Request(), Request()
    assert b.acquire(first, 0.0) == "a"
    assert b.acquire(second, 0.0) is None and b.held == 1
    b.release("a", 0.1)
    assert second.address == "a" and b.held == 0


def test_first_available_for_small_limits() -> None:
    b = backend(2, ["a", "b"])
    assert [b.acquire(Request(), 0.0) for _ in range(4)] == ["a", "a", "b", "b"]


def test_round_robin_for_larger_limits() -> None:
    b = backend(10, ["a", "b", "c"])
    assert [b.acquire(Request(), 0.0) for _ in range(6)] == ["a", "b", "c"] * 2


def test_power_of_two_choices_without_a_limit_prefers_the_idler() -> None:
    b = backend(0, ["a", "b"])
    for _ in range(3):
        b.acquire(Request(), 0.0)
    counts = {address: e.inflight for address, e in b.by_address.items()}
    assert sorted(counts.values()) == [1, 2]  # the less busy of the two, each time


def test_the_activators_queue_is_bounded() -> None:
    b = backend(1, [])
    b.queue_depth = 3
    for _ in range(3):
        assert b.acquire(Request(), 0.0) is None
    with pytest.raises(Overloaded):
        b.acquire(Request(), 0.0)
    assert b.stats.inflight == 3  # the refused one is not counted


def test_out_of_the_path_each_instance_queues_ten_times_its_limit() -> None:
    b = backend(1, ["a"], in_path=False)
    assert b.acquire(Request(), 0.0) == "a"
    queued = [Request() for _ in range(INSTANCE_QUEUE_FACTOR)]
    assert all(b.acquire(r, 0.0) is None for r in queued)
    with pytest.raises(Overloaded):
        b.acquire(Request(), 0.0)
    b.release("a", 0.5)
    assert queued[0].address == "a"


def test_cancel_leaves_the_queue() -> None:
    b = backend(1, ["a"])
    b.acquire(Request(), 0.0)
    waiting = Request()
    b.acquire(waiting, 0.0)
    b.cancel(waiting, 0.1)
    b.release("a", 0.2)
    assert waiting.address is None and b.held == 0 and b.stats.inflight == 0


def test_a_new_instance_takes_the_held_requests() -> None:
    b = backend(1, [])
    held = [Request(), Request()]
    for r in held:
        b.acquire(r, 0.0)
    b.set_endpoints(["a", "b"])
    assert sorted(r.address or "" for r in held) == ["a", "b"]


async def test_drain_waits_for_the_requests_in_flight() -> None:
    b = backend(0, ["a", "b"], in_path=False)
    picked = [b.acquire(Request(), 0.0) for _ in range(2)]
    assert sorted(picked) == ["a", "b"]  # type: ignore[type-var]
    drained = asyncio.create_task(b.drain("a", timeout=5))
    await asyncio.sleep(0)
    assert not drained.done()
    assert [b.acquire(Request(), 0.0) for _ in range(3)] == ["b"] * 3  # out of rotation
    b.release("a", 1.0)
    await asyncio.wait_for(drained, 1)
    assert "a" not in b.by_address


async def test_drain_gives_up_after_its_timeout() -> None:
    b = backend(0, ["a"])
    b.acquire(Request(), 0.0)
    await asyncio.wait_for(b.drain("a", timeout=0.05), 1)
    assert b.ready == 0


def test_stats_average_concurrency_per_second() -> None:
    stats = RevisionStats(10.0)
    stats.begin(10.0)
    stats.begin(10.5)
    stats.end(11.0)
    stats.end(12.5)
    samples = stats.collect(13.2)
    assert [(s.second, round(s.concurrency, 3), s.requests) for s in samples] == [
        (10, 1.5, 2), (11, 1.0, 0), (12, 0.5, 0)]
    assert stats.inflight == 0 and stats.collect(13.9) == []


def test_stats_count_codes_and_latency() -> None:
    stats = RevisionStats(0.0)
    stats.observe(200, 0.003)
    stats.observe(200, 0.2)
    stats.observe(503, 0.0)
    assert stats.codes == {200: 2, 503: 1}
    assert sum(stats.latency) == 3
