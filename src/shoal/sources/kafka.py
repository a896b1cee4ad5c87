"""KafkaSource in ``shoal up``: the reconciler that starts and watches the Kafka adapters.

``add_kafka_source`` (called once by ``shoal up``) adds ``KafkaSourceReconciler`` to the
controller manager and returns the ``KafkaAdapters`` it drives (``kafka_adapter.py``),
which ``shoal up`` stops on the way down. For every KafkaSource whose sink resolves, the
reconciler hands a ``KafkaPlan`` to the adapters; an adapter reports its state back
(connected, initial offsets committed), the controller is enqueued, and the reconciler turns
the state into Knative's conditions: ``SinkProvided``, ``Deployed``,
``ConnectionEstablished``, ``InitialOffsetsCommitted`` and, derived from them, ``Ready``.
"""

from __future__ import annotations

from typing import Protocol

from shoal.api.catalog import default_catalog
from shoal.api.sources.base import CloudEventAttributes
from shoal.api.sources.kafka import (
    EVENT_TYPE,
    KEY_TYPE_ANNOTATION,
    UNORDERED,
    KafkaSource,
    KafkaSourceStatus,
    event_source,
)
from shoal.client.base import Client
from shoal.controllers.clock import Clock
from shoal.controllers.conditions import ConditionSet
from shoal.controllers.manager import Manager
from shoal.controllers.reconciler import ModelReconciler, ReconcileResult, Watch
from shoal.controllers.resolver import ResolveError, tracked_resolver
from shoal.controllers.tracker import Tracker
from shoal.eventing.backoff import RetryPolicy
from shoal.sources.kafka_adapter import AdapterState, KafkaAdapters, KafkaPlan

KAFKA_SOURCES = default_catalog().require("kafkasources")
KAFKA_CONDITIONS = ConditionSet("Ready", ["SinkProvided", "Deployed", "ConnectionEstablished",
                                          "InitialOffsetsCommitted"])
SINK_KINDS = ("services", "brokers", "channels", "inmemorychannels", "sequences", "parallels")


class Adapters(Protocol):
    """What the reconciler needs of the adapters (``KafkaAdapters``, or a fake in tests)."""

    def state(self, key: str) -> AdapterState: ...

    def apply(self, key: str, plan: KafkaPlan) -> None: ...

    def remove(self, key: str) -> None: ...


class KafkaSourceReconciler(ModelReconciler[KafkaSource]):
    rt = KAFKA_SOURCES

    def __init__(self, client: Client, adapters: Adapters,
                 clock: Clock | None = None) -> None:
        catalog = default_catalog()
        self.tracker: Tracker
        self.tracker, self.resolver = tracked_resolver(client, catalog, clock)
        self.adapters = adapters
        self.watches = tuple(Watch(catalog.require(kind),
                                   self.tracker.mapper(catalog.require(kind)))
                             for kind in SINK_KINDS)

    async def reconcile(self, obj: KafkaSource) -> ReconcileResult | None:
        key = f"{obj.namespace}/{obj.name}"
        spec = obj.spec
        status = obj.status = obj.status or KafkaSourceStatus()
        conditions = KAFKA_CONDITIONS.manage(status)
        conditions.initialize()
        status.ce_attributes = [
            CloudEventAttributes(type=EVENT_TYPE, source=event_source(obj.namespace, obj.name, t))
            for t in spec.topics or []]
        try:
            status.sink_uri = await self.resolver.resolve(spec.sink, obj.namespace, by=key)
            conditions.mark_true("SinkProvided")
        except ResolveError as err:
            status.sink_uri = None
            conditions.mark_false("SinkProvided", "NotFound", err.message)
        dead_letter: str | None = None
        if spec.delivery is not None and spec.delivery.dead_letter_sink is not None:
            try:
                dead_letter = await self.resolver.resolve(
                    spec.delivery.dead_letter_sink, obj.namespace, by=key)
            except ResolveError as err:
                conditions.mark_false("SinkProvided", "DeadLetterSinkNotFound", err.message)
        if not conditions.is_true("SinkProvided") or not status.sink_uri:
            self.adapters.remove(key)
            status.consumers = None
            conditions.mark_unknown("Deployed", "SinkNotResolved",
                                    "the consumers start once the sink resolves")
            return None
        self.adapters.apply(key, _plan(obj, status.sink_uri, dead_letter))
        conditions.mark_true("Deployed")
        state = self.adapters.state(key)
        status.consumers = state.members
        if state.initial_offsets_committed:
            conditions.mark_true("InitialOffsetsCommitted")
        elif state.connected is False:
            conditions.mark_false("InitialOffsetsCommitted", "OffsetsNotCommitted",
                                  "the consumer group could not be joined")
        else:
            conditions.mark_unknown("InitialOffsetsCommitted", "OffsetsNotCommitted",
                                    "waiting for the consumer group to assign partitions")
        if state.connected is None:
            conditions.mark_unknown("ConnectionEstablished", "Connecting",
                                    f"connecting to {', '.join(spec.bootstrap_servers or [])}")
        elif state.connected:
            conditions.mark_true("ConnectionEstablished")
        else:
            conditions.mark_false("ConnectionEstablished", "ConnectionFailed",
                                  f"cannot reach the Kafka brokers: {state.error}")
        return None

    async def deleted(self, key: str) -> None:
        self.adapters.remove(key)
        self.tracker.forget(key)


def _plan(obj: KafkaSource, sink: str, dead_letter: str | None) -> KafkaPlan:
    spec = obj.spec
    delivery = spec.delivery.dump() if spec.delivery is not None else None
    overrides = spec.ce_overrides.extensions if spec.ce_overrides is not None else None
    return KafkaPlan(
        uid=obj.metadata.uid or "", namespace=obj.namespace, name=obj.name,
        servers=tuple(s.strip() for s in spec.bootstrap_servers or []),
        topics=tuple(spec.topics or []), group=spec.consumer_group or "",
        initial_offset=spec.initial_offset or "latest", consumers=spec.consumers or 1,
        sink=sink, dead_letter=dead_letter, policy=RetryPolicy.from_spec(delivery),
        key_type=(obj.metadata.annotations or {}).get(KEY_TYPE_ANNOTATION, "string"),
        overrides=tuple(sorted((overrides or {}).items())),
        ordered=spec.ordering != UNORDERED)


def add_kafka_source(client: Client, manager: Manager) -> KafkaAdapters:
    """Run KafkaSources in ``manager``; the caller stops the returned adapters last."""
    adapters = KafkaAdapters(manager.clock)
    controller = manager.add(KafkaSourceReconciler(client, adapters, manager.clock))
    adapters.notify = controller.enqueue
    return adapters
