"""Time as a parameter for the runtimes: probe periods, initial delays and crash backoff.

The supervisor reads time only through this small ``Clock``. ``SystemClock`` is the real
one; tests pass ``shoal.controllers.clock.FakeClock``, which satisfies the same protocol
(it is the fake for every clock seam in Shoal), and move time with ``advance``.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float:
        """Seconds on a clock that never goes back; only differences mean anything."""
        ...

    def now(self) -> datetime:
        """The wall-clock time, timezone-aware in UTC."""
        ...

    async def sleep(self, delay: float) -> None: ...


class SystemClock:
    """The real clock: ``time.monotonic``, ``datetime.now(UTC)``, ``asyncio.sleep``."""

    def monotonic(self) -> float:
        return time.monotonic()

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, delay: float) -> None:
        await asyncio.sleep(max(delay, 0.0))
