"""The InMemoryChannel reconciler: address, dead-letter sink, subscribers and conditions.

An InMemoryChannel is served by the channel data plane (``shoal.eventing.channels``) on the
eventing plane's listener, so its ``status.address.url`` is ``{ingress}/channels/{ns}/{name}``.
The data plane follows ``spec.subscribers`` from the same informer and starts a consumer for
each entry as soon as it sees it, so every entry is reported in ``status.subscribers`` as
ready for the generation it carries; the Subscription reconciler waits for that. Knative's
conditions about the dispatcher's Deployment, Service and Endpoints have no moving part in
Shoal and are True whenever the channel is reconciled.
"""

from __future__ import annotations

from shoal.api.catalog import default_catalog
from shoal.api.messaging.channelable import ChannelableStatus, SubscriberStatus
from shoal.api.messaging.inmemorychannel import InMemoryChannel
from shoal.api.model import Addressable
from shoal.controllers.conditions import ConditionSet
from shoal.controllers.eventing.builders import imc_url
from shoal.controllers.eventing.deadletter import resolve_dead_letter_sink
from shoal.controllers.reconciler import ModelReconciler, ReconcileResult, Watch
from shoal.controllers.resolver import DestinationResolver
from shoal.controllers.tracker import Tracker

IMC_CONDITIONS = ConditionSet("Ready", ["Addressable", "ChannelServiceReady",
                                        "DeadLetterSinkResolved", "EndpointsReady",
                                        "ServiceReady"])
DISPATCHER_READY = "DispatcherReady"  # informational in Knative's set, set all the same
ADDRESSABLE_KINDS = ("services", "brokers", "channels", "inmemorychannels", "sequences",
                     "parallels")


class InMemoryChannelReconciler(ModelReconciler[InMemoryChannel]):
    rt = default_catalog().require("inmemorychannels")

    def __init__(self, ingress: str, resolver: DestinationResolver,
                 tracker: Tracker | None = None) -> None:
        self.ingress = ingress
        self.resolver = resolver
        self.tracker = tracker
        if tracker is not None:
            catalog = default_catalog()
            self.watches = tuple(Watch(catalog.require(k), tracker.mapper(catalog.require(k)))
                                 for k in ADDRESSABLE_KINDS)

    async def reconcile(self, obj: InMemoryChannel) -> ReconcileResult | None:
        status = obj.status = obj.status or ChannelableStatus()
        conditions = IMC_CONDITIONS.manage(status)
        conditions.initialize()
        conditions.mark_true(DISPATCHER_READY)
        conditions.mark_true("ServiceReady")
        conditions.mark_true("EndpointsReady")
        conditions.mark_true("ChannelServiceReady")
        status.address = Addressable(name="http",
                                     url=imc_url(self.ingress, obj.namespace, obj.name))
        conditions.mark_true("Addressable")
        status.subscribers = [
            SubscriberStatus(uid=sub.uid, observed_generation=sub.generation, ready="True")
            for sub in obj.spec.subscribers or [] if sub.uid
        ] or None

        sink = obj.spec.delivery.dead_letter_sink if obj.spec.delivery else None
        return await resolve_dead_letter_sink(self.resolver, sink, obj.namespace,
                                              f"{obj.namespace}/{obj.name}", status,
                                              conditions)

    async def deleted(self, key: str) -> None:
        if self.tracker is not None:
            self.tracker.forget(key)
