"""The durable log shared by two ends: the writer (``shoal up``) and the dispatcher's
follower, over a real SQLite file and a real socket pair."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from shoal.eventing import follower as follower_module
from shoal.eventing.follower import (
    PUSH_BYTES,
    WAKE,
    CursorRelay,
    FollowerLog,
    decode_appended,
    encode_appended,
    link_pair,
)
from shoal.eventing.log import Appended, SQLiteEventLog


@dataclass
class Ends:
    writer: SQLiteEventLog
    relay: CursorRelay
    follower: FollowerLog


@pytest.fixture
async def ends(tmp_path: Path) -> AsyncIterator[Ends]:
    writer = SQLiteEventLog(tmp_path / "events.db")
    mine, theirs = link_pair()
    relay = CursorRelay(writer, mine)
    relay.start()
    # a poll far longer than any test: what wakes the follower is the link
    follower = FollowerLog(tmp_path / "events.db", theirs, poll=3600)
    follower.start()
    try:
        yield Ends(writer, relay, follower)
    finally:
        await follower.close()
        await relay.close()
        await writer.close()


async def eventually(check: object, timeout: float = 5.0) -> None:
    assert callable(check)
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_a_commit_wakes_the_follower_which_reads_the_records(ends: Ends) -> None:
    waiting = asyncio.create_task(ends.follower.wait("s", 0, timeout=5))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    await ends.writer.append("s", [b"one", b"two"])
    assert await asyncio.wait_for(waiting, 2)
    assert ends.follower.head("s") == 2
    assert await ends.follower.read("s", 0) == [(1, b"one"), (2, b"two")]
    assert await ends.follower.read("s", 1) == [(2, b"two")]
    await ends.writer.append("s", [b"three"])
    assert await ends.follower.wait("s", 2, timeout=2)
    assert await ends.follower.read("s", 0, limit=10) == [
        (1, b"one"), (2, b"two"), (3, b"three")]


def file_reads(follower: FollowerLog) -> list[str]:
    """The statements the follower runs on the log's file from now on."""
    statements: list[str] = []
    follower._db.set_trace_callback(statements.append)
    return statements


async def test_a_commit_hands_its_records_over_the_link_not_the_file(ends: Ends) -> None:
    reads = file_reads(ends.follower)
    await ends.writer.append("s", [b"one", b"two"])
    await ends.writer.append("t", [b"other"])
    assert await ends.follower.wait("s", 0, timeout=2)
    assert await ends.follower.wait("t", 0, timeout=2)
    assert await ends.follower.read("s", 0) == [(1, b"one"), (2, b"two")]
    assert await ends.follower.read("t", 0) == [(1, b"other")]
    assert reads == []


async def test_a_large_commit_is_announced_and_read_from_the_file(ends: Ends) -> None:
    big = [bytes([65 + i]) * 1000 for i in range(PUSH_BYTES // 1000 + 1)]
    reads = file_reads(ends.follower)
    await ends.writer.append("s", big)
    assert await ends.follower.wait("s", 0, timeout=2)
    assert await ends.follower.read("s", 0, limit=1000) == list(enumerate(big, start=1))
    assert any("FROM records" in statement for statement in reads)


async def test_records_of_a_lost_message_are_read_from_the_file(ends: Ends) -> None:
    lost: list[Appended] = []

    def lose_the_second(appended: Appended) -> None:
        if len(lost) == 1:
            lost.append(appended)
            return
        lost.append(appended)
        ends.relay.wake(appended)

    ends.writer.on_commit = lose_the_second
    for record in (b"a", b"b", b"c"):
        await ends.writer.append("s", [record])
    assert await ends.follower.wait("s", 2, timeout=2)
    assert await ends.follower.read("s", 0) == [(1, b"a"), (2, b"b"), (3, b"c")]


def test_the_message_of_a_commit_round_trips() -> None:
    appended: Appended = [("broker/ns/b/u", 7, [b"x", b"", b"\x00\xff"]), ("s", 1, [b"y"])]
    assert decode_appended(encode_appended(appended)) == appended
    assert encode_appended([("s", 1, [b"z" * (PUSH_BYTES + 1)])]) == WAKE
    with pytest.raises(ValueError, match="truncated"):
        decode_appended(encode_appended(appended)[:-1])


async def test_positions_move_only_cursors_the_writer_created(ends: Ends) -> None:
    await ends.writer.append("s", [b"a", b"b", b"c"])
    await ends.writer.set_cursor("trigger", "s", 0)  # created where the Trigger starts
    await ends.follower.set_cursor("stranger", "s", 3)
    await ends.follower.set_cursor("trigger", "s", 2)

    async def moved() -> bool:
        return await ends.writer.get_cursor("trigger") == 2

    await eventually(moved)
    # the link keeps its order: the stranger's position was handled before the trigger's
    assert await ends.writer.get_cursor("stranger") is None


async def test_a_position_after_the_consumer_was_deleted_does_not_bring_it_back(
        ends: Ends) -> None:
    await ends.writer.append("s", [b"a", b"b"])
    await ends.writer.set_cursor("gone", "s", 0)
    await ends.writer.set_cursor("other", "s", 0)
    await ends.writer.delete_cursor("gone")
    await ends.follower.set_cursor("gone", "s", 2)
    await ends.follower.set_cursor("other", "s", 1)

    async def other_moved() -> bool:
        return await ends.writer.get_cursor("other") == 1

    await eventually(other_moved)
    assert await ends.writer.get_cursor("gone") is None
    # compaction is bounded by the live consumer only
    assert await ends.writer.compact("s", older_than=0, now=1e12) == 1


async def test_a_new_consumer_waits_for_the_cursor_the_writer_creates(ends: Ends) -> None:
    await ends.writer.append("s", [b"a", b"b"])
    asking = asyncio.create_task(ends.follower.get_cursor("late"))
    await asyncio.sleep(0.2)
    assert not asking.done()
    await ends.writer.set_cursor("late", "s", 2)
    assert await asyncio.wait_for(asking, 3) == 2
    await ends.follower.set_cursor("late", "s", 1)
    assert await ends.follower.get_cursor("late") == 1  # its own position, at once


async def test_a_consumer_with_no_cursor_at_all_starts_from_none(
        ends: Ends, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(follower_module, "PIN_WAIT", 0.1)
    assert await ends.follower.get_cursor("nobody") is None


async def test_the_follower_appends_nothing(ends: Ends) -> None:
    with pytest.raises(RuntimeError):
        await ends.follower.append("s", [b"x"])


async def test_the_follower_knows_when_the_writer_is_gone(ends: Ends) -> None:
    assert not ends.follower.gone.is_set()
    await ends.relay.close()
    await asyncio.wait_for(ends.follower.gone.wait(), 2)


async def test_a_dropped_stream_disappears_from_the_follower(ends: Ends) -> None:
    await ends.writer.append("s", [b"a"])
    assert await ends.follower.wait("s", 0, timeout=2)
    await ends.writer.drop_stream("s")
    ends.follower.refresh()
    assert ends.follower.head("s") == 0
    assert await ends.follower.read("s", 0) == []


async def test_positions_are_reported_together_and_on_close(tmp_path: Path) -> None:
    writer = SQLiteEventLog(tmp_path / "events.db")  # the file and its tables
    mine, theirs = link_pair()
    follower = FollowerLog(tmp_path / "events.db", theirs, poll=3600)
    follower.start()
    try:
        await follower.set_cursor("a", "s", 1)
        await follower.set_cursor("b", "s", 4)
        await follower.set_cursor("a", "s", 3)
        mine.settimeout(2)
        message = await asyncio.get_running_loop().run_in_executor(None, mine.recv, 65536)
        assert sorted(json.loads(message)) == [["a", "s", 3], ["b", "s", 4]]
        await follower.set_cursor("b", "s", 9)
    finally:
        await follower.close()  # reports what was not reported yet
        await writer.close()
    assert json.loads(mine.recv(65536)) == [["b", "s", 9]]
    mine.close()
