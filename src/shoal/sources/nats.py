"""The NatsSource adapter and its reconciler: NATS messages to a sink, as CloudEvents.

``NatsSources`` holds one ``NatsAdapter`` per NatsSource and the reconciler that keeps them in
step (``shoal up`` adds ``reconciler`` to its manager and calls ``stop`` on the way out). The
reconciler resolves the sink into ``status.sinkUri`` (``SinkProvided``), runs the adapter for
the source's current spec and reports whether it reads the subject (``Deployed``).

An adapter subscribes to ``spec.subject`` — with core NATS (in ``queueGroup`` when given: at
most once, a message the sink refuses after the retries is dropped) or through a durable
JetStream pull consumer (``spec.jetstream``: a message is acknowledged only once the sink took
it and comes back later otherwise, so neither an unreachable sink nor a restart of ``shoal
up`` loses one). ``to_events`` turns a message into events: a CloudEvent (structured mode, or
binary mode in ``ce-`` headers) passes through; anything else is wrapped as KafkaSource wraps
records (``dev.knative.nats.event``, see ``docs/nats.md``). ``ceOverrides`` extensions are set
on every event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import nats.errors
import nats.js.errors
from multidict import CIMultiDict
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from shoal.api.catalog import default_catalog
from shoal.api.sources.base import CloudEventAttributes, SourceStatus
from shoal.api.sources.nats import (
    DEFAULT_DELIVER_POLICY,
    EVENT_TYPE,
    NatsSource,
    event_source,
    server_list,
)
from shoal.client.base import Client
from shoal.controllers.clock import Clock, SystemClock
from shoal.controllers.conditions import ConditionSet
from shoal.controllers.reconciler import ModelReconciler, ReconcileResult, Watch
from shoal.controllers.resolver import ResolveError, tracked_resolver
from shoal.eventing import codec
from shoal.eventing.backoff import EXPONENTIAL, RetryPolicy
from shoal.eventing.delivery import Deliverer
from shoal.eventing.event import CloudEvent
from shoal.eventing.httpclient import HTTPClient
from shoal.eventing.jetstream import ACK_WAIT, PullLoop
from shoal.eventing.natsconn import NatsConnection

log = logging.getLogger("shoal.sources.nats")

NATS_SOURCE_CONDITIONS = ConditionSet("Ready", ["SinkProvided", "Deployed"])
HEADER_PREFIX = "natsheader"
# Each message: the first attempt and 5 retries, 0.2 s doubling (about 6 s in all).
POLICY = RetryPolicy(retry=5, backoff_policy=EXPONENTIAL, backoff_delay=0.2)
REDELIVER_AFTER = 5.0  # a JetStream message the sink refused comes back after this long
MAX_IN_FLIGHT = 100
SINK_KINDS = ("services", "brokers", "channels", "inmemorychannels", "sequences", "parallels")
_POLICIES = {"all": DeliverPolicy.ALL, "new": DeliverPolicy.NEW, "last": DeliverPolicy.LAST}
_NOT_EXTENSION = re.compile(r"[^a-z0-9]")


@dataclass(frozen=True)
class AdapterConfig:
    """Everything an adapter runs on; a new one (the spec or the sink changed) restarts it."""

    namespace: str
    name: str
    servers: tuple[str, ...]
    subject: str
    sink: str
    queue_group: str = ""
    stream: str = ""
    consumer: str = ""
    deliver_policy: str = DEFAULT_DELIVER_POLICY
    overrides: tuple[tuple[str, str], ...] = ()

    @staticmethod
    def of(source: NatsSource, sink: str) -> AdapterConfig:
        spec, js = source.spec, source.spec.jetstream
        overrides = (spec.ce_overrides.extensions or {}) if spec.ce_overrides else {}
        return AdapterConfig(
            namespace=source.namespace, name=source.name,
            servers=tuple(server_list(spec.servers)), subject=spec.subject or "", sink=sink,
            queue_group=spec.queue_group or "",
            stream=(js.stream or "") if js else "", consumer=(js.consumer or "") if js else "",
            deliver_policy=(js.deliver_policy or DEFAULT_DELIVER_POLICY) if js
            else DEFAULT_DELIVER_POLICY,
            overrides=tuple(sorted(overrides.items())))


def header_extension(name: str) -> str | None:
    """The extension a NATS header becomes: ``natsheader`` + its name, lowercase alnum."""
    cleaned = _NOT_EXTENSION.sub("", name.lower())
    return HEADER_PREFIX + cleaned if cleaned else None


def to_events(config: AdapterConfig, subject: str, headers: Mapping[str, str] | None,
              data: bytes, sequence: int | None = None,
              timestamp: datetime | None = None) -> list[CloudEvent]:
    """The events one NATS message becomes (see the module's doc)."""
    fields: CIMultiDict[str] = CIMultiDict(headers or {})
    content_type = fields.get("content-type", "").lower()
    events: list[CloudEvent] = []
    if content_type.startswith("application/cloudevents") or "ce-specversion" in fields:
        with contextlib.suppress(codec.InvalidEvent):
            events = codec.parse_request(fields, data)
    if not events:
        attributes: dict[str, object] = {
            "specversion": "1.0",
            "id": str(sequence) if sequence is not None else str(uuid.uuid4()),
            "type": EVENT_TYPE,
            "source": event_source(config.namespace, config.name, config.subject),
            "subject": subject,
            "time": (timestamp or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        }
        for key, value in (headers or {}).items():
            if key.lower() == "content-type":
                attributes["datacontenttype"] = value
                continue
            extension = header_extension(key)
            if extension is not None:
                attributes[extension] = value
        events = [CloudEvent(attributes, data)]
    for event in events:
        event.attributes.update(config.overrides)
    return events


class NatsAdapter:
    """Reads one NatsSource's subject and sends what it reads to the sink."""

    def __init__(self, config: AdapterConfig, deliverer: Deliverer) -> None:
        self.config = config
        self.deliverer = deliverer
        self.nats = NatsConnection(self._servers, name=f"natssource-{config.namespace}-"
                                   f"{config.name}")
        self._pull: PullLoop | None = None
        self._core: asyncio.Task[None] | None = None
        self._subscription: Subscription | None = None
        self._slots = asyncio.Semaphore(MAX_IN_FLIGHT)
        self._tasks: set[asyncio.Task[None]] = set()
        self._error = ""

    async def _servers(self) -> list[str]:
        return list(self.config.servers)

    @property
    def deployed(self) -> bool:
        if self.nats.client is None:
            return False
        if self._pull is not None:
            return self._pull.ready
        return self._subscription is not None

    @property
    def error(self) -> str:
        if self._pull is not None and self._pull.error:
            return self._pull.error
        return self._error or self.nats.error

    def start(self) -> None:
        if self.config.stream:
            self._pull = PullLoop(self._connect, self.config.stream, self.config.consumer,
                                  self._ensure, self._handle_jetstream, lambda: MAX_IN_FLIGHT,
                                  name=f"natssource {self.config.namespace}/"
                                  f"{self.config.name}", retry_in=REDELIVER_AFTER)
            self._pull.start()
        else:
            self._core = asyncio.create_task(self._subscribe())

    async def stop(self) -> None:
        if self._pull is not None:
            await self._pull.stop()
        if self._core is not None:
            self._core.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._core
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.nats.close()

    async def _send(self, events: list[CloudEvent]) -> bool:
        delivered = True
        for event in events:
            result = await self.deliverer.deliver(event, self.config.sink, POLICY,
                                                  strict_reply=False)
            delivered = delivered and result.delivered
        return delivered

    # -- core NATS -------------------------------------------------------------------------

    async def _subscribe(self) -> None:
        while self._subscription is None:
            try:
                client = await self.nats.connection(wait=5.0)
                self._subscription = await client.subscribe(
                    self.config.subject, queue=self.config.queue_group, cb=self._on_message)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._error = str(exc) or type(exc).__name__
                await asyncio.sleep(1.0)
        self._error = ""

    async def _on_message(self, msg: Msg) -> None:
        await self._slots.acquire()
        task = asyncio.create_task(self._deliver_core(msg))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver_core(self, msg: Msg) -> None:
        try:
            events = to_events(self.config, msg.subject, msg.headers, msg.data)
            if not await self._send(events):
                log.warning("natssource %s/%s: the sink refused a message on %s; dropped",
                            self.config.namespace, self.config.name, msg.subject)
        finally:
            self._slots.release()

    # -- JetStream -------------------------------------------------------------------------

    async def _connect(self) -> NatsClient:
        return await self.nats.connection(wait=5.0)

    async def _ensure(self, js: JetStreamContext) -> None:
        try:
            await js.consumer_info(self.config.stream, self.config.consumer)
        except nats.js.errors.NotFoundError:
            await js.add_consumer(self.config.stream, ConsumerConfig(
                durable_name=self.config.consumer, filter_subject=self.config.subject,
                deliver_policy=_POLICIES.get(self.config.deliver_policy, DeliverPolicy.ALL),
                ack_policy=AckPolicy.EXPLICIT, ack_wait=ACK_WAIT, max_deliver=-1,
                max_ack_pending=MAX_IN_FLIGHT,
                description=f"natssource {self.config.namespace}/{self.config.name}"))

    async def _handle_jetstream(self, msg: Msg) -> bool:
        meta = msg.metadata
        events = to_events(self.config, msg.subject, msg.headers, msg.data,
                           meta.sequence.stream, meta.timestamp)
        return await self._send(events)


class NatsSources:
    """The adapters of every NatsSource, kept in step with the sources by ``reconciler``."""

    def __init__(self, client: Client, clock: Clock | None = None) -> None:
        self._http = HTTPClient()
        self.deliverer = Deliverer(self._http, clock or SystemClock())
        self.adapters: dict[str, NatsAdapter] = {}
        self._stopping: set[asyncio.Task[None]] = set()
        self.reconciler = NatsSourceReconciler(client, self, clock)

    def ensure(self, key: str, config: AdapterConfig) -> NatsAdapter:
        """The running adapter for ``key``, restarted when its config changed."""
        adapter = self.adapters.get(key)
        if adapter is not None and adapter.config == config:
            return adapter
        self.remove(key)
        adapter = self.adapters[key] = NatsAdapter(config, self.deliverer)
        adapter.start()
        return adapter

    def remove(self, key: str) -> None:
        adapter = self.adapters.pop(key, None)
        if adapter is not None:
            task = asyncio.get_running_loop().create_task(adapter.stop())
            self._stopping.add(task)
            task.add_done_callback(self._stopping.discard)

    async def stop(self) -> None:
        adapters = list(self.adapters.values())
        self.adapters.clear()
        await asyncio.gather(*(a.stop() for a in adapters), *self._stopping)
        await self._http.close()


class NatsSourceReconciler(ModelReconciler[NatsSource]):
    rt = default_catalog().require("natssources")

    def __init__(self, client: Client, adapters: NatsSources, clock: Clock | None = None) -> None:
        catalog = default_catalog()
        self.tracker, self.resolver = tracked_resolver(client, catalog, clock)
        self.adapters = adapters
        self.watches = tuple(Watch(catalog.require(kind),
                                   self.tracker.mapper(catalog.require(kind)))
                             for kind in SINK_KINDS)

    async def reconcile(self, obj: NatsSource) -> ReconcileResult | None:
        key = f"{obj.namespace}/{obj.name}"
        status = obj.status = obj.status or SourceStatus()
        conditions = NATS_SOURCE_CONDITIONS.manage(status)
        conditions.initialize()
        try:
            sink = await self.resolver.resolve(obj.spec.sink, obj.namespace, by=key)
        except ResolveError as err:
            status.sink_uri = None
            conditions.mark_false("SinkProvided", "NotFound", err.message)
            self.adapters.remove(key)
            return ReconcileResult(requeue_after=10)
        status.sink_uri = sink
        conditions.mark_true("SinkProvided")
        status.ce_attributes = [CloudEventAttributes(
            type=EVENT_TYPE, source=event_source(obj.namespace, obj.name,
                                                 obj.spec.subject or ""))]
        adapter = self.adapters.ensure(key, AdapterConfig.of(obj, sink))
        if adapter.deployed:
            conditions.mark_true("Deployed")
            return ReconcileResult(requeue_after=30)  # notice a lost subscription
        if adapter.error and adapter.error != "not connected yet":
            conditions.mark_false("Deployed", "NatsNotReadable",
                                  f"cannot read {obj.spec.subject}: {adapter.error}")
            return ReconcileResult(requeue_after=2)
        else:
            conditions.mark_unknown("Deployed", "Subscribing",
                                    f"subscribing to {obj.spec.subject}")
        return ReconcileResult(requeue_after=0.5)

    async def deleted(self, key: str) -> None:
        self.adapters.remove(key)
        self.tracker.forget(key)
