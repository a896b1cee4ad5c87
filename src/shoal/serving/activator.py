"""The activator and the per-instance queues: who gets the next slot of a revision.

In embedded mode the activator and every instance's queue (Knative's queue-proxy) live in
the gateway's process, one ``RevisionBackend`` per revision. The gateway asks it for an
instance for each request (``acquire``) and gives the slot back when the response ends
(``release``) or the request goes away while waiting (``cancel``).

- ``containerConcurrency`` is a hard limit per instance: a request never goes to an
  instance that already serves that many.
- With the activator in the path (the revision has no ready instance, or too little spare
  capacity for ``target-burst-capacity``, or TBC -1), a request that finds no free slot
  waits at the revision in a bounded queue (10,000 by default, then 503) and goes to the
  first instance that frees a slot or gets ready. Instances are chosen as Knative's
  activator does: power of two choices when the concurrency is unlimited, the first
  available instance for limits up to 3, round robin among free ones otherwise.
- With the activator out of the path, requests go round robin to the instances, and each
  instance queues at most 10 × ``containerConcurrency`` of its own; beyond that, 503.
- A request that has to wait — the revision has no ready instance, or none with a free
  slot — pokes the autoscaler at once.
- ``drain`` takes an instance out of rotation and waits for its requests to finish, so
  scaling in drops nothing.

``RevisionStats`` turns the requests in flight (held here or at an instance) into
Knative's metrics: per whole second, the time-weighted average concurrency and the number
of requests that arrived.
"""

from __future__ import annotations

import asyncio
import math
import random
from bisect import bisect_left
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

ACTIVATOR_QUEUE_DEPTH = 10_000  # Knative's activator breaker queue depth
INSTANCE_QUEUE_FACTOR = 10  # queue-proxy: 10 × containerConcurrency waiting per instance
QUEUE_FULL = "pending request queue full\n"
MAX_PENDING_SECONDS = 3600  # per-second samples kept for a collector that fell behind
# upper bounds (seconds) of the request latency histogram
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
                   300.0)


class Waiter(Protocol):
    """A request waiting for a slot; the backend calls ``granted`` with the address."""

    def granted(self, address: str) -> None: ...


class Overloaded(Exception):
    """No slot and no room to wait: the request gets 503."""


@dataclass(frozen=True)
class Sample:
    second: int
    concurrency: float  # average requests in flight over the second
    requests: int  # requests that arrived in the second


class RevisionStats:
    """Requests in flight and their per-second averages, on the gateway's clock."""

    __slots__ = ("_area", "_count", "_last", "_next", "_second", "codes", "inflight",
                 "latency", "latency_sum", "pending", "total")

    def __init__(self, now: float) -> None:
        self.inflight = 0
        self.total = 0
        self.codes: dict[int, int] = {}
        self.latency = [0] * (len(LATENCY_BUCKETS) + 1)  # the last one: +Inf
        self.latency_sum = 0.0
        self._second = math.floor(now)
        self._next = self._second + 1  # the end of the current second
        self._last = now
        self._area = 0.0
        self._count = 0
        self.pending: deque[Sample] = deque(maxlen=MAX_PENDING_SECONDS)

    def advance(self, now: float) -> None:
        """Close every whole second before ``now``."""
        second = math.floor(now)
        if second <= self._second:
            self._area += self.inflight * (now - self._last)
            self._last = now
            return
        end = self._second + 1
        self._area += self.inflight * (end - self._last)
        self.pending.append(Sample(self._second, self._area, self._count))
        gap = second - end
        if gap > MAX_PENDING_SECONDS:
            end = second - MAX_PENDING_SECONDS
            gap = MAX_PENDING_SECONDS
        for s in range(end, end + gap):
            self.pending.append(Sample(s, float(self.inflight), 0))
        self._second = second
        self._next = second + 1
        self._area = self.inflight * (now - second)
        self._last = now
        self._count = 0

    def begin(self, now: float) -> None:
        if now < self._next:  # within the current second: ``advance``, the short way
            self._area += self.inflight * (now - self._last)
            self._last = now
        else:
            self.advance(now)
        self.inflight += 1
        self._count += 1
        self.total += 1

    def end(self, now: float) -> None:
        if now < self._next:
            self._area += self.inflight * (now - self._last)
            self._last = now
        else:
            self.advance(now)
        self.inflight -= 1

    def observe(self, status: int, seconds: float) -> None:
        """A request ended with ``status`` after ``seconds``."""
        self.codes[status] = self.codes.get(status, 0) + 1
        self.latency[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.latency_sum += seconds

    def collect(self, now: float) -> list[Sample]:
        """The samples of the seconds completed since the last call."""
        self.advance(now)
        samples = list(self.pending)
        self.pending.clear()
        return samples


class Endpoint:
    __slots__ = ("address", "drained", "draining", "inflight", "queue", "rotating")

    def __init__(self, address: str) -> None:
        self.address = address
        self.inflight = 0
        self.queue: deque[Waiter] = deque()
        self.rotating = False  # in the revision's ``order``
        self.draining = False
        self.drained: asyncio.Event | None = None

    def settle(self) -> None:
        if self.draining and self.inflight <= 0 and self.drained is not None:
            self.drained.set()


@dataclass
class Timeouts:
    """A revision's request timeouts in seconds (0: none)."""

    total: float = 300.0  # timeoutSeconds: the whole request
    response_start: float = 0.0  # responseStartTimeoutSeconds: until the first byte
    idle: float = 0.0  # idleTimeoutSeconds: between writes of the response


class RevisionBackend:
    """The slots of one revision's ready instances, and the requests waiting for one."""

    def __init__(self, key: str, now: float, *, poke: Callable[[str], None] | None = None,
                 rng: random.Random | None = None) -> None:
        self.key = key
        self.container_concurrency = 0
        self.in_path = True  # the activator holds requests while no slot is free
        self.queue_depth = ACTIVATOR_QUEUE_DEPTH
        self.timeouts = Timeouts()
        self.stats = RevisionStats(now)
        self.order: list[Endpoint] = []  # in rotation
        self.by_address: dict[str, Endpoint] = {}  # in rotation or draining
        self.waiting: deque[Waiter] = deque()
        self.poke = poke
        self._rng = rng or random.Random()
        self._next = 0

    # -- configuration ------------------------------------------------------------------

    def configure(self, container_concurrency: int, timeouts: Timeouts) -> None:
        self.container_concurrency = max(0, container_concurrency)
        self.timeouts = timeouts
        self._dispatch()

    def set_in_path(self, in_path: bool) -> None:
        self.in_path = in_path

    def set_endpoints(self, addresses: list[str]) -> None:
        """The ready instances in rotation (instances being drained stay out)."""
        wanted = set(addresses)
        kept = [e for e in self.order if e.address in wanted]
        for endpoint in self.order:
            if endpoint.address not in wanted:
                self._retire(endpoint)
        present = {e.address for e in kept}
        for address in addresses:
            if address not in present and not self._draining(address):
                endpoint = self.by_address.get(address) or Endpoint(address)
                self.by_address[address] = endpoint
                kept.append(endpoint)
                present.add(address)
        for endpoint in kept:
            endpoint.rotating = True
        self.order = kept
        self._dispatch()

    def _draining(self, address: str) -> bool:
        endpoint = self.by_address.get(address)
        return endpoint is not None and endpoint.draining

    def _retire(self, endpoint: Endpoint) -> None:
        """Out of rotation: its queued requests wait at the revision instead."""
        endpoint.rotating = False
        while endpoint.queue:
            self.waiting.appendleft(endpoint.queue.pop())
        if endpoint.inflight <= 0 and not endpoint.draining:
            self.by_address.pop(endpoint.address, None)

    async def drain(self, address: str, timeout: float) -> None:
        """Take ``address`` out of rotation, then wait (up to ``timeout``) until the
        requests it is serving have finished."""
        endpoint = self.by_address.get(address)
        if endpoint is None:
            return
        endpoint.draining = True
        if endpoint in self.order:
            self.order = [e for e in self.order if e is not endpoint]
        self._retire(endpoint)
        self._dispatch()
        if endpoint.inflight > 0:
            endpoint.drained = asyncio.Event()
            try:
                async with asyncio.timeout(timeout):
                    await endpoint.drained.wait()
            except TimeoutError:
                pass
        if self.by_address.get(address) is endpoint:
            del self.by_address[address]

    # -- requests -----------------------------------------------------------------------

    @property
    def ready(self) -> int:
        return len(self.order)

    @property
    def held(self) -> int:
        return len(self.waiting)

    def acquire(self, waiter: Waiter, now: float) -> str | None:
        """An address to forward to now, or None when ``waiter`` waits for ``granted``;
        ``Overloaded`` when there is no room to wait."""
        self.stats.begin(now)
        cc = self.container_concurrency
        if not self.in_path and self.order and cc > 0:
            # straight to the next instance, whose own queue takes what it cannot serve yet
            chosen = self._round_robin(self.order)
            if chosen.inflight < cc and not chosen.queue:
                chosen.inflight += 1
                return chosen.address
            if len(chosen.queue) < INSTANCE_QUEUE_FACTOR * cc:
                chosen.queue.append(waiter)
                if self.poke is not None:
                    self.poke(self.key)
                return None
            self.stats.end(now)
            raise Overloaded
        endpoint = self._pick()
        if endpoint is not None:
            endpoint.inflight += 1
            return endpoint.address
        if len(self.waiting) >= self.queue_depth:
            self.stats.end(now)
            raise Overloaded
        self.waiting.append(waiter)
        if self.poke is not None:
            self.poke(self.key)  # demand the instances cannot take: the autoscaler acts now
        return None

    def release(self, address: str, now: float, status: int | None = None,
                seconds: float = 0.0) -> None:
        """The request forwarded to ``address`` ended (with ``status`` after ``seconds``:
        ``RevisionStats.observe`` in the same call, when given)."""
        stats = self.stats
        stats.end(now)
        if status is not None:
            stats.observe(status, seconds)
        endpoint = self.by_address.get(address)
        if endpoint is None:
            return
        endpoint.inflight -= 1
        if endpoint.queue and not endpoint.draining:
            endpoint.inflight += 1
            endpoint.queue.popleft().granted(address)
            return
        if endpoint.draining or not endpoint.rotating:
            endpoint.settle()
            if endpoint.inflight <= 0 and not endpoint.draining:
                self.by_address.pop(address, None)
            return
        if self.waiting:
            self._dispatch()

    def cancel(self, waiter: Waiter, now: float, status: int | None = None,
               seconds: float = 0.0) -> None:
        """A waiting request went away (client gone, or timed out; with ``status`` after
        ``seconds``, observed as ``release`` does)."""
        self.stats.end(now)
        if status is not None:
            self.stats.observe(status, seconds)
        try:
            self.waiting.remove(waiter)
            return
        except ValueError:
            pass
        for endpoint in self.order:
            try:
                endpoint.queue.remove(waiter)
                return
            except ValueError:
                continue

    def _dispatch(self) -> None:
        while self.waiting:
            endpoint = self._pick()
            if endpoint is None:
                return
            endpoint.inflight += 1
            self.waiting.popleft().granted(endpoint.address)

    # -- load balancing (Knative's activator policies) ----------------------------------

    def _pick(self) -> Endpoint | None:
        order = self.order
        if not order:
            return None
        cc = self.container_concurrency
        if cc == 0:
            if len(order) == 1:
                return order[0]
            if not self.in_path:
                return self._round_robin(order)
            a, b = self._rng.sample(order, 2)  # power of two choices
            return a if a.inflight <= b.inflight else b
        if cc <= 3 and self.in_path:
            for endpoint in order:  # first available
                if endpoint.inflight < cc:
                    return endpoint
            return None
        for _ in range(len(order)):
            endpoint = self._round_robin(order)
            if endpoint.inflight < cc:
                return endpoint
        return None

    def _round_robin(self, order: list[Endpoint]) -> Endpoint:
        index = self._next % len(order)
        self._next = index + 1
        return order[index]


class Activator:
    """Every revision's backend, created on first use."""

    def __init__(self, clock: Callable[[], float], *,
                 poke: Callable[[str], None] | None = None) -> None:
        self.clock = clock
        self.poke = poke
        self.backends: dict[str, RevisionBackend] = {}

    def backend(self, key: str) -> RevisionBackend:
        backend = self.backends.get(key)
        if backend is None:
            backend = self.backends[key] = RevisionBackend(key, self.clock(), poke=self._poke)
        return backend

    def _poke(self, key: str) -> None:
        if self.poke is not None:
            self.poke(key)

    def forget(self, key: str) -> None:
        self.backends.pop(key, None)
