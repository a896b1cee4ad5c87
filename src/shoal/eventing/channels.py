"""The channel data plane: InMemoryChannel ingress and one consumer per channel subscriber.

``ChannelPlane`` follows InMemoryChannels through the shared informer. Each channel gets the
stream ``channel/{namespace}/{name}/{uid}`` in the event log it is given (so a channel
deleted and created again starts empty), and ``serve()`` answers its ingress at
``POST /channels/{namespace}/{name}`` on the eventing plane's listener, with the answers of
broker ingress: 202 once the events are appended, 400 for an invalid event, 404 for an
unknown channel, 405 for other methods, 413 over the size limit, 503 when the log fails, and
the CloudEvents webhook handshake on ``OPTIONS``. Unlike a broker, a channel stamps nothing
on the events it accepts (no TTL, no arrival time), as Knative's channel receiver.

Every entry of a channel's ``spec.subscribers`` (written by the Subscription reconciler) gets
a ``SubscriberConsumer``: the Trigger dispatcher's consumer (cursor, at-least-once,
concurrency: ``dispatcher.py``), keyed by the subscriber's uid, that hands every event to
``dispatch``, Knative's channel fanout for one subscriber:

1. deliver the event to ``subscriberUri`` with the subscriber's delivery options (retries,
   backoff, timeout), dead-lettering it to the subscriber's dead-letter sink on failure; a
   response that is not an event is dropped (``strict_reply=False``); with no
   ``subscriberUri`` the event itself is the response;
2. send a response event to ``replyUri``, when there is one, with the same options; if that
   fails, the *original* event goes to the dead-letter sink, with ``knativeerrordest`` naming
   the reply URL (and ``knativeerrorcode`` when there was a response).

Every request carries ``Kn-Namespace: <the channel's namespace>``, as the Trigger's do.

A subscriber the plane sees for the first time starts at the head of its channel's stream:
the head is read when the informer tells of the entry, before the channel can report the
subscriber ready, so no event sent after the Subscription is Ready is missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from shoal.api.catalog import default_catalog
from shoal.client.base import Client
from shoal.controllers.clock import Clock, SystemClock
from shoal.controllers.factory import InformerFactory
from shoal.controllers.informer import InformerEvent
from shoal.eventing.backoff import RetryPolicy
from shoal.eventing.delivery import Deliverer, error_extensions
from shoal.eventing.dispatcher import TriggerConsumer, TriggerPlan
from shoal.eventing.event import CloudEvent
from shoal.eventing.httpclient import HTTPClient, Result
from shoal.eventing.httpserver import Request, Response
from shoal.eventing.ingress import DEFAULT_MAX_EVENT_BYTES, BrokerTarget, path_parts, receive
from shoal.eventing.log import EventLog

log = logging.getLogger("shoal.eventing.channels")

IMCS = default_catalog().require("inmemorychannels")
NAMESPACE_HEADER = "Kn-Namespace"  # sent with every delivery, as Knative's dispatchers do
Obj = dict[str, Any]


def channel_stream(namespace: str, name: str, uid: str) -> str:
    return f"channel/{namespace}/{name}/{uid}"


def match_all(event: CloudEvent) -> bool:
    """A channel hands every event to every subscriber."""
    return True


async def no_broker(namespace: str, broker: str, events: list[CloudEvent]) -> int:
    """The ``publish`` of a channel consumer: replies go to ``replyUri``, never to a broker."""
    return 404


@dataclass(frozen=True)
class SubscriberPlan(TriggerPlan):
    """A Trigger plan for one channel subscriber: ``broker`` is the channel's name,
    ``subscriber`` its ``subscriberUri`` (empty for reply-only entries), plus the reply."""

    reply: str | None = None


async def dispatch(deliverer: Deliverer, plan: SubscriberPlan, event: CloudEvent) -> None:
    """Knative's channel fanout for one subscriber and one event (see the module's doc)."""
    headers = {NAMESPACE_HEADER: plan.namespace}
    if plan.subscriber:
        result = await deliverer.deliver(event, plan.subscriber, plan.policy,
                                         dead_letter=plan.dead_letter, extra_headers=headers,
                                         strict_reply=False)
        if not result.delivered:
            return
        response = result.reply
    else:
        response = event
    if response is None or not plan.reply:
        return
    sent = await deliverer.deliver(response, plan.reply, plan.policy, extra_headers=headers,
                                   strict_reply=False)
    if sent.delivered or plan.dead_letter is None:
        if not sent.delivered:
            log.warning("event %s: failed to forward the reply to %s: %s", event.id,
                        plan.reply, sent.error)
        return
    dead = event.copy()
    dead.attributes.update(error_extensions(plan.reply, sent.status, {}, b""))
    dls = await deliverer.deliver(dead, plan.dead_letter, plan.policy, extra_headers=headers,
                                  strict_reply=False)
    if not dls.delivered:
        log.warning("event %s: failed to forward the reply to %s (%s) and to the dead-letter "
                    "sink %s (%s)", event.id, plan.reply, sent.error, plan.dead_letter,
                    dls.error)


class SubscriberConsumer(TriggerConsumer):
    """The Trigger consumer, handing each record to ``dispatch`` instead of filtering it."""

    plan: SubscriberPlan

    def __init__(self, plan: SubscriberPlan, deliverer: Deliverer, *,
                 flush_interval: float = 0.05) -> None:
        super().__init__(plan, deliverer, no_broker, flush_interval=flush_interval)

    def _skip(self, data: bytes) -> bool:
        return False  # every event of a channel goes to every subscriber

    def _begin(self, seq: int, data: bytes) -> bool:
        return False  # a subscriber's delivery also forwards its reply: a worker's job

    async def _handle(self, seq: int, data: bytes, first: Result | None = None) -> None:
        try:
            await dispatch(self.deliverer, self.plan, CloudEvent.from_record(data))
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("channel %s/%s, subscriber %s: event %d failed", self.plan.namespace,
                          self.plan.broker, self.plan.uid, seq)
        finally:
            self._done(seq)


def subscriber_plans(channel: Obj, target: BrokerTarget) -> dict[str, SubscriberPlan]:
    """How to serve each entry of an InMemoryChannel's ``spec.subscribers``, by uid."""
    meta, spec = channel["metadata"], channel.get("spec") or {}
    namespace, name = meta.get("namespace", ""), meta["name"]
    channel_dls = (channel.get("status") or {}).get("deadLetterSinkUri") or None
    plans: dict[str, SubscriberPlan] = {}
    for sub in spec.get("subscribers") or []:
        uid = sub.get("uid")
        subscriber, reply = sub.get("subscriberUri") or "", sub.get("replyUri") or None
        if not uid or not (subscriber or reply):
            continue
        delivery = sub.get("delivery") or spec.get("delivery")
        dead_letter = ((sub.get("delivery") or {}).get("deadLetterSink") or {}).get("uri")
        plans[uid] = SubscriberPlan(
            uid=uid, namespace=namespace, name=f"{name}/{uid}", broker=name, target=target,
            subscriber=subscriber, dead_letter=dead_letter or channel_dls,
            policy=RetryPolicy.from_spec(delivery), matches=match_all, reply=reply)
    return plans


class ChannelPlane:
    """InMemoryChannel ingress routes and subscriber consumers, over one event log.

    With no ``deliverer`` the plane opens its own HTTP session on ``start`` and closes it on
    ``stop``. The log belongs to the caller, who closes it after ``stop``. Channels are read
    through ``informers`` (shared with the controllers); ``client`` is kept for parity with
    ``EventingPlane`` and is not used yet. With ``dispatch=False`` (``shoal up`` when a
    dispatcher process runs the consumers) the plane only creates each new subscriber's
    cursor at the head, and drops it when the subscriber goes; with ``compact_every=0`` it
    compacts nothing (the dispatcher process's plane: ``shoal up`` compacts).
    """

    def __init__(self, client: Client, informers: InformerFactory, log: EventLog,
                 deliverer: Deliverer | None = None, *,
                 max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES, clock: Clock | None = None,
                 retention: float = 3600.0, compact_every: float = 60.0,
                 flush_interval: float = 0.05, dispatch: bool = True) -> None:
        self.client = client
        self.dispatch = dispatch
        self.informers = informers
        self.log = log
        self.deliverer = deliverer
        self.max_event_bytes = max_event_bytes
        self.clock: Clock = clock or SystemClock()
        self.retention = retention
        self.compact_every = compact_every
        self.flush_interval = flush_interval
        self.channels = informers.informer(IMCS)
        self.consumers: dict[str, SubscriberConsumer] = {}
        self._by_channel: dict[str, set[str]] = {}  # channel key -> subscriber uids
        self._tasks: set[asyncio.Task[None]] = set()
        self._session: HTTPClient | None = None
        self._compactor: asyncio.Task[None] | None = None
        self._running = False

    # -- ingress -------------------------------------------------------------------------

    def target(self, namespace: str, name: str) -> BrokerTarget | None:
        channel = self.channels.get(f"{namespace}/{name}")
        if channel is None or channel["metadata"].get("deletionTimestamp"):
            return None
        return BrokerTarget(self.log, channel_stream(namespace, name,
                                                     channel["metadata"]["uid"]))

    async def publish(self, namespace: str, name: str, events: list[CloudEvent]) -> int:
        """Append events to a channel's stream; the HTTP status to answer."""
        target = self.target(namespace, name)
        if target is None:
            return 404
        if events:
            try:
                await target.log.append(target.stream, [e.to_record() for e in events])
            except Exception:
                log.exception("storing events for channel %s/%s failed", namespace, name)
                return 503
        return 202

    async def serve(self, request: Request) -> Response:
        """``/channels/{namespace}/{name}``: the ingress of one InMemoryChannel."""
        parts = path_parts(request)
        if len(parts) != 3 or parts[0] != "channels" or not all(parts):
            return Response.text(404, f"no channel at {request.path}\n")
        _, namespace, name = parts
        return await receive(request, f"channel {namespace}/{name}",
                             self.target(namespace, name) is not None, self.max_event_bytes,
                             lambda events: self.publish(namespace, name, events))

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        if self.deliverer is None:
            self._session = HTTPClient()
            self.deliverer = Deliverer(self._session, self.clock)
        self._running = True
        self.channels.add_handler(self._on_channel)
        self.informers.start()
        await self.informers.wait_synced(30)
        if self.compact_every > 0:
            self._compactor = asyncio.create_task(self._compact_loop())

    async def stop(self) -> None:
        """Stop every consumer (their cursors are written), then close the plane's session."""
        self._running = False
        if self._compactor is not None:
            self._compactor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._compactor
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        consumers = list(self.consumers.values())
        self.consumers.clear()
        self._by_channel.clear()
        await asyncio.gather(*(c.stop() for c in consumers))
        if self._session is not None:
            await self._session.close()
            self._session = None

    def serves(self, uid: str) -> bool:
        """Whether a consumer runs (or is starting) for the subscriber ``uid``."""
        return uid in self.consumers

    # -- following the API ---------------------------------------------------------------

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_channel(self, event: InformerEvent) -> None:
        if not self._running:
            return
        key, meta = event.key, event.obj["metadata"]
        target = self.target(meta.get("namespace", ""), meta["name"])
        plans = {} if event.type == "DELETED" or target is None else subscriber_plans(
            event.obj, target)
        for plan in plans.values():
            self._apply(plan)
        retired = [self.consumers.pop(uid) for uid in self._by_channel.get(key, set())
                   if uid not in plans and uid in self.consumers]
        if plans:
            self._by_channel[key] = set(plans)
        else:
            self._by_channel.pop(key, None)
        stream = channel_stream(meta.get("namespace", ""), meta["name"], meta["uid"])
        if retired or event.type == "DELETED":
            self._spawn(self._retire(retired, stream if event.type == "DELETED" else None))

    def _apply(self, plan: SubscriberPlan) -> None:
        current = self.consumers.get(plan.uid)
        if current is not None and current.plan.target == plan.target:
            current.plan = plan  # new URIs or options: from the next event on
            return
        assert self.deliverer is not None
        consumer = SubscriberConsumer(plan, self.deliverer, flush_interval=self.flush_interval)
        self.consumers[plan.uid] = consumer
        head = consumer.target.log.head(consumer.target.stream)
        self._spawn(self._start(consumer, head, current))

    async def _start(self, consumer: SubscriberConsumer, head: int,
                     previous: SubscriberConsumer | None) -> None:
        """Start at the stored cursor, or at ``head`` for a subscriber new to this stream."""
        if previous is not None:
            await previous.stop()
        plan, target = consumer.plan, consumer.target
        stored = await target.log.get_cursor(plan.uid)
        if self.consumers.get(plan.uid) is not consumer:
            return
        if previous is not None or stored is None or stored > target.log.head(target.stream):
            await target.log.set_cursor(plan.uid, target.stream, head)
        if self.consumers.get(plan.uid) is consumer and self._running and self.dispatch:
            consumer.start()

    async def _retire(self, consumers: list[SubscriberConsumer], stream: str | None) -> None:
        """Stop consumers of removed subscribers and forget their cursors; drop the stream
        of a deleted channel."""
        await asyncio.gather(*(c.stop() for c in consumers))
        for consumer in consumers:
            if consumer.plan.uid not in self.consumers:
                await self.log.delete_cursor(consumer.plan.uid)
        if stream is not None:
            await self.log.drop_stream(stream)

    async def _compact_loop(self) -> None:
        while True:
            await asyncio.sleep(self.compact_every)
            for channel in self.channels.list():
                meta = channel["metadata"]
                target = self.target(meta.get("namespace", ""), meta["name"])
                if target is None:
                    continue
                try:
                    await target.compact(self.retention)
                except Exception:
                    log.exception("compacting %s failed", target.stream)
