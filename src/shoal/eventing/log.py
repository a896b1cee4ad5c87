"""The durable append-only event log behind the ``SQLiteBroker`` class.

Broker ingress appends each accepted event here and answers 202 only once ``append`` has
resolved; dispatchers read from their cursor, ``wait`` for new records and move their cursor
with ``set_cursor``; the broker's reconciler compacts streams and drops those of deleted
brokers. ``EventLog`` is the interface, ``SQLiteEventLog`` the durable implementation and
``shoal.eventing.memlog.MemoryEventLog`` the in-memory one.

``SQLiteEventLog`` keeps one SQLite file in WAL mode:

- ``records(stream, seq, arrival, data)``: the events' JSON bytes with their arrival time;
- ``streams(stream, head)``: the last sequence number given in each stream, so numbering
  carries on after compaction has deleted every record;
- ``cursors(consumer, stream, seq)``: how far each consumer has got.

Writes go through one writer thread (group commit): ``append``, ``set_cursor``, ``compact``
and ``drop_stream`` queue an operation and await a future; the thread takes everything that
is queued, runs it in one transaction, commits (an fsync with ``durable=True``), then hands
all the results to the event loop in one ``call_soon_threadsafe``. The event loop never waits
on the disk, and one fsync acknowledges every append that arrived while the previous one ran.
Sequence numbers are given in the thread, so a failed transaction leaves no gap.

Reads run on the event loop: the newest records of each stream come from an in-memory tail
(what dispatchers that keep up ask for), older ones from a second, read-only connection, which
in WAL mode never waits for the writer. ``head`` and ``read`` show only committed records.
"""

from __future__ import annotations

import asyncio
import functools
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

Clock = Callable[[], float]
# What one commit appended: (stream, seq of the first record, the records), per append.
Appended = list[tuple[str, int, list[bytes]]]

BATCH_RECORDS = 4096  # records written in one transaction at most
COMPACT_CHUNK = 1000  # records deleted by one compaction step at most (a few ms of writing)
INSERT_ROWS = 64  # rows inserted by one statement at most (4 x 64 parameters, under 999)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    stream TEXT NOT NULL,
    seq INTEGER NOT NULL,
    arrival REAL NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (stream, seq)
);
CREATE TABLE IF NOT EXISTS streams (
    stream TEXT PRIMARY KEY,
    head INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS cursors (
    consumer TEXT PRIMARY KEY,
    stream TEXT NOT NULL,
    seq INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS cursors_by_stream ON cursors(stream, seq);
"""


class EventLog(Protocol):
    """Numbered streams of event records, with durable consumer cursors."""

    async def append(self, stream: str, records: list[bytes]) -> list[int]:
        """Durably append records (each an event's JSON bytes) to a stream; returns their
        sequence numbers (strictly increasing per stream, starting at 1). Resolves only after
        the records are on disk (fsync'd); concurrent callers share one commit."""

    async def read(self, stream: str, after: int, limit: int = 256) -> list[tuple[int, bytes]]:
        """Records with seq > after, in order, at most limit."""

    def head(self, stream: str) -> int:
        """The last seq of the stream (0 when empty)."""

    async def wait(self, stream: str, after: int, timeout: float | None = None) -> bool:
        """Until the stream's head > after (True) or the timeout passes (False)."""

    async def get_cursor(self, consumer: str) -> int | None:
        """The consumer's cursor, None if it has none."""

    async def set_cursor(self, consumer: str, stream: str, seq: int) -> None:
        """Durably move (or create) a consumer's cursor on a stream."""

    async def delete_cursor(self, consumer: str) -> None:
        """Forget a consumer's cursor."""

    async def compact(self, stream: str, *, older_than: float, now: float | None = None) -> int:
        """Delete records that every cursor on the stream has passed and that arrived more
        than older_than seconds before now; returns how many were deleted."""

    async def drop_stream(self, stream: str) -> None:
        """A broker was deleted: its records and cursors go."""

    async def close(self) -> None:
        """Flush pending work and release files and threads."""


class LogClosed(RuntimeError):
    """The log was used after ``close``."""


class LogWriteError(RuntimeError):
    """A write transaction failed; nothing of the operation was stored."""


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class HeadWatch:
    """Wakes the coroutines waiting for a stream's head to pass a sequence number."""

    def __init__(self, head: Callable[[str], int]) -> None:
        self._head = head
        self._waiters: dict[str, set[asyncio.Future[None]]] = {}
        self.closed = False

    async def wait(self, stream: str, after: int, timeout: float | None) -> bool:
        if self._head(stream) > after:
            return True
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while self._head(stream) <= after and not self.closed:
            # one future, woken by a notify or by the deadline's timer: cheaper than a
            # timeout scope around every wait, and consumers that keep up wait per commit
            waiter: asyncio.Future[None] = loop.create_future()
            waiters = self._waiters.setdefault(stream, set())
            waiters.add(waiter)
            timer = None if deadline is None else loop.call_at(deadline, _wake, waiter)
            try:
                await waiter
            finally:
                if timer is not None:
                    timer.cancel()
                waiters.discard(waiter)
                if not waiters and self._waiters.get(stream) is waiters:
                    del self._waiters[stream]
            if deadline is not None and loop.time() >= deadline:
                break
        return self._head(stream) > after

    def notify(self, stream: str) -> None:
        for waiter in self._waiters.pop(stream, ()):
            if not waiter.done():
                waiter.set_result(None)

    def close(self) -> None:
        self.closed = True
        for stream in list(self._waiters):
            self.notify(stream)


class Tail:
    """The newest records of one stream, contiguous in seq: reads that keep up hit memory."""

    __slots__ = ("first", "items")

    def __init__(self) -> None:
        self.first = 1  # seq of items[0]
        self.items: list[bytes] = []

    def extend(self, first_seq: int, records: list[bytes], keep: int) -> None:
        if first_seq != self.first + len(self.items):
            self.first, self.items = first_seq, []
        self.items.extend(records)
        if len(self.items) > 2 * keep:
            drop = len(self.items) - keep
            del self.items[:drop]
            self.first += drop

    def covers(self, after: int) -> bool:
        return bool(self.items) and after + 1 >= self.first

    def read(self, after: int, limit: int) -> list[tuple[int, bytes]]:
        start = after + 1 - self.first
        chunk = self.items[start:start + limit]
        return list(zip(range(after + 1, after + 1 + len(chunk)), chunk, strict=True))


# -- operations the writer thread runs -------------------------------------------------------

@dataclass(slots=True)
class _Op:
    future: asyncio.Future[Any]


@dataclass(slots=True)
class _Append(_Op):
    stream: str
    records: list[bytes]
    arrival: float


@dataclass(slots=True)
class _SetCursor(_Op):
    consumer: str
    stream: str
    seq: int


@dataclass(slots=True)
class _MoveCursor(_Op):
    """Moves a cursor that exists; never creates one (see ``move_cursor``)."""

    consumer: str
    stream: str
    seq: int


@dataclass(slots=True)
class _DeleteCursor(_Op):
    consumer: str


@dataclass(slots=True)
class _Compact(_Op):
    stream: str
    cutoff: float


@dataclass(slots=True)
class _Drop(_Op):
    stream: str


@dataclass(slots=True)
class _Stop(_Op):
    pass


@dataclass(slots=True)
class _Batch:
    ops: list[_Op] = field(default_factory=list)
    results: list[Any] = field(default_factory=list)
    error: Exception | None = None


def _insert(db: sqlite3.Connection, into: str, rows: list[tuple[Any, ...]]) -> None:
    """Run ``into`` (``INSERT [OR REPLACE] INTO table``) for rows, many to a statement, and
    clear the list.

    One statement per row costs the writer thread the GIL once per row: Python's sqlite3
    lets it go around each step, and while the event loop is busy, getting it back takes
    up to the switch interval. Statements of ``INSERT_ROWS`` rows keep that to a few per
    transaction; the statements for each row count are prepared once and cached."""
    for start in range(0, len(rows), INSERT_ROWS):
        chunk = rows[start:start + INSERT_ROWS]
        db.execute(_insert_sql(into, len(chunk[0]), len(chunk)),
                   [value for row in chunk for value in row])
    rows.clear()


@functools.lru_cache(maxsize=2 * INSERT_ROWS)
def _insert_sql(into: str, columns: int, count: int) -> str:
    row = "(" + ",".join("?" * columns) + ")"
    return f"{into} VALUES " + ",".join([row] * count)


def connect(path: Path, durable: bool) -> sqlite3.Connection:
    """A connection to the log's file, in WAL mode, waiting up to 10 s for a lock."""
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                         cached_statements=4 * INSERT_ROWS)
    try:
        db.execute("PRAGMA busy_timeout=10000")
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
        db.execute("PRAGMA journal_size_limit=67108864")
    except BaseException:
        db.close()
        raise
    return db


def select_records(db: sqlite3.Connection, stream: str, after: int, head: int,
                   limit: int) -> list[tuple[int, bytes]]:
    """Records of ``stream`` with ``after < seq <= head``, in order, at most ``limit``."""
    rows: list[tuple[int, bytes]] = db.execute(
        "SELECT seq, data FROM records WHERE stream=? AND seq>? AND seq<=? ORDER BY seq "
        "LIMIT ?", (stream, after, head, limit)).fetchall()
    return rows


class SQLiteEventLog:
    """The durable event log: one SQLite file, one writer thread, group commit."""

    def __init__(self, path: Path, *, durable: bool = True, clock: Clock = time.time,
                 tail_records: int = 512) -> None:
        self._clock = clock
        self._keep = tail_records
        self._wdb = connect(path, durable)
        try:
            self._wdb.executescript(_SCHEMA)
            self._heads: dict[str, int] = dict(self._wdb.execute(
                "SELECT s.stream, MAX(s.head, IFNULL((SELECT MAX(r.seq) FROM records r "
                "WHERE r.stream = s.stream), 0)) FROM streams s").fetchall())
            self._cursors: dict[str, tuple[str, int]] = {
                c: (s, q) for c, s, q in self._wdb.execute("SELECT * FROM cursors")}
            self._rdb = connect(path, durable)
        except BaseException:
            self._wdb.close()
            raise
        self._rdb.execute("PRAGMA query_only=ON")
        self._next = dict(self._heads)  # owned by the writer thread
        self._tails: dict[str, Tail] = {}
        self._watch = HeadWatch(self.head)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: queue.SimpleQueue[_Op] = queue.SimpleQueue()
        self._closed = False
        self.commits = 0  # write transactions committed: one per group commit
        # Called on the writer thread after each commit that appended records, with them
        # (they are handed on to the dispatcher process): it must not block.
        self.on_commit: Callable[[Appended], None] | None = None
        self._thread = threading.Thread(target=self._run, name="eventlog-writer", daemon=True)
        self._thread.start()

    # -- the interface -----------------------------------------------------------------------

    async def append(self, stream: str, records: list[bytes]) -> list[int]:
        if not records:
            return []
        for record in records:
            if not isinstance(record, bytes):
                raise TypeError(f"records must be bytes, not {type(record).__name__}")
        future = self._future()
        self._queue.put(_Append(future, stream, list(records), self._clock()))
        first: int = await future
        return list(range(first, first + len(records)))

    async def read(self, stream: str, after: int, limit: int = 256) -> list[tuple[int, bytes]]:
        head = self._heads.get(stream, 0)
        if after >= head or limit <= 0:
            return []
        tail = self._tails.get(stream)
        if tail is not None and tail.covers(after):
            return tail.read(after, limit)
        if self._closed:
            raise LogClosed("the event log is closed")
        return select_records(self._rdb, stream, after, head, limit)

    def head(self, stream: str) -> int:
        return self._heads.get(stream, 0)

    async def wait(self, stream: str, after: int, timeout: float | None = None) -> bool:
        return await self._watch.wait(stream, after, timeout)

    async def get_cursor(self, consumer: str) -> int | None:
        cursor = self._cursors.get(consumer)
        return None if cursor is None else cursor[1]

    async def set_cursor(self, consumer: str, stream: str, seq: int) -> None:
        future = self._future()
        self._queue.put(_SetCursor(future, consumer, stream, seq))
        await future

    async def move_cursor(self, consumer: str, stream: str, seq: int) -> bool:
        """Move the cursor of a consumer that has one on ``stream``; False (and nothing
        written) when it has none. For positions reported by another process, which may
        arrive after the consumer was deleted: they must not bring its cursor back."""
        future = self._future()
        self._queue.put(_MoveCursor(future, consumer, stream, seq))
        moved: bool = await future
        return moved

    async def delete_cursor(self, consumer: str) -> None:
        future = self._future()
        self._queue.put(_DeleteCursor(future, consumer))
        await future

    async def compact(self, stream: str, *, older_than: float, now: float | None = None) -> int:
        cutoff = (self._clock() if now is None else now) - older_than
        deleted = 0
        while True:  # in steps, so appends are not held up behind one long delete
            future = self._future()
            self._queue.put(_Compact(future, stream, cutoff))
            step: int = await future
            deleted += step
            if step < COMPACT_CHUNK:
                return deleted

    async def drop_stream(self, stream: str) -> None:
        future = self._future()
        self._queue.put(_Drop(future, stream))
        await future

    async def close(self) -> None:
        if self._closed:
            return
        future = self._future()
        self._closed = True
        self._queue.put(_Stop(future))
        await future  # every operation queued before has been written and answered
        self._thread.join()
        self._rdb.close()
        self._watch.close()

    # -- the event loop's side ---------------------------------------------------------------

    def _future(self) -> asyncio.Future[Any]:
        if self._closed:
            raise LogClosed("the event log is closed")
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        elif self._loop is not loop:
            raise RuntimeError("an event log serves the one event loop that first used it")
        return loop.create_future()

    def _deliver(self, batch: _Batch) -> None:
        """Runs on the event loop after a commit (or a failed one): publish, then answer."""
        if batch.error is not None:
            for op in batch.ops:
                if not op.future.done():
                    error = LogWriteError(f"the event log could not write: {batch.error}")
                    error.__cause__ = batch.error
                    op.future.set_exception(error)
            return
        for op, result in zip(batch.ops, batch.results, strict=True):
            if isinstance(op, _Append):
                self._heads[op.stream] = result + len(op.records) - 1
                tail = self._tails.get(op.stream)
                if tail is None:
                    tail = self._tails[op.stream] = Tail()
                tail.extend(result, op.records, self._keep)
                self._watch.notify(op.stream)
            elif isinstance(op, _SetCursor) or (isinstance(op, _MoveCursor) and result):
                self._cursors[op.consumer] = (op.stream, op.seq)
            elif isinstance(op, _DeleteCursor):
                self._cursors.pop(op.consumer, None)
            elif isinstance(op, _Compact) and result:
                self._tails.pop(op.stream, None)
            elif isinstance(op, _Drop):
                self._heads.pop(op.stream, None)
                self._tails.pop(op.stream, None)
                self._cursors = {c: v for c, v in self._cursors.items() if v[0] != op.stream}
                self._watch.notify(op.stream)
            if not op.future.done():
                op.future.set_result(result)

    # -- the writer thread -------------------------------------------------------------------

    def _run(self) -> None:
        try:
            stopping = False
            while not stopping:
                batch = self._take()
                stopping = isinstance(batch.ops[-1], _Stop)
                self._write(batch)
                on_commit = self.on_commit
                if on_commit is not None and batch.error is None:
                    appended = [(op.stream, first, op.records)
                                for op, first in zip(batch.ops, batch.results, strict=True)
                                if isinstance(op, _Append)]
                    if appended:
                        on_commit(appended)
                loop = self._loop
                if loop is not None:
                    try:
                        loop.call_soon_threadsafe(self._deliver, batch)
                    except RuntimeError:  # the loop is closed: nobody is waiting any more
                        return
        finally:
            self._wdb.close()

    def _take(self) -> _Batch:
        """Block for one operation, then take whatever else is queued, up to a batch."""
        batch = _Batch([self._queue.get()])
        size = 0
        while not isinstance(batch.ops[-1], _Stop) and size < BATCH_RECORDS:
            try:
                op = self._queue.get_nowait()
            except queue.Empty:
                break
            batch.ops.append(op)
            size += len(op.records) if isinstance(op, _Append) else 1
        return batch

    def _write(self, batch: _Batch) -> None:
        saved: dict[str, int] = {}  # streams touched, with their next seq before the batch
        rows: list[tuple[str, int, float, bytes]] = []
        cursors: list[tuple[str, str, int]] = []
        db = self._wdb
        if all(isinstance(op, _Stop) for op in batch.ops):
            batch.results.extend(None for _ in batch.ops)
            return
        try:
            db.execute("BEGIN IMMEDIATE")
            for op in batch.ops:
                if isinstance(op, _Append):
                    first = self._next.get(op.stream, 0) + 1
                    saved.setdefault(op.stream, first - 1)
                    self._next[op.stream] = first + len(op.records) - 1
                    rows.extend((op.stream, first + i, op.arrival, data)
                                for i, data in enumerate(op.records))
                    batch.results.append(first)
                elif isinstance(op, _SetCursor):
                    cursors.append((op.consumer, op.stream, op.seq))
                    batch.results.append(None)
                else:  # what follows may read or delete what is pending: write it first
                    _insert(db, "INSERT INTO records", rows)
                    _insert(db, "INSERT OR REPLACE INTO cursors", cursors)
                    batch.results.append(self._apply(db, op, saved))
            _insert(db, "INSERT INTO records", rows)
            _insert(db, "INSERT OR REPLACE INTO cursors", cursors)
            db.executemany("INSERT INTO streams VALUES (?,?) ON CONFLICT(stream) "
                           "DO UPDATE SET head=excluded.head",
                           [(s, self._next[s]) for s in saved if s in self._next])
            db.execute("COMMIT")
            self.commits += 1
        except Exception as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            for stream, seq in saved.items():
                self._next[stream] = seq
            batch.error = exc

    def _apply(self, db: sqlite3.Connection, op: _Op, saved: dict[str, int]) -> Any:
        if isinstance(op, _MoveCursor):
            return db.execute("UPDATE cursors SET seq=? WHERE consumer=? AND stream=?",
                              (op.seq, op.consumer, op.stream)).rowcount == 1
        if isinstance(op, _DeleteCursor):
            db.execute("DELETE FROM cursors WHERE consumer=?", (op.consumer,))
        elif isinstance(op, _Compact):
            (passed,) = db.execute("SELECT MIN(seq) FROM cursors WHERE stream=?",
                                   (op.stream,)).fetchone()
            bound = self._next.get(op.stream, 0) if passed is None else passed
            # The oldest COMPACT_CHUNK records at most: records arrive in seq order, so when
            # the oldest are too young, so is the rest, and a step never scans the stream
            # (a scan of 60,000 young records held the writer, and every commit, 30 ms).
            (oldest,) = db.execute("SELECT MIN(seq) FROM records WHERE stream=?",
                                   (op.stream,)).fetchone()
            if oldest is None:
                return 0
            return db.execute(
                "DELETE FROM records WHERE stream=? AND seq BETWEEN ? AND ? AND arrival<?",
                (op.stream, oldest, min(bound, oldest + COMPACT_CHUNK - 1), op.cutoff)).rowcount
        elif isinstance(op, _Drop):
            saved.setdefault(op.stream, self._next.get(op.stream, 0))
            self._next.pop(op.stream, None)
            for table in ("records", "cursors", "streams"):
                db.execute(f"DELETE FROM {table} WHERE stream=?", (op.stream,))
        return None
