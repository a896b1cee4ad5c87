"""A NatsSource on JetStream across a ``shoal up`` restart: nothing published meanwhile is lost."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import nats
import pytest
from tests.e2e.test_broker_durability import post
from tests.integration.eventing_harness import Sink
from tests.natsserver import NatsServer

from shoal.testing import ShoalProcess

pytestmark = pytest.mark.e2e

NATSSOURCES = "/apis/sources.knative.dev/v1alpha1/namespaces/default/natssources"


async def until_delivered(sink: Sink, payloads: set[bytes]) -> None:
    for _ in range(1200):  # at most about a minute
        if payloads <= {e.data for e in sink.events}:
            return
        await asyncio.sleep(0.05)
    missing = payloads - {e.data for e in sink.events}
    raise AssertionError(f"{len(missing)} messages never delivered")


async def test_durable_consumer_survives_a_restart(tmp_path: Path) -> None:
    nats_server = NatsServer(tmp_path / "nats").start()
    sink = await Sink().start()
    shoal = ShoalProcess(tmp_path / "data", "--log-level", "warning").start()
    nc = await nats.connect(nats_server.url)
    try:
        js = nc.jetstream()
        await js.add_stream(name="ORDERS", subjects=["orders.>"])
        async with aiohttp.ClientSession() as http:
            await post(http, shoal.url + NATSSOURCES, {
                "apiVersion": "sources.knative.dev/v1alpha1", "kind": "NatsSource",
                "metadata": {"name": "orders"},
                "spec": {"servers": [nats_server.url], "subject": "orders.>",
                         "jetstream": {"stream": "ORDERS"}, "sink": {"uri": sink.url}}})
        before = {f"before {i}".encode() for i in range(50)}
        for payload in sorted(before):
            await js.publish("orders.new", payload)
        await until_delivered(sink, before)

        assert shoal.stop() == 0
        during = {f"during {i}".encode() for i in range(50)}
        for payload in sorted(during):
            await js.publish("orders.new", payload)
        shoal.start()
        await until_delivered(sink, before | during)
        ids = [e.id for e in sink.events]
        assert len(set(ids)) == 100  # one event per stream sequence
    finally:
        await nc.close()
        shoal.kill()
        await sink.stop()
        nats_server.kill()
