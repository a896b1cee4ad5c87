"""Time as a parameter: the ``Clock`` seam, the system clock, and a fake for tests.

The work queue (per-key backoff, ``add_after``), the informer (resync, reconnect backoff),
the engine (``lastTransitionTime``) and the event recorder (timestamps, aggregation window)
read time only through a ``Clock``. Production code uses ``SystemClock``; tests pass a
``FakeClock`` and move time forward with ``advance``, so a 1000-second backoff takes
microseconds to test.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Timer(Protocol):
    """A callback scheduled by ``Clock.call_later``; ``asyncio.TimerHandle`` is one."""

    def cancel(self) -> None: ...


class Clock(Protocol):
    def monotonic(self) -> float:
        """Seconds on a clock that never goes back; only differences mean anything."""
        ...

    def now(self) -> datetime:
        """The wall-clock time, timezone-aware in UTC."""
        ...

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        """Run ``callback`` (synchronously, on the event loop) after ``delay`` seconds."""
        ...

    async def sleep(self, delay: float) -> None: ...


def rfc3339(moment: datetime) -> str:
    """Kubernetes' ``metav1.Time`` form: second precision, UTC, ``Z`` suffix."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class SystemClock:
    """The real clock: ``time.monotonic``, ``datetime.now(UTC)``, the loop's timers."""

    def monotonic(self) -> float:
        return time.monotonic()

    def now(self) -> datetime:
        return datetime.now(UTC)

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        return asyncio.get_running_loop().call_later(max(delay, 0.0), callback)

    async def sleep(self, delay: float) -> None:
        await asyncio.sleep(max(delay, 0.0))


class _FakeTimer:
    def __init__(self, when: float, callback: Callable[[], None]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class FakeClock:
    """A clock that moves only when a test calls ``advance``.

    Timers fire in deadline order, each with the clock set to its exact deadline, and the
    event loop gets a few turns after each one so that tasks woken by it can run (and
    schedule further timers, which fire within the same ``advance`` if they fall due).
    """

    def __init__(self, start: datetime | None = None, settle_turns: int = 20) -> None:
        self._start = start or datetime(2024, 1, 1, tzinfo=UTC)
        self._t = 0.0
        self._timers: list[tuple[float, int, _FakeTimer]] = []
        self._seq = itertools.count()
        self._settle_turns = settle_turns

    def monotonic(self) -> float:
        return self._t

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self._t)

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        timer = _FakeTimer(self._t + max(delay, 0.0), callback)
        heapq.heappush(self._timers, (timer.when, next(self._seq), timer))
        return timer

    async def sleep(self, delay: float) -> None:
        if delay <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def wake() -> None:
            if not future.done():
                future.set_result(None)

        timer = self.call_later(delay, wake)
        try:
            await future
        finally:
            timer.cancel()

    def pending(self) -> list[float]:
        """Delays from now of the timers still to fire, soonest first."""
        return sorted(t.when - self._t for _, _, t in self._timers if not t.cancelled)

    async def settle(self) -> None:
        """Give the event loop a few turns so that runnable tasks get to run."""
        for _ in range(self._settle_turns):
            await asyncio.sleep(0)

    async def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``, firing every timer that falls due on the way."""
        target = self._t + seconds
        await self.settle()
        while self._timers and self._timers[0][0] <= target:
            when, _, timer = heapq.heappop(self._timers)
            if timer.cancelled:
                continue
            self._t = max(self._t, when)
            timer.callback()
            await self.settle()
        self._t = max(self._t, target)
        await self.settle()
