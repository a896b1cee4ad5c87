"""NatsJetStreamBroker against a real nats-server: readiness, streams and consumers, restarts.

The delivery semantics (filters, retries, dead-letter sinks, replies, ordering) are checked by
the broker conformance suite, which runs against this class too.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import nats
import nats.js.errors
import pytest
from tests.integration.eventing_harness import BROKERS, TRIGGERS, EventingHarness, Sink, event
from tests.natsserver import NatsServer, free_port

from shoal.api.catalog import default_catalog
from shoal.eventing.jetstream import consumer_name, stream_name

NATS = "NatsJetStreamBroker"


async def harness_for(api_server: Any, tmp_path: Path, url: str) -> EventingHarness:
    return await EventingHarness(api_server.registry, tmp_path, broker_class=NATS,
                                 nats_url=url).start()


def condition(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    return next(c for c in (obj.get("status") or {}).get("conditions") or []
                if c["type"] == type_)


async def eventually(check: Any, what: str, attempts: int = 300) -> Any:
    """Poll an async ``check`` every 50 ms until it returns something true."""
    for _ in range(attempts):
        value = await check()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"never: {what}")


async def stream_exists(url: str, stream: str) -> bool:
    nc = await nats.connect(url)
    try:
        await nc.jetstream().stream_info(stream)
        return True
    except nats.js.errors.NotFoundError:
        return False
    finally:
        await nc.close()


async def consumer_exists(url: str, stream: str, consumer: str) -> bool:
    nc = await nats.connect(url)
    try:
        await nc.jetstream().consumer_info(stream, consumer)
        return True
    except nats.js.errors.NotFoundError:
        return False
    finally:
        await nc.close()


@pytest.fixture
async def sink() -> AsyncIterator[Sink]:
    s = await Sink().start()
    yield s
    await s.stop()


async def test_broker_waits_for_nats_then_owns_its_stream(
        api_server: Any, tmp_path: Path, sink: Sink) -> None:
    server = NatsServer(tmp_path / "nats", free_port())  # not started yet
    eventing = await harness_for(api_server, tmp_path, server.url)
    try:
        await eventing.create("brokers", {
            "apiVersion": "eventing.knative.dev/v1", "kind": "Broker",
            "metadata": {"name": "orders", "annotations": {
                "eventing.knative.dev/broker.class": NATS}}})

        async def unreachable() -> bool:
            broker = await eventing.client.get(BROKERS, "orders", "default")
            try:
                cond = condition(broker, "TriggerChannelReady")
            except StopIteration:
                return False
            return bool(cond["status"] == "False" and cond["reason"] == "NatsUnreachable")

        await eventually(unreachable, "the broker reports NATS unreachable")
        broker = await eventing.client.get(BROKERS, "orders", "default")
        assert condition(broker, "Ready")["status"] == "False"
        assert server.url.removeprefix("nats://") in condition(broker, "Ready")["message"]

        server.start()
        await eventing.ready("brokers", "orders", timeout=20)
        stream = stream_name("default", "orders")
        assert await stream_exists(server.url, stream)

        trigger = await eventing.trigger("audit", "orders", sink.url)
        durable = consumer_name(trigger["metadata"]["uid"])
        assert await consumer_exists(server.url, stream, durable)
        assert await eventing.send("orders", event("e1")) == 202
        (got,) = await sink.wait_for(1)
        assert got.id == "e1"

        await eventing.client.delete(TRIGGERS, "audit", "default")

        async def consumer_gone() -> bool:
            return not await consumer_exists(server.url, stream, durable)

        await eventually(consumer_gone, "the trigger's consumer is deleted")
        await eventing.client.delete(BROKERS, "orders", "default")

        async def stream_gone() -> bool:
            return not await stream_exists(server.url, stream)

        await eventually(stream_gone, "the broker's stream is deleted")
    finally:
        await eventing.stop()
        server.kill()


async def test_replicas_come_from_the_config_map_with_clear_reasons(
        api_server: Any, tmp_path: Path) -> None:
    server = NatsServer(tmp_path / "nats").start()
    eventing = await harness_for(api_server, tmp_path, server.url)
    try:
        await eventing.create("configmaps", {
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "nats-broker"},
            "data": {"replicas": "three"}})
        await eventing.create("brokers", {
            "apiVersion": "eventing.knative.dev/v1", "kind": "Broker",
            "metadata": {"name": "b", "annotations": {
                "eventing.knative.dev/broker.class": NATS}},
            "spec": {"config": {"apiVersion": "v1", "kind": "ConfigMap",
                                "name": "nats-broker"}}})

        async def refused(reason: str) -> dict[str, Any] | None:
            broker = await eventing.client.get(BROKERS, "b", "default")
            conds = (broker.get("status") or {}).get("conditions") or []
            found = [c for c in conds if c["type"] == "TriggerChannelReady"
                     and c["status"] == "False" and c["reason"] == reason]
            return found[0] if found else None

        cond = await eventually(lambda: refused("InvalidConfig"), "the config is refused")
        assert "replicas must be a positive integer" in cond["message"]
        configmaps = default_catalog().require("configmaps")
        await eventing.client.patch(configmaps, "nats-broker", "default",
                                    {"data": {"replicas": "3"}})
        cond = await eventually(lambda: refused("StreamNotReady"), "JetStream refuses 3")
        assert "replicas > 1 not supported" in cond["message"]
        await eventing.client.patch(configmaps, "nats-broker", "default",
                                    {"data": {"replicas": "1"}})
        await eventing.ready("brokers", "b", timeout=20)
    finally:
        await eventing.stop()
        server.kill()


async def test_nats_server_restart_mid_stream_loses_no_acknowledged_event(
        api_server: Any, tmp_path: Path, sink: Sink) -> None:
    total = 2000
    server = NatsServer(tmp_path / "nats").start()
    eventing = await harness_for(api_server, tmp_path, server.url)
    acked: set[str] = set()
    refused: dict[str, int] = {}
    try:
        await eventing.broker("default")
        await eventing.trigger("all", "default", sink.url)
        ids = iter(range(total))
        some_acked = asyncio.Event()

        async def sender() -> None:
            for i in ids:
                status = await eventing.send("default", event(str(i)))
                if status == 202:
                    acked.add(str(i))
                    if len(acked) >= 400:
                        some_acked.set()
                else:
                    refused[str(i)] = status

        senders = [asyncio.create_task(sender()) for _ in range(8)]
        await asyncio.wait_for(some_acked.wait(), 60)
        server.kill()
        await asyncio.sleep(1.0)
        server.start()
        await asyncio.wait_for(asyncio.gather(*senders), 120)

        async def all_delivered() -> bool:
            return acked <= {e.id for e in sink.events}

        await eventually(all_delivered, "every acknowledged event is delivered", 1200)
        assert len(acked) + len(refused) == total
        assert all(status >= 300 for status in refused.values())
        assert len(acked) >= 400
    finally:
        await eventing.stop()
        server.kill()
