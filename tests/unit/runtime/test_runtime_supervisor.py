"""The instance loop on fake time: readiness, crash backoff, liveness restarts, stop."""

from __future__ import annotations

import asyncio

import pytest

from shoal.controllers.clock import FakeClock
from shoal.runtime.backoff import CrashBackoff
from shoal.runtime.base import (
    REASON_ERR_IMAGE_PULL,
    REASON_IMAGE_PULL_BACKOFF,
    Instance,
    InstanceState,
)
from shoal.runtime.probes import Probe, ProbeResult
from shoal.runtime.supervisor import LaunchError, Supervisor, Workload

READINESS = Probe("tcp", period=10.0, failure_threshold=3)
LIVENESS = Probe("http", path="/live", period=5.0, failure_threshold=2)


class FakeWorkload:
    def __init__(self) -> None:
        self.exit: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.terminated: list[float] = []

    def end(self, code: int) -> None:
        self.exit.set_result(code)

    async def wait(self) -> int:
        return await asyncio.shield(self.exit)

    async def terminate(self, grace: float) -> int:
        self.terminated.append(grace)
        if not self.exit.done():
            self.exit.set_result(143)
        return self.exit.result()


class FakeDriver:
    def __init__(self) -> None:
        self.workloads: list[FakeWorkload] = []
        self.launch_errors: list[LaunchError] = []
        self.ready = True
        self.live = True
        self.checks: list[str] = []
        self.cleaned = False

    async def launch(self) -> Workload:
        if self.launch_errors:
            raise self.launch_errors.pop(0)
        workload = FakeWorkload()
        self.workloads.append(workload)
        return workload

    async def check(self, probe: Probe, workload: Workload) -> ProbeResult:
        ok = self.live if probe is LIVENESS else self.ready
        self.checks.append("live" if probe is LIVENESS else "ready")
        return ProbeResult(ok, "" if ok else "connection refused")

    async def cleanup(self) -> None:
        self.cleaned = True

    @property
    def current(self) -> FakeWorkload:
        return self.workloads[-1]


class Harness:
    def __init__(self, *, readiness: Probe = READINESS, liveness: Probe | None = None,
                 driver: FakeDriver | None = None) -> None:
        self.clock = FakeClock()
        self.driver = driver or FakeDriver()
        self.changes: list[Instance] = []
        self.supervisor = Supervisor(
            Instance(id="hello-1", revision="default/hello-00001", runtime="fake",
                     address="127.0.0.1:1"),
            self.driver, readiness=readiness, liveness=liveness, clock=self.clock,
            on_change=self.changes.append, backoff=CrashBackoff(), restart_grace=7.0)

    @property
    def instance(self) -> Instance:
        return self.supervisor.instance

    def state(self) -> InstanceState:
        return self.supervisor.instance.state

    def states(self) -> list[tuple[InstanceState, str]]:
        return [(c.state, c.reason) for c in self.changes]


@pytest.fixture
async def harness() -> Harness:
    return Harness()


async def test_ready_after_the_first_successful_probe(harness: Harness) -> None:
    harness.supervisor.start()
    await harness.clock.settle()
    assert harness.state() is InstanceState.READY
    assert harness.states()[:2] == [(InstanceState.STARTING, "Starting"),
                                    (InstanceState.READY, "Ready")]
    await harness.supervisor.stop(1.0)


async def test_probes_fast_until_ready_then_at_period() -> None:
    h = Harness()
    h.driver.ready = False
    h.supervisor.start()
    await h.clock.advance(0.5)
    fast = h.driver.checks.count("ready")
    assert fast >= 9  # every 50 ms
    assert h.state() is InstanceState.STARTING
    assert "Readiness probe failed" in h.instance.message
    h.driver.ready = True
    await h.clock.advance(0.05)
    assert h.state() is InstanceState.READY
    before = len(h.driver.checks)
    await h.clock.advance(9.0)
    assert len(h.driver.checks) == before  # now every periodSeconds (10)
    await h.clock.advance(1.0)
    assert len(h.driver.checks) == before + 1
    await h.supervisor.stop(1.0)


async def test_unready_after_failure_threshold_and_ready_again() -> None:
    h = Harness()
    h.supervisor.start()
    await h.clock.settle()
    h.driver.ready = False
    await h.clock.advance(20.0)  # two failures: still ready
    assert h.state() is InstanceState.READY
    await h.clock.advance(10.0)  # the third
    assert h.state() is InstanceState.STARTING
    assert h.instance.reason == "Unhealthy"
    h.driver.ready = True
    await h.clock.advance(10.0)
    assert h.state() is InstanceState.READY
    await h.supervisor.stop(1.0)


async def test_initial_delay_and_success_threshold() -> None:
    h = Harness(readiness=Probe("tcp", initial_delay=3.0, success_threshold=2))
    h.supervisor.start()
    await h.clock.advance(2.9)
    assert h.driver.checks == []
    await h.clock.advance(0.1)
    assert h.driver.checks == ["ready"]
    assert h.state() is InstanceState.STARTING
    await h.clock.advance(0.05)
    assert h.state() is InstanceState.READY
    await h.supervisor.stop(1.0)


async def test_exit_fails_then_restarts_with_doubling_backoff(harness: Harness) -> None:
    h = harness
    h.supervisor.start()
    await h.clock.settle()
    h.driver.current.end(3)
    await h.clock.settle()
    assert (h.instance.state, h.instance.reason, h.instance.exit_code) == (
        InstanceState.FAILED, "ExitCode3", 3)
    assert "back-off 1s" in h.instance.message
    await h.clock.advance(0.99)
    assert len(h.driver.workloads) == 1
    await h.clock.advance(0.01)
    assert len(h.driver.workloads) == 2
    assert h.instance.restarts == 1
    assert h.state() is InstanceState.READY
    assert h.instance.exit_code is None

    delays = []
    for _ in range(6):
        h.driver.current.end(1)
        await h.clock.settle()
        delays.append(h.clock.pending()[0])
        await h.clock.advance(delays[-1])
    assert delays == [2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert h.instance.restarts == 7
    await h.supervisor.stop(1.0)


async def test_backoff_resets_after_ten_minutes_of_running(harness: Harness) -> None:
    h = harness
    h.supervisor.start()
    await h.clock.settle()
    for delay in (1.0, 2.0):
        h.driver.current.end(1)
        await h.clock.advance(delay)
    await h.clock.advance(600.0)
    h.driver.current.end(1)
    await h.clock.settle()
    assert "back-off 1s" in h.instance.message
    await h.supervisor.stop(1.0)


async def test_liveness_failures_restart_the_instance() -> None:
    h = Harness(liveness=LIVENESS)
    h.supervisor.start()
    await h.clock.settle()
    h.driver.live = False
    await h.clock.advance(5.0)  # the first failure
    assert h.driver.workloads[0].terminated == []
    await h.clock.advance(5.0)  # the second in a row
    assert h.driver.workloads[0].terminated == [7.0]
    assert h.state() is InstanceState.FAILED
    assert h.instance.reason == "Unhealthy"
    assert "Liveness probe failed: connection refused" in h.instance.message
    h.driver.live = True
    await h.clock.advance(1.0)
    assert len(h.driver.workloads) == 2
    assert h.instance.restarts == 1
    assert h.state() is InstanceState.READY
    await h.supervisor.stop(1.0)


async def test_stop_terminates_with_grace_and_cleans_up(harness: Harness) -> None:
    h = harness
    h.supervisor.start()
    await h.clock.settle()
    await h.supervisor.stop(12.5)
    assert h.driver.current.terminated == [12.5]
    assert h.driver.cleaned
    assert h.changes[-1].state is InstanceState.STOPPED
    assert h.changes[-1].exit_code == 143


async def test_stop_during_backoff_does_not_relaunch(harness: Harness) -> None:
    h = harness
    h.supervisor.start()
    await h.clock.settle()
    h.driver.current.end(2)
    await h.clock.settle()
    await h.supervisor.stop(1.0)
    assert len(h.driver.workloads) == 1
    assert h.changes[-1].state is InstanceState.STOPPED
    assert h.changes[-1].exit_code == 2
    assert h.clock.pending() == []


async def test_launch_errors_report_then_back_off(harness: Harness) -> None:
    h = harness
    pull = LaunchError("no such image", REASON_ERR_IMAGE_PULL, REASON_IMAGE_PULL_BACKOFF)
    h.driver.launch_errors = [pull, pull]
    h.supervisor.start()
    await h.clock.settle()
    assert (h.instance.state, h.instance.reason) == (InstanceState.FAILED, "ErrImagePull")
    assert "no such image" in h.instance.message
    await h.clock.advance(1.0)
    assert h.instance.reason == "ImagePullBackOff"
    await h.clock.advance(2.0)
    assert h.state() is InstanceState.READY
    assert h.instance.restarts == 0  # the program never ran before
    await h.supervisor.stop(1.0)


async def test_cancelled_loop_kills_the_workload(harness: Harness) -> None:
    h = harness
    h.supervisor.start()
    await h.clock.settle()
    task = h.supervisor._task
    assert task is not None
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert h.driver.current.terminated == [0.0]
    assert h.driver.cleaned
    assert h.changes[-1].state is InstanceState.STOPPED


async def test_a_failing_probe_is_reported_and_the_instance_relaunched(
        caplog: pytest.LogCaptureFixture) -> None:
    class Broken(FakeDriver):
        async def check(self, probe: Probe, workload: Workload) -> ProbeResult:
            if len(self.workloads) == 1:
                raise RuntimeError("probe bug")
            return await super().check(probe, workload)

    h = Harness(driver=Broken())
    h.supervisor.start()
    await h.clock.settle()
    assert (h.state(), h.instance.reason) == (InstanceState.FAILED, "InternalError")
    assert "RuntimeError: probe bug" in h.instance.message
    assert h.driver.workloads[0].terminated == [0.0]
    assert "supervising instance hello-1 failed" in caplog.text
    await h.clock.advance(1.0)
    assert h.state() is InstanceState.READY
    await h.supervisor.stop(1.0)
