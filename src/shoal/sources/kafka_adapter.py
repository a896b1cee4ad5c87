"""The Kafka adapter: consumer-group members that deliver a KafkaSource's records.

``KafkaAdapters`` (driven by the reconciler in ``kafka.py``) keeps one ``KafkaAdapter`` per
KafkaSource in step with its ``KafkaPlan``, and reports each adapter's ``AdapterState``
back through ``notify``.

An adapter runs ``spec.consumers`` members of the consumer group ``spec.consumerGroup``
with aiokafka. When a member is first assigned a partition the group has no offset for, it
commits the position ``spec.initialOffset`` gives (as Knative's controller does), so a
record produced after the source is Ready is never skipped, even across a restart. It then
delivers each partition's records in order (partitions in parallel; with ``ordering:
unordered`` a batch of a partition's records at once), each converted by
``kafka_events.to_event`` and sent with the source's ``delivery`` options (retries, backoff,
dead-letter sink; ``shoal.eventing.delivery``), and commits a record's offset only once its
delivery has ended: delivered, dead-lettered, or (as Knative) given up on after the last
retry when there is no dead-letter sink. A restart therefore starts at the first record
whose delivery had not ended: nothing acknowledged is sent again, nothing is lost. Every
few seconds a consumer asks the brokers for metadata, since aiokafka goes on polling
quietly when they go away; the answer becomes the ``ConnectionEstablished`` condition.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from aiokafka import AIOKafkaConsumer  # type: ignore[import-untyped]
from aiokafka.errors import KafkaError  # type: ignore[import-untyped]

from shoal.controllers.clock import Clock, SystemClock
from shoal.eventing.backoff import RetryPolicy
from shoal.eventing.delivery import Deliverer
from shoal.eventing.httpclient import HTTPClient
from shoal.sources.kafka_events import KafkaRecord, to_event

log = logging.getLogger("shoal.sources.kafka")

POLL_MS = 500
BATCH = 100
RECONNECT_MIN = 1.0
RECONNECT_MAX = 30.0
STOP_GRACE = 5.0
HEALTH_EVERY = 5.0
HEALTH_TIMEOUT = 5.0

Notify = Callable[[str], None]
ConsumerFactory = Callable[["KafkaPlan", int], Any]
"""Makes the aiokafka consumer of member ``index`` of a plan (a fake one in tests)."""


@dataclass(frozen=True)
class KafkaPlan:
    """What an adapter does for one KafkaSource; rebuilt by every reconcile."""

    uid: str
    namespace: str
    name: str
    servers: tuple[str, ...]
    topics: tuple[str, ...]
    group: str
    initial_offset: str
    consumers: int
    sink: str
    dead_letter: str | None = None
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    key_type: str = "string"
    overrides: tuple[tuple[str, str], ...] = ()
    ordered: bool = True

    def same_consumer(self, other: KafkaPlan) -> bool:
        """Whether ``other`` can be served by the same consumers (only delivery differs)."""
        return replace(other, sink=self.sink, dead_letter=self.dead_letter,
                       policy=self.policy, key_type=self.key_type,
                       overrides=self.overrides, ordered=self.ordered) == self


@dataclass(frozen=True)
class AdapterState:
    """What an adapter reports: ``connected`` is None until its first attempt ended."""

    connected: bool | None = None
    error: str = ""
    initial_offsets_committed: bool = False
    members: int = 0


def kafka_consumer(plan: KafkaPlan, index: int) -> Any:
    """An aiokafka consumer in the plan's group that commits only when told to."""
    return AIOKafkaConsumer(
        bootstrap_servers=list(plan.servers), group_id=plan.group,
        client_id=f"shoal-kafkasource-{plan.namespace}-{plan.name}-{index}",
        auto_offset_reset=plan.initial_offset, enable_auto_commit=False)


class KafkaAdapter:
    """The consumer-group members of one KafkaSource, delivering to its sink."""

    def __init__(self, key: str, plan: KafkaPlan, deliverer: Deliverer, notify: Notify,
                 clock: Clock, make_consumer: ConsumerFactory = kafka_consumer) -> None:
        self.key = key
        self.make_consumer = make_consumer
        self.plan = plan
        self.deliverer = deliverer
        self.notify = notify
        self.clock = clock
        self.state = AdapterState()
        self._stopping = False
        self._stopped = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._joined: set[int] = set()

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._member(i), name=f"kafkasource {self.key} #{i}")
                       for i in range(max(1, self.plan.consumers))]

    async def stop(self, grace: float = STOP_GRACE) -> None:
        """Let deliveries in flight end (within ``grace`` seconds), then cancel the rest."""
        self._stopping = True
        self._stopped.set()
        if not self._tasks:
            return
        _, pending = await asyncio.wait(self._tasks, timeout=grace)
        for task in pending:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _report(self, **changes: Any) -> None:
        state = replace(self.state, **changes)
        if state != self.state:
            self.state = state
            self.notify(self.key)

    async def _member(self, index: int) -> None:
        delay = RECONNECT_MIN
        while not self._stopping:
            consumer = self.make_consumer(self.plan, index)
            try:
                await consumer.start()
                consumer.subscribe(list(self.plan.topics))
                self._report(connected=True, error="",
                             members=self.state.members + 1)
                delay = RECONNECT_MIN
                try:
                    await self._consume(index, consumer)
                finally:
                    self._joined.discard(index)
                    self._report(members=self.state.members - 1)
            except KafkaError as exc:
                log.warning("kafkasource %s: %s", self.key, exc)
                self._report(connected=False, error=str(exc) or type(exc).__name__)
            except Exception:  # the edge of a long-running task: log, then start again
                log.exception("kafkasource %s: consumer %d failed", self.key, index)
            finally:
                with contextlib.suppress(KafkaError):
                    await consumer.stop()
            if self._stopping:
                return
            await self._pause(delay)
            delay = min(delay * 2, RECONNECT_MAX)

    async def _pause(self, seconds: float) -> None:
        """Sleep on the clock between attempts to connect, but not past ``stop``."""
        sleep = asyncio.ensure_future(self.clock.sleep(seconds))
        stopped = asyncio.ensure_future(self._stopped.wait())
        try:
            await asyncio.wait((sleep, stopped), return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleep.cancel()
            stopped.cancel()

    async def _consume(self, index: int, consumer: Any) -> None:
        initialized: set[Any] = set()
        next_check = self.clock.monotonic() + HEALTH_EVERY
        while not self._stopping:
            if self.clock.monotonic() >= next_check:
                await self._check_brokers(consumer)
                next_check = self.clock.monotonic() + HEALTH_EVERY
            batch = await consumer.getmany(timeout_ms=POLL_MS, max_records=BATCH)
            assignment = set(consumer.assignment())
            initialized &= assignment
            for tp in assignment - initialized:
                await self._commit_initial(consumer, tp, batch.get(tp))
                initialized.add(tp)
            if assignment and index not in self._joined:
                self._joined.add(index)
                self._report(initial_offsets_committed=True)
            await asyncio.gather(*(self._partition(consumer, tp, records)
                                   for tp, records in batch.items()))

    async def _check_brokers(self, consumer: Any) -> None:
        """A consumer goes on polling quietly when its brokers go away; ask them for the
        cluster's metadata to tell, and report the answer (aiokafka reconnects by itself)."""
        try:
            async with asyncio.timeout(HEALTH_TIMEOUT):
                await consumer.topics()
        except KafkaError as exc:
            self._report(connected=False, error=str(exc) or type(exc).__name__)
        except TimeoutError:
            self._report(connected=False, error=f"no answer within {HEALTH_TIMEOUT:g}s")
        else:
            self._report(connected=True, error="")

    @staticmethod
    async def _commit_initial(consumer: Any, tp: Any, records: list[Any] | None) -> None:
        """Pin where a partition without a committed offset starts, before any delivery."""
        if await consumer.committed(tp) is not None:
            return
        start = records[0].offset if records else await consumer.position(tp)
        await consumer.commit({tp: start})

    async def _partition(self, consumer: Any, tp: Any, records: list[Any]) -> None:
        """Ordered: one record at a time, each committed once its delivery ended.
        Unordered: the batch's records at once, committed together when all ended."""
        if not self.plan.ordered:
            if not self._stopping:
                await asyncio.gather(*(self._deliver(record) for record in records))
                await self._commit(consumer, tp, records[-1].offset + 1)
            return
        for record in records:
            if self._stopping:
                return
            await self._deliver(record)
            if not await self._commit(consumer, tp, record.offset + 1):
                return

    async def _deliver(self, record: Any) -> None:
        plan = self.plan
        event = to_event(
            KafkaRecord(record.topic, record.partition, record.offset, record.timestamp,
                        record.key, record.value, tuple(record.headers or ())),
            plan.namespace, plan.name, plan.key_type, dict(plan.overrides))
        result = await self.deliverer.deliver(event, plan.sink, plan.policy,
                                              dead_letter=plan.dead_letter)
        if not result.delivered and not result.dead_lettered:
            log.warning("kafkasource %s: %s dropped after %d attempts: %s", self.key,
                        event.id, result.attempts, result.error)

    async def _commit(self, consumer: Any, tp: Any, offset: int) -> bool:
        try:
            await consumer.commit({tp: offset})
        except KafkaError as exc:  # revoked in a rebalance: its new owner sends it again
            log.warning("kafkasource %s: commit of %s at %d failed: %s", self.key, tp, offset,
                        exc)
            return False
        return True


class KafkaAdapters:
    """One adapter per KafkaSource key, kept in step with the plans the reconciler makes."""

    def __init__(self, clock: Clock | None = None,
                 make_consumer: ConsumerFactory = kafka_consumer) -> None:
        self.clock: Clock = clock or SystemClock()
        self.make_consumer = make_consumer
        self.notify: Notify = lambda key: None
        self._http = HTTPClient()
        self._deliverer = Deliverer(self._http, self.clock)
        self._adapters: dict[str, KafkaAdapter] = {}
        self._stopping: set[asyncio.Task[None]] = set()

    def state(self, key: str) -> AdapterState:
        adapter = self._adapters.get(key)
        return adapter.state if adapter is not None else AdapterState()

    def apply(self, key: str, plan: KafkaPlan) -> None:
        current = self._adapters.get(key)
        if current is not None and current.plan.same_consumer(plan):
            current.plan = plan  # a new sink or delivery: from the next record on
            return
        if current is not None:
            self._retire(current)
        adapter = KafkaAdapter(key, plan, self._deliverer, lambda k: self.notify(k), self.clock,
                               self.make_consumer)
        self._adapters[key] = adapter
        adapter.start()

    def remove(self, key: str) -> None:
        adapter = self._adapters.pop(key, None)
        if adapter is not None:
            self._retire(adapter)

    def _retire(self, adapter: KafkaAdapter) -> None:
        task = asyncio.get_running_loop().create_task(adapter.stop())
        self._stopping.add(task)
        task.add_done_callback(self._stopping.discard)

    async def stop(self) -> None:
        adapters = list(self._adapters.values())
        self._adapters.clear()
        await asyncio.gather(*(a.stop() for a in adapters), *self._stopping)
        await self._http.close()
