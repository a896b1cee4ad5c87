"""Kinds of ``sources.knative.dev``: PingSource, ApiServerSource, ContainerSource, SinkBinding,
and NatsSource (``v1alpha1``).

``TYPES`` lists them for the catalog the API server and the CLI build on.
"""

from shoal.api.sources.apiserver import ApiServerSource
from shoal.api.sources.container import ContainerSource
from shoal.api.sources.nats import NatsSource
from shoal.api.sources.ping import PingSource
from shoal.api.sources.sinkbinding import SinkBinding
from shoal.api.types import AGE, READY, REASON, SINK, PrinterColumn, ResourceType

GROUP = "sources.knative.dev"
CATEGORIES = ("all", "knative", "sources")
COLUMNS = (SINK, AGE, READY, REASON)

TYPES: tuple[ResourceType, ...] = (
    ResourceType(
        GROUP,
        "v1",
        "PingSource",
        "pingsources",
        PingSource,
        categories=CATEGORIES,
        columns=(SINK, PrinterColumn("Schedule", ".spec.schedule"), AGE, READY, REASON),
        description="PingSource sends an event with a fixed payload on a cron schedule.",
    ),
    ResourceType(
        GROUP,
        "v1",
        "ApiServerSource",
        "apiserversources",
        ApiServerSource,
        categories=CATEGORIES,
        columns=COLUMNS,
        description="ApiServerSource is an event source that brings API server events into "
        "Knative.",
    ),
    ResourceType(
        GROUP,
        "v1",
        "ContainerSource",
        "containersources",
        ContainerSource,
        categories=CATEGORIES,
        columns=COLUMNS,
        description="ContainerSource runs a program that sends events to a sink.",
    ),
    ResourceType(
        GROUP,
        "v1",
        "SinkBinding",
        "sinkbindings",
        SinkBinding,
        categories=(*CATEGORIES, "bindings"),
        columns=COLUMNS,
        description="SinkBinding gives the workloads it selects a sink to send events to.",
    ),
    ResourceType(
        GROUP,
        "v1alpha1",
        "NatsSource",
        "natssources",
        NatsSource,
        categories=CATEGORIES,
        columns=(SINK, PrinterColumn("Subject", ".spec.subject"), AGE, READY, REASON),
        description="NatsSource sends the messages of a NATS subject to a sink as CloudEvents.",
    ),
)

__all__ = ["TYPES", "ApiServerSource", "ContainerSource", "NatsSource", "PingSource",
           "SinkBinding"]
