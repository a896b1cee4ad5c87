"""Channels, Subscriptions, Sequences and Parallels end to end on one machine.

The real registry and in-process client, a controller manager running the channel and flow
reconcilers, and a ``ChannelPlane`` over an in-memory event log, its routes served on
127.0.0.1; subscribers, steps and filters are aiohttp servers on 127.0.0.1 as well.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from tests.integration.eventing_harness import Sink, event

from shoal.api.catalog import default_catalog
from shoal.client.inprocess import InProcessClient
from shoal.controllers.eventing.channel import channel_reconcilers
from shoal.controllers.manager import Manager
from shoal.eventing import codec
from shoal.eventing.channels import ChannelPlane
from shoal.eventing.event import CloudEvent
from shoal.eventing.httpserver import LeanHTTPServer
from shoal.eventing.memlog import MemoryEventLog

CATALOG = default_catalog()
MESSAGING = "messaging.knative.dev/v1"
FLOWS = "flows.knative.dev/v1"
WAIT = 10.0

Respond = Callable[[CloudEvent, int], Awaitable[web.Response]]


class ChannelWorld:
    """The control plane and the channel data plane, started and stopped together."""

    def __init__(self, registry: Any) -> None:
        self.client = InProcessClient(registry)
        self.manager = Manager(self.client, resync_period=None)
        self.log = MemoryEventLog()
        self.plane = ChannelPlane(self.client, self.manager.informers, self.log)
        self.http: aiohttp.ClientSession | None = None
        self.ingress = ""

    async def start(self) -> ChannelWorld:
        # the plane may be replaced (a restart), so the server asks for it on each request
        self.server = LeanHTTPServer(lambda request: self.plane.serve(request),
                                     "127.0.0.1", 0)
        await self.server.start()
        self.ingress = f"http://127.0.0.1:{self.server.port}"
        await self.plane.start()
        for reconciler in channel_reconcilers(self.client, self.ingress):
            self.manager.add(reconciler)
        await self.manager.start(timeout=WAIT)
        self.http = aiohttp.ClientSession()
        return self

    async def stop(self) -> None:
        if self.http is not None:
            await self.http.close()
        await self.manager.stop()
        await self.plane.stop()
        await self.server.stop()
        await self.log.close()

    async def create(self, kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        rt = CATALOG.require(kind)
        return await self.client.create(rt, {
            "apiVersion": rt.api_version, "kind": rt.kind,
            "metadata": {"name": name, "namespace": "default"}, "spec": spec})

    async def get(self, kind: str, name: str) -> dict[str, Any]:
        return await self.client.get(CATALOG.require(kind), name, "default")

    async def ready(self, kind: str, name: str) -> dict[str, Any]:
        """The object once its Ready condition is True (AssertionError after ``WAIT``)."""
        return await self.until(kind, name, lambda obj: _status(obj, "Ready") == "True")

    async def until(self, kind: str, name: str,
                    check: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        deadline = asyncio.get_running_loop().time() + WAIT
        while True:
            try:
                obj: dict[str, Any] | None = await self.get(kind, name)
            except Exception:
                obj = None
            if obj is not None and check(obj):
                return obj
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{kind}/{name}: {obj and obj.get('status')}")
            await asyncio.sleep(0.02)

    async def subscription(self, name: str, channel: str, *, kind: str = "Channel",
                           **spec: Any) -> dict[str, Any]:
        await self.create("subscriptions", name, {
            "channel": {"apiVersion": MESSAGING, "kind": kind, "name": channel}, **spec})
        return await self.ready("subscriptions", name)

    async def send(self, url: str, ev: CloudEvent) -> int:
        assert self.http is not None
        headers, body = codec.to_binary(ev)
        async with self.http.post(url, data=body, headers=headers) as resp:
            await resp.read()
            return resp.status


def _status(obj: dict[str, Any], type_: str) -> str | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond["type"] == type_:
            return str(cond["status"])
    return None


def reply_with(change: Callable[[CloudEvent], CloudEvent]) -> Respond:
    """A subscriber that answers every event with ``change(event)``, in binary mode."""

    async def respond(ev: CloudEvent, n: int) -> web.Response:
        headers, body = codec.to_binary(change(ev))
        return web.Response(status=200, headers=headers, body=body)

    return respond


def appending(suffix: str, new_type: str | None = None) -> Respond:
    """A step that appends ``suffix`` to the event's ``msg`` (and may change its type)."""

    def change(ev: CloudEvent) -> CloudEvent:
        out = ev.copy()
        data = json.loads(ev.data or b"{}")
        data["msg"] = f"{data.get('msg', '')}{suffix}"
        out.data = json.dumps(data).encode()
        out.attributes["datacontenttype"] = "application/json"
        if new_type is not None:
            out.attributes["type"] = new_type
        return out

    return reply_with(change)


def only(type_: str) -> Respond:
    """A Parallel filter: passes (echoes) events of ``type_``, drops the others."""

    async def respond(ev: CloudEvent, n: int) -> web.Response:
        if ev.type != type_:
            return web.Response(status=200)
        headers, body = codec.to_binary(ev)
        return web.Response(status=200, headers=headers, body=body)

    return respond


async def failing(ev: CloudEvent, n: int) -> web.Response:
    return web.Response(status=500, text="nope")


@pytest.fixture
async def world(api_server: Any) -> AsyncIterator[ChannelWorld]:
    w = await ChannelWorld(api_server.registry).start()
    try:
        yield w
    finally:
        await w.stop()


@pytest.fixture
async def sinks() -> AsyncIterator[Callable[..., Awaitable[Sink]]]:
    started: list[Sink] = []

    async def make(respond: Respond | None = None) -> Sink:
        s = await (Sink(respond) if respond is not None else Sink()).start()
        started.append(s)
        return s

    yield make
    for s in started:
        await s.stop()


# -- channels ------------------------------------------------------------------------------


async def test_channel_gets_a_backing_imc_and_its_address(world: ChannelWorld) -> None:
    await world.create("channels", "ch", {})
    channel = await world.ready("channels", "ch")
    url = f"{world.ingress}/channels/default/ch"
    assert channel["status"]["address"]["url"] == url
    assert channel["status"]["channel"] == {"apiVersion": MESSAGING, "kind": "InMemoryChannel",
                                            "name": "ch", "namespace": "default"}
    for type_ in ("Addressable", "BackingChannelReady", "DeadLetterSinkResolved"):
        assert _status(channel, type_) == "True"
    imc = await world.ready("inmemorychannels", "ch")
    (owner,) = imc["metadata"]["ownerReferences"]
    assert owner["kind"] == "Channel" and owner["uid"] == channel["metadata"]["uid"]
    for type_ in ("ServiceReady", "EndpointsReady", "ChannelServiceReady", "DispatcherReady"):
        assert _status(imc, type_) == "True"


async def test_channel_fans_out_to_every_subscription(
        world: ChannelWorld, sinks: Callable[..., Awaitable[Sink]]) -> None:
    a, b = await sinks(), await sinks()
    await world.create("channels", "ch", {})
    channel = await world.ready("channels", "ch")
    sub_a = await world.subscription("sub-a", "ch", subscriber={"uri": a.url})
    sub_b = await world.subscription("sub-b", "ch", subscriber={"uri": b.url})
    for sub in (sub_a, sub_b):
        for type_ in ("ReferencesResolved", "AddedToChannel", "ChannelReady"):
            assert _status(sub, type_) == "True"
    assert sub_a["status"]["physicalSubscription"]["subscriberUri"] == a.url

    url = channel["status"]["address"]["url"]
    assert await world.send(url, event("e1", data={"n": 1})) == 202
    (got_a,), (got_b,) = await a.wait_for(1), await b.wait_for(1)
    assert got_a.id == got_b.id == "e1"
    assert json.loads(got_a.data or b"") == {"n": 1}
    assert "knativebrokerttl" not in got_a.attributes
    assert {k.lower(): v for k, v in a.headers[0].items()}["kn-namespace"] == "default"

    imc = await world.get("inmemorychannels", "ch")
    uids = {s["uid"] for s in imc["spec"]["subscribers"]}
    assert uids == {sub_a["metadata"]["uid"], sub_b["metadata"]["uid"]}
    assert all(s["ready"] == "True" for s in imc["status"]["subscribers"])


async def test_subscriber_reply_goes_to_the_reply_destination(
        world: ChannelWorld, sinks: Callable[..., Awaitable[Sink]]) -> None:
    replies = await sinks()
    transformer = await sinks(appending(" world", new_type="com.example.reply"))
    await world.create("channels", "in", {})
    await world.create("channels", "out", {})
    await world.subscription("out-to-sink", "out", subscriber={"uri": replies.url})
    await world.subscription("in-to-transformer", "in", subscriber={"uri": transformer.url},
                             reply={"ref": {"apiVersion": MESSAGING, "kind": "Channel",
                                            "name": "out"}})
    channel = await world.ready("channels", "in")
    assert await world.send(channel["status"]["address"]["url"],
                            event("r1", data={"msg": "hello"})) == 202
    (reply,) = await replies.wait_for(1)
    assert reply.type == "com.example.reply"
    assert json.loads(reply.data or b"") == {"msg": "hello world"}


async def test_a_failed_reply_dead_letters_the_original_event(
        world: ChannelWorld, sinks: Callable[..., Awaitable[Sink]]) -> None:
    dls, broken = await sinks(), await sinks(failing)
    transformer = await sinks(appending("!", new_type="com.example.reply"))
    await world.create("inmemorychannels", "imc", {})
    await world.ready("inmemorychannels", "imc")
    await world.subscription("sub", "imc", kind="InMemoryChannel",
                             subscriber={"uri": transformer.url}, reply={"uri": broken.url},
                             delivery={"deadLetterSink": {"uri": dls.url}})
    assert await world.send(f"{world.ingress}/channels/default/imc",
                            event("d1", data={"msg": "x"})) == 202
    (dead,) = await dls.wait_for(1)
    assert dead.id == "d1" and dead.type == "com.example.order"
    assert dead.attributes["knativeerrordest"] == broken.url
    assert dead.attributes["knativeerrorcode"] == "500"


async def test_a_deleted_subscription_leaves_the_channel(
        world: ChannelWorld, sinks: Callable[..., Awaitable[Sink]]) -> None:
    a = await sinks()
    await world.create("channels", "ch", {})
    sub = await world.subscription("gone", "ch", subscriber={"uri": a.url})
    uid = sub["metadata"]["uid"]
    assert sub["metadata"]["finalizers"] == ["subscriptions.messaging.knative.dev"]
    await world.until("inmemorychannels", "ch", lambda _: world.plane.serves(uid))
    await world.client.delete(CATALOG.require("subscriptions"), "gone", "default")
    # the spec, the status and the data plane all let go (each on its own watch)
    await world.until("inmemorychannels", "ch",
                      lambda obj: not (obj.get("spec") or {}).get("subscribers")
                      and not (obj.get("status") or {}).get("subscribers")
                      and not world.plane.serves(uid))
    channel = await world.get("channels", "ch")
    assert not channel["spec"].get("subscribers")


async def test_a_restarted_plane_resumes_from_the_stored_cursor(
        world: ChannelWorld, sinks: Callable[..., Awaitable[Sink]]) -> None:
    a = await sinks()
    await world.create("inmemorychannels", "imc", {})
    sub = await world.subscription("sub", "imc", kind="InMemoryChannel",
                                   subscriber={"uri": a.url})
    url = f"{world.ingress}/channels/default/imc"
    assert await world.send(url, event("before")) == 202
    consumer = world.plane.consumers[sub["metadata"]["uid"]]
    await world.until("inmemorychannels", "imc", lambda _: consumer.cursor >= 1)
    await world.plane.stop()
    assert await world.send(url, event("while-down")) == 202  # the log still takes events
    world.plane = ChannelPlane(world.client, world.manager.informers, world.log)
    await world.plane.start()
    assert world.plane.serves(sub["metadata"]["uid"])
    got = await a.wait_for(2)
    assert [e.id for e in got] == ["before", "while-down"]


async def test_channel_ingress_answers_like_broker_ingress(world: ChannelWorld) -> None:
    await world.create("inmemorychannels", "imc", {})
    await world.ready("inmemorychannels", "imc")
    assert world.http is not None
    url = f"{world.ingress}/channels/default/imc"
    async with world.http.post(url, data=b"{}", headers={
            "Content-Type": "application/cloudevents+json"}) as resp:
        assert resp.status == 400
    assert await world.send(f"{world.ingress}/channels/default/nope", event("x")) == 404
    async with world.http.get(url) as resp:
        assert resp.status == 405
    async with world.http.options(url, headers={"WebHook-Request-Origin": "x.org"}) as resp:
        assert resp.status == 200
        assert resp.headers["WebHook-Allowed-Origin"] == "x.org"
    assert await world.send(url, event("ok")) == 202


# -- flows ---------------------------------------------------------------------------------


async def test_sequence_runs_its_steps_in_order_and_replies(
        world: ChannelWorld, sinks: Callable[..., Awaitable[Sink]]) -> None:
    first = await sinks(appending(" step1"))
    second = await sinks(appending(" step2", new_type="com.example.done"))
    final = await sinks()
    await world.create("sequences", "seq", {
        "steps": [{"uri": first.url}, {"uri": second.url}],
        "reply": {"uri": final.url}})
    seq = await world.ready("sequences", "seq")
    assert seq["status"]["address"]["url"] == f"{world.ingress}/channels/default/seq-kn-sequence-0"
    assert [s["channel"]["name"] for s in seq["status"]["channelStatuses"]] == [
        "seq-kn-sequence-0", "seq-kn-sequence-1"]
    assert [s["subscription"]["name"] for s in seq["status"]["subscriptionStatuses"]] == [
        "seq-kn-sequence-0", "seq-kn-sequence-1"]
    assert all(s["ready"]["status"] == "True" for s in seq["status"]["subscriptionStatuses"])

    assert await world.send(seq["status"]["address"]["url"],
                            event("q1", data={"msg": "go"})) == 202
    (done,) = await final.wait_for(1)
    assert done.type == "com.example.done"
    assert json.loads(done.data or b"") == {"msg": "go step1 step2"}
    assert [e.id for e in first.events] == [e.id for e in second.events] == ["q1"]


async def test_parallel_filters_route_events_to_their_branch(
        world: ChannelWorld, sinks: Callable[..., Awaitable[Sink]]) -> None:
    filter_a, filter_b = await sinks(only("com.example.a")), await sinks(only("com.example.b"))
    branch_a, branch_b = await sinks(), await sinks()
    await world.create("parallels", "par", {"branches": [
        {"filter": {"uri": filter_a.url}, "subscriber": {"uri": branch_a.url}},
        {"filter": {"uri": filter_b.url}, "subscriber": {"uri": branch_b.url}},
    ]})
    par = await world.ready("parallels", "par")
    url = par["status"]["address"]["url"]
    assert url == f"{world.ingress}/channels/default/par-kn-parallel"
    (first_branch, _) = par["status"]["branchStatuses"]
    assert first_branch["filterSubscriptionStatus"]["subscription"]["name"] == (
        "par-kn-parallel-filter-0")
    assert first_branch["subscriberSubscriptionStatus"]["ready"]["status"] == "True"

    assert await world.send(url, event("a1", type_="com.example.a")) == 202
    assert await world.send(url, event("b1", type_="com.example.b")) == 202
    (got_a,), (got_b,) = await branch_a.wait_for(1), await branch_b.wait_for(1)
    assert (got_a.id, got_b.id) == ("a1", "b1")
    await filter_a.wait_for(2)
    await filter_b.wait_for(2)
    await asyncio.sleep(0.2)
    assert [e.id for e in branch_a.events] == ["a1"]
    assert [e.id for e in branch_b.events] == ["b1"]


async def test_reconciled_objects_settle(world: ChannelWorld,
                                         sinks: Callable[..., Awaitable[Sink]]) -> None:
    """Children built as admission stores them: nothing is rewritten once all is Ready."""
    step = await sinks()
    await world.create("channels", "dlq", {})
    dlq_ref = {"apiVersion": MESSAGING, "kind": "Channel", "name": "dlq"}
    await world.create("channels", "ch", {"channelTemplate": {
        "apiVersion": MESSAGING, "kind": "InMemoryChannel",
        "spec": {"delivery": {"retry": 1, "deadLetterSink": {"ref": dlq_ref}}}}})
    await world.subscription("sub", "ch", subscriber={"uri": step.url},
                             delivery={"deadLetterSink": {"ref": dlq_ref}})
    await world.create("sequences", "seq", {
        "steps": [{"uri": step.url, "delivery": {"deadLetterSink": {"ref": dlq_ref}}},
                  {"uri": step.url}], "reply": {"ref": dlq_ref}})
    await world.ready("sequences", "seq")
    await world.ready("channels", "ch")

    async def versions() -> dict[str, str]:
        out = {}
        for kind in ("channels", "inmemorychannels", "subscriptions", "sequences"):
            for obj in (await world.client.list(CATALOG.require(kind), "default")).items:
                out[f"{kind}/{obj['metadata']['name']}"] = obj["metadata"]["resourceVersion"]
        return out

    before = await versions()
    await asyncio.sleep(0.5)
    assert await versions() == before
    imc = await world.get("inmemorychannels", "ch")
    assert imc["spec"]["delivery"]["deadLetterSink"]["ref"]["namespace"] == "default"
    assert imc["status"]["deadLetterSinkUri"] == f"{world.ingress}/channels/default/dlq"


async def test_deleting_a_flow_deletes_what_it_owns(world: ChannelWorld,
                                                    sinks: Callable[..., Awaitable[Sink]]) -> None:
    step = await sinks()
    await world.create("sequences", "seq", {"steps": [{"uri": step.url}]})
    await world.ready("sequences", "seq")
    await world.client.delete(CATALOG.require("sequences"), "seq", "default")
    subs = CATALOG.require("subscriptions")
    deadline = asyncio.get_running_loop().time() + WAIT
    while (await world.client.list(subs, "default")).items:
        assert asyncio.get_running_loop().time() < deadline, "subscription left behind"
        await asyncio.sleep(0.02)
