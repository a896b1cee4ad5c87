"""The sources of ``shoal up``: the in-process adapters and the reconcilers wired to them.

``SourcesPlane`` owns what runs for the sources between reconciles: the ping scheduler, the
ApiServerSource adapters and the sender they share, the NatsSource subscriptions and the
KafkaSource consumers; ContainerSources run in the serving plane's runtimes, and a change
of one of their instances brings the source back.
``add_reconcilers`` adds one reconciler per source kind to the controller manager;
``stop`` (after the manager has stopped) ends every schedule and watch, letting events in
flight finish within a grace period.
"""

from __future__ import annotations

from functools import partial

from shoal.api.catalog import default_catalog
from shoal.client.base import Client
from shoal.controllers.clock import Clock, SystemClock
from shoal.controllers.engine import Controller
from shoal.controllers.manager import Manager
from shoal.controllers.resolver import tracked_resolver
from shoal.runtime.base import Instance
from shoal.serving.plane import ServingPlane
from shoal.sources.apiserver import ApiServerAdapters, ApiServerSourceReconciler
from shoal.sources.base import Sender
from shoal.sources.container import ContainerSourceReconciler, source_key
from shoal.sources.kafka import add_kafka_source
from shoal.sources.kafka_adapter import KafkaAdapters
from shoal.sources.nats import NatsSources
from shoal.sources.ping import PingScheduler, PingSourceReconciler
from shoal.sources.sinkbinding import SinkBindingReconciler


class SourcesPlane:
    def __init__(self, client: Client, api_url: str, serving: ServingPlane | None = None, *,
                 clock: Clock | None = None) -> None:
        self.client = client
        self.serving = serving
        self.clock: Clock = clock or SystemClock()
        self.sender = Sender(self.clock)
        self.scheduler = PingScheduler(self.clock, self.sender.send)
        self.apiserver = ApiServerAdapters(client, api_url, self.clock, self.sender.send)
        self.nats = NatsSources(client, self.clock)
        self.kafka: KafkaAdapters | None = None

    def add_reconcilers(self, manager: Manager) -> None:
        """Add a reconciler per source kind, wired to this plane, to ``manager``."""
        catalog = default_catalog()
        tracker, resolver = tracked_resolver(self.client, catalog, manager.clock)
        manager.add(PingSourceReconciler(self.scheduler, resolver, tracker))
        tracker, resolver = tracked_resolver(self.client, catalog, manager.clock)
        manager.add(ApiServerSourceReconciler(self.apiserver, manager.informers, resolver,
                                              tracker))
        tracker, resolver = tracked_resolver(self.client, catalog, manager.clock)
        manager.add(SinkBindingReconciler(self.client, manager.informers, resolver, tracker))
        manager.add(self.nats.reconciler)
        self.kafka = add_kafka_source(self.client, manager)
        if self.serving is not None:
            tracker, resolver = tracked_resolver(self.client, catalog, manager.clock)
            containers = manager.add(ContainerSourceReconciler(
                self.serving.runtimes, self.serving.choose, resolver, tracker))
            for runtime in self.serving.runtimes.values():
                runtime.subscribe(partial(_enqueue_source, containers))

    async def stop(self) -> None:
        await self.scheduler.close()
        await self.apiserver.close()
        await self.nats.stop()
        if self.kafka is not None:
            await self.kafka.stop()
        await self.sender.close()


def _enqueue_source(controller: Controller, instance: Instance) -> None:
    """A runtime's instance changed: reconcile its ContainerSource, if it runs for one."""
    key = source_key(instance)
    if key is not None:
        controller.enqueue(key)
