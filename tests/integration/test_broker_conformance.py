"""Broker and Trigger, shaped on Knative's broker conformance: control plane and data plane."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from tests.integration.eventing_harness import TRIGGERS, EventingHarness, Sink, event
from tests.natsserver import NatsServer

from shoal.api.catalog import default_catalog
from shoal.api.errors import Invalid
from shoal.eventing import codec
from shoal.eventing.event import CloudEvent


@pytest.fixture(params=["SQLiteBroker", "SQLiteBroker/dispatcher", "NatsJetStreamBroker"])
async def eventing(request: pytest.FixtureRequest, api_server: Any,
                   tmp_path: Path) -> AsyncIterator[EventingHarness]:
    """The suite runs against the embedded class (its consumers beside the ingress, and in
    a dispatch plane of their own, as ``shoal up`` runs them) and against JetStream (a real
    server)."""
    broker_class, _, where = request.param.partition("/")
    nats = None
    if broker_class == "NatsJetStreamBroker":
        nats = NatsServer(tmp_path / "nats").start()
    harness = EventingHarness(api_server.registry, tmp_path, broker_class=broker_class,
                              nats_url=nats.url if nats else None, split=where == "dispatcher")
    try:
        yield await harness.start()
    finally:
        await harness.stop()
        if nats is not None:
            nats.kill()


@pytest.fixture
async def sink() -> AsyncIterator[Sink]:
    s = await Sink().start()
    yield s
    await s.stop()


async def send_numbered(eventing: EventingHarness, count: int) -> None:
    """Events with ids 0 .. count - 1 into the broker "default", in that order."""
    for i in range(count):
        await eventing.send("default", event(str(i)))


def condition(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    return next(c for c in obj["status"]["conditions"] if c["type"] == type_)


# -- control plane ----------------------------------------------------------------------


async def test_broker_becomes_ready_with_an_address(eventing: EventingHarness) -> None:
    broker = await eventing.broker("default")
    assert broker["status"]["address"]["url"] == eventing.address("default")
    assert broker["metadata"]["annotations"]["eventing.knative.dev/broker.class"] == (
        eventing.broker_class)
    for type_ in ("Addressable", "IngressReady", "FilterReady", "TriggerChannelReady"):
        assert condition(broker, type_)["status"] == "True"
    assert broker["spec"]["delivery"] == {"retry": 10, "backoffPolicy": "exponential",
                                          "backoffDelay": "PT0.2S"}


async def test_broker_class_is_immutable(eventing: EventingHarness) -> None:
    await eventing.broker("b1")
    with pytest.raises(Invalid) as err:
        await eventing.client.patch(
            eventing.plane.brokers.rt, "b1", "default",
            {"metadata": {"annotations": {"eventing.knative.dev/broker.class": "Other"}}})
    assert "broker.class" in str(err.value)


@pytest.mark.parametrize("attribute", ["SOURCE", "s-pace", "123"])
async def test_invalid_filter_attribute_names_are_refused(
        eventing: EventingHarness, sink: Sink, attribute: str) -> None:
    with pytest.raises(Invalid) as err:
        await eventing.trigger("bad", "default", sink.url, wait=False,
                               filter={"attributes": {attribute: "x"}})
    assert "spec.filter.attributes" in str(err.value)


async def test_dead_letter_sink_is_resolved_into_status(
        eventing: EventingHarness, sink: Sink) -> None:
    broker = await eventing.broker("dls", delivery={"deadLetterSink": {"uri": sink.url}})
    assert broker["status"]["deadLetterSinkUri"] == sink.url
    trigger = await eventing.trigger("t", "dls", sink.url)
    assert trigger["status"]["deadLetterSinkUri"] == sink.url


async def test_trigger_before_broker_becomes_ready_later(
        eventing: EventingHarness, sink: Sink) -> None:
    await eventing.trigger("early", "later", sink.url, wait=False)
    await asyncio.sleep(0.3)
    trigger = await eventing.client.get(TRIGGERS, "early", "default")
    broker_ready = condition(trigger, "BrokerReady")
    assert broker_ready["status"] == "False" and broker_ready["reason"] == "BrokerDoesNotExist"
    await eventing.broker("later")
    trigger = await eventing.ready("triggers", "early")
    assert trigger["status"]["subscriberUri"] == sink.url


# -- data plane -------------------------------------------------------------------------


async def test_binary_and_structured_events_are_delivered(
        eventing: EventingHarness, sink: Sink) -> None:
    await eventing.broker("default")
    await eventing.trigger("all", "default", sink.url)
    assert await eventing.send("default", event("b1", data={"item": 7})) == 202
    assert await eventing.send("default", event("s1", data={"item": 8}),
                               structured=True) == 202
    got = await sink.wait_for(2)
    assert {e.id for e in got} == {"b1", "s1"}
    first = next(e for e in got if e.id == "b1")
    assert json.loads(first.data or b"") == {"item": 7}
    assert first.attributes["knativearrivaltime"]
    assert "Prefer" in sink.headers[0] or "prefer" in {h.lower() for h in sink.headers[0]}


async def test_ingress_answers_like_knative(eventing: EventingHarness) -> None:
    await eventing.broker("default")
    assert eventing.http is not None
    url = eventing.address("default")
    async with eventing.http.post(url, data=b"{}", headers={
            "Content-Type": "application/cloudevents+json"}) as resp:
        assert resp.status == 400
    async with eventing.http.post(url, data=b"", headers={
            "ce-specversion": "1.0", "ce-type": "t", "ce-source": "/s"}) as resp:
        assert resp.status == 400  # no id
    async with eventing.http.post(eventing.address("nope"), data=b"", headers={
            "ce-specversion": "1.0", "ce-id": "1", "ce-type": "t", "ce-source": "/s"}) as resp:
        assert resp.status == 404
    async with eventing.http.get(url) as resp:
        assert resp.status == 405
    async with eventing.http.options(url, headers={
            "WebHook-Request-Origin": "example.com"}) as resp:
        assert resp.status == 200
        assert resp.headers["WebHook-Allowed-Origin"] == "example.com"


async def test_filters_route_events_to_matching_triggers(eventing: EventingHarness) -> None:
    orders, big, everything = Sink(), Sink(), Sink()
    for s in (orders, big, everything):
        await s.start()
    try:
        await eventing.broker("default")
        await eventing.trigger("orders", "default", orders.url,
                               filter={"attributes": {"type": "com.example.order"}})
        await eventing.trigger("big", "default", big.url, filters=[
            {"cesql": "type LIKE 'com.example.%' AND amount > 100"}])
        await eventing.trigger("all", "default", everything.url)
        await eventing.send("default", event("1", amount="120"))
        await eventing.send("default", event("2", type_="com.example.refund", amount="5"))
        await everything.wait_for(2)
        await orders.wait_for(1)
        await big.wait_for(1)
        await asyncio.sleep(0.2)
        assert [e.id for e in orders.events] == ["1"]
        assert [e.id for e in big.events] == ["1"]
    finally:
        for s in (orders, big, everything):
            await s.stop()


async def test_reply_from_one_trigger_is_matched_by_another(eventing: EventingHarness) -> None:
    async def reply(ev: CloudEvent, n: int) -> web.Response:
        headers, body = codec.to_binary(event(f"reply-{ev.id}", type_="com.example.shipped"))
        return web.Response(status=200, body=body, headers=headers)

    shipper, audit = Sink(reply), Sink()
    await shipper.start()
    await audit.start()
    try:
        await eventing.broker("default")
        await eventing.trigger("ship", "default", shipper.url,
                               filter={"attributes": {"type": "com.example.order"}})
        await eventing.trigger("audit", "default", audit.url,
                               filter={"attributes": {"type": "com.example.shipped"}})
        await eventing.send("default", event("o1"))
        (got,) = await audit.wait_for(1)
        assert got.id == "reply-o1"
        assert int(got.attributes["knativebrokerttl"]) == 254
    finally:
        await shipper.stop()
        await audit.stop()


async def test_retries_are_counted_per_trigger_delivery(eventing: EventingHarness) -> None:
    async def flaky(ev: CloudEvent, n: int) -> web.Response:
        return web.Response(status=503 if n <= 2 else 200)

    s = await Sink(flaky).start()
    try:
        await eventing.broker("default", delivery={"retry": 0})
        await eventing.trigger("t", "default", s.url, delivery={
            "retry": 3, "backoffPolicy": "linear", "backoffDelay": "PT0.01S"})
        await eventing.send("default", event("r1"))
        await s.wait_for(3)
        await asyncio.sleep(0.2)
        assert len(s.events) == 3  # two failures, then success; no more
    finally:
        await s.stop()


async def test_dead_letter_extensions(eventing: EventingHarness, sink: Sink) -> None:
    async def fail_with_body(ev: CloudEvent, n: int) -> web.Response:
        return web.Response(status=500, text="boom")

    async def fail_bare(ev: CloudEvent, n: int) -> web.Response:
        return web.Response(status=500)

    failing, bare = Sink(fail_with_body), Sink(fail_bare)
    await failing.start()
    await bare.start()
    try:
        delivery = {"retry": 1, "backoffPolicy": "linear", "backoffDelay": "PT0.01S",
                    "deadLetterSink": {"uri": sink.url}}
        await eventing.broker("default")
        await eventing.trigger("down", "default", "http://127.0.0.1:9/",
                               delivery=delivery, filters=[{"exact": {"type": "down"}}])
        await eventing.trigger("body", "default", failing.url, delivery=delivery,
                               filters=[{"exact": {"type": "body"}}])
        await eventing.trigger("bare", "default", bare.url, delivery=delivery,
                               filters=[{"exact": {"type": "bare"}}])
        for t in ("down", "body", "bare"):
            await eventing.send("default", event(t, type_=t))
        got = {e.type: e for e in await sink.wait_for(3, timeout=20)}
        assert got["down"].attributes["knativeerrordest"] == "http://127.0.0.1:9/"
        assert "knativeerrorcode" not in got["down"].attributes
        assert str(got["body"].attributes["knativeerrorcode"]) == "500"
        assert base64.b64decode(got["body"].attributes["knativeerrordata"]) == b"boom"
        assert str(got["bare"].attributes["knativeerrorcode"]) == "500"
        assert not got["bare"].attributes.get("knativeerrordata")
    finally:
        await failing.stop()
        await bare.stop()


async def test_a_large_payload_is_delivered_once(eventing: EventingHarness, sink: Sink) -> None:
    await eventing.broker("default")
    await eventing.trigger("t", "default", sink.url)
    payload = {"blob": "x" * (36_864 - 12)}
    assert await eventing.send("default", event("big", data=payload)) == 202
    (got,) = await sink.wait_for(1)
    await asyncio.sleep(0.3)
    assert len(sink.events) == 1
    assert json.loads(got.data or b"") == payload


async def test_ttl_stops_a_reply_loop(eventing: EventingHarness) -> None:
    async def echo(ev: CloudEvent, n: int) -> web.Response:
        headers, body = codec.to_binary(event(f"{ev.id}+", type_=ev.type))
        return web.Response(status=200, body=body, headers=headers)

    loop = await Sink(echo).start()
    try:
        await eventing.broker("default")
        await eventing.trigger("loop", "default", loop.url)
        await eventing.send("default", event("x", knativebrokerttl=5))
        await loop.wait_for(5)
        await asyncio.sleep(0.5)
        assert len(loop.events) == 5  # TTL 5, 4, 3, 2, 1 then dropped
    finally:
        await loop.stop()


async def test_fan_out_to_many_triggers(eventing: EventingHarness, sink: Sink) -> None:
    await eventing.broker("default")
    for i in range(20):
        await eventing.trigger(f"t{i}", "default", f"{sink.url}t{i}")
    await eventing.send("default", event("fan"))
    await sink.wait_for(20)
    await asyncio.sleep(0.2)
    assert len(sink.events) == 20


async def test_ordered_mode_keeps_log_order(eventing: EventingHarness) -> None:
    async def slow_first(ev: CloudEvent, n: int) -> web.Response:
        if n == 1:
            await asyncio.sleep(0.2)
        return web.Response(status=200)

    s = await Sink(slow_first).start()
    try:
        await eventing.broker("default")
        await eventing.trigger("ordered", "default", s.url,
                               annotations={"shoal.dev/delivery-order": "ordered"})
        await send_numbered(eventing, 20)
        got = await s.wait_for(20)
        assert [e.id for e in got] == [str(i) for i in range(20)]
    finally:
        await s.stop()


async def test_event_types_are_recorded_per_broker(eventing: EventingHarness) -> None:
    await eventing.broker("default")
    await eventing.send("default", event("1", type_="com.example.a"))
    await eventing.send("default", event("2", type_="com.example.a"))
    await eventing.send("default", event("3", type_="com.example.b"))
    eventtypes = default_catalog().require("eventtypes")
    items: list[dict[str, Any]] = []
    for _ in range(100):
        items = (await eventing.client.list(eventtypes, "default")).items
        if len(items) == 2:
            break
        await asyncio.sleep(0.02)
    assert sorted(i["spec"]["type"] for i in items) == ["com.example.a", "com.example.b"]
    for item in items:
        assert item["spec"]["reference"]["name"] == "default"
        ready = await eventing.ready("eventtypes", item["metadata"]["name"])
        assert condition(ready, "ReferenceExists")["status"] == "True"


async def test_in_flight_limit_bounds_concurrent_deliveries(eventing: EventingHarness) -> None:
    in_flight = peak = 0

    async def slow(ev: CloudEvent, n: int) -> web.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.05)
        in_flight -= 1
        return web.Response(status=200)

    s = await Sink(slow).start()
    try:
        await eventing.broker("default")
        await eventing.trigger("limited", "default", s.url,
                               annotations={"shoal.dev/max-in-flight": "2"})
        await send_numbered(eventing, 10)
        await s.wait_for(10)
        assert peak == 2
    finally:
        await s.stop()


async def test_a_trigger_at_its_in_flight_limit_does_not_hold_back_the_others(
        eventing: EventingHarness, sink: Sink) -> None:
    release = asyncio.Event()

    async def stuck(ev: CloudEvent, n: int) -> web.Response:
        await release.wait()
        return web.Response(status=202)

    slow = await Sink(stuck).start()
    try:
        await eventing.broker("default")
        await eventing.trigger("slow", "default", slow.url,
                               annotations={"shoal.dev/max-in-flight": "1"})
        await eventing.trigger("fast", "default", sink.url)
        await send_numbered(eventing, 20)
        fast = await sink.wait_for(20)
        assert sorted(int(e.id) for e in fast) == list(range(20))
        assert len(slow.events) == 1  # the one in flight, holding its Trigger back
        release.set()
        got = await slow.wait_for(20)
        assert sorted(int(e.id) for e in got) == list(range(20))
    finally:
        release.set()
        await slow.stop()


async def test_triggers_of_one_broker_each_get_exactly_what_matches(
        eventing: EventingHarness) -> None:
    sinks = [await Sink().start() for _ in range(3)]
    try:
        await eventing.broker("default")
        for i, s in enumerate(sinks):
            await eventing.trigger(f"t{i}", "default", s.url,
                                   filter={"attributes": {"type": f"com.example.{i}"}})
        for n in range(30):
            await eventing.send("default", event(str(n), type_=f"com.example.{n % 3}"))
        for i, s in enumerate(sinks):
            got = await s.wait_for(10)
            assert sorted(int(e.id) for e in got) == [n for n in range(30) if n % 3 == i]
        await asyncio.sleep(0.2)  # nothing more arrives
        assert [len(s.events) for s in sinks] == [10, 10, 10]
    finally:
        for s in sinks:
            await s.stop()


async def test_a_subscriber_that_closes_idle_connections_gets_each_event_once(
        eventing: EventingHarness) -> None:
    s = await Sink(keepalive_timeout=0.05).start()
    try:
        await eventing.broker("default")
        await eventing.trigger("t", "default", s.url)
        for i in range(4):
            await eventing.send("default", event(str(i)))
            await s.wait_for(i + 1)
            await asyncio.sleep(0.15)  # the subscriber has closed the pooled connection
        assert [e.id for e in s.events] == ["0", "1", "2", "3"]
    finally:
        await s.stop()
