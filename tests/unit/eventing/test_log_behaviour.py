"""What every event log does, durable or in memory: the same tests run against both."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from shoal.eventing.log import COMPACT_CHUNK, EventLog, LogClosed, SQLiteEventLog
from shoal.eventing.memlog import MemoryEventLog


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["sqlite", "memory"])
async def log(request: pytest.FixtureRequest, tmp_path: Path,
              clock: FakeClock) -> AsyncIterator[EventLog]:
    made: EventLog
    if request.param == "sqlite":
        made = SQLiteEventLog(tmp_path / "events.db", clock=clock, tail_records=8)
    else:
        made = MemoryEventLog(clock=clock)
    try:
        yield made
    finally:
        await made.close()


async def read_all(log: EventLog, stream: str, after: int = 0) -> list[tuple[int, bytes]]:
    out: list[tuple[int, bytes]] = []
    while batch := await log.read(stream, after, limit=7):
        out.extend(batch)
        after = batch[-1][0]
    return out


async def test_sequence_numbers_start_at_one_and_count_per_stream(log: EventLog) -> None:
    assert log.head("a") == 0
    assert await log.append("a", [b"a1"]) == [1]
    assert await log.append("a", [b"a2", b"a3", b"a4"]) == [2, 3, 4]
    assert await log.append("b", [b"b1"]) == [1]
    assert await log.append("a", []) == []
    assert (log.head("a"), log.head("b")) == (4, 1)
    assert await log.read("a", 0) == [(1, b"a1"), (2, b"a2"), (3, b"a3"), (4, b"a4")]
    assert await log.read("b", 0) == [(1, b"b1")]


async def test_concurrent_appenders_get_ordered_gapless_numbers(log: EventLog) -> None:
    workers, each = 32, 40

    async def appender(worker: int) -> list[int]:
        seqs: list[int] = []
        for i in range(each):
            seqs += await log.append("s", [f"{worker}:{i}".encode()])
        return seqs

    results = await asyncio.gather(*(appender(w) for w in range(workers)))
    for seqs in results:
        assert seqs == sorted(seqs)
    assert sorted(s for seqs in results for s in seqs) == list(range(1, workers * each + 1))
    stored = await read_all(log, "s")
    assert [seq for seq, _ in stored] == list(range(1, workers * each + 1))
    for worker, seqs in enumerate(results):
        assert [data for seq, data in stored if seq in set(seqs)] == [
            f"{worker}:{i}".encode() for i in range(each)]


async def test_one_append_of_many_records_is_contiguous(log: EventLog) -> None:
    async def batch(n: int) -> list[int]:
        return await log.append("s", [b"x"] * n)

    results = await asyncio.gather(*(batch(n) for n in (3, 5, 1, 4)))
    for seqs in results:
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    assert log.head("s") == 13


async def test_read_honours_after_and_limit(log: EventLog) -> None:
    await log.append("s", [f"r{i}".encode() for i in range(1, 21)])
    assert await log.read("s", 0, limit=3) == [(1, b"r1"), (2, b"r2"), (3, b"r3")]
    assert await log.read("s", 17, limit=10) == [(18, b"r18"), (19, b"r19"), (20, b"r20")]
    assert [s for s, _ in await log.read("s", 5, limit=4)] == [6, 7, 8, 9]
    assert await log.read("s", 20) == []
    assert await log.read("s", 25) == []
    assert await log.read("s", 0, limit=0) == []
    assert await log.read("missing", 0) == []
    assert len(await log.read("s", 0)) == 20


async def test_wait_wakes_when_the_stream_moves_past(log: EventLog) -> None:
    await log.append("s", [b"one"])
    assert await log.wait("s", 0, timeout=0) is True
    waiting = asyncio.create_task(log.wait("s", 1, timeout=10))
    other = asyncio.create_task(log.wait("other", 0, timeout=0.2))
    await asyncio.sleep(0.01)
    assert not waiting.done()
    await log.append("s", [b"two"])
    assert await asyncio.wait_for(waiting, 5) is True
    assert await other is False


async def test_wait_times_out(log: EventLog) -> None:
    assert await log.wait("s", 0, timeout=0.05) is False
    await log.append("s", [b"one"])
    assert await log.wait("s", 1, timeout=0.05) is False


async def test_wait_can_be_cancelled(log: EventLog) -> None:
    waiting = asyncio.create_task(log.wait("s", 0))
    await asyncio.sleep(0.01)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await log.append("s", [b"after"])
    assert await log.wait("s", 0, timeout=1) is True


async def test_cursors_are_set_moved_and_deleted(log: EventLog) -> None:
    assert await log.get_cursor("t1") is None
    await log.set_cursor("t1", "s", 0)
    assert await log.get_cursor("t1") == 0
    await log.set_cursor("t1", "s", 7)
    await log.set_cursor("t2", "s", 3)
    assert (await log.get_cursor("t1"), await log.get_cursor("t2")) == (7, 3)
    await log.delete_cursor("t1")
    await log.delete_cursor("never-set")
    assert await log.get_cursor("t1") is None
    assert await log.get_cursor("t2") == 3


async def test_compaction_keeps_what_the_slowest_cursor_has_not_passed(
        log: EventLog, clock: FakeClock) -> None:
    clock.now = 100.0
    await log.append("s", [f"old{i}".encode() for i in range(1, 11)])
    clock.now = 200.0
    await log.append("s", [f"new{i}".encode() for i in range(11, 21)])
    await log.set_cursor("fast", "s", 15)
    await log.set_cursor("slow", "s", 5)
    await log.set_cursor("elsewhere", "other", 0)

    assert await log.compact("s", older_than=50, now=220.0) == 5
    assert [s for s, _ in await read_all(log, "s")] == list(range(6, 21))

    await log.set_cursor("slow", "s", 15)
    assert await log.compact("s", older_than=50, now=220.0) == 5  # 11..15 are too young
    assert [s for s, _ in await read_all(log, "s")] == list(range(11, 21))
    assert await log.compact("s", older_than=50, now=300.0) == 5
    assert await read_all(log, "s") == [(s, f"new{s}".encode()) for s in range(16, 21)]
    assert await log.compact("s", older_than=50, now=300.0) == 0
    assert log.head("s") == 20


async def test_compaction_goes_on_past_one_step_and_stops_at_the_young(
        log: EventLog, clock: FakeClock) -> None:
    old = 2 * COMPACT_CHUNK + COMPACT_CHUNK // 2
    clock.now = 100.0
    await log.append("s", [b"old"] * old)
    clock.now = 200.0
    await log.append("s", [b"young"] * COMPACT_CHUNK)
    assert await log.compact("s", older_than=50, now=220.0) == old
    assert (await log.read("s", 0, limit=1))[0][0] == old + 1
    assert await log.compact("s", older_than=50, now=220.0) == 0


async def test_compaction_uses_the_clock_by_default(log: EventLog, clock: FakeClock) -> None:
    clock.now = 50.0
    await log.append("s", [b"a", b"b"])
    clock.now = 100.0
    await log.append("s", [b"c"])
    assert await log.compact("s", older_than=30) == 2
    assert await log.read("s", 0) == [(3, b"c")]


async def test_compaction_without_cursors_drops_old_records_but_not_the_numbering(
        log: EventLog, clock: FakeClock) -> None:
    await log.append("s", [b"a", b"b", b"c"])
    assert await log.compact("s", older_than=10, now=clock.now + 60) == 3
    assert await log.read("s", 0) == []
    assert log.head("s") == 3
    assert await log.append("s", [b"d"]) == [4]
    assert await log.read("s", 0) == [(4, b"d")]
    assert await log.compact("missing", older_than=0) == 0


async def test_drop_stream_removes_its_records_and_cursors(log: EventLog) -> None:
    await log.append("gone", [b"a", b"b"])
    await log.append("kept", [b"k"])
    await log.set_cursor("t-gone", "gone", 1)
    await log.set_cursor("t-kept", "kept", 1)
    await log.drop_stream("gone")
    assert log.head("gone") == 0
    assert await log.read("gone", 0) == []
    assert await log.get_cursor("t-gone") is None
    assert await log.get_cursor("t-kept") == 1
    assert await log.read("kept", 0) == [(1, b"k")]
    assert await log.append("gone", [b"again"]) == [1]
    assert await log.read("gone", 0) == [(1, b"again")]


async def test_records_must_be_bytes(log: EventLog) -> None:
    with pytest.raises(TypeError):
        await log.append("s", ["text"])  # type: ignore[list-item]
    assert log.head("s") == 0


async def test_closed_log_refuses_writes_and_releases_waiters(log: EventLog) -> None:
    waiting = asyncio.create_task(log.wait("s", 0))
    await asyncio.sleep(0.01)
    await log.close()
    assert await asyncio.wait_for(waiting, 5) is False
    await log.close()  # twice is fine
    with pytest.raises(LogClosed):
        await log.append("s", [b"late"])
    with pytest.raises(LogClosed):
        await log.set_cursor("t", "s", 1)
