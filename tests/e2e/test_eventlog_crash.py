"""kill -9 while many appenders write to the durable event log: every acknowledged record stays.

A child process appends ~1 KB records from many concurrent appenders and prints each
acknowledged sequence number (with the SHA-256 of what it appended) as soon as ``append``
resolves; the test kills it mid-stream, then reopens the file and finds every one of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import signal
import sqlite3
import sys
import time
from pathlib import Path

import pytest

from shoal.eventing.log import SQLiteEventLog

pytestmark = pytest.mark.e2e

WORKERS = 32
EACH = 1000  # the child stops by itself after WORKERS * EACH records; the kill comes far sooner
KILL_AFTER = 2000

CHILD = """
import asyncio, hashlib, sys
from pathlib import Path
from shoal.eventing.log import SQLiteEventLog

async def main(path, workers, each):
    log = SQLiteEventLog(Path(path))
    out = sys.stdout

    async def appender(worker):
        for n in range(each):
            data = b'{"worker":%d,"n":%d,"pad":"%s"}' % (worker, n, b"x" * 1000)
            (seq,) = await log.append("crash", [data])
            out.write(f"ack {seq} {hashlib.sha256(data).hexdigest()}\\n")
            out.flush()
            if n % 10 == 9:
                await log.set_cursor(f"w{worker}", "crash", seq)
                out.write(f"cursor w{worker} {seq}\\n")
                out.flush()

    await asyncio.gather(*(appender(w) for w in range(workers)))
    await log.close()

asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
"""


async def test_kill_9_loses_no_acknowledged_record(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD, str(path), str(WORKERS), str(EACH),
        stdout=asyncio.subprocess.PIPE)
    assert child.stdout is not None
    acked: dict[int, str] = {}
    cursors: dict[str, int] = {}

    def take(line: bytes) -> None:
        if not line.endswith(b"\n"):
            return  # cut short by the kill
        kind, key, value = line.decode().split()
        if kind == "ack":
            acked[int(key)] = value
        else:
            cursors[key] = int(value)

    started = 0.0
    try:
        async with asyncio.timeout(60):
            while len(acked) < KILL_AFTER:
                line = await child.stdout.readline()
                assert line, "the child ended before it was killed"
                take(line)
                started = started or time.monotonic()
    finally:
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signal.SIGKILL)
        rest = await child.stdout.read()
        await child.wait()
    elapsed = time.monotonic() - started
    for line in rest.splitlines(keepends=True):
        take(line)
    assert child.returncode == -signal.SIGKILL
    assert len(acked) < WORKERS * EACH, "the child finished before it was killed"
    print(f"\n{len(acked)} acknowledged appends in {elapsed:.2f}s after the first "
          f"({len(acked) / elapsed:.0f}/s, {WORKERS} appenders, ~1 KB records)")

    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        db.close()

    log = SQLiteEventLog(path)
    try:
        stored: dict[int, bytes] = {}
        after = 0
        while batch := await log.read("crash", after, limit=1000):
            stored.update(batch)
            after = batch[-1][0]
        assert list(stored) == list(range(1, log.head("crash") + 1))
        for seq, digest in acked.items():
            assert seq in stored, f"acknowledged record {seq} is missing"
            assert hashlib.sha256(stored[seq]).hexdigest() == digest
            assert json.loads(stored[seq])["pad"] == "x" * 1000
        for consumer, seq in cursors.items():
            recovered = await log.get_cursor(consumer)
            assert recovered is not None and recovered >= seq
        assert await log.append("crash", [b"after the crash"]) == [log.head("crash")]
    finally:
        await log.close()
