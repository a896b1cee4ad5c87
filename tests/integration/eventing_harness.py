"""A running eventing control and data plane for integration tests, plus recording sinks.

``EventingHarness`` runs the real registry, the in-process client, the controller manager
with the Broker and Trigger reconcilers, and the eventing plane (ingress, log, dispatch) on
a loopback port; with ``split=True`` the durable log's consumers run in a ``DispatchPlane``
of their own, linked to the plane as ``shoal up`` links its dispatcher process (here in the
same process, over a real socket pair and the log's file). ``Sink`` is a subscriber: an
aiohttp server on 127.0.0.1 that records every CloudEvent it receives and answers as its
``respond`` function says.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from shoal.api.catalog import default_catalog
from shoal.apiserver.registry import Registry
from shoal.cli.up import reconcilers
from shoal.client.inprocess import InProcessClient
from shoal.controllers.factory import InformerFactory
from shoal.controllers.manager import Manager
from shoal.eventing import codec
from shoal.eventing.event import CloudEvent
from shoal.eventing.follower import FollowerLog, link_pair
from shoal.eventing.plane import DispatchPlane, EventingPlane

CATALOG = default_catalog()
BROKERS = CATALOG.require("brokers")
TRIGGERS = CATALOG.require("triggers")

Respond = Callable[[CloudEvent, int], Awaitable[web.Response]]


async def accept(event: CloudEvent, n: int) -> web.Response:
    return web.Response(status=200)


class Sink:
    def __init__(self, respond: Respond = accept, *, keepalive_timeout: float = 75.0) -> None:
        self.respond = respond
        self.keepalive_timeout = keepalive_timeout  # seconds an idle connection stays open
        self.events: list[CloudEvent] = []
        self.headers: list[dict[str, str]] = []
        self.arrived = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        (event,) = codec.parse_request(request.headers, body)
        self.events.append(event)
        self.headers.append(dict(request.headers))
        self.arrived.set()
        return await self.respond(event, len(self.events))

    async def start(self) -> Sink:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("POST", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None,
                                     keepalive_timeout=self.keepalive_timeout)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        sockets = getattr(site._server, "sockets", None) or []
        self.url = f"http://127.0.0.1:{sockets[0].getsockname()[1]}/"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[CloudEvent]:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.events) < count:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise AssertionError(f"got {len(self.events)} events, wanted {count}")
            self.arrived.clear()
            try:
                await asyncio.wait_for(self.arrived.wait(), remaining)
            except TimeoutError:
                continue
        return self.events


class EventingHarness:
    """``broker_class`` is the class ``broker()`` asks for (None: the default); ``nats_url``
    goes into ``config-nats`` before the plane starts."""

    def __init__(self, registry: Registry, data_dir: Path, *, broker_class: str | None = None,
                 nats_url: str | None = None, split: bool = False) -> None:
        self.registry = registry
        self.broker_class = broker_class
        self.nats_url = nats_url
        self.data_dir = data_dir
        self.client = InProcessClient(registry)
        self.manager = Manager(self.client, resync_period=None)
        self.plane = EventingPlane(self.client, self.manager.informers, data_dir, port=0,
                                   durable=False, durable_dispatch=not split)
        self.split = split
        self.dispatch: DispatchPlane | None = None
        self.dispatch_informers = InformerFactory(self.client, resync_period=None)
        self.http: aiohttp.ClientSession | None = None

    async def start(self) -> EventingHarness:
        if self.nats_url is not None:
            await self.client.patch(CATALOG.require("configmaps"), "config-nats",
                                    "knative-eventing", {"data": {"url": self.nats_url}})
        await self.plane.start()
        if self.split:
            mine, theirs = link_pair()
            self.plane.link(mine)
            self.dispatch = DispatchPlane(
                self.client, self.dispatch_informers,
                FollowerLog(self.data_dir / "events.db", theirs), self.plane.url)
            await self.dispatch.start()
        for reconciler in reconcilers(self.client, self.manager, self.plane.url,
                                      self.plane.prepare):
            self.manager.add(reconciler)
        await self.manager.start(timeout=10)
        self.http = aiohttp.ClientSession()
        return self

    async def stop(self) -> None:
        if self.http is not None:
            await self.http.close()
        await self.manager.stop()
        if self.dispatch is not None:
            await self.dispatch.stop()
            await self.dispatch_informers.stop()
        await self.plane.stop()

    async def create(self, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
        obj.setdefault("metadata", {}).setdefault("namespace", "default")
        return await self.client.create(CATALOG.require(kind), obj)

    async def broker(self, name: str, **spec: Any) -> dict[str, Any]:
        body: dict[str, Any] = {"apiVersion": "eventing.knative.dev/v1", "kind": "Broker",
                                "metadata": {"name": name}}
        annotations = spec.pop("annotations", None)
        if self.broker_class is not None:
            annotations = {"eventing.knative.dev/broker.class": self.broker_class,
                           **(annotations or {})}
        if annotations:
            body["metadata"]["annotations"] = annotations
        if spec:
            body["spec"] = spec
        await self.create("brokers", body)
        return await self.ready("brokers", name)

    async def trigger(self, name: str, broker: str, subscriber: str, *,
                      wait: bool = True, annotations: dict[str, str] | None = None,
                      **spec: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "apiVersion": "eventing.knative.dev/v1", "kind": "Trigger",
            "metadata": {"name": name, "annotations": annotations or {}},
            "spec": {"broker": broker, "subscriber": {"uri": subscriber}, **spec}}
        await self.create("triggers", body)
        return await self.ready("triggers", name) if wait else body

    async def ready(self, kind: str, name: str, timeout: float = 10.0) -> dict[str, Any]:
        rt = CATALOG.require(kind)
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            obj = await self.client.get(rt, name, "default")
            for cond in (obj.get("status") or {}).get("conditions") or []:
                ready = cond["type"] == "Ready" and cond["status"] == "True"
                if ready and (kind != "triggers" or obj["metadata"]["uid"] in self._consumers()):
                    return obj
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{kind}/{name} not ready: {obj.get('status')}")
            await asyncio.sleep(0.02)

    def _consumers(self) -> set[str]:
        dispatcher = self.plane._dispatcher
        if dispatcher is None:
            return set()
        return {uid for uid, consumer in dispatcher.consumers.items() if consumer.ready}

    def address(self, broker: str) -> str:
        return f"{self.plane.url}/default/{broker}"

    async def send(self, broker: str, event: CloudEvent, *, structured: bool = False) -> int:
        assert self.http is not None
        headers, body = (codec.to_structured(event) if structured
                         else codec.to_binary(event))
        async with self.http.post(self.address(broker), data=body, headers=headers) as resp:
            await resp.read()
            return resp.status


def event(id_: str, type_: str = "com.example.order", source: str = "/shop",
          data: Any = None, **extensions: Any) -> CloudEvent:
    attributes: dict[str, Any] = {"specversion": "1.0", "id": id_, "type": type_,
                                  "source": source, **extensions}
    payload = None
    if data is not None:
        attributes["datacontenttype"] = "application/json"
        payload = json.dumps(data).encode()
    return CloudEvent(attributes, payload)
