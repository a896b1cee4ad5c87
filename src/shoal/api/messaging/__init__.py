"""Kinds of ``messaging.knative.dev``: Channel, InMemoryChannel and Subscription.

``TYPES`` lists them for the catalog the API server and the CLI build on.
"""

from shoal.api.messaging.channel import Channel
from shoal.api.messaging.inmemorychannel import InMemoryChannel
from shoal.api.messaging.subscription import Subscription
from shoal.api.types import ADDRESS_URL, AGE, READY, REASON, ResourceType

GROUP = "messaging.knative.dev"
CATEGORIES = ("all", "knative", "messaging")
CHANNEL_CATEGORIES = (*CATEGORIES, "channel")

TYPES: tuple[ResourceType, ...] = (
    ResourceType(
        GROUP,
        "v1",
        "Channel",
        "channels",
        Channel,
        short_names=("ch",),
        categories=CHANNEL_CATEGORIES,
        columns=(ADDRESS_URL, AGE, READY, REASON),
        description="Channel represents a generic Channel, backed by a channel of the "
        "default kind.",
    ),
    ResourceType(
        GROUP,
        "v1",
        "InMemoryChannel",
        "inmemorychannels",
        InMemoryChannel,
        short_names=("imc",),
        categories=CHANNEL_CATEGORIES,
        columns=(ADDRESS_URL, AGE, READY, REASON),
        description="InMemoryChannel is a channel whose events Shoal's dispatcher delivers.",
    ),
    ResourceType(
        GROUP,
        "v1",
        "Subscription",
        "subscriptions",
        Subscription,
        short_names=("sub",),
        categories=CATEGORIES,
        columns=(AGE, READY, REASON),
        description="Subscription routes events received on a Channel to a subscriber.",
    ),
)

__all__ = ["TYPES", "Channel", "InMemoryChannel", "Subscription"]
