"""The life of one instance: launch, probe, restart on exit or failed liveness, stop.

A ``Supervisor`` owns one ``Instance`` record and runs a loop in its own task, the same for
every runtime: the runtime's ``Driver`` launches a ``Workload`` (a process group, a
container), the readiness probe runs every ``FAST_PERIOD`` seconds until the first success
and then every ``periodSeconds``; a liveness probe that fails ``failureThreshold`` times in a
row, or the program ending, makes the instance ``FAILED`` and it is launched again after a
``CrashBackoff``. ``stop`` sends SIGTERM, SIGKILL after the grace period, then lets the
driver remove what is left. Every change of the record is reported through ``on_change``
(a copy). Time goes through the injected ``Clock``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from typing import Any, Protocol

from shoal.runtime.backoff import CrashBackoff
from shoal.runtime.base import (
    REASON_CANNOT_RUN,
    REASON_READY,
    REASON_STARTING,
    REASON_STOPPED,
    REASON_UNHEALTHY,
    Instance,
    InstanceState,
    exit_reason,
)
from shoal.runtime.clock import Clock
from shoal.runtime.probes import Probe, ProbeResult

log = logging.getLogger(__name__)

FAST_PERIOD = 0.05  # seconds between readiness probes until the first success
REASON_INTERNAL = "InternalError"  # a bug in a driver or here; logged with its traceback


class Workload(Protocol):
    """One run of an instance's program."""

    async def wait(self) -> int:
        """The exit code once the program has ended (128+N when killed by signal N)."""
        ...

    async def terminate(self, grace: float) -> int:
        """SIGTERM, SIGKILL after ``grace`` seconds; returns the exit code once ended."""
        ...


class Driver(Protocol):
    """What a runtime does for one instance; the supervisor decides when."""

    async def launch(self) -> Workload:
        """Start the program; raises ``LaunchError`` when it cannot run at all."""
        ...

    async def check(self, probe: Probe, workload: Workload) -> ProbeResult: ...

    async def cleanup(self) -> None:
        """Remove what the instance leaves behind once it is stopped for good."""
        ...


class LaunchError(Exception):
    """The program could not be started: a missing image or executable, a busy port.

    ``reason`` is reported on the first failure, ``retry_reason`` on the attempts after it
    (``ErrImagePull`` then ``ImagePullBackOff``, as the kubelet reports them).
    """

    def __init__(self, message: str, reason: str = REASON_CANNOT_RUN,
                 retry_reason: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason
        self.retry_reason = retry_reason or reason


class Supervisor:
    def __init__(self, instance: Instance, driver: Driver, *, readiness: Probe,
                 liveness: Probe | None, clock: Clock,
                 on_change: Callable[[Instance], None],
                 backoff: CrashBackoff | None = None, restart_grace: float = 30.0) -> None:
        self._instance = instance
        self._driver = driver
        self._readiness = readiness
        self._liveness = liveness
        self._clock = clock
        self._on_change = on_change
        self._backoff = backoff or CrashBackoff()
        self._restart_grace = restart_grace
        self._stop = asyncio.Event()
        self._grace = 30.0
        self._task: asyncio.Task[None] | None = None

    @property
    def instance(self) -> Instance:
        return dataclasses.replace(self._instance)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"instance {self._instance.id}")

    async def stop(self, grace: float) -> None:
        """Stop the program and end the loop; returns once the instance is ``STOPPED``."""
        if not self._stop.is_set():
            self._grace = grace
            self._stop.set()
        if self._task is not None:
            await asyncio.wait([self._task])

    # -- the loop -----------------------------------------------------------------------

    async def _run(self) -> None:
        failed_launches = 0
        ran = False
        exit_code: int | None = None
        try:
            while not self._stop.is_set():
                try:
                    workload = await self._driver.launch()
                except LaunchError as err:
                    reason = err.reason if failed_launches == 0 else err.retry_reason
                    failed_launches += 1
                    await self._back_off(0.0, reason=reason, exit_code=None, detail=err.message)
                    continue
                except Exception as err:  # the edge of this instance's loop: report, retry
                    log.exception("launching instance %s failed", self._instance.id)
                    await self._back_off(0.0, reason=REASON_CANNOT_RUN, exit_code=None,
                                         detail=f"{type(err).__name__}: {err}")
                    continue
                if ran:
                    self._instance.restarts += 1
                ran = True
                failed_launches = 0
                try:
                    exit_code = await self._supervise(workload)
                except Exception as err:  # the edge again: the workload is gone, go on
                    log.exception("supervising instance %s failed", self._instance.id)
                    await self._back_off(0.0, reason=REASON_INTERNAL, exit_code=None,
                                         detail=f"{type(err).__name__}: {err}")
        finally:
            await self._finish(exit_code)

    async def _supervise(self, workload: Workload) -> int:
        """One run of the program, until it ends, fails liveness or is stopped; returns
        its exit code after the backoff that follows a failure."""
        started = self._clock.monotonic()
        self._update(state=InstanceState.STARTING, reason=REASON_STARTING, message="",
                     exit_code=None, started_at=self._clock.now().timestamp())
        ended = asyncio.create_task(workload.wait())
        stopped = asyncio.create_task(self._stop.wait())
        tasks: list[asyncio.Task[Any]] = [ended, stopped]
        tasks.append(asyncio.create_task(self._probe_readiness(workload)))
        liveness: asyncio.Task[str] | None = None
        if self._liveness is not None:
            liveness = asyncio.create_task(self._probe_liveness(workload, self._liveness))
            tasks.append(liveness)
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for probing in tasks[2:]:  # no probe results while the program goes down
                if probing not in done:
                    probing.cancel()
            if stopped in done:
                return await workload.terminate(self._grace)
            if ended in done:
                code = ended.result()
                reason, detail = exit_reason(code), ""
            elif liveness is not None and liveness in done:
                detail = f"Liveness probe failed: {liveness.result()}"
                self._update(reason=REASON_UNHEALTHY, message=detail)
                code = await workload.terminate(self._restart_grace)
                reason = REASON_UNHEALTHY
            else:  # a probe loop ended with an error: a bug, so stop this run
                for task in done:
                    task.result()
                raise AssertionError("unreachable")
        except BaseException:
            await workload.terminate(0.0)
            raise
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        await self._back_off(self._clock.monotonic() - started, reason=reason,
                             exit_code=code, detail=detail)
        return code

    async def _probe_readiness(self, workload: Workload) -> None:
        probe = self._readiness
        await self._clock.sleep(probe.initial_delay)
        successes = failures = 0
        ready = ever_ready = False
        while True:
            result = await self._driver.check(probe, workload)
            if result.ok:
                successes, failures = successes + 1, 0
                if not ready and successes >= probe.success_threshold:
                    ready = ever_ready = True
                    self._update(state=InstanceState.READY, reason=REASON_READY, message="")
            else:
                successes, failures = 0, failures + 1
                message = f"Readiness probe failed: {result.message}"
                if ready and failures >= probe.failure_threshold:
                    ready = False
                    self._update(state=InstanceState.STARTING, reason=REASON_UNHEALTHY,
                                 message=message)
                elif not ready:
                    self._update(message=message)
            await self._clock.sleep(probe.period if ever_ready else FAST_PERIOD)

    async def _probe_liveness(self, workload: Workload, probe: Probe) -> str:
        """Returns the last failure's message once ``failureThreshold`` failed in a row."""
        await self._clock.sleep(probe.initial_delay)
        failures = 0
        while True:
            result = await self._driver.check(probe, workload)
            failures = 0 if result.ok else failures + 1
            if failures >= probe.failure_threshold:
                return result.message
            await self._clock.sleep(probe.period)

    async def _back_off(self, ran_for: float, *, reason: str, exit_code: int | None,
                        detail: str) -> None:
        """Report the failure, then wait out the crash backoff (or until stopped)."""
        delay = self._backoff.next_delay(ran_for)
        detail = f"{detail}; " if detail else ""
        self._update(state=InstanceState.FAILED, reason=reason, exit_code=exit_code,
                     message=f"{detail}back-off {delay:g}s restarting failed container")
        sleeper = asyncio.create_task(self._clock.sleep(delay))
        stopped = asyncio.create_task(self._stop.wait())
        try:
            await asyncio.wait([sleeper, stopped], return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            stopped.cancel()
            await asyncio.gather(sleeper, stopped, return_exceptions=True)

    async def _finish(self, exit_code: int | None) -> None:
        try:
            await self._driver.cleanup()
        except Exception:  # the edge of this instance's loop: what is left stays behind
            log.exception("cleaning up after instance %s failed", self._instance.id)
        finally:
            self._update(state=InstanceState.STOPPED, reason=REASON_STOPPED, message="",
                         exit_code=exit_code)

    def _update(self, **changes: object) -> None:
        before = dataclasses.replace(self._instance)
        for key, value in changes.items():
            setattr(self._instance, key, value)
        if self._instance != before:
            self._on_change(dataclasses.replace(self._instance))
