"""The durable log across two processes: ``shoal up`` writes it, the dispatcher reads it.

``shoal up`` (broker and channel ingress) is the only writer of the SQLite event log; the
dispatcher process runs the consumers of every stream in it. They share the file (WAL lets
the reader read while the writer writes) and a ``socketpair`` (``SOCK_SEQPACKET``) that
carries two kinds of message:

- to the dispatcher, after every commit that appended records, those records with their
  streams and sequence numbers (``encode_appended``): it keeps them as the streams' newest
  records and wakes the consumers waiting on them, so that a dispatcher that keeps up reads
  nothing from the file. A commit of more than ``PUSH_BYTES`` of records is announced by a
  bare wake-up instead, and the dispatcher reads the streams' heads and then the records
  from the file; it also reads the heads every ``poll`` seconds, so a message lost to a
  full socket only delays;
- to ``shoal up``, the positions the consumers reached: ``[[consumer, stream, seq], ...]``,
  JSON, every consumer that moved in one message at most every ``REPORT_EVERY`` seconds
  (so that ``shoal up`` writes them in one transaction). ``shoal up`` writes them with
  ``move_cursor``, which moves only a cursor that exists: every consumer's cursor is
  created in ``shoal up`` (at the stream's head, when the Trigger or subscriber is first
  dispatchable), so a position that arrives after the Trigger was deleted cannot bring its
  cursor back, and the stream's compaction is never held back by a consumer that is gone.

The dispatcher process ends when the socket does: ``shoal up`` is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import sqlite3
import struct
from pathlib import Path
from typing import Any

from shoal.eventing.log import (
    Appended,
    HeadWatch,
    LogClosed,
    SQLiteEventLog,
    Tail,
    connect,
    select_records,
)

log = logging.getLogger("shoal.eventing.follower")

MESSAGE_BYTES = 65536
REPORT_EVERY = 0.05  # seconds between reports of the consumers' positions
REPORT_ENTRIES = 256  # positions in one message at most
TAIL_RECORDS = 1024  # records of each stream kept after a read, for its other consumers
PIN_WAIT = 2.0  # seconds a consumer waits for the cursor shoal up creates for it
PUSH_BYTES = 32768  # records of one commit sent over the link at most; more: a wake-up

PUSH = b"R"  # a message of records; any other message to the dispatcher is a bare wake-up
WAKE = b"w"
_ENTRY = struct.Struct("!HqI")  # per append: stream name's length, first seq, record count
_LENGTH = struct.Struct("!I")  # per record: its length


def encode_appended(appended: Appended) -> bytes:
    """The message that hands a commit's records to the dispatcher: ``PUSH``, then per
    append its entry, the stream's name and each record after its length; a bare
    ``WAKE`` when the records come to more than ``PUSH_BYTES``."""
    size = sum(len(data) + _LENGTH.size for _, _, records in appended for data in records)
    if size > PUSH_BYTES:
        return WAKE
    parts = [PUSH]
    for stream, first, records in appended:
        name = stream.encode()
        parts += (_ENTRY.pack(len(name), first, len(records)), name)
        for data in records:
            parts += (_LENGTH.pack(len(data)), data)
    return b"".join(parts)


def decode_appended(message: bytes) -> Appended:
    """The appends of a ``PUSH`` message; ``ValueError`` when it is malformed."""
    appended: Appended = []
    pos, end = len(PUSH), len(message)
    try:
        while pos < end:
            length, first, count = _ENTRY.unpack_from(message, pos)
            pos += _ENTRY.size
            stream = message[pos:pos + length].decode()
            pos += length
            records = []
            for _ in range(count):
                (size,) = _LENGTH.unpack_from(message, pos)
                pos += _LENGTH.size
                records.append(message[pos:pos + size])
                pos += size
            appended.append((stream, first, records))
    except struct.error as exc:
        raise ValueError(f"a truncated message of records: {exc}") from None
    if pos != end:
        raise ValueError("a truncated message of records")
    return appended


def link_pair() -> tuple[socket.socket, socket.socket]:
    """The two ends of a link: ``shoal up`` keeps the first, the dispatcher gets the second."""
    return socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)


class CursorRelay:
    """``shoal up``'s end of the link: wakes the dispatcher after appends, and writes the
    positions it reports."""

    def __init__(self, log: SQLiteEventLog, link: socket.socket) -> None:
        self.log = log
        self._link = link
        self._link.setblocking(False)
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self._link.fileno(), self._readable)
        self.log.on_commit = self.wake

    def wake(self, appended: Appended) -> None:
        """Runs on the log's writer thread after a commit: hands its records on. Never
        blocks; a lost message only delays (the dispatcher polls the heads)."""
        with contextlib.suppress(OSError):
            self._link.send(encode_appended(appended), socket.MSG_DONTWAIT)

    def _readable(self) -> None:
        for _ in range(64):
            try:
                message = self._link.recv(MESSAGE_BYTES)
            except BlockingIOError:
                return
            except OSError:
                message = b""
            if not message:  # the dispatcher is gone; its supervisor starts another
                self._detach()
                return
            try:
                moves = json.loads(message)
            except ValueError:
                log.warning("ignoring a malformed message from the dispatcher")
                continue
            task = asyncio.get_running_loop().create_task(self._move(moves))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _move(self, moves: list[list[Any]]) -> None:
        """Queue every move at once: the log's writer commits them together."""
        try:
            parsed = [(str(consumer), str(stream), int(seq)) for consumer, stream, seq in moves]
        except (TypeError, ValueError):
            log.warning("ignoring a malformed message from the dispatcher")
            return
        with contextlib.suppress(LogClosed):
            await asyncio.gather(*(self.log.move_cursor(c, s, q) for c, s, q in parsed))

    def _detach(self) -> None:
        if self._loop is not None:
            self._loop.remove_reader(self._link.fileno())
            self._loop = None

    async def close(self) -> None:
        if self.log.on_commit == self.wake:
            self.log.on_commit = None
        self._detach()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._link.close()


class FollowerLog:
    """The dispatcher's view of the durable log: reads, heads, waits and cursors.

    Cursors it is given are kept here and reported to ``shoal up`` (which writes them);
    it appends nothing, compacts nothing and drops nothing: those are ``shoal up``'s."""

    def __init__(self, path: Path, link: socket.socket, *, poll: float = 0.25) -> None:
        self._db = connect(path, durable=False)
        self._db.execute("PRAGMA query_only=ON")
        self._link = link
        self._link.setblocking(False)
        self._poll = poll
        self._heads: dict[str, int] = {}
        self._tails: dict[str, Tail] = {}  # what was read last: the Triggers of a broker
        self._cursors: dict[str, tuple[str, int]] = {}  # set in this process
        self._unreported: dict[str, tuple[str, int]] = {}
        self._report: asyncio.TimerHandle | None = None
        self._watch = HeadWatch(self.head)
        self._poller: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.gone = asyncio.Event()  # shoal up closed the link
        self._closed = False

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self._link.fileno(), self._readable)
        self.refresh()
        self._poller = asyncio.create_task(self._poll_heads())

    def refresh(self) -> None:
        """Read every stream's head, and wake the consumers of streams that grew."""
        heads: dict[str, int] = dict(self._db.execute("SELECT stream, head FROM streams"))
        for stream in set(self._heads) | set(heads):
            old, new = self._heads.get(stream), heads.get(stream)
            if old != new:
                if new is None:
                    del self._heads[stream]
                    self._tails.pop(stream, None)
                else:
                    self._heads[stream] = new
                self._watch.notify(stream)

    def _readable(self) -> None:
        stale = False  # a bare wake-up came: the heads are read from the file
        for _ in range(256):
            try:
                message = self._link.recv(MESSAGE_BYTES)
            except BlockingIOError:
                break
            except OSError:
                message = b""
            if not message:
                self._detach()
                self.gone.set()
                return
            if message[:len(PUSH)] != PUSH:
                stale = True
                continue
            try:
                self._take(decode_appended(message))
            except ValueError as exc:
                log.warning("ignoring a malformed message from shoal up: %s", exc)
                stale = True
        if stale:
            self.refresh()

    def _take(self, appended: Appended) -> None:
        """Records just committed: the newest of their streams, read from memory."""
        for stream, first, records in appended:
            tail = self._tails.get(stream)
            if tail is None:
                tail = self._tails[stream] = Tail()
            tail.extend(first, records, TAIL_RECORDS)
            last = first + len(records) - 1
            if last > self._heads.get(stream, 0):
                self._heads[stream] = last
                self._watch.notify(stream)

    async def _poll_heads(self) -> None:
        while True:
            await asyncio.sleep(self._poll)
            try:
                self.refresh()
            except sqlite3.Error as exc:
                log.warning("reading the event log's heads failed: %s", exc)

    def _detach(self) -> None:
        if self._loop is not None:
            self._loop.remove_reader(self._link.fileno())
            self._loop = None

    # -- the EventLog interface, for consumers -------------------------------------------

    async def append(self, stream: str, records: list[bytes]) -> list[int]:
        raise LogClosed("the dispatcher process does not append to the event log")

    async def read(self, stream: str, after: int, limit: int = 256) -> list[tuple[int, bytes]]:
        head = self._heads.get(stream, 0)
        if after >= head or limit <= 0:
            return []
        tail = self._tails.get(stream)
        rows = tail.read(after, limit) if tail is not None and tail.covers(after) else []
        last = rows[-1][0] if rows else after
        if len(rows) < limit and last < head:
            if self._closed:
                raise LogClosed("the event log is closed")
            more = select_records(self._db, stream, last, head, limit - len(rows))
            if more and more[-1][0] - more[0][0] == len(more) - 1:  # no gap: keep them
                if tail is None:
                    tail = self._tails[stream] = Tail()
                tail.extend(more[0][0], [data for _, data in more], TAIL_RECORDS)
            rows += more
        return rows

    def head(self, stream: str) -> int:
        return self._heads.get(stream, 0)

    async def wait(self, stream: str, after: int, timeout: float | None = None) -> bool:
        return await self._watch.wait(stream, after, timeout)

    async def get_cursor(self, consumer: str) -> int | None:
        """This process's position of the consumer, else the one in the log; a consumer
        new to the log waits up to ``PIN_WAIT`` for the cursor ``shoal up`` creates."""
        own = self._cursors.get(consumer)
        if own is not None:
            return own[1]
        for _ in range(int(PIN_WAIT / 0.05)):
            row = self._db.execute("SELECT seq FROM cursors WHERE consumer=?",
                                   (consumer,)).fetchone()
            if row is not None:
                self.refresh()  # heads at least as new as the cursor read
                return int(row[0])
            await asyncio.sleep(0.05)
        log.warning("consumer %s has no cursor in the event log; starting at the head",
                    consumer)
        return None

    async def set_cursor(self, consumer: str, stream: str, seq: int) -> None:
        self._cursors[consumer] = self._unreported[consumer] = (stream, seq)
        if self._report is None and self._loop is not None:
            self._report = self._loop.call_later(REPORT_EVERY, self._send_report)

    def _send_report(self) -> None:
        """Send the positions not reported yet; what the socket cannot take now is tried
        again later, and positions for shoal up once it is gone are dropped."""
        self._report = None
        while self._unreported:
            entries = list(self._unreported.items())[:REPORT_ENTRIES]
            message = json.dumps([[c, s, q] for c, (s, q) in entries]).encode()
            try:
                self._link.send(message)
            except BlockingIOError:
                if self._loop is not None:
                    self._report = self._loop.call_later(REPORT_EVERY, self._send_report)
                return
            except OSError:
                self._unreported.clear()
                return
            for consumer, position in entries:
                if self._unreported.get(consumer) == position:
                    del self._unreported[consumer]

    async def delete_cursor(self, consumer: str) -> None:
        self._cursors.pop(consumer, None)

    async def compact(self, stream: str, *, older_than: float, now: float | None = None) -> int:
        return 0

    async def drop_stream(self, stream: str) -> None:
        return None

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        if self._report is not None:
            self._report.cancel()
        self._send_report()  # the consumers' last positions, written on their stop
        self._detach()
        self._watch.close()
        self._db.close()
        self._link.close()
