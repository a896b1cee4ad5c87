"""The Channelable duck type: what every channel kind has in its spec and status.

``spec.subscribers`` is written by the Subscription controller (one entry per ready
subscription, with resolved URIs); ``status.subscribers`` reports each one's readiness back.
Shared by Channel and InMemoryChannel.
"""

from __future__ import annotations

from pydantic import Field

from shoal.api.config import AdmissionContext
from shoal.api.duck import (
    AddressableStatus,
    DeliverySpec,
    check_optional_delivery,
    default_delivery,
)
from shoal.api.errors import REQUIRED, FieldErrors
from shoal.api.model import Model


class SubscriberSpec(Model):
    """One subscription as the channel sees it: where to send events and where replies go."""

    uid: str | None = Field(default=None, description="UID of the Subscription.")
    generation: int | None = Field(
        default=None, description="Generation of the Subscription this entry reflects."
    )
    name: str | None = None
    subscriber_uri: str | None = Field(
        default=None, description="SubscriberURI is the endpoint for the subscriber."
    )
    subscriber_ca_certs: str | None = Field(default=None, alias="subscriberCACerts")
    subscriber_audience: str | None = None
    reply_uri: str | None = Field(
        default=None, description="ReplyURI is the endpoint for the reply."
    )
    reply_ca_certs: str | None = Field(default=None, alias="replyCACerts")
    reply_audience: str | None = None
    delivery: DeliverySpec | None = Field(
        default=None, description="Delivery options for this subscriber."
    )


class SubscriberStatus(Model):
    """The readiness of one subscriber of a channel."""

    uid: str | None = None
    observed_generation: int | None = None
    ready: str | None = Field(default=None, description="True, False or Unknown.")
    message: str | None = None


class ChannelableStatus(AddressableStatus):
    """The observed state of a channel."""

    subscribers: list[SubscriberStatus] | None = None
    dead_letter_sink_uri: str | None = None
    dead_letter_sink_ca_certs: str | None = Field(default=None, alias="deadLetterSinkCACerts")
    dead_letter_sink_audience: str | None = None


def check_subscribers(
    subscribers: list[SubscriberSpec] | None, ctx: AdmissionContext, errs: FieldErrors
) -> None:
    """Each subscriber needs a subscriber URI or a reply URI; ``errs`` points at the list."""
    for i, sub in enumerate(subscribers or []):
        at = errs.index(i)
        if not sub.subscriber_uri and not sub.reply_uri:
            at.add("expected at least one, got none: replyUri, subscriberUri", reason=REQUIRED)
        check_optional_delivery(sub.delivery, ctx, at)


def default_subscribers(subscribers: list[SubscriberSpec] | None, namespace: str) -> None:
    for sub in subscribers or []:
        default_delivery(sub.delivery, namespace)
