"""The eventing data plane: ingress, logs, dispatch, EventTypes, compaction.

Both planes follow Brokers and Triggers through informers (``TriggerFollower``): a Broker of
a served class gets a stream in the durable log (or the in-memory one for
``InMemoryBroker``) named after its uid, so a broker deleted and created again starts empty,
or a JetStream stream for ``NatsJetStreamBroker`` (``jetstream.py``, made ready through
``prepare``, which the Broker reconciler calls); a Trigger whose subscriber is resolved gets
a consumer of its broker's kind of storage.

``EventingPlane`` is ``shoal up``'s part. One HTTP listener serves every broker's ingress at
``http://{host}:{port}/{namespace}/{broker}`` (and the channels'), and a background task
compacts each stream, deleting records every consumer has passed once they are older than
the retention. With ``durable_dispatch`` (the default, and what tests that run one process
use) it also runs the consumers of the durable log. Without it, ``shoal up`` leaves those to
``DispatchPlane`` in a process of its own (``shoal.cli.dispatcher``): for each of them this
plane only creates the cursor at the stream's head, when the Trigger or subscriber first
becomes dispatchable, so every event accepted after that reaches it, however late the
other process starts its consumer (``follower.py``). The consumers of the in-memory and
JetStream classes always run here, beside the storage they read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Coroutine
from pathlib import Path
from typing import Any
from urllib.parse import quote

from shoal.api.catalog import default_catalog
from shoal.api.config import BROKER_CLASSES, NATS_BROKER_CLASS
from shoal.api.eventing.trigger import max_in_flight, ordered
from shoal.client.base import Client
from shoal.controllers.clock import Clock, SystemClock
from shoal.controllers.factory import InformerFactory
from shoal.controllers.informer import InformerEvent
from shoal.eventing import codec
from shoal.eventing.backoff import RetryPolicy
from shoal.eventing.channels import ChannelPlane
from shoal.eventing.delivery import Deliverer
from shoal.eventing.dispatcher import (
    Consumer,
    Dispatcher,
    Publish,
    TriggerConsumer,
    TriggerPlan,
)
from shoal.eventing.event import CloudEvent
from shoal.eventing.eventtypes import EventTypeRecorder
from shoal.eventing.filters import compile_trigger_filter
from shoal.eventing.follower import CursorRelay, FollowerLog
from shoal.eventing.httpclient import EncodedHeaders, HTTPClient
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


class Pin:
    """The consumer a plane runs for a Trigger or subscriber that another process
    dispatches: it creates the cursor at the stream's head if there is none, and drops it
    when the Trigger is deleted."""

    def __init__(self, plan: TriggerPlan) -> None:
        if not isinstance(plan.target, BrokerTarget):
            raise TypeError(f"a Pin holds a place in an event log, not {plan.target!r}")
        self.plan = plan
        self.target: BrokerTarget = plan.target
        self.head = self.target.log.head(self.target.stream)  # now, before any await
        self._task: asyncio.Task[None] | None = None

    @property
    def ready(self) -> bool:
        return self._task is not None and self._task.done()

    def start(self) -> None:
        self._task = asyncio.create_task(self.pin(self.target, self.plan.uid, self.head))

    @staticmethod
    async def pin(target: BrokerTarget, uid: str, head: int) -> None:
        if await target.log.get_cursor(uid) is None:
            await target.log.set_cursor(uid, target.stream, head)

    async def stop(self) -> None:
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)

    async def forget(self) -> None:
        await self.target.log.delete_cursor(self.plan.uid)


class TriggerFollower:
    """Brokers and Triggers followed through informers, and a ``Dispatcher`` whose
    consumers are kept in step with them: the part both planes share. A plane says where the
    events of the brokers it serves are (``_target_of``: None for a broker another process
    serves), what consumer a Trigger gets there (``_consumer``), and how replies are
    published."""

    def __init__(self, informers: InformerFactory, deliverer: Deliverer) -> None:
        self.brokers = informers.informer(BROKERS)
        self.triggers = informers.informer(TRIGGERS)
        self.informers = informers
        self._deliverer = deliverer
        self._dispatcher: Dispatcher | None = None
        self._background: set[asyncio.Task[None]] = set()

    def target(self, namespace: str, name: str) -> Target | None:
        broker = self.brokers.get(f"{namespace}/{name}")
        if broker is None or broker["metadata"].get("deletionTimestamp"):
            return None
        return self._target_of(broker)

    def _target_of(self, broker: Obj) -> Target | None:
        raise NotImplementedError

    def _consumer(self, plan: TriggerPlan, deliverer: Deliverer,
                  publish: Publish) -> Consumer:
        raise NotImplementedError

    async def publish(self, namespace: str, broker: str, events: list[CloudEvent]) -> int:
        raise NotImplementedError

    def _broker_deleted(self, target: Target) -> None:
        """A broker with storage here was deleted."""

    async def _follow(self) -> None:
        self._dispatcher = Dispatcher(self._deliverer, self.publish, self._consumer)
        self.brokers.add_handler(self._on_broker)
        self.triggers.add_handler(self._on_trigger)
        self.informers.start()
        await self.informers.wait_synced(30)
        for trigger in self.triggers.list():
            self._sync(trigger)

    async def _unfollow(self) -> None:
        await asyncio.gather(*self._background, return_exceptions=True)
        if self._dispatcher is not None:
            await self._dispatcher.stop()

    def _on_broker(self, event: InformerEvent) -> None:
        meta = event.obj["metadata"]
        namespace, name = meta.get("namespace", ""), meta["name"]
        for trigger in self.triggers.list(namespace):
            if trigger.get("spec", {}).get("broker") == name:
                self._sync(trigger)
        target = self._target_of(event.obj) if event.type == "DELETED" else None
        if target is not None:
            self._broker_deleted(target)

    def _on_trigger(self, event: InformerEvent) -> None:
        if event.type == "DELETED":
            self._remove(event.obj["metadata"]["uid"])
        else:
            self._sync(event.obj)

    def _remove(self, uid: str, forget: bool = True) -> None:
        if self._dispatcher is not None and uid in self._dispatcher.consumers:
            self._spawn(self._dispatcher.remove(uid, forget=forget))

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
        annotations = meta.get("annotations")
        return TriggerPlan(
            uid=meta["uid"], namespace=namespace, name=meta["name"], broker=broker_name,
            target=target, subscriber=subscriber,
            dead_letter=status.get("deadLetterSinkUri") or None,
            policy=RetryPolicy.from_spec(delivery),
            matches=compile_trigger_filter(spec.get("filter"), spec.get("filters")),
            ordered=ordered(annotations), max_in_flight=max_in_flight(annotations))


def durable_stream(broker: Obj) -> str:
    meta = broker["metadata"]
    return f"broker/{meta.get('namespace', '')}/{meta['name']}/{meta['uid']}"


class EventingPlane(TriggerFollower):
    def __init__(self, client: Client, informers: InformerFactory, data_dir: Path, *,
                 host: str = "127.0.0.1", port: int = 8081,
                 max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
                 retention: float = 3600.0, compact_every: float = 60.0,
                 durable: bool = True, clock: Clock | None = None,
                 durable_dispatch: bool = True) -> None:
        self.client = client
        self.host = host
        self.port = port
        self.retention = retention
        self.compact_every = compact_every
        self.clock: Clock = clock or SystemClock()
        self.durable_dispatch = durable_dispatch
        self.durable_log: SQLiteEventLog = SQLiteEventLog(data_dir / "events.db",
                                                          durable=durable)
        self.memory_log: EventLog = MemoryEventLog()
        self.jetstream = JetStreamBackend(client)
        self.eventtypes = EventTypeRecorder(client)
        self._client = HTTPClient()
        super().__init__(informers, Deliverer(self._client, self.clock))
        self.channels = ChannelPlane(client, informers, self.durable_log, self._deliverer,
                                     max_event_bytes=max_event_bytes, clock=self.clock,
                                     retention=retention, compact_every=compact_every,
                                     dispatch=durable_dispatch)
        self.ingress = Ingress(self.target, max_event_bytes=max_event_bytes,
                               observe=self._observe)
        self._server = LeanHTTPServer(self.route, host, port, max_body=max_event_bytes)
        self._compactor: asyncio.Task[None] | None = None
        self._relay: CursorRelay | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _target_of(self, broker: Obj) -> Target | None:
        """Where a broker of a served class keeps its events, by class."""
        meta, broker_class = broker["metadata"], _class(broker)
        durable = BROKER_CLASSES.get(broker_class)
        if durable is None:
            return None
        if broker_class == NATS_BROKER_CLASS:
            return self.jetstream.target(meta.get("namespace", ""), meta["name"], meta["uid"])
        return BrokerTarget(self.durable_log if durable else self.memory_log,
                            durable_stream(broker))

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

    def _consumer(self, plan: TriggerPlan, deliverer: Deliverer,
                  publish: Publish) -> Consumer:
        if isinstance(plan.target, JetStreamTarget):
            return self.jetstream.consumer(plan, deliverer, publish)
        if not self.durable_dispatch and isinstance(plan.target, BrokerTarget) and \
                plan.target.log is self.durable_log:
            return Pin(plan)
        return TriggerConsumer(plan, deliverer, publish)

    async def publish(self, namespace: str, broker: str, events: list[CloudEvent]) -> int:
        return await self.ingress.publish(namespace, broker, events)

    def _broker_deleted(self, target: Target) -> None:
        self._spawn(self._drop(target))

    def link(self, end: socket.socket) -> None:
        """Hand the durable log's consumers to a dispatcher process at the other end of
        ``end`` (from ``follower.link_pair``), replacing any before."""
        if self._relay is not None:
            self._spawn(self._relay.close())
        self._relay = CursorRelay(self.durable_log, end)
        self._relay.start()

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
        await self._server.start()
        self.port = self._server.port
        await self._follow()
        await self.channels.start()
        self._compactor = asyncio.create_task(self._compact_loop())

    async def stop(self) -> None:
        if self._compactor is not None:
            self._compactor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._compactor
        await self._server.stop()
        await self._unfollow()
        await self.channels.stop()
        if self._relay is not None:
            await self._relay.close()
        await self.eventtypes.stop()
        await self._client.close()
        await self.jetstream.close()
        await self.durable_log.close()
        await self.memory_log.close()

    async def _drop(self, target: Target) -> None:
        try:
            await target.drop()
        except Exception as exc:
            log.warning("could not drop the storage of a deleted broker (%r): %s", target, exc)

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


class DispatchPlane(TriggerFollower):
    """The dispatcher process's plane: the consumers of every durable-log stream, Triggers'
    and channel subscribers', reading through a ``FollowerLog``. Replies go back into their
    broker through its ingress at ``ingress`` (``shoal up``'s eventing URL), as Knative's
    broker filter sends them."""

    def __init__(self, client: Client, informers: InformerFactory, log: FollowerLog,
                 ingress: str, *, clock: Clock | None = None) -> None:
        self.client = client
        self.clock: Clock = clock or SystemClock()
        self.log = log
        self.ingress = ingress.rstrip("/")
        self._client = HTTPClient()
        super().__init__(informers, Deliverer(self._client, self.clock))
        self.channels = ChannelPlane(client, informers, log, self._deliverer,
                                     clock=self.clock, compact_every=0)

    def _target_of(self, broker: Obj) -> Target | None:
        if not BROKER_CLASSES.get(_class(broker)) or _class(broker) == NATS_BROKER_CLASS:
            return None  # served where its events are kept: in shoal up
        return BrokerTarget(self.log, durable_stream(broker))

    def _consumer(self, plan: TriggerPlan, deliverer: Deliverer,
                  publish: Publish) -> Consumer:
        return TriggerConsumer(plan, deliverer, publish)

    async def publish(self, namespace: str, broker: str, events: list[CloudEvent]) -> int:
        status = 202
        for event in events:
            headers, body = codec.to_binary(event)
            status, _, _ = await self._client.post(
                f"{self.ingress}/{quote(namespace, safe='')}/{quote(broker, safe='')}",
                EncodedHeaders(headers), body)
        return status

    async def start(self) -> None:
        self.log.start()
        await self._follow()
        await self.channels.start()

    async def stop(self) -> None:
        await self._unfollow()
        await self.channels.stop()
        await self._client.close()
        await self.log.close()
