"""Kinds of ``eventing.knative.dev``: Broker, Trigger and EventType.

``TYPES`` lists them for the catalog the API server and the CLI build on.
"""

from shoal.api.eventing.broker import Broker
from shoal.api.eventing.eventtype import EventType
from shoal.api.eventing.trigger import Trigger
from shoal.api.types import ADDRESS_URL, AGE, READY, REASON, PrinterColumn, ResourceType

GROUP = "eventing.knative.dev"
CATEGORIES = ("all", "knative", "eventing")

TYPES: tuple[ResourceType, ...] = (
    ResourceType(
        GROUP,
        "v1",
        "Broker",
        "brokers",
        Broker,
        categories=CATEGORIES,
        columns=(ADDRESS_URL, AGE, READY, REASON),
        description="Broker collects a pool of events that are consumable using Triggers.",
    ),
    ResourceType(
        GROUP,
        "v1",
        "Trigger",
        "triggers",
        Trigger,
        categories=CATEGORIES,
        columns=(
            PrinterColumn("Broker", ".spec.broker"),
            PrinterColumn("Subscriber_URI", ".status.subscriberUri"),
            AGE,
            READY,
            REASON,
        ),
        description="Trigger represents a request to have events delivered to a subscriber "
        "from a Broker's event pool.",
    ),
    ResourceType(
        GROUP,
        "v1beta2",
        "EventType",
        "eventtypes",
        EventType,
        categories=CATEGORIES,
        columns=(
            PrinterColumn("Type", ".spec.type"),
            PrinterColumn("Source", ".spec.source"),
            PrinterColumn("Schema", ".spec.schema"),
            PrinterColumn("Reference Name", ".spec.reference.name"),
            PrinterColumn("Reference Kind", ".spec.reference.kind"),
            PrinterColumn("Description", ".spec.description"),
            READY,
            REASON,
        ),
        description="EventType represents a type of event that can be consumed from a Broker.",
    ),
)

__all__ = ["TYPES", "Broker", "EventType", "Trigger"]
