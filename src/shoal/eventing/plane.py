"""The eventing data plane of ``shoal up``: ingress, logs, dispatch, EventTypes, compaction.

It follows Brokers and Triggers through shared informers: a Broker of a served class gets a
stream in the durable log (or the in-memory one for ``InMemoryBroker``) named after its uid,
so a broker deleted and created again starts empty, or a JetStream stream for
``NatsJetStreamBroker`` (``jetstream.py``, made ready through ``prepare``, which the Broker
reconciler calls); a Trigger whose subscriber is resolved gets a consumer of its broker's
kind of storage. One HTTP listener serves every broker's ingress at
``http://{host}:{port}/{namespace}/{broker}``. A background task compacts each stream,
deleting records every trigger has passed once they are older than the retention.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from shoal.api.catalog import default_catalog
from shoal.api.config import BROKER_CLASSES, NATS_BROKER_CLASS
from shoal.client.base import Client
from shoal.controllers.clock import Clock, SystemClock
from shoal.controllers.factory import InformerFactory
from shoal.controllers.informer import InformerEvent
from shoal.eventing.backoff import RetryPolicy
from shoal.eventing.channels import ChannelPlane
from shoal.eventing.delivery import Deliverer
from shoal.eventing.dispatcher import (
    DEFAULT_MAX_IN_FLIGHT,
    MAX_IN_FLIGHT_ANNOTATION,
    ORDER_ANNOTATIONS,
    Consumer,
    Dispatcher,
    Publish,
    TriggerConsumer,
    TriggerPlan,
)
from shoal.eventing.event import CloudEvent
from shoal.eventing.eventtypes import EventTypeRecorder
from shoal.eventing.filters import compile_trigger_filter
from shoal.eventing.httpclient import HTTPClient
from shoal.eventing.httpserver import LeanHTTPServer, Request, Response
from shoal.eventing.ingress import DEFAULT_MAX_EVENT_BYTES, BrokerTarget, Ingress, Target
from shoal.eventing.jetstream import JetStreamBackend, JetStreamTarget, NotReady
from shoal.eventing.log import EventLog, SQLiteEventLog
from shoal.eventing.memlog import MemoryEventLog

log = logging.getLogger("shoal.eventing")

BROKERS = default_catalog().require("brokers")
TRIGGERS = default_catalog().require("triggers")
CLASS_ANNOTATION = "eventing.knative.dev/broker.class"
Obj = dict[str, Any]


def _class(broker: Obj) -> str:
    return str((broker["metadata"].get("annotations") or {}).get(CLASS_ANNOTATION, ""))


class EventingPlane:
    def __init__(self, client: Client, informers: InformerFactory, data_dir: Path, *,
                 host: str = "127.0.0.1", port: int = 8081,
                 max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
                 retention: float = 3600.0, compact_every: float = 60.0,
                 durable: bool = True, clock: Clock | None = None) -> None:
        self.client = client
        self.host = host
        self.port = port
        self.retention = retention
        self.compact_every = compact_every
        self.clock: Clock = clock or SystemClock()
        self.durable_log: EventLog = SQLiteEventLog(data_dir / "events.db", durable=durable)
        self.memory_log: EventLog = MemoryEventLog()
        self.jetstream = JetStreamBackend(client)
        self.brokers = informers.informer(BROKERS)
        self.triggers = informers.informer(TRIGGERS)
        self.informers = informers
        self.eventtypes = EventTypeRecorder(client)
        self._client = HTTPClient()
        self._deliverer = Deliverer(self._client, self.clock)
        self.channels = ChannelPlane(client, informers, self.durable_log, self._deliverer,
                                     max_event_bytes=max_event_bytes, clock=self.clock,
                                     retention=retention, compact_every=compact_every)
        self.ingress = Ingress(self.target, max_event_bytes=max_event_bytes,
                               observe=self._observe)
        self._dispatcher: Dispatcher | None = None
        self._server = LeanHTTPServer(self.route, host, port, max_body=max_event_bytes)
        self._compactor: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def target(self, namespace: str, name: str) -> Target | None:
        broker = self.brokers.get(f"{namespace}/{name}")
        if broker is None or broker["metadata"].get("deletionTimestamp"):
            return None
        return self._target_of(broker)

    def _target_of(self, broker: Obj) -> Target | None:
        """Where a broker of a served class keeps its events, by class."""
        meta, broker_class = broker["metadata"], _class(broker)
        namespace, name = meta.get("namespace", ""), meta["name"]
        durable = BROKER_CLASSES.get(broker_class)
        if durable is None:
            return None
        if broker_class == NATS_BROKER_CLASS:
            return self.jetstream.target(namespace, name, meta["uid"])
        stream = f"broker/{namespace}/{name}/{meta['uid']}"
        return BrokerTarget(self.durable_log if durable else self.memory_log, stream)

    async def prepare(self, broker: Obj) -> tuple[str, str] | None:
        """Make a broker's storage ready (the Broker reconciler asks); None when it is,
        else the reason and message of why not."""
        if _class(broker) != NATS_BROKER_CLASS:
            return None
        try:
            await self.jetstream.prepare(broker)
        except NotReady as exc:
            return exc.reason, exc.message
        return None

    def _consumer(self, plan: TriggerPlan, deliverer: Deliverer, publish: Publish) -> Consumer:
        if isinstance(plan.target, JetStreamTarget):
            return self.jetstream.consumer(plan, deliverer, publish)
        return TriggerConsumer(plan, deliverer, publish)

    async def route(self, request: Request) -> Response:
        """Brokers at ``/{namespace}/{name}``, channels at ``/channels/{namespace}/{name}``."""
        if request.path.startswith("/channels/"):
            return await self.channels.serve(request)
        return await self.ingress.serve(request)

    def _observe(self, namespace: str, name: str, event: CloudEvent) -> None:
        broker = self.brokers.get(f"{namespace}/{name}")
        if broker is not None:
            self.eventtypes.observe(namespace, broker, event)

    async def start(self) -> None:
        self._dispatcher = Dispatcher(self._deliverer, self.ingress.publish, self._consumer)
        await self._server.start()
        self.port = self._server.port
        self.brokers.add_handler(self._on_broker)
        self.triggers.add_handler(self._on_trigger)
        self.informers.start()
        await self.informers.wait_synced(30)
        for trigger in self.triggers.list():
            self._sync(trigger)
        await self.channels.start()
        self._compactor = asyncio.create_task(self._compact_loop())

    async def stop(self) -> None:
        if self._compactor is not None:
            self._compactor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._compactor
        await self._server.stop()
        await asyncio.gather(*self._background, return_exceptions=True)
        if self._dispatcher is not None:
            await self._dispatcher.stop()
        await self.channels.stop()
        await self.eventtypes.stop()
        await self._client.close()
        await self.jetstream.close()
        await self.durable_log.close()
        await self.memory_log.close()

    # -- following the API ---------------------------------------------------------------

    def _on_broker(self, event: InformerEvent) -> None:
        meta = event.obj["metadata"]
        namespace, name = meta.get("namespace", ""), meta["name"]
        for trigger in self.triggers.list(namespace):
            if trigger.get("spec", {}).get("broker") == name:
                self._sync(trigger)
        target = self._target_of(event.obj) if event.type == "DELETED" else None
        if target is not None:
            self._spawn(self._drop(target))

    def _on_trigger(self, event: InformerEvent) -> None:
        if event.type == "DELETED":
            self._remove(event.obj["metadata"]["uid"])
        else:
            self._sync(event.obj)

    def _remove(self, uid: str, forget: bool = True) -> None:
        if self._dispatcher is not None and uid in self._dispatcher.consumers:
            self._spawn(self._dispatcher.remove(uid, forget=forget))

    async def _drop(self, target: Target) -> None:
        try:
            await target.drop()
        except Exception as exc:
            log.warning("could not drop the storage of a deleted broker (%r): %s", target, exc)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _sync(self, trigger: Obj) -> None:
        if self._dispatcher is None:
            return
        plan = self.plan(trigger)
        if plan is None:
            self._remove(trigger["metadata"]["uid"], forget=False)
        else:
            self._dispatcher.apply(plan)

    def plan(self, trigger: Obj) -> TriggerPlan | None:
        """How to dispatch for a Trigger now, or None while it cannot be dispatched."""
        meta, spec = trigger["metadata"], trigger.get("spec") or {}
        status = trigger.get("status") or {}
        namespace, broker_name = meta.get("namespace", ""), spec.get("broker", "")
        target = self.target(namespace, broker_name)
        subscriber = status.get("subscriberUri")
        if target is None or not subscriber or meta.get("deletionTimestamp"):
            return None
        broker = self.brokers.get(f"{namespace}/{broker_name}") or {}
        delivery = spec.get("delivery") or (broker.get("spec") or {}).get("delivery")
        annotations = meta.get("annotations") or {}
        ordered = any(annotations.get(a) == "ordered" for a in ORDER_ANNOTATIONS)
        try:
            in_flight = int(annotations.get(MAX_IN_FLIGHT_ANNOTATION, DEFAULT_MAX_IN_FLIGHT))
        except ValueError:
            in_flight = DEFAULT_MAX_IN_FLIGHT
        return TriggerPlan(
            uid=meta["uid"], namespace=namespace, name=meta["name"], broker=broker_name,
            target=target, subscriber=subscriber,
            dead_letter=status.get("deadLetterSinkUri") or None,
            policy=RetryPolicy.from_spec(delivery),
            matches=compile_trigger_filter(spec.get("filter"), spec.get("filters")),
            ordered=ordered, max_in_flight=max(1, in_flight))

    async def _compact_loop(self) -> None:
        while True:
            await asyncio.sleep(self.compact_every)
            for broker in self.brokers.list():
                target = self.target(broker["metadata"].get("namespace", ""),
                                     broker["metadata"]["name"])
                if target is None:
                    continue
                try:
                    await target.compact(self.retention)
                except Exception:
                    log.exception("compacting %r failed", target)
