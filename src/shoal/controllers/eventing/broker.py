"""The Broker reconciler: address, dead-letter sink and conditions of Shoal's broker classes.

A Broker of a class Shoal serves (``SQLiteBroker``, Knative's ``MTChannelBasedBroker``, both
on the durable log; ``InMemoryBroker``) gets the ingress URL ``{ingress}/{namespace}/{name}``
as ``status.address.url`` and Knative's conditions. Brokers of other classes are left to
whatever serves them. The data plane (``shoal.eventing``) reads the same Brokers.

A class whose storage lives outside Shoal (``NatsJetStreamBroker``: a JetStream stream) is
made ready through ``prepare``, which the data plane provides: until it reports the storage
ready, ``TriggerChannelReady`` is False with its reason (``NatsUnreachable``, …) and the
Broker is reconciled again shortly.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from shoal.api.catalog import default_catalog
from shoal.api.config import BROKER_CLASSES
from shoal.api.eventing.broker import Broker, BrokerStatus
from shoal.api.model import Addressable
from shoal.controllers.conditions import ConditionSet
from shoal.controllers.eventing.deadletter import resolve_dead_letter_sink
from shoal.controllers.reconciler import ModelReconciler, ReconcileResult
from shoal.controllers.resolver import DestinationResolver

# The broker as stored → None when its storage is ready, else (reason, message).
Prepare = Callable[[dict[str, Any]], Awaitable[tuple[str, str] | None]]
NOT_READY_REQUEUE = 2.0

BROKER_CONDITIONS = ConditionSet("Ready", ["Addressable", "DeadLetterSinkResolved",
                                           "FilterReady", "IngressReady",
                                           "TriggerChannelReady"])


def broker_url(ingress: str, namespace: str, name: str) -> str:
    return f"{ingress.rstrip('/')}/{namespace}/{name}"


class BrokerReconciler(ModelReconciler[Broker]):
    rt = default_catalog().require("brokers")

    def __init__(self, ingress: str, resolver: DestinationResolver,
                 prepare: Prepare | None = None) -> None:
        self.ingress = ingress
        self.resolver = resolver
        self.prepare = prepare

    async def reconcile(self, obj: Broker) -> ReconcileResult | None:
        if obj.broker_class not in BROKER_CLASSES:
            return None
        status = obj.status = obj.status or BrokerStatus()
        conditions = BROKER_CONDITIONS.manage(status)
        conditions.initialize()
        conditions.mark_true("IngressReady")
        conditions.mark_true("FilterReady")
        problem = await self.prepare(obj.dump()) if self.prepare is not None else None
        if problem is None:
            conditions.mark_true("TriggerChannelReady")
        else:
            conditions.mark_false("TriggerChannelReady", *problem)
        status.address = Addressable(url=broker_url(self.ingress, obj.namespace, obj.name))
        conditions.mark_true("Addressable")
        sink = obj.spec.delivery.dead_letter_sink if obj.spec.delivery else None
        result = await resolve_dead_letter_sink(self.resolver, sink, obj.namespace,
                                                f"{obj.namespace}/{obj.name}", status,
                                                conditions)
        return ReconcileResult(requeue_after=NOT_READY_REQUEUE) if problem else result
