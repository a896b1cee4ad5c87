"""The Trigger reconciler: broker readiness, subscriber and dead-letter sink URIs, conditions.

A Trigger resolves its subscriber into ``status.subscriberUri`` and its dead-letter sink
(its own, else its broker's) into ``status.deadLetterSinkUri``; the data plane delivers to
those URIs. A Trigger created before its Broker waits with ``BrokerReady=False`` and is
reconciled again when the Broker appears or changes (it tracks the Broker and the
subscriber's referent).
"""

from __future__ import annotations

from typing import Any

from shoal.api.catalog import default_catalog
from shoal.api.config import BROKER_CLASSES
from shoal.api.errors import NotFound
from shoal.api.eventing.trigger import Trigger, TriggerStatus
from shoal.client.base import Client
from shoal.controllers.conditions import ConditionSet
from shoal.controllers.reconciler import ModelReconciler, ReconcileResult, Watch
from shoal.controllers.resolver import DestinationResolver, ResolveError
from shoal.controllers.tracker import Reference, Tracker

TRIGGER_CONDITIONS = ConditionSet("Ready", ["BrokerReady", "DeadLetterSinkResolved",
                                            "DependencyReady", "SubscriberResolved",
                                            "SubscriptionReady"])
BROKERS = default_catalog().require("brokers")


def _ready(obj: dict[str, Any]) -> tuple[str, str, str]:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return (str(cond.get("status", "Unknown")), str(cond.get("reason") or ""),
                    str(cond.get("message") or ""))
    return "Unknown", "BrokerUnknown", "the broker has not been reconciled yet"


class TriggerReconciler(ModelReconciler[Trigger]):
    rt = default_catalog().require("triggers")

    def __init__(self, client: Client, resolver: DestinationResolver, tracker: Tracker,
                 addressable_kinds: tuple[str, ...] = ("services", "brokers", "channels",
                                                       "inmemorychannels", "sequences",
                                                       "parallels")) -> None:
        self.client = client
        self.resolver = resolver
        self.tracker = tracker
        catalog = default_catalog()
        self.watches = tuple(Watch(catalog.require(kind), tracker.mapper(catalog.require(kind)))
                             for kind in addressable_kinds)

    async def reconcile(self, obj: Trigger) -> ReconcileResult | None:
        key = f"{obj.namespace}/{obj.name}"
        status = obj.status = obj.status or TriggerStatus()
        conditions = TRIGGER_CONDITIONS.manage(status)
        conditions.initialize()
        conditions.mark_true("DependencyReady")
        broker_name = obj.spec.broker or ""
        self.tracker.track(Reference.to(BROKERS, obj.namespace, broker_name), key)
        try:
            broker = await self.client.get(BROKERS, broker_name, obj.namespace)
        except NotFound:
            broker = None
            conditions.mark_false("BrokerReady", "BrokerDoesNotExist",
                                  f'Broker "{broker_name}" does not exist')
        if broker is not None:
            broker_class = (broker["metadata"].get("annotations") or {}).get(
                "eventing.knative.dev/broker.class", "")
            ready, reason, message = _ready(broker)
            if broker_class in BROKER_CLASSES and ready == "True":
                conditions.mark_true("BrokerReady")
            elif ready == "False":
                conditions.mark_false("BrokerReady", reason or "BrokerNotReady", message)
            else:
                conditions.mark_unknown("BrokerReady", reason or "BrokerNotReady", message)

        try:
            status.subscriber_uri = await self.resolver.resolve(
                obj.spec.subscriber, obj.namespace, by=key)
            conditions.mark_true("SubscriberResolved")
        except ResolveError as err:
            status.subscriber_uri = None
            conditions.mark_false("SubscriberResolved", "Unable to get the Subscriber's URI",
                                  err.message)

        sink = obj.spec.delivery.dead_letter_sink if obj.spec.delivery else None
        if sink is not None:
            try:
                status.dead_letter_sink_uri = await self.resolver.resolve(
                    sink, obj.namespace, by=key)
                conditions.mark_true("DeadLetterSinkResolved")
            except ResolveError as err:
                status.dead_letter_sink_uri = None
                conditions.mark_false("DeadLetterSinkResolved", err.reason, err.message)
        elif broker is not None and (broker.get("status") or {}).get("deadLetterSinkUri"):
            status.dead_letter_sink_uri = broker["status"]["deadLetterSinkUri"]
            conditions.mark_true("DeadLetterSinkResolved")
        else:
            status.dead_letter_sink_uri = None
            conditions.mark_true("DeadLetterSinkResolved", "DeadLetterSinkNotConfigured",
                                 "No dead letter sink is configured.")

        if status.subscriber_uri and conditions.is_true("BrokerReady"):
            conditions.mark_true("SubscriptionReady")
        else:
            conditions.mark_unknown("SubscriptionReady", "SubscriptionNotReady",
                                    "waiting for the broker and the subscriber")
        return None

    async def deleted(self, key: str) -> None:
        self.tracker.forget(key)
