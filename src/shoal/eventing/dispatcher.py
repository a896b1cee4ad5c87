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

Annotations on a Trigger: ``shoal.dev/delivery-order: ordered`` (Knative's Kafka broker
spelling ``kafka.eventing.knative.dev/delivery.order`` is read too) and
``shoal.dev/max-in-flight: N`` (default 100).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from shoal.eventing.backoff import RetryPolicy
from shoal.eventing.delivery import Deliverer
from shoal.eventing.event import CloudEvent
from shoal.eventing.ingress import TTL, BrokerTarget, ttl_of

log = logging.getLogger("shoal.eventing.dispatcher")

ORDER_ANNOTATIONS = ("shoal.dev/delivery-order", "kafka.eventing.knative.dev/delivery.order")
MAX_IN_FLIGHT_ANNOTATION = "shoal.dev/max-in-flight"
DEFAULT_MAX_IN_FLIGHT = 100

Publish = Callable[[str, str, list[CloudEvent]], Awaitable[int]]
Predicate = Callable[[CloudEvent], bool]


@dataclass(frozen=True)
class TriggerPlan:
    """Everything a consumer needs to know about its Trigger, rebuilt when either changes."""

    uid: str
    namespace: str
    name: str
    broker: str
    target: BrokerTarget
    subscriber: str
    dead_letter: str | None
    policy: RetryPolicy
    matches: Predicate
    ordered: bool = False
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT


class TriggerConsumer:
    def __init__(self, plan: TriggerPlan, deliverer: Deliverer, publish: Publish, *,
                 flush_interval: float = 0.05, batch: int = 256) -> None:
        self.plan = plan
        self.deliverer = deliverer
        self.publish = publish
        self.flush_interval = flush_interval
        self.batch = batch
        self._task: asyncio.Task[None] | None = None
        self._in_flight: set[int] = set()
        self._done_below = 0  # every record <= this is done
        self._read_pos = 0
        self._written = 0
        self._dirty = asyncio.Event()
        self._slots = asyncio.Semaphore(max(1, plan.max_in_flight))
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def cursor(self) -> int:
        return self._done_below

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"trigger {self.plan.name}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._flush()

    async def _run(self) -> None:
        plan = self.plan
        stored = await plan.target.log.get_cursor(plan.uid)
        if stored is None:
            stored = plan.target.log.head(plan.target.stream)
            await plan.target.log.set_cursor(plan.uid, plan.target.stream, stored)
        self._done_below = self._read_pos = self._written = stored
        flusher = asyncio.create_task(self._flusher())
        try:
            while True:
                records = await plan.target.log.read(plan.target.stream, self._read_pos,
                                                     self.batch)
                if not records:
                    await plan.target.log.wait(plan.target.stream, self._read_pos, 1.0)
                    continue
                for seq, data in records:
                    self._read_pos = seq
                    if self.plan.ordered:
                        self._in_flight.add(seq)
                        await self._handle(seq, data)
                        continue
                    await self._slots.acquire()
                    self._in_flight.add(seq)
                    task = asyncio.create_task(self._handle(seq, data))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
        finally:
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher

    async def _handle(self, seq: int, data: bytes) -> None:
        plan = self.plan
        try:
            event = CloudEvent.from_record(data)
            if plan.matches(event):
                result = await self.deliverer.deliver(
                    event, plan.subscriber, plan.policy, dead_letter=plan.dead_letter,
                    extra_headers={"Kn-Namespace": plan.namespace})
                if result.reply is not None:
                    await self._reply(event, result.reply)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("trigger %s/%s: event %d failed", plan.namespace, plan.name, seq)
        finally:
            self._done(seq)

    async def _reply(self, original: CloudEvent, reply: CloudEvent) -> None:
        ttl = ttl_of(original)
        reply = reply.copy()
        reply.attributes[TTL] = (ttl if ttl is not None else 255) - 1
        await self.publish(self.plan.namespace, self.plan.broker, [reply])

    def _done(self, seq: int) -> None:
        self._in_flight.discard(seq)
        if not self.plan.ordered:
            self._slots.release()
        low = min(self._in_flight) - 1 if self._in_flight else self._read_pos
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
            await self.plan.target.log.set_cursor(self.plan.uid, self.plan.target.stream, seq)
            self._written = seq


class Dispatcher:
    """The consumers of every dispatchable Trigger, kept in step with their plans."""

    def __init__(self, deliverer: Deliverer, publish: Publish) -> None:
        self.deliverer = deliverer
        self.publish = publish
        self.consumers: dict[str, TriggerConsumer] = {}
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
        consumer = TriggerConsumer(plan, self.deliverer, self.publish)
        self.consumers[plan.uid] = consumer
        consumer.start()

    async def remove(self, uid: str, *, forget: bool = True) -> None:
        consumer = self.consumers.pop(uid, None)
        if consumer is not None:
            await consumer.stop()
            if forget:
                await consumer.plan.target.log.delete_cursor(uid)

    async def stop(self) -> None:
        consumers = list(self.consumers.values())
        self.consumers.clear()
        await asyncio.gather(*(c.stop() for c in consumers), *self._stopping)
