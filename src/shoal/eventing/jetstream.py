"""The ``NatsJetStreamBroker`` class: a broker's events in a NATS JetStream stream.

``JetStreamBackend`` is what the eventing plane (``plane.py``) holds for the class:

- ``prepare(broker)``, called by the Broker reconciler, makes sure the broker's stream
  exists (creating it, or replacing one left by an earlier broker of the same name) and
  says why not when it cannot: NATS unreachable, a bad ``replicas`` value, JetStream
  refusing the stream. The broker is Ready only once its stream exists.
- ``target(namespace, name)`` is the broker's ``JetStreamTarget``: the ingress appends by
  publishing to the broker's subject and answers 202 only once JetStream acknowledged every
  event; deleting the broker deletes its stream.
- ``JetStreamConsumer`` is a Trigger's durable pull consumer (created at the head of the
  stream, as a Trigger new to a broker gets only later events). A message is acknowledged
  once its delivery is over: delivered, dead-lettered, dropped after the last retry, or
  filtered out. Retries and backoff are the Trigger's ``delivery``, run by ``Deliverer``
  exactly as for the embedded classes; JetStream redelivers only what a consumer never
  finished (``shoal up`` stopped or crashed, or NATS lost the acknowledgement), after
  ``ACK_WAIT`` — a message being worked on is kept from that with progress acks. Deleting a
  Trigger deletes its consumer.

Names: stream ``KN_BROKER_{namespace}_{name}``, subject ``knative.broker.{namespace}.{name}``
(dots in the name become ``_``: neither Kubernetes name has an ``_``, so no two brokers
share a stream), consumer ``KN_TRIGGER_{trigger uid}``. The stream keeps the broker's uid as
its description, retains messages while a consumer still wants them (interest retention),
and is stored in files with ``replicas`` copies (key ``replicas`` of the broker's
``spec.config`` ConfigMap, default 1). The server is ``url`` of ``config-nats`` in
``knative-eventing``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import nats.errors
import nats.js.errors
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)

from shoal.api.catalog import default_catalog
from shoal.api.config import DEFAULT_NATS_URL, EVENTING_NS
from shoal.api.errors import ApiError
from shoal.client.base import Client
from shoal.eventing.delivery import Deliverer
from shoal.eventing.dispatcher import (
    Publish,
    TriggerPlan,
    cancel_consumer,
    deliver_to_trigger,
)
from shoal.eventing.event import CloudEvent
from shoal.eventing.natsconn import NatsConnection, NatsUnavailable

log = logging.getLogger("shoal.eventing.jetstream")

NATS_CONFIGMAP = "config-nats"
REPLICAS_KEY = "replicas"
ACK_WAIT = 15.0  # seconds before JetStream redelivers an unfinished message
PROGRESS_EVERY = 5.0  # a message being delivered is reported in progress this often
PUBLISH_TIMEOUT = 5.0
PULL_EXPIRES = 2.0  # seconds one pull request waits for messages
CONFIGMAPS = default_catalog().require("configmaps")
Obj = dict[str, Any]


def stream_name(namespace: str, name: str) -> str:
    return f"KN_BROKER_{namespace}_{name.replace('.', '_')}"


def subject_of(namespace: str, name: str) -> str:
    return f"knative.broker.{namespace}.{name.replace('.', '_')}"


def consumer_name(trigger_uid: str) -> str:
    return f"KN_TRIGGER_{trigger_uid}"


class NotReady(Exception):
    """The broker's stream cannot be made ready: ``reason`` and ``message`` for status."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class JetStreamTarget:
    """One broker's stream: what the ingress appends to and its Triggers consume."""

    backend: JetStreamBackend = field(compare=False, repr=False)
    namespace: str
    name: str
    uid: str = field(default="", compare=False)

    @property
    def stream(self) -> str:
        return stream_name(self.namespace, self.name)

    @property
    def subject(self) -> str:
        return subject_of(self.namespace, self.name)

    async def append(self, records: list[bytes]) -> None:
        js = await self.backend.jetstream()
        acks = await asyncio.gather(
            *(js.publish(self.subject, r, timeout=PUBLISH_TIMEOUT, stream=self.stream)
              for r in records), return_exceptions=True)
        for ack in acks:
            if isinstance(ack, BaseException):
                raise ack

    async def compact(self, older_than: float) -> None:
        """Nothing to do: the stream lets go of what every consumer acknowledged."""

    async def drop(self) -> None:
        """Delete the stream, unless a broker created again under this name owns it now."""
        js = await self.backend.jetstream()
        with contextlib.suppress(nats.js.errors.NotFoundError):
            info = await js.stream_info(self.stream)
            if info.config.description == self.uid:
                await js.delete_stream(self.stream)


class JetStreamBackend:
    """The NATS connection and stream management of the ``NatsJetStreamBroker`` class."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.nats = NatsConnection(self._servers, name="shoal-broker")

    async def _servers(self) -> list[str]:
        return [await self.url()]

    async def url(self) -> str:
        try:
            cm = await self.client.get(CONFIGMAPS, NATS_CONFIGMAP, EVENTING_NS)
        except ApiError:
            return DEFAULT_NATS_URL
        return str((cm.get("data") or {}).get("url") or DEFAULT_NATS_URL).strip()

    async def connection(self) -> NatsClient:
        try:
            return await self.nats.connection()
        except NatsUnavailable as exc:
            raise NotReady("NatsUnreachable", str(exc)) from exc

    async def jetstream(self) -> JetStreamContext:
        return (await self.connection()).jetstream(timeout=PUBLISH_TIMEOUT)

    def target(self, namespace: str, name: str, uid: str) -> JetStreamTarget:
        return JetStreamTarget(self, namespace, name, uid)

    async def prepare(self, broker: Obj) -> None:
        """Make the broker's stream exist; raises ``NotReady`` saying why it does not."""
        meta = broker["metadata"]
        namespace, name, uid = meta.get("namespace", ""), meta["name"], meta["uid"]
        if self.nats.client is not None and self.nats.urls != [await self.url()]:
            await self.nats.reset()  # config-nats names another server now
        replicas = await self._replicas(broker)
        js = await self.jetstream()
        config = StreamConfig(
            name=stream_name(namespace, name), description=uid,
            subjects=[subject_of(namespace, name)], retention=RetentionPolicy.INTEREST,
            storage=StorageType.FILE, num_replicas=replicas)
        try:
            try:
                info = await js.stream_info(config.name or "")
            except nats.js.errors.NotFoundError:
                await js.add_stream(config)
                return
            if info.config.description != uid:  # left by a broker deleted while we were down
                await js.delete_stream(config.name or "")
                await js.add_stream(config)
            elif info.config.num_replicas != replicas:
                await js.update_stream(config)
        except nats.js.errors.APIError as exc:
            raise NotReady("StreamNotReady", f"JetStream refused stream {config.name}: "
                           f"{exc.description or exc}") from exc
        except (nats.errors.Error, TimeoutError) as exc:
            raise NotReady("NatsUnreachable", f"NATS did not answer: {exc}") from exc

    async def _replicas(self, broker: Obj) -> int:
        ref = (broker.get("spec") or {}).get("config") or {}
        if ref.get("kind") != "ConfigMap" or not ref.get("name"):
            return 1
        namespace = ref.get("namespace") or broker["metadata"].get("namespace", "")
        try:
            cm = await self.client.get(CONFIGMAPS, ref["name"], namespace)
        except ApiError as exc:
            raise NotReady("ConfigNotFound", f"spec.config: {exc}") from exc
        raw = str((cm.get("data") or {}).get(REPLICAS_KEY, "1")).strip()
        if not raw.isdigit() or int(raw) < 1:
            raise NotReady("InvalidConfig", f"ConfigMap {namespace}/{ref['name']}: "
                           f"{REPLICAS_KEY} must be a positive integer, not {raw!r}")
        return int(raw)

    def consumer(self, plan: TriggerPlan, deliverer: Deliverer,
                 publish: Publish) -> JetStreamConsumer:
        return JetStreamConsumer(plan, deliverer, publish)

    async def close(self) -> None:
        await self.nats.close()


class PullLoop:
    """Reads one durable pull consumer until stopped, through NATS outages and restarts.

    ``ensure`` creates the consumer when it does not exist; ``handle`` gets each message and
    says whether it is done (acknowledged) or should come back after ``retry_in`` seconds
    (negatively acknowledged). Up to ``limit()`` messages are handled at once, one at a time
    in order when the limit is 1. A message being handled is reported in progress every
    ``PROGRESS_EVERY`` seconds; one cut short by ``stop`` is handed back at once.

    It keeps one pull request open at a time (for as many messages as there is room for,
    expiring after ``PULL_EXPIRES``) and hands each message on the moment it arrives: the
    client library's ``fetch`` holds the first messages of a batch until the batch is full
    or its timeout passes, which would add up to that timeout to every delivery.
    """

    def __init__(self, connect: Callable[[], Awaitable[NatsClient]], stream: str,
                 durable: str, ensure: Callable[[JetStreamContext], Awaitable[None]],
                 handle: Callable[[Msg], Awaitable[bool]], limit: Callable[[], int], *,
                 name: str, batch: int = 256, retry_in: float = 1.0) -> None:
        self.connect = connect
        self.stream = stream
        self.durable = durable
        self.ensure = ensure
        self.handle = handle
        self.limit = limit
        self.name = name
        self.batch = batch
        self.retry_in = retry_in
        self.ready = False
        self.error = ""
        self._task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._room = asyncio.Event()
        self._arrived: asyncio.Queue[Msg] = asyncio.Queue()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        await cancel_consumer(self._task, self._tasks)
        self._task = None

    async def _run(self) -> None:
        while True:
            try:
                nc = await self.connect()
                await self.ensure(nc.jetstream(timeout=PUBLISH_TIMEOUT))
                self._arrived = asyncio.Queue()
                inbox = nc.new_inbox()
                sub = await nc.subscribe(inbox, cb=self._arrive)
                self.ready, self.error = True, ""
                try:
                    await self._pull(nc, inbox)
                finally:
                    with contextlib.suppress(Exception):
                        await sub.unsubscribe()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.error = str(exc) or type(exc).__name__
                log.debug("%s: %s", self.name, self.error)
                await asyncio.sleep(0.5)

    async def _arrive(self, msg: Msg) -> None:
        self._arrived.put_nowait(msg)

    async def _pull(self, nc: NatsClient, inbox: str) -> None:
        subject = f"$JS.API.CONSUMER.MSG.NEXT.{self.stream}.{self.durable}"
        while True:
            limit = self.limit()
            free = limit - len(self._tasks)
            if free <= 0:
                self._room.clear()
                await self._room.wait()
                continue
            batch = min(free, self.batch)
            request = {"batch": batch, "expires": int(PULL_EXPIRES * 1e9)}
            await nc.publish(subject, json.dumps(request).encode(), reply=inbox)
            for _ in range(batch):
                try:  # a request lost with the connection is never answered: ask again
                    msg = await asyncio.wait_for(self._arrived.get(), PULL_EXPIRES + 1.0)
                except TimeoutError:
                    break
                if msg.headers and msg.headers.get("Status"):
                    break  # this request is over: no messages, expired, or refused
                if limit == 1:
                    await self._one(msg)
                    continue
                task = asyncio.create_task(self._one(msg))
                self._tasks.add(task)
                task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._room.set()

    async def _one(self, msg: Msg) -> None:
        progress = asyncio.create_task(self._keep_alive(msg))
        try:
            done = await self.handle(msg)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await asyncio.shield(msg.nak())  # stopping: someone else may take it now
            raise
        finally:
            progress.cancel()
        try:
            await (msg.ack() if done else msg.nak(self.retry_in))
        except nats.errors.Error as exc:  # redelivered after ACK_WAIT: at least once
            log.debug("%s: ack failed: %s", self.name, exc)

    @staticmethod
    async def _keep_alive(msg: Msg) -> None:
        while True:
            await asyncio.sleep(PROGRESS_EVERY)
            with contextlib.suppress(nats.errors.Error):
                await msg.in_progress()


class JetStreamConsumer:
    """A Trigger's durable pull consumer; see the module's doc for what is acknowledged."""

    def __init__(self, plan: TriggerPlan, deliverer: Deliverer, publish: Publish) -> None:
        if not isinstance(plan.target, JetStreamTarget):
            raise TypeError(f"a JetStreamConsumer reads a JetStream stream, not {plan.target!r}")
        self.target: JetStreamTarget = plan.target
        self.plan = plan
        self.deliverer = deliverer
        self.publish = publish
        self.durable = consumer_name(plan.uid)
        self._loop = PullLoop(self.target.backend.connection, self.target.stream, self.durable,
                              self._ensure, self._handle, self._limit,
                              name=f"trigger {plan.namespace}/{plan.name}")

    @property
    def ready(self) -> bool:
        return self._loop.ready

    def _limit(self) -> int:
        return 1 if self.plan.ordered else max(1, self.plan.max_in_flight)

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    async def forget(self) -> None:
        try:
            js = await self.target.backend.jetstream()
            await js.delete_consumer(self.target.stream, self.durable)
        except nats.js.errors.NotFoundError:
            pass
        except (NotReady, nats.errors.Error, TimeoutError) as exc:
            log.warning("trigger %s/%s: could not delete consumer %s: %s",
                        self.plan.namespace, self.plan.name, self.durable, exc)

    async def _ensure(self, js: JetStreamContext) -> None:
        try:
            await js.consumer_info(self.target.stream, self.durable)
        except nats.js.errors.NotFoundError:
            await js.add_consumer(self.target.stream, ConsumerConfig(
                durable_name=self.durable, deliver_policy=DeliverPolicy.NEW,
                ack_policy=AckPolicy.EXPLICIT, ack_wait=ACK_WAIT, max_deliver=-1,
                max_ack_pending=self._limit(),
                description=f"trigger {self.plan.namespace}/{self.plan.name}"))

    async def _handle(self, msg: Msg) -> bool:
        """Every outcome of a delivery is final: retries were the Trigger's own."""
        plan = self.plan
        try:
            await deliver_to_trigger(plan, CloudEvent.from_record(msg.data), self.deliverer,
                                     self.publish)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("trigger %s/%s: event failed", plan.namespace, plan.name)
        return True
