"""What only the durable log does: group commit, reopening, flushing on close, failed writes."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from shoal.eventing.log import LogWriteError, SQLiteEventLog


async def test_concurrent_appends_share_commits(tmp_path: Path) -> None:
    log = SQLiteEventLog(tmp_path / "events.db")
    try:
        n = 200
        results = await asyncio.gather(*(log.append("s", [b"%d" % i]) for i in range(n)))
        assert sorted(seq for r in results for seq in r) == list(range(1, n + 1))
        assert 1 <= log.commits < n // 4
        before = log.commits
        await asyncio.gather(*(log.set_cursor(f"t{i}", "s", i) for i in range(n)),
                             *(log.append("s", [b"more"]) for _ in range(n)))
        assert log.commits - before < n // 2
    finally:
        await log.close()


async def test_one_batch_of_many_rows_and_mixed_cursor_moves_keeps_their_order(
        tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    log = SQLiteEventLog(path)
    records = [b"r%d" % i for i in range(300)]  # more rows than one statement takes
    await asyncio.gather(log.append("s", records[:150]), log.set_cursor("t1", "s", 5),
                         log.set_cursor("t1", "s", 7), log.set_cursor("t2", "s", 1),
                         log.delete_cursor("t2"), log.set_cursor("t3", "s", 2),
                         log.append("s", records[150:]))
    await log.close()

    log = SQLiteEventLog(path)
    try:
        assert [data for _, data in await log.read("s", 0, 1000)] == records
        assert [await log.get_cursor(c) for c in ("t1", "t2", "t3")] == [7, None, 2]
    finally:
        await log.close()


async def test_records_heads_and_cursors_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    log = SQLiteEventLog(path)
    await log.append("a", [b"a1", b"a2", b"a3"])
    await log.append("b", [b"b1"])
    await log.set_cursor("t1", "a", 2)
    await log.set_cursor("t2", "b", 1)
    await log.delete_cursor("t2")
    await log.close()

    log = SQLiteEventLog(path)
    try:
        assert (log.head("a"), log.head("b")) == (3, 1)
        assert await log.read("a", 1) == [(2, b"a2"), (3, b"a3")]
        assert await log.get_cursor("t1") == 2
        assert await log.get_cursor("t2") is None
        assert await log.append("a", [b"a4"]) == [4]
    finally:
        await log.close()


async def test_numbering_carries_on_after_everything_was_compacted_and_reopened(
        tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    log = SQLiteEventLog(path, clock=lambda: 100.0)
    await log.append("s", [b"x"] * 5)
    assert await log.compact("s", older_than=1, now=200.0) == 5
    await log.close()
    log = SQLiteEventLog(path)
    try:
        assert log.head("s") == 5
        assert await log.append("s", [b"y"]) == [6]
    finally:
        await log.close()


async def test_dropped_stream_stays_dropped_after_reopening(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    log = SQLiteEventLog(path)
    await log.append("s", [b"x"] * 3)
    await log.set_cursor("t", "s", 2)
    await log.drop_stream("s")
    await log.close()
    log = SQLiteEventLog(path)
    try:
        assert log.head("s") == 0
        assert await log.get_cursor("t") is None
        assert await log.append("s", [b"new"]) == [1]
    finally:
        await log.close()


async def test_close_flushes_every_pending_write(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    log = SQLiteEventLog(path)
    appends = [asyncio.create_task(log.append("s", [b"%d" % i])) for i in range(100)]
    cursor = asyncio.create_task(log.set_cursor("t", "s", 50))
    await asyncio.sleep(0)  # every task has queued its write
    await log.close()
    assert all(task.done() for task in [*appends, cursor])
    assert sorted(seq for task in appends for seq in task.result()) == list(range(1, 101))

    log = SQLiteEventLog(path)
    try:
        assert log.head("s") == 100
        assert await log.get_cursor("t") == 50
    finally:
        await log.close()


async def test_reads_beyond_the_in_memory_tail_come_from_the_file(tmp_path: Path) -> None:
    log = SQLiteEventLog(tmp_path / "events.db", tail_records=4)
    try:
        for i in range(1, 41):
            await log.append("s", [b"r%d" % i])
        assert await log.read("s", 0, limit=3) == [(1, b"r1"), (2, b"r2"), (3, b"r3")]
        assert await log.read("s", 38) == [(39, b"r39"), (40, b"r40")]
        assert [s for s, _ in await log.read("s", 0, limit=100)] == list(range(1, 41))
    finally:
        await log.close()


async def test_a_failed_transaction_leaves_no_gap(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    log = SQLiteEventLog(path)  # makes the schema; the trigger below plays a failing disk
    await log.close()
    db = sqlite3.connect(path)
    db.execute("CREATE TRIGGER refuse BEFORE INSERT ON records WHEN NEW.data = x'00' "
               "BEGIN SELECT RAISE(ABORT, 'refused'); END")
    db.commit()
    db.close()

    log = SQLiteEventLog(path)
    try:
        assert await log.append("s", [b"first"]) == [1]
        with pytest.raises(LogWriteError, match="refused"):
            await log.append("s", [b"\x00"])
        assert log.head("s") == 1
        assert await log.append("s", [b"second"]) == [2]
        assert await log.read("s", 0) == [(1, b"first"), (2, b"second")]
    finally:
        await log.close()


async def test_a_cancelled_append_does_not_disturb_the_others(tmp_path: Path) -> None:
    log = SQLiteEventLog(tmp_path / "events.db")
    try:
        tasks = [asyncio.create_task(log.append("s", [b"%d" % i])) for i in range(20)]
        await asyncio.sleep(0)
        tasks[3].cancel()
        done = await asyncio.gather(*tasks, return_exceptions=True)
        assert isinstance(done[3], asyncio.CancelledError)
        assert len({seq for r in done if isinstance(r, list) for seq in r}) == 19
        assert await log.append("s", [b"last"]) == [log.head("s")]
    finally:
        await log.close()


async def test_a_log_serves_one_event_loop(tmp_path: Path) -> None:
    log = SQLiteEventLog(tmp_path / "events.db")
    await log.append("s", [b"x"])

    def elsewhere() -> None:
        async def other_loop() -> None:
            with pytest.raises(RuntimeError, match="one event loop"):
                await log.append("s", [b"y"])
        asyncio.run(other_loop())

    await asyncio.to_thread(elsewhere)
    await log.close()
