"""Pid records of local instances, so that a later runtime can reap what a crashed one left.

Under a process runtime's state directory:

- ``owners/TOKEN.lock``: each live ``ProcessRuntime`` holds an exclusive ``flock`` on its
  own file for as long as it lives; the kernel drops it when the process dies, however it
  dies, so a lock that can be taken belongs to a runtime that is gone.
- ``instances/ID.json``: one record per running process group: its owner's token, the
  leader's pid and its start time (from ``/proc``, so a reused pid is never mistaken for it).

``reap`` kills the process groups recorded by owners that are gone (SIGTERM, SIGKILL after
a grace period) and removes their records, logs and lock files.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import secrets
import signal
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from shoal.runtime.logfile import rotated


def process_start_time(pid: int) -> str | None:
    """The start time of a live (not zombie) process in clock ticks since boot, or ``None``."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    if fields[0] in ("Z", "X"):
        return None
    return fields[19]


def is_running(pid: int, started: str | None) -> bool:
    """Whether ``pid`` is still the process that started at ``started``."""
    current = process_start_time(pid)
    return current is not None and (started is None or current == started)


class OwnerLock:
    """The lock a live runtime holds on its own token under ``directory``."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.token = secrets.token_hex(6)
        self.path = directory / f"{self.token}.lock"
        self._fd: int | None = os.open(self.path, os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def release(self) -> None:
        if self._fd is not None:
            self.path.unlink(missing_ok=True)
            os.close(self._fd)
            self._fd = None


def owner_alive(lock_path: Path) -> bool:
    """Whether a runtime still holds ``lock_path``; a missing file means it is gone."""
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


@dataclass(frozen=True)
class PidRecord:
    id: str
    owner: str
    pid: int  # the leader of its own process group (pgid == pid)
    started: str | None
    log: str


class PidRecords:
    def __init__(self, state_dir: Path) -> None:
        self.owners = state_dir / "owners"
        self.directory = state_dir / "instances"
        self.directory.mkdir(parents=True, exist_ok=True)

    def write(self, record: PidRecord) -> None:
        path = self.directory / f"{record.id}.json"
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(asdict(record)))
        os.replace(temporary, path)

    def remove(self, instance_id: str) -> None:
        (self.directory / f"{instance_id}.json").unlink(missing_ok=True)

    def all(self) -> list[PidRecord]:
        records = []
        for path in sorted(self.directory.glob("*.json")):
            try:
                records.append(PidRecord(**json.loads(path.read_text())))
            except (OSError, ValueError, TypeError):
                path.unlink(missing_ok=True)  # a torn or foreign file: nothing to reap
        return records

    async def reap(self, own_token: str, grace: float = 5.0) -> list[str]:
        """Kill what runtimes that are gone left running; returns the instance ids."""
        orphans = [r for r in self.all()
                   if r.owner != own_token and not owner_alive(self.owners / f"{r.owner}.lock")]
        await asyncio.gather(*(kill_group(r.pid, r.started, grace) for r in orphans))
        for record in orphans:
            self.remove(record.id)
            for path in (Path(record.log), rotated(Path(record.log))):
                path.unlink(missing_ok=True)
        live = {r.owner for r in self.all()} | {own_token}
        for lock in self.owners.glob("*.lock"):
            if lock.stem not in live and not owner_alive(lock):
                lock.unlink(missing_ok=True)
        return [r.id for r in orphans]


def signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


async def kill_group(pid: int, started: str | None, grace: float) -> None:
    """SIGTERM the process group led by ``pid`` (if still that process), SIGKILL after
    ``grace`` seconds."""
    if not is_running(pid, started):
        return
    signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        if not is_running(pid, started):
            break
    signal_group(pid, signal.SIGKILL)
