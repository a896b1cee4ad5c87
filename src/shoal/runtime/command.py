"""Run a command to completion: argv only (never a shell), output captured, always reaped.

Used for exec probes of local processes and for every call of the podman/docker command
line. A command that outlives its timeout, or whose caller is cancelled, is killed (its
whole process group when it has its own session) and waited for before the error goes on,
so no child process, pipe or transport is left behind.

Output goes to unnamed temporary files, not pipes, and the command is done when it exits:
``podman run -d`` leaves conmon behind, which under uvloop inherits the write end of any
pipe podman was given, so waiting for a pipe's end would wait for the container's.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO


@dataclass(frozen=True)
class Completed:
    argv: tuple[str, ...]
    code: int  # the exit status; 128+N when killed by signal N
    stdout: str
    stderr: str  # empty when stderr was merged into stdout

    @property
    def ok(self) -> bool:
        return self.code == 0

    def error(self) -> str:
        """The last lines of what the command said about its failure."""
        text = (self.stderr or self.stdout).strip()
        return "\n".join(text.splitlines()[-5:]) or f"exit status {self.code}"


class CommandTimeout(TimeoutError):
    def __init__(self, argv: tuple[str, ...], timeout: float, output: str) -> None:
        super().__init__(f"{argv[0]} did not finish within {timeout:g}s")
        self.output = output


def exit_status(returncode: int) -> int:
    """A shell's view of a return code: a process killed by signal N ends with 128+N."""
    return 128 - returncode if returncode < 0 else returncode


async def run_command(argv: list[str], *, timeout: float | None = None,
                      env: Mapping[str, str] | None = None, cwd: str | Path | None = None,
                      merge_stderr: bool = False, new_session: bool = False) -> Completed:
    """Run ``argv``; raises ``CommandTimeout`` (after killing it) when it takes too long and
    ``OSError`` when it cannot be started.

    Output goes to temporary files, not pipes, and the command is done when it exits: a
    program that leaves a daemon behind holding its stdout (``podman run -d`` leaves
    conmon) would otherwise keep a pipe open, and the caller waiting, for ever.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL, stdout=out,
            stderr=asyncio.subprocess.STDOUT if merge_stderr else err,
            env=dict(env) if env is not None else None, cwd=cwd,
            start_new_session=new_session)
        try:
            async with asyncio.timeout(timeout):
                returncode = await proc.wait()
        except BaseException as exc:
            kill(proc, group=new_session)
            await proc.wait()
            if isinstance(exc, TimeoutError) and timeout is not None:
                raise CommandTimeout(tuple(argv), timeout, _read(out)) from None
            raise
        return Completed(tuple(argv), exit_status(returncode), _read(out), _read(err))


def _read(file: BinaryIO) -> str:
    file.seek(0)
    return file.read().decode(errors="replace")


def kill(proc: asyncio.subprocess.Process, *, group: bool) -> None:
    """SIGKILL ``proc`` (and its process group) unless it has already been reaped."""
    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if group:
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
