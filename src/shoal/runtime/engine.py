"""The podman/docker command line, as the container runtime uses it.

``ContainerEngine`` wraps the few subcommands that podman and docker share with the same
flags and output (``run -d``, ``start``, ``wait``, ``stop -t``, ``rm -f``, ``exec``,
``logs``, ``ps --filter label=``, ``image inspect``, ``pull``, ``info``), each a child
process that is always reaped. ``available`` tells whether the engine can be used at all:
its binary is on ``PATH`` and ``info`` succeeds.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncGenerator
from pathlib import Path

from shoal.runtime.command import CommandTimeout, Completed, kill, run_command

INFO_TIMEOUT = 30.0
CALL_TIMEOUT = 120.0
LOG_LINE_LIMIT = 1024 * 1024


class EngineError(Exception):
    """A call of the engine failed; ``completed`` holds what it said."""

    def __init__(self, completed: Completed) -> None:
        super().__init__(f"{' '.join(completed.argv[:3])}: {completed.error()}")
        self.completed = completed


async def available(engine: str) -> bool:
    """Whether ``engine`` (``podman`` or ``docker``) is installed and its ``info`` works."""
    if shutil.which(engine) is None:
        return False
    try:
        done = await run_command([engine, "info"], timeout=INFO_TIMEOUT)
    except (OSError, CommandTimeout):
        return False
    return done.ok


class ContainerEngine:
    def __init__(self, binary: str) -> None:
        self.binary = binary

    async def call(self, *args: str, timeout: float | None = CALL_TIMEOUT,
                   check: bool = True) -> Completed:
        done = await run_command([self.binary, *args], timeout=timeout)
        if check and not done.ok:
            raise EngineError(done)
        return done

    async def image_present(self, image: str) -> bool:
        done = await self.call("image", "inspect", "--format", "{{.Id}}", image, check=False)
        return done.ok

    async def pull(self, image: str) -> Completed:
        return await self.call("pull", "--quiet", image, timeout=None, check=False)

    async def run(self, args: list[str]) -> Completed:
        """``run -d`` with ``args``; the container's id is in ``stdout`` when it worked."""
        return await self.call("run", "-d", *args, check=False)

    async def start(self, name: str) -> Completed:
        return await self.call("start", name, check=False)

    async def wait(self, name: str) -> int:
        """The exit code of the container once it stops (no timeout: it may run for long)."""
        done = await self.call("wait", name, timeout=None)
        return int(done.stdout.split()[0])

    async def stop(self, name: str, grace: float) -> None:
        seconds = max(0, int(grace + 0.999))
        await self.call("stop", "-t", str(seconds), name, timeout=seconds + CALL_TIMEOUT,
                        check=False)

    async def remove(self, name: str) -> None:
        """Remove the container, killing it at once if it still runs (docker's ``rm -f``
        does; podman's waits ten seconds unless told ``-t 0``)."""
        now = ["-t", "0"] if Path(self.binary).name == "podman" else []
        await self.call("rm", "-f", *now, name, check=False)

    async def exec(self, name: str, argv: list[str], timeout: float) -> Completed:
        return await self.call("exec", name, *argv, timeout=timeout, check=False)

    async def labelled(self, label: str) -> list[str]:
        """The names of all containers, running or not, that carry ``label`` (``k=v``)."""
        done = await self.call("ps", "-a", "--filter", f"label={label}",
                               "--format", "{{.Names}}")
        return [line.strip() for line in done.stdout.splitlines() if line.strip()]

    async def logs(self, name: str, *, follow: bool = False,
                   tail: int | None = None) -> AsyncGenerator[str, None]:
        """The container's output (stdout and stderr together), line by line."""
        argv = [self.binary, "logs"]
        if follow:
            argv.append("--follow")
        if tail is not None:
            argv += ["--tail", str(tail)]
        proc = await asyncio.create_subprocess_exec(
            *argv, name, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT, limit=LOG_LINE_LIMIT)
        assert proc.stdout is not None
        try:
            while line := await proc.stdout.readline():
                yield line.decode(errors="replace").rstrip("\r\n")
        finally:
            kill(proc, group=False)
            await proc.wait()
