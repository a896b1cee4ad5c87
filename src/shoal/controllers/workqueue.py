"""The work queue between informers and reconcile: deduped keys, per-key backoff, workers.

Each ``Controller`` owns one ``WorkQueue``. Informer handlers ``add`` keys; workers take a
key, reconcile it and mark it ``done``. The rules are client-go's ``workqueue``:

- a key is in the queue at most once, however often it is added;
- a key is never processed by two workers at once: added while being processed, it is
  processed once more after the current run is ``done``;
- ``add_rate_limited`` requeues after a per-key exponential delay (``ExponentialBackoff``:
  5 ms doubling up to 1000 s, client-go's per-item default), ``forget`` resets it;
- ``add_after`` requeues after a delay; of several pending delays for one key the
  earliest wins;
- ``shutdown`` stops accepting keys, drops delayed ones, lets the workers finish what is
  queued and in flight (with an optional deadline), then stops them.

All delays go through the injected ``Clock``.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Protocol

from shoal.controllers.clock import Clock, SystemClock, Timer

log = logging.getLogger(__name__)

Process = Callable[[str], Awaitable[None]]


class RateLimiter(Protocol):
    def when(self, key: str) -> float:
        """The delay before the next retry of ``key``; counts one more failure."""
        ...

    def forget(self, key: str) -> None: ...

    def failures(self, key: str) -> int: ...


class ExponentialBackoff:
    """``base * 2**failures``, capped; as client-go's ``ItemExponentialFailureRateLimiter``."""

    def __init__(self, base: float = 0.005, cap: float = 1000.0) -> None:
        self.base = base
        self.cap = cap
        self._failures: dict[str, int] = {}

    def when(self, key: str) -> float:
        exp = self._failures.get(key, 0)
        self._failures[key] = exp + 1
        if exp >= 64:
            return self.cap
        return min(self.base * 2.0**exp, self.cap)

    def forget(self, key: str) -> None:
        self._failures.pop(key, None)

    def failures(self, key: str) -> int:
        return self._failures.get(key, 0)


class WorkQueue:
    def __init__(
        self, *, clock: Clock | None = None, rate_limiter: RateLimiter | None = None, name: str = ""
    ) -> None:
        self.clock: Clock = clock or SystemClock()
        self.rate_limiter: RateLimiter = rate_limiter or ExponentialBackoff()
        self.name = name
        self._queue: deque[str] = deque()
        self._dirty: set[str] = set()
        self._processing: set[str] = set()
        self._waiting: dict[str, tuple[float, Timer]] = {}
        self._nonempty = asyncio.Event()
        self._shutting_down = False
        self._workers: list[asyncio.Task[None]] = []

    def __len__(self) -> int:
        """Keys waiting to be processed (not counting delayed or in-flight ones)."""
        return len(self._queue)

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    @property
    def idle(self) -> bool:
        """Nothing queued or in flight (keys may still be waiting on a delay)."""
        return not self._queue and not self._processing

    @property
    def delayed(self) -> int:
        """Keys waiting on ``add_after`` or a backoff delay."""
        return len(self._waiting)

    def add(self, key: str) -> None:
        if self._shutting_down or key in self._dirty:
            return
        self._dirty.add(key)
        if key in self._processing:
            return  # ``done`` puts it back
        self._queue.append(key)
        self._nonempty.set()

    def add_after(self, key: str, delay: float) -> None:
        if self._shutting_down:
            return
        if delay <= 0:
            self.add(key)
            return
        when = self.clock.monotonic() + delay
        pending = self._waiting.get(key)
        if pending is not None:
            if pending[0] <= when:
                return
            pending[1].cancel()
        self._waiting[key] = (when, self.clock.call_later(delay, lambda: self._fire(key)))

    def _fire(self, key: str) -> None:
        self._waiting.pop(key, None)
        self.add(key)

    def add_rate_limited(self, key: str) -> None:
        if self._shutting_down:
            return
        self.add_after(key, self.rate_limiter.when(key))

    def forget(self, key: str) -> None:
        self.rate_limiter.forget(key)

    def num_requeues(self, key: str) -> int:
        return self.rate_limiter.failures(key)

    async def get(self) -> str | None:
        """The next key, marked as processing; ``None`` once shut down and empty."""
        while not self._queue:
            if self._shutting_down:
                return None
            self._nonempty.clear()
            await self._nonempty.wait()
        key = self._queue.popleft()
        self._processing.add(key)
        self._dirty.discard(key)
        return key

    def done(self, key: str) -> None:
        self._processing.discard(key)
        if key in self._dirty:
            self._queue.append(key)
            self._nonempty.set()

    # -- workers ---------------------------------------------------------------------------

    def start(self, process: Process, workers: int = 1) -> None:
        """Run ``workers`` tasks, each taking keys and awaiting ``process(key)``."""
        for i in range(workers):
            self._workers.append(
                asyncio.create_task(
                    self._work(process), name=f"{self.name or 'workqueue'} worker {i}"
                )
            )

    async def _work(self, process: Process) -> None:
        while (key := await self.get()) is not None:
            try:
                await process(key)
            except Exception:
                log.exception("%s: processing %s failed", self.name, key)
                self.add_rate_limited(key)
            finally:
                self.done(key)

    async def shutdown(self, drain: bool = True, timeout: float | None = None) -> None:
        """Stop taking keys; with ``drain`` finish queued and in-flight ones first."""
        self._shutting_down = True
        for _, timer in self._waiting.values():
            timer.cancel()
        self._waiting.clear()
        self._nonempty.set()
        workers, self._workers = self._workers, []
        if not workers:
            return
        pending: set[asyncio.Task[None]] = set(workers)
        if drain:
            _, pending = await asyncio.wait(workers, timeout=timeout)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
