"""Owner locks and pid records: what is an orphan, and reaping it."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from shoal.runtime.pidfiles import (
    OwnerLock,
    PidRecord,
    PidRecords,
    is_running,
    owner_alive,
    process_start_time,
)


def test_start_time_of_this_process() -> None:
    started = process_start_time(os.getpid())
    assert started is not None
    assert is_running(os.getpid(), started)
    assert not is_running(os.getpid(), str(int(started) + 1))


def test_owner_lock_is_held_until_released(tmp_path: Path) -> None:
    lock = OwnerLock(tmp_path)
    assert owner_alive(lock.path)
    lock.release()
    assert not owner_alive(lock.path)
    assert not lock.path.exists()


async def test_reap_kills_only_what_gone_owners_left(tmp_path: Path) -> None:
    records = PidRecords(tmp_path)
    mine = OwnerLock(records.owners)
    live = OwnerLock(records.owners)
    procs = [await asyncio.create_subprocess_exec(
        sys.executable, "-c", "import time; time.sleep(60)", start_new_session=True)
        for _ in range(3)]
    log = tmp_path / "orphan.log"
    log.write_text("x")
    for proc, owner, name in zip(procs, ["gone", live.token, mine.token],
                                 ["orphan", "live", "mine"], strict=True):
        records.write(PidRecord(id=name, owner=owner, pid=proc.pid,
                                started=process_start_time(proc.pid),
                                log=str(tmp_path / f"{name}.log")))
    records.write(PidRecord(id="reused", owner="gone", pid=procs[1].pid, started="1",
                            log=str(tmp_path / "reused.log")))
    try:
        reaped = await records.reap(mine.token, grace=2.0)
        assert sorted(reaped) == ["orphan", "reused"]
        assert await asyncio.wait_for(procs[0].wait(), 5) == -15
        assert procs[1].returncode is None and procs[2].returncode is None
        assert sorted(r.id for r in records.all()) == ["live", "mine"]
        assert not log.exists()
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
            await proc.wait()
        live.release()
        mine.release()
