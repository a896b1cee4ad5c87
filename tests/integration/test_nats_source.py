"""NatsSource against a real nats-server: wildcards, passthrough, wrapping, JetStream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import nats
import pytest
from aiohttp import web
from tests.integration.eventing_harness import Sink
from tests.natsserver import NatsServer

from shoal.api.catalog import default_catalog
from shoal.client.inprocess import InProcessClient
from shoal.controllers.manager import Manager
from shoal.eventing import codec
from shoal.eventing.event import CloudEvent
from shoal.sources.nats import NatsSources

NATSSOURCES = default_catalog().require("natssources")


class SourceHarness:
    def __init__(self, api_server: Any, nats_url: str) -> None:
        self.client = InProcessClient(api_server.registry)
        self.manager = Manager(self.client, resync_period=None)
        self.sources = NatsSources(self.client)
        self.nats_url = nats_url

    async def start(self) -> SourceHarness:
        self.manager.add(self.sources.reconciler)
        await self.manager.start(timeout=10)
        return self

    async def stop(self) -> None:
        await self.manager.stop()
        await self.sources.stop()

    async def source(self, name: str, sink: str, **spec: Any) -> dict[str, Any]:
        await self.client.create(NATSSOURCES, {
            "apiVersion": "sources.knative.dev/v1alpha1", "kind": "NatsSource",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"servers": self.nats_url, "sink": {"uri": sink}, **spec}})
        for _ in range(400):
            obj = await self.client.get(NATSSOURCES, name, "default")
            conds = (obj.get("status") or {}).get("conditions") or []
            if any(c["type"] == "Ready" and c["status"] == "True" for c in conds):
                return obj
            await asyncio.sleep(0.05)
        raise AssertionError(f"natssource {name} not ready: {obj.get('status')}")


@pytest.fixture
async def nats_server(tmp_path: Path) -> AsyncIterator[NatsServer]:
    server = NatsServer(tmp_path / "nats").start()
    yield server
    server.kill()


@pytest.fixture
async def sources(api_server: Any, nats_server: NatsServer) -> AsyncIterator[SourceHarness]:
    harness = await SourceHarness(api_server, nats_server.url).start()
    yield harness
    await harness.stop()


@pytest.fixture
async def sink() -> AsyncIterator[Sink]:
    s = await Sink().start()
    yield s
    await s.stop()


async def test_core_subjects_with_wildcards(sources: SourceHarness, nats_server: NatsServer,
                                            sink: Sink) -> None:
    one = await sources.source("one", f"{sink.url}one", subject="orders.*")
    await sources.source("rest", f"{sink.url}rest", subject="orders.>", queueGroup="q")
    assert one["status"]["sinkUri"] == f"{sink.url}one"
    assert one["status"]["ceAttributes"] == [{
        "type": "dev.knative.nats.event",
        "source": "/apis/v1/namespaces/default/natssources/one#orders.*"}]
    nc = await nats.connect(nats_server.url)
    try:
        for subject in ("orders.a", "orders.b", "orders.a.deep", "other.c"):
            await nc.publish(subject, subject.encode())
        await nc.flush()
    finally:
        await nc.close()
    await sink.wait_for(5)
    await asyncio.sleep(0.2)
    got = sorted((e.attributes["source"].rsplit("/", 1)[1], e.attributes["subject"])
                 for e in sink.events)
    assert got == [("one#orders.*", "orders.a"), ("one#orders.*", "orders.b"),
                   ("rest#orders.>", "orders.a"), ("rest#orders.>", "orders.a.deep"),
                   ("rest#orders.>", "orders.b")]


async def test_cloudevents_pass_through_and_others_are_wrapped(
        sources: SourceHarness, nats_server: NatsServer, sink: Sink) -> None:
    await sources.source("mixed", sink.url, subject="in",
                         ceOverrides={"extensions": {"team": "red"}})
    ce = CloudEvent({"specversion": "1.0", "id": "ce-1", "type": "com.example.x",
                     "source": "/producer", "datacontenttype": "application/json"}, b'{"a":1}')
    binary_headers, binary_body = codec.to_binary(ce)
    nc = await nats.connect(nats_server.url)
    try:
        await nc.publish("in", binary_body, headers=dict(binary_headers))
        await nc.publish("in", b"plain text", headers={"Content-Type": "text/plain",
                                                       "X-Order": "7"})
        await nc.flush()
    finally:
        await nc.close()
    got = await sink.wait_for(2)
    passed = next(e for e in got if e.id == "ce-1")
    assert passed.attributes == {**ce.attributes, "team": "red"}
    assert passed.data == b'{"a":1}'
    wrapped = next(e for e in got if e.id != "ce-1")
    assert wrapped.type == "dev.knative.nats.event"
    assert wrapped.source == "/apis/v1/namespaces/default/natssources/mixed#in"
    assert wrapped.attributes["subject"] == "in"
    assert wrapped.attributes["datacontenttype"] == "text/plain"
    assert wrapped.attributes["natsheaderxorder"] == "7"
    assert wrapped.attributes["team"] == "red"
    assert wrapped.data == b"plain text"


async def test_jetstream_acks_only_what_the_sink_took(
        sources: SourceHarness, nats_server: NatsServer) -> None:
    refusing = True
    accepted: set[str] = set()

    async def respond(event: CloudEvent, n: int) -> web.Response:
        if refusing:
            return web.Response(status=503)
        accepted.add(event.id)
        return web.Response(status=200)

    sink = await Sink(respond).start()
    nc = await nats.connect(nats_server.url)
    try:
        js = nc.jetstream()
        await js.add_stream(name="ORDERS", subjects=["orders.>"])
        for i in range(5):
            await js.publish("orders.new", f"order {i}".encode())
        await sources.source("js", sink.url, subject="orders.>",
                             jetstream={"stream": "ORDERS", "consumer": "shoal-js"})
        await sink.wait_for(6)  # the first message, refused through its retries
        refusing = False
        for _ in range(600):
            if {"1", "2", "3", "4", "5"} <= accepted:
                break
            await asyncio.sleep(0.05)
        assert {"1", "2", "3", "4", "5"} <= accepted  # stream sequences are the ids
        info = await js.consumer_info("ORDERS", "shoal-js")
        for _ in range(100):
            if info.num_ack_pending == 0:
                break
            await asyncio.sleep(0.05)
            info = await js.consumer_info("ORDERS", "shoal-js")
        assert info.num_ack_pending == 0 and info.num_pending == 0
    finally:
        await nc.close()
        await sink.stop()
