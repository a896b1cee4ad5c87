"""Event sources: Knative's PingSource, ApiServerSource, ContainerSource, SinkBinding, , and
NatsSource and KafkaSource for external systems.

Each module holds one kind's adapter (what runs between reconciles) and its reconciler:

    base         sink resolution, CloudEvents overrides, the adapters' sender
    selectors    label selectors in their string form
    ping         PingScheduler (cron on the injected clock) and the PingSource reconciler
    apiserver    ApiServerAdapter (informers on Shoal's own API) and its reconciler
    sinkbinding  the SinkBinding reconciler: K_SINK in its subjects' containers
    container    the ContainerSource reconciler: one instance in a serving runtime
    nats         NatsSources (subscriptions to NATS subjects) and the NatsSource reconciler
    kafka*       KafkaSource: record to event, the consumer-group adapter, the reconciler
    plane        SourcesPlane: the adapters and reconcilers ``shoal up`` runs

This layer sits above ``shoal.eventing`` (delivery) and ``shoal.serving`` (runtimes) and
below ``shoal.cli``.
"""

from shoal.sources.plane import SourcesPlane

__all__ = ["SourcesPlane"]
