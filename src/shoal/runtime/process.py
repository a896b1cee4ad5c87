"""The ``process`` runtime: a revision's command run as local processes, one per instance.

``ProcessRuntime`` runs a container's ``command`` + ``args`` as argv (never through a
shell) in its ``workingDir``, with the runtime contract's environment over a small base
(``PATH``, ``HOME``, locale), listening on ``PORT``: a free loopback port chosen for the
instance, kept across its restarts. Each instance is the leader of its own process group,
so stopping it (SIGTERM to the group, SIGKILL after the grace period) takes its children
too; stdout and stderr go to ``STATE_DIR/logs/ID.log``, rotated at a size limit. A pid
record per instance lets a later runtime on the same state directory reap what a crashed
one left (``reap_orphans``). Exec probes run their command with the instance's env.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import os
import signal
from collections.abc import AsyncGenerator, Callable, Mapping
from pathlib import Path
from typing import Any

from shoal.runtime.backoff import CrashBackoff
from shoal.runtime.base import PROCESS, InstanceSpec
from shoal.runtime.clock import Clock
from shoal.runtime.command import CommandTimeout, exit_status, run_command
from shoal.runtime.contract import command_line, instance_env
from shoal.runtime.logfile import DEFAULT_MAX_BYTES, LogFile, read_lines
from shoal.runtime.pidfiles import OwnerLock, PidRecord, PidRecords, process_start_time
from shoal.runtime.probes import (
    ExecFunc,
    Probe,
    Prober,
    ProbeResult,
)
from shoal.runtime.supervised import SupervisedRuntime
from shoal.runtime.supervisor import Driver, LaunchError, Workload

INHERITED_ENV = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TZ",
                 "TMPDIR", "SYSTEMROOT")
PUMP_DRAIN_TIMEOUT = 1.0  # how long to wait for output still in the pipe after an exit


def default_base_env() -> dict[str, str]:
    """What a local process inherits from Shoal's own environment."""
    return {name: os.environ[name] for name in INHERITED_ENV if name in os.environ}


class ProcessRuntime(SupervisedRuntime):
    name = PROCESS

    def __init__(self, state_dir: Path, *, clock: Clock | None = None,
                 base_env: Mapping[str, str] | None = None,
                 log_max_bytes: int = DEFAULT_MAX_BYTES,
                 backoff: Callable[[], CrashBackoff] = CrashBackoff,
                 restart_grace: float = 30.0) -> None:
        super().__init__(clock=clock, backoff=backoff, restart_grace=restart_grace)
        self.state_dir = state_dir
        self._base_env = dict(default_base_env() if base_env is None else base_env)
        self._log_max_bytes = log_max_bytes
        self._records = PidRecords(state_dir)
        self._owner = OwnerLock(self._records.owners)

    def _driver(self, instance_id: str, spec: InstanceSpec, port: int) -> Driver:
        env = instance_env(spec, self._base_env, port=port)
        command, args = command_line(spec.container, env)
        return _ProcessDriver(
            instance_id, command + args, env, spec.container.get("workingDir") or None,
            LogFile(self.log_path(instance_id), self._log_max_bytes),
            Prober(self._ports.host, port, self._run_exec(env, spec.container)),
            on_launch=self._record, on_cleanup=lambda: self._forget(instance_id, port))

    def _log_lines(self, instance_id: str, *, follow: bool,
                   tail: int | None) -> AsyncGenerator[str, None]:
        return read_lines(self.log_path(instance_id), tail=tail, follow=follow,
                          alive=lambda: instance_id in self._table)

    async def close(self, grace: float = 30.0) -> None:
        try:
            await super().close(grace)
        finally:
            self._owner.release()

    async def reap_orphans(self, grace: float = 5.0) -> builtins.list[str]:
        """Kill the processes that runtimes now gone left on this state directory."""
        return await self._records.reap(self._owner.token, grace)

    def log_path(self, instance_id: str) -> Path:
        return self.state_dir / "logs" / f"{instance_id}.log"

    # -- for the drivers ----------------------------------------------------------------

    def _record(self, instance_id: str, pid: int) -> None:
        self._records.write(PidRecord(
            id=instance_id, owner=self._owner.token, pid=pid,
            started=process_start_time(pid), log=str(self.log_path(instance_id))))

    def _forget(self, instance_id: str, port: int) -> None:
        self._records.remove(instance_id)
        self._ports.release(port)

    @staticmethod
    def _run_exec(env: dict[str, str], container: Mapping[str, Any]) -> ExecFunc:
        """Exec probes: the command runs with the instance's env, in its working dir."""
        cwd = container.get("workingDir") or None

        async def run(argv: list[str], timeout: float) -> tuple[int, str]:
            try:
                done = await run_command(argv, timeout=timeout, env=env, cwd=cwd,
                                         merge_stderr=True, new_session=True)
            except CommandTimeout as err:
                return -1, f"timed out after {timeout:g}s {err.output}"
            except OSError as err:
                return -1, f"cannot run {argv[0]!r}: {err.strerror or err}"
            return done.code, done.stdout

        return run


class _ProcessDriver:
    """Launches, probes and cleans up after one instance of the process runtime."""

    def __init__(self, instance_id: str, argv: list[str], env: dict[str, str],
                 cwd: str | None, log: LogFile, prober: Prober, *,
                 on_launch: Callable[[str, int], None], on_cleanup: Callable[[], None]) -> None:
        self._id = instance_id
        self._argv = argv
        self._env = env
        self._cwd = cwd
        self._log = log
        self._prober = prober
        self._on_launch = on_launch
        self._on_cleanup = on_cleanup

    async def launch(self) -> Workload:
        if not self._argv:
            raise LaunchError("the container has neither command nor args to run")
        read_end, write_end = os.pipe()
        try:
            proc = await asyncio.create_subprocess_exec(
                *self._argv, cwd=self._cwd, env=self._env, stdin=asyncio.subprocess.DEVNULL,
                stdout=write_end, stderr=write_end, start_new_session=True)
        except OSError as err:
            os.close(read_end)
            raise LaunchError(f"cannot run {self._argv[0]!r}: {err.strerror or err}") from None
        finally:
            os.close(write_end)
        self._on_launch(self._id, proc.pid)
        return await _ProcessGroup.attach(proc, read_end, self._log)

    async def check(self, probe: Probe, workload: Workload) -> ProbeResult:
        return await self._prober.check(probe)

    async def cleanup(self) -> None:
        self._log.remove()
        self._on_cleanup()


class _ProcessGroup:
    """One run of an instance: the leader process, its group, and the pump that copies
    their output from a pipe to the log file."""

    def __init__(self, proc: asyncio.subprocess.Process, transport: asyncio.ReadTransport,
                 reader: asyncio.StreamReader, log: LogFile) -> None:
        self._proc = proc
        self._transport = transport
        self._log = log
        self._pump = asyncio.create_task(self._copy(reader))

    @classmethod
    async def attach(cls, proc: asyncio.subprocess.Process, read_end: int,
                     log: LogFile) -> _ProcessGroup:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        pipe = os.fdopen(read_end, "rb", buffering=0)  # the transport closes it
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), pipe)
        return cls(proc, transport, reader, log)

    async def _copy(self, reader: asyncio.StreamReader) -> None:
        while chunk := await reader.read(65536):
            self._log.write(chunk)

    async def wait(self) -> int:
        code = await self._proc.wait()
        await self._reap()
        return exit_status(code)

    async def terminate(self, grace: float) -> int:
        if self._proc.returncode is None:
            self._signal(signal.SIGTERM)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(grace):
                    await self._proc.wait()
        self._signal(signal.SIGKILL)
        code = await self._proc.wait()
        await self._reap()
        return exit_status(code)

    async def _reap(self) -> None:
        """Once the leader is gone: kill what is left of its group, drain the pipe."""
        self._signal(signal.SIGKILL)
        await asyncio.wait([self._pump], timeout=PUMP_DRAIN_TIMEOUT)
        if not self._pump.done():  # a descendant that left the group holds the pipe open
            self._pump.cancel()
            await asyncio.wait([self._pump])
        self._transport.close()

    def _signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._proc.pid, signum)
