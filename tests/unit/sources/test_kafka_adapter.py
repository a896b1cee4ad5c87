"""The Kafka adapter against a fake consumer and a fake HTTP client: what it commits, when.

``FakeConsumer`` plays a consumer-group member (one partition, records handed out in
batches); ``FakeHTTP`` answers deliveries with the statuses a test lists. Both write to one
journal, so a test reads the order of deliveries and commits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from aiokafka.errors import KafkaConnectionError, KafkaError  # type: ignore[import-untyped]
from aiokafka.structs import TopicPartition  # type: ignore[import-untyped]

from shoal.controllers.clock import FakeClock, SystemClock
from shoal.eventing.backoff import RetryPolicy
from shoal.eventing.delivery import Deliverer
from shoal.eventing.httpclient import HTTPClient
from shoal.sources.kafka_adapter import KafkaAdapter, KafkaPlan

TP = TopicPartition("orders", 0)
PLAN = KafkaPlan("uid", "default", "orders", ("127.0.0.1:9092",), ("orders",), "g",
                 "earliest", 1, "http://127.0.0.1:9/sink")


@dataclass
class Record:
    offset: int
    value: bytes
    topic: str = "orders"
    partition: int = 0
    timestamp: int = 0
    key: bytes | None = None
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass
class FakeConsumer:
    journal: list[str]
    batches: list[list[Record]]
    committed_offset: int | None = None
    unreachable: bool = False
    brokers_gone: bool = False
    drained: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> None:
        if self.unreachable:
            raise KafkaConnectionError("Unable to bootstrap from [('127.0.0.1', 9092)]")

    def subscribe(self, topics: list[str]) -> None:
        self.journal.append(f"subscribe {','.join(topics)}")

    async def getmany(self, timeout_ms: int, max_records: int) -> dict[Any, list[Record]]:
        if not self.batches:
            self.drained.set()
            await asyncio.sleep(min(timeout_ms / 1000, 0.01))
            return {}
        return {TP: self.batches.pop(0)}

    async def topics(self) -> set[str]:
        if self.brokers_gone:
            raise KafkaError("Unable to get cluster metadata over all known brokers")
        return {"orders"}

    def assignment(self) -> frozenset[Any]:
        return frozenset({TP})

    async def committed(self, tp: Any) -> int | None:
        return self.committed_offset

    async def position(self, tp: Any) -> int:
        return 0

    async def commit(self, offsets: Mapping[Any, int]) -> None:
        ((_, offset),) = offsets.items()
        self.committed_offset = offset
        self.journal.append(f"commit {offset}")

    async def stop(self) -> None:
        self.journal.append("stop")


class FakeHTTP(HTTPClient):
    def __init__(self, journal: list[str], statuses: list[int]) -> None:
        super().__init__()
        self.journal = journal
        self.statuses = statuses

    async def post(self, url: str, headers: Mapping[str, str],
                   body: bytes) -> tuple[int, dict[str, str], bytes]:
        status = self.statuses.pop(0) if self.statuses else 200
        self.journal.append(f"post {headers['ce-id']} {status}")
        return status, {}, b""


async def run(consumer: FakeConsumer, journal: list[str], statuses: list[int],
              plan: KafkaPlan = PLAN) -> KafkaAdapter:
    notified: list[str] = []
    adapter = KafkaAdapter("default/orders", plan,
                           Deliverer(FakeHTTP(journal, statuses), SystemClock()),
                           notified.append, SystemClock(), lambda plan, index: consumer)
    adapter.start()
    try:
        await asyncio.wait_for(consumer.drained.wait(), 10)
    finally:
        await adapter.stop()
    return adapter


async def test_offsets_are_committed_after_each_delivery_and_the_start_first() -> None:
    journal: list[str] = []
    consumer = FakeConsumer(journal, [[Record(5, b"a"), Record(6, b"b")], [Record(7, b"c")]])
    adapter = await run(consumer, journal, [])
    assert journal == [
        "subscribe orders",
        "commit 5",  # the initial offset, pinned before anything is delivered
        "post partition:0/offset:5 200", "commit 6",
        "post partition:0/offset:6 200", "commit 7",
        "post partition:0/offset:7 200", "commit 8",
        "stop",
    ]
    assert adapter.state.connected is True
    assert adapter.state.initial_offsets_committed is True


async def test_a_failing_sink_is_retried_before_the_commit() -> None:
    journal: list[str] = []
    consumer = FakeConsumer(journal, [[Record(0, b"a")]], committed_offset=0)
    await run(consumer, journal, [500, 503, 200],
              replace(PLAN, policy=RetryPolicy(retry=3)))
    assert journal == [
        "subscribe orders",
        "post partition:0/offset:0 500", "post partition:0/offset:0 503",
        "post partition:0/offset:0 200", "commit 1",
        "stop",
    ]


async def test_an_event_given_up_on_is_committed_as_knative_does() -> None:
    journal: list[str] = []
    consumer = FakeConsumer(journal, [[Record(0, b"a")]], committed_offset=0)
    await run(consumer, journal, [500])
    assert journal[1:] == ["post partition:0/offset:0 500", "commit 1", "stop"]


async def test_unreachable_brokers_are_reported_and_stop_is_prompt() -> None:
    journal: list[str] = []
    consumer = FakeConsumer(journal, [], unreachable=True)
    notified: list[str] = []
    adapter = KafkaAdapter("default/orders", PLAN,
                           Deliverer(FakeHTTP(journal, []), SystemClock()),
                           notified.append, SystemClock(), lambda plan, index: consumer)
    adapter.start()
    for _ in range(200):
        if adapter.state.connected is False:
            break
        await asyncio.sleep(0.01)
    assert adapter.state.connected is False
    assert "Unable to bootstrap" in adapter.state.error
    assert notified == ["default/orders"]
    await asyncio.wait_for(adapter.stop(grace=30), 5)  # not held by the reconnect pause


async def test_each_member_gets_its_own_consumer() -> None:
    plan_consumers = 2
    journal: list[str] = []
    made: list[int] = []
    consumers = [FakeConsumer(journal, []) for _ in range(plan_consumers)]

    def make(plan: KafkaPlan, index: int) -> FakeConsumer:
        made.append(index)
        return consumers[index]

    plan = replace(PLAN, consumers=plan_consumers)
    adapter = KafkaAdapter("default/orders", plan, Deliverer(FakeHTTP(journal, []),
                                                             SystemClock()),
                           lambda key: None, SystemClock(), make)
    adapter.start()
    await asyncio.wait_for(asyncio.gather(*(c.drained.wait() for c in consumers)), 10)
    assert adapter.state.members == plan_consumers
    await adapter.stop()
    assert sorted(made) == list(range(plan_consumers))


async def test_unordered_sends_a_batch_at_once_and_commits_it_once() -> None:
    journal: list[str] = []
    consumer = FakeConsumer(journal, [[Record(0, b"a"), Record(1, b"b"), Record(2, b"c")]],
                            committed_offset=0)
    await run(consumer, journal, [], replace(PLAN, ordered=False))
    posts = sorted(entry for entry in journal if entry.startswith("post"))
    assert posts == [f"post partition:0/offset:{i} 200" for i in range(3)]
    assert [entry for entry in journal if entry.startswith("commit")] == ["commit 3"]
    assert journal.index("commit 3") > max(journal.index(p) for p in posts)


async def test_brokers_that_go_away_later_are_reported_and_their_return_too() -> None:
    journal: list[str] = []
    consumer = FakeConsumer(journal, [], committed_offset=0)
    clock = FakeClock()
    adapter = KafkaAdapter("default/orders", PLAN, Deliverer(FakeHTTP(journal, []), clock),
                           lambda key: None, clock, lambda plan, index: consumer)
    adapter.start()
    try:
        await asyncio.wait_for(consumer.drained.wait(), 10)
        assert adapter.state.connected is True
        consumer.brokers_gone = True
        await until(clock, lambda: adapter.state.connected is False)
        assert "cluster metadata" in adapter.state.error
        consumer.brokers_gone = False
        await until(clock, lambda: adapter.state.connected is True)
    finally:
        await adapter.stop()


async def until(clock: FakeClock, done: Any) -> None:
    """Advance the clock past the broker check until ``done()`` (a bounded number of times)."""
    for _ in range(50):
        if done():
            return
        await clock.advance(1.0)
        await asyncio.sleep(0.02)  # the fake consumer's poll runs on the loop's own time
    raise AssertionError("the adapter did not notice")
