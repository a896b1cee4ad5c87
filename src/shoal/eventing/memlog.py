"""The in-memory event log behind the ``InMemoryBroker`` class: fast, and lost on restart.

It has the interface of ``shoal.eventing.log.EventLog`` and behaves as ``SQLiteEventLog``
does (numbering, cursors, compaction, waiting), but keeps records and cursors in lists and
dicts of this process, so every event and cursor is gone when the process ends. Tests use it
as the fake of the durable log; brokers of class ``InMemoryBroker`` use it for real.
"""

from __future__ import annotations

import bisect
import time
from dataclasses import dataclass, field

from shoal.eventing.log import Clock, HeadWatch, LogClosed


@dataclass
class _Stream:
    head: int = 0
    seqs: list[int] = field(default_factory=list)  # ascending; gaps after compaction
    arrivals: list[float] = field(default_factory=list)
    data: list[bytes] = field(default_factory=list)


class MemoryEventLog:
    """Streams of records and consumer cursors in memory; nothing survives the process."""

    def __init__(self, *, clock: Clock = time.time) -> None:
        self._clock = clock
        self._streams: dict[str, _Stream] = {}
        self._cursors: dict[str, tuple[str, int]] = {}
        self._watch = HeadWatch(self.head)
        self._closed = False

    async def append(self, stream: str, records: list[bytes]) -> list[int]:
        self._check_open()
        for record in records:
            if not isinstance(record, bytes):
                raise TypeError(f"records must be bytes, not {type(record).__name__}")
        if not records:
            return []
        log = self._streams.setdefault(stream, _Stream())
        seqs = list(range(log.head + 1, log.head + 1 + len(records)))
        arrival = self._clock()
        log.seqs.extend(seqs)
        log.arrivals.extend(arrival for _ in records)
        log.data.extend(records)
        log.head = seqs[-1]
        self._watch.notify(stream)
        return seqs

    async def read(self, stream: str, after: int, limit: int = 256) -> list[tuple[int, bytes]]:
        log = self._streams.get(stream)
        if log is None or limit <= 0:
            return []
        start = bisect.bisect_right(log.seqs, after)
        end = start + limit
        return list(zip(log.seqs[start:end], log.data[start:end], strict=True))

    def head(self, stream: str) -> int:
        log = self._streams.get(stream)
        return 0 if log is None else log.head

    async def wait(self, stream: str, after: int, timeout: float | None = None) -> bool:
        return await self._watch.wait(stream, after, timeout)

    async def get_cursor(self, consumer: str) -> int | None:
        cursor = self._cursors.get(consumer)
        return None if cursor is None else cursor[1]

    async def set_cursor(self, consumer: str, stream: str, seq: int) -> None:
        self._check_open()
        self._cursors[consumer] = (stream, seq)

    async def delete_cursor(self, consumer: str) -> None:
        self._check_open()
        self._cursors.pop(consumer, None)

    async def compact(self, stream: str, *, older_than: float, now: float | None = None) -> int:
        self._check_open()
        log = self._streams.get(stream)
        if log is None:
            return 0
        cutoff = (self._clock() if now is None else now) - older_than
        passed = [seq for s, seq in self._cursors.values() if s == stream]
        bound = min(passed) if passed else log.head
        keep = [i for i, (seq, arrival) in enumerate(zip(log.seqs, log.arrivals, strict=True))
                if seq > bound or arrival >= cutoff]
        deleted = len(log.seqs) - len(keep)
        if deleted:
            log.seqs = [log.seqs[i] for i in keep]
            log.arrivals = [log.arrivals[i] for i in keep]
            log.data = [log.data[i] for i in keep]
        return deleted

    async def drop_stream(self, stream: str) -> None:
        self._check_open()
        self._streams.pop(stream, None)
        self._cursors = {c: v for c, v in self._cursors.items() if v[0] != stream}
        self._watch.notify(stream)

    async def close(self) -> None:
        self._closed = True
        self._watch.close()

    def _check_open(self) -> None:
        if self._closed:
            raise LogClosed("the event log is closed")
