"""Dispatch: one consumer per Trigger, reading its broker's log from its own cursor.

A consumer reads records after its cursor, filters each event with the Trigger's filter, and
delivers the matching ones (retries, backoff, dead-letter sink: ``delivery.py``). A reply
goes back into the broker with its TTL one lower. Deliveries run concurrently up to the
Trigger's in-flight limit; in ordered mode one at a time, in log order.

At least once: the cursor is the highest sequence number below which every record is done
(delivered, dead-lettered or filtered out), and it is written to the log at most every
``flush_interval`` seconds. After a crash the consumer starts again from the last written
cursor, so an event may be delivered twice but never lost. A Trigger seen for the first time
starts at the head of the log: it gets the events that arrive after it, as in Knative.

The consumers of one stream that have caught up with it share a ``Feed``: one task that
reads each new record once and offers it to every one of them, which filters it at once.
A match's first attempt goes out with no coroutine (``Deliverer.begin``): there and then on
an idle connection, else from the callback that frees one; an empty 202 in answer is the
delivery done, in a callback. Anything else, and a record that cannot go that way (a
per-attempt timeout), is delivered by a worker coroutine. A consumer leaves the feed when
its deliveries in flight reach the limit, and reads on from its own position; it joins
again once it has caught up. A consumer in ordered mode always reads on its own.

Annotations on a Trigger (``shoal.api.eventing.trigger``): ``shoal.dev/delivery-order:
ordered`` (Knative's Kafka broker spelling ``kafka.eventing.knative.dev/delivery.order`` is
read too) and ``shoal.dev/max-in-flight: N`` (default 100).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import logging
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from shoal.api.eventing.trigger import DEFAULT_MAX_IN_FLIGHT
from shoal.eventing.backoff import RetryPolicy
from shoal.eventing.delivery import Deliverer, settled
from shoal.eventing.event import CloudEvent
from shoal.eventing.httpclient import Exchange, Result
from shoal.eventing.ingress import TTL, BrokerTarget, Target, ttl_of
from shoal.eventing.log import EventLog, LogClosed

log = logging.getLogger("shoal.eventing.dispatcher")

DECODED_RECORDS = 4096  # records kept decoded for the other consumers of the same broker

Publish = Callable[[str, str, list[CloudEvent]], Awaitable[int]]
Predicate = Callable[[CloudEvent], bool]


@dataclass(frozen=True)
class TriggerPlan:
    """Everything a consumer needs to know about its Trigger, rebuilt when either changes."""

    uid: str
    namespace: str
    name: str
    broker: str
    target: Target
    subscriber: str
    dead_letter: str | None
    policy: RetryPolicy
    matches: Predicate
    ordered: bool = False
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT

    @functools.cached_property
    def headers(self) -> dict[str, str]:
        """What every delivery of the Trigger adds to the event's headers."""
        return {"Kn-Namespace": self.namespace}


@functools.lru_cache(maxsize=DECODED_RECORDS)
def decode(record: bytes) -> CloudEvent:
    """The event of a log record, decoded once for every Trigger of the broker: the
    consumers of a broker read the same records at about the same time. The event is
    shared, so nobody may change it (the delivery path copies before it changes one)."""
    return CloudEvent.from_record(record)


async def deliver_to_trigger(plan: TriggerPlan, event: CloudEvent, deliverer: Deliverer,
                             publish: Publish) -> None:
    """Filter one event, deliver it (retries, dead-letter sink), and publish the reply back
    into the broker with its TTL one lower: what every consumer does with each event."""
    if plan.matches(event):
        await deliver_matched(plan, event, deliverer, publish)


async def deliver_matched(plan: TriggerPlan, event: CloudEvent, deliverer: Deliverer,
                          publish: Publish, first: Result | None = None) -> None:
    """``deliver_to_trigger`` for an event that has passed the Trigger's filter; ``first``
    is the response to a first attempt made already (``Deliverer.begin``)."""
    result = await deliverer.deliver(event, plan.subscriber, plan.policy,
                                     dead_letter=plan.dead_letter,
                                     extra_headers=plan.headers, first=first)
    if result.reply is not None:
        ttl = ttl_of(event)
        reply = result.reply.copy()
        reply.attributes[TTL] = (ttl if ttl is not None else 255) - 1
        await publish(plan.namespace, plan.broker, [reply])


async def cancel_consumer(reader: asyncio.Task[None] | None,
                          deliveries: set[asyncio.Task[None]]) -> None:
    """Stop a consumer's tasks: its reading loop first, then the deliveries in flight."""
    if reader is not None:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
    for task in list(deliveries):
        task.cancel()
    await asyncio.gather(*deliveries, return_exceptions=True)


class Consumer(Protocol):
    """What the dispatcher runs per Trigger; each broker class's storage has its own."""

    plan: TriggerPlan

    @property
    def ready(self) -> bool:
        """Reading: every event stored from now on reaches it."""

    def start(self) -> None: ...

    async def stop(self) -> None:
        """Stop reading; what was done is remembered, what was not is read again later."""

    async def forget(self) -> None:
        """The Trigger was deleted: drop its position (after ``stop``)."""


ConsumerFactory = Callable[[TriggerPlan, Deliverer, Publish], Consumer]


class Feed:
    """The new records of one stream, read once for every consumer that has caught up with
    it (``join``): each is offered every record in order, and may leave at any record."""

    def __init__(self, log: EventLog, stream: str, batch: int = 256) -> None:
        self.log = log
        self.stream = stream
        self.batch = batch
        self.pos = 0  # the last record offered; every consumer in the feed has read it
        self.consumers: list[TriggerConsumer] = []
        self._task: asyncio.Task[None] | None = None

    def join(self, consumer: TriggerConsumer) -> bool:
        """Take the consumer on if it has read exactly as far as the feed (any position,
        when the feed is not running); otherwise it reads on its own for now."""
        if self._task is None:
            self.pos = consumer.read_pos
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"feed {self.stream}")
        elif consumer.read_pos != self.pos:
            return False
        self.consumers.append(consumer)
        return True

    def leave(self, consumer: TriggerConsumer) -> None:
        with contextlib.suppress(ValueError):
            self.consumers.remove(consumer)
        task = self._task
        if not self.consumers and task is not None and task is not asyncio.current_task():
            task.cancel()  # waiting for records nobody is left to take

    async def _run(self) -> None:
        try:
            while self.consumers:
                records = await self.log.read(self.stream, self.pos, self.batch)
                if not records:
                    await self.log.wait(self.stream, self.pos)
                    continue
                for seq, data in records:
                    for consumer in tuple(self.consumers):
                        consumer.offer(seq, data)
                    self.pos = seq
        except (asyncio.CancelledError, LogClosed):
            pass
        except Exception:
            log.exception("reading stream %s failed; its consumers read on their own",
                          self.stream)
        finally:
            self._task = None
            feeds = _FEEDS.get(self.log)
            if feeds is not None and feeds.get(self.stream) is self:
                del feeds[self.stream]
            consumers, self.consumers = self.consumers, []
            for consumer in consumers:
                consumer.released()


_FEEDS: weakref.WeakKeyDictionary[EventLog, dict[str, Feed]] = weakref.WeakKeyDictionary()


def feed_of(log: EventLog, stream: str) -> Feed:
    """The feed of a stream, one per log and stream in a process."""
    feeds = _FEEDS.setdefault(log, {})
    feed = feeds.get(stream)
    if feed is None:
        feed = feeds[stream] = Feed(log, stream)
    return feed


class TriggerConsumer:
    """The consumer of a broker kept in an event log: a cursor in the log per Trigger."""

    def __init__(self, plan: TriggerPlan, deliverer: Deliverer, publish: Publish, *,
                 flush_interval: float = 0.05, batch: int = 256) -> None:
        if not isinstance(plan.target, BrokerTarget):
            raise TypeError(f"a TriggerConsumer reads an event log, not {plan.target!r}")
        self.target: BrokerTarget = plan.target
        self.plan = plan
        self.ready = False
        self.deliverer = deliverer
        self.publish = publish
        self.flush_interval = flush_interval
        self.batch = batch
        self._task: asyncio.Task[None] | None = None
        # Records taken and not yet done, in log order, and those of them that are done:
        # the cursor moves past the oldest as soon as it is done, in O(1) per record.
        self._in_flight: collections.deque[int] = collections.deque()
        self._finished: set[int] = set()
        self._done_below = 0  # every record <= this is done
        self._read_pos = 0
        self._written = 0
        self._dirty = asyncio.Event()
        self._room: asyncio.Future[None] | None = None  # the reader waits here when full
        # records for the workers, with the response to a first attempt made already
        self._pending: collections.deque[tuple[int, bytes, Result | None]] = \
            collections.deque()
        self._exchanges: set[Exchange] = set()  # first attempts awaiting their answer
        self._stopped = False
        self._tasks: set[asyncio.Task[None]] = set()  # the workers delivering
        self._idle: collections.deque[asyncio.Future[None]] = collections.deque()
        self._feed: Feed | None = None  # the stream's feed, while in it
        self._released: asyncio.Future[None] | None = None  # the reader waits here meanwhile

    @property
    def cursor(self) -> int:
        return self._done_below

    @property
    def read_pos(self) -> int:
        """The last record taken (handed to a worker, or filtered out)."""
        return self._read_pos

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"trigger {self.plan.name}")

    async def stop(self) -> None:
        self._stopped = True
        for exchange in list(self._exchanges):  # not done: read again after a restart
            exchange.response.cancel()
            exchange.abandon()
        self._exchanges.clear()
        await cancel_consumer(self._task, self._tasks)
        self._task = None
        await self._flush()

    async def forget(self) -> None:
        await self.target.log.delete_cursor(self.plan.uid)

    async def _run(self) -> None:
        plan, target = self.plan, self.target
        stored = await target.log.get_cursor(plan.uid)
        if stored is None:
            stored = target.log.head(target.stream)
            await target.log.set_cursor(plan.uid, target.stream, stored)
        self._done_below = self._read_pos = self._written = stored
        self.ready = True
        flusher = asyncio.create_task(self._flusher())
        loop = asyncio.get_running_loop()
        try:
            while True:
                records = await target.log.read(target.stream, self._read_pos, self.batch)
                if not records:
                    if not self.plan.ordered and not self._full():
                        feed = feed_of(target.log, target.stream)
                        if feed.join(self):
                            self._feed = feed
                            self._released = loop.create_future()
                            await self._released  # the feed offers records until then
                            continue
                    await target.log.wait(target.stream, self._read_pos)
                    continue
                for seq, data in records:
                    if self.plan.ordered:
                        self._read_pos = seq
                        self._in_flight.append(seq)
                        if self._skip(data):
                            self._done(seq)
                        else:
                            await self._handle(seq, data)
                        continue
                    if self._full():
                        self._room = loop.create_future()
                        await self._room
                    self._take(seq, data)
        finally:
            if self._feed is not None:
                self._feed.leave(self)
                self._feed = None
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher

    def _full(self) -> bool:
        return len(self._in_flight) - len(self._finished) >= self.plan.max_in_flight

    def _take(self, seq: int, data: bytes) -> None:
        """Take the next record: filtered out at once, sent at once, or handed to a
        worker."""
        self._read_pos = seq
        self._in_flight.append(seq)
        if self._skip(data):
            self._done(seq)
        elif not self._begin(seq, data):
            self._pending.append((seq, data, None))
            self._wake_worker()

    def _begin(self, seq: int, data: bytes) -> bool:
        """Send the record's first attempt with no worker and no coroutine when the
        deliverer can (now, or once a connection is free): the common case (a subscriber
        that accepts at once) costs a write and a callback. Anything else goes on in a
        worker (``_answered``)."""
        plan = self.plan
        try:
            event = decode(data)
            exchange = self.deliverer.begin(event, plan.subscriber, plan.policy, plan.headers)
        except Exception:
            return False  # the worker's delivery fails and says why
        if exchange is None:
            return False
        self._exchanges.add(exchange)
        exchange.response.add_done_callback(
            functools.partial(self._answered, seq, data, exchange))
        return True

    def _answered(self, seq: int, data: bytes, exchange: Exchange,
                  response: asyncio.Future[Result]) -> None:
        """A first attempt's answer: done when settled; otherwise a worker goes on from
        it (retries, reply, dead-letter sink), or starts over when the pooled connection
        failed, which was no attempt."""
        self._exchanges.discard(exchange)
        if self._stopped or response.cancelled():
            exchange.abandon()
            return
        first: Result | None = None
        if response.exception() is None:
            first = response.result()
            exchange.finish()
            if settled(first[0], first[2]):
                self._done(seq)
                return
        else:
            exchange.abandon()
        self._pending.append((seq, data, first))
        self._wake_worker()

    def offer(self, seq: int, data: bytes) -> None:
        """The feed's next record: taken, or (at the in-flight limit, when the plan
        became ordered, or once stopping) left for the reader, which the feed lets go."""
        if self._stopped or self.plan.ordered or self._full():
            assert self._feed is not None
            self._feed.leave(self)
            self.released()
            return
        self._take(seq, data)

    def released(self) -> None:
        """Out of the feed: the reader reads on from its own position."""
        self._feed = None
        released = self._released
        if released is not None and not released.done():
            released.set_result(None)

    def _skip(self, data: bytes) -> bool:
        """Whether the Trigger's filter leaves the record out (a record that cannot be
        read is not skipped: its delivery fails and says so)."""
        try:
            return not self.plan.matches(decode(data))
        except Exception:
            return False

    def _wake_worker(self) -> None:
        """A pending record needs a worker: an idle one, else a new one (up to the limit
        on deliveries in flight, which the reader keeps)."""
        while self._idle:
            waiter = self._idle.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        if len(self._tasks) < self.plan.max_in_flight:
            task = asyncio.create_task(self._work())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _work(self) -> None:
        """Deliver pending records; between them, wait idle rather than end, so a busy
        consumer does not start a task per record. The workers a burst started (never more
        than the in-flight limit) stay, idle, until the consumer stops."""
        loop = asyncio.get_running_loop()
        pending = self._pending
        while True:
            if not pending:
                waiter = loop.create_future()
                self._idle.append(waiter)
                await waiter
                continue
            seq, data, first = pending.popleft()
            await self._handle(seq, data, first)

    async def _handle(self, seq: int, data: bytes, first: Result | None = None) -> None:
        """Deliver a record that passed the filter (``_skip``), going on from the response
        to its first attempt if one was made, and mark it done."""
        plan = self.plan
        try:
            await deliver_matched(plan, decode(data), self.deliverer, self.publish, first)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("trigger %s/%s: event %d failed", plan.namespace, plan.name, seq)
        finally:
            self._done(seq)

    def _done(self, seq: int) -> None:
        in_flight, finished = self._in_flight, self._finished
        if in_flight and in_flight[0] == seq:
            in_flight.popleft()
            while in_flight and in_flight[0] in finished:
                finished.discard(in_flight.popleft())
        else:
            finished.add(seq)
        room = self._room
        if room is not None and not room.done() and \
                len(in_flight) - len(finished) <= self.plan.max_in_flight * 3 // 4:
            room.set_result(None)  # a quarter free: the reader takes records in a batch
        low = in_flight[0] - 1 if in_flight else self._read_pos
        if low > self._done_below:
            self._done_below = low
            self._dirty.set()

    async def _flusher(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            await self._flush()
            await asyncio.sleep(self.flush_interval)

    async def _flush(self) -> None:
        if self._done_below > self._written:
            seq = self._done_below
            await self.target.log.set_cursor(self.plan.uid, self.target.stream, seq)
            self._written = seq


class Dispatcher:
    """The consumers of every dispatchable Trigger, kept in step with their plans."""

    def __init__(self, deliverer: Deliverer, publish: Publish,
                 consumer_for: ConsumerFactory = TriggerConsumer) -> None:
        self.deliverer = deliverer
        self.publish = publish
        self.consumer_for = consumer_for
        self.consumers: dict[str, Consumer] = {}
        self._stopping: set[asyncio.Task[None]] = set()

    def apply(self, plan: TriggerPlan) -> None:
        current = self.consumers.get(plan.uid)
        if current is not None and current.plan.target == plan.target:
            current.plan = plan  # new subscriber, filter or policy: from the next event on
            return
        if current is not None:
            task = asyncio.get_running_loop().create_task(current.stop())
            self._stopping.add(task)
            task.add_done_callback(self._stopping.discard)
        consumer = self.consumer_for(plan, self.deliverer, self.publish)
        self.consumers[plan.uid] = consumer
        consumer.start()

    async def remove(self, uid: str, *, forget: bool = True) -> None:
        consumer = self.consumers.pop(uid, None)
        if consumer is not None:
            await consumer.stop()
            if forget:
                await consumer.forget()

    async def stop(self) -> None:
        consumers = list(self.consumers.values())
        self.consumers.clear()
        await asyncio.gather(*(c.stop() for c in consumers), *self._stopping)
