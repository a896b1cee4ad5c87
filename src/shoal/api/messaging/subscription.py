"""The Subscription kind (``messaging.knative.dev/v1``): routes a channel's events onward.

A Subscription sends the events of one channel (``spec.channel``, in the same namespace) to
a subscriber, and the subscriber's replies to ``spec.reply``; it needs at least one of the
two. Only the subscriber and the reply can change after creation. Called by admission in the
API server.
"""

from __future__ import annotations

from pydantic import Field

from shoal.api.config import AdmissionContext
from shoal.api.duck import (
    DeliverySpec,
    check_destination,
    check_kreference,
    check_optional_delivery,
    default_delivery,
    default_destination,
)
from shoal.api.errors import FieldErrors
from shoal.api.model import Destination, KObject, KReference, Model, Status


class SubscriptionSpec(Model):
    """The desired state of a Subscription."""

    channel: KReference | None = Field(
        default=None,
        description="Channel is the channel this subscription receives events "
        "from, in the subscription's namespace. Required and immutable.",
    )
    subscriber: Destination | None = Field(
        default=None,
        description="Subscriber receives the events of the channel; its reply, "
        "if any, is sent to reply.",
    )
    reply: Destination | None = Field(
        default=None, description="Reply is where the subscriber's replies are sent."
    )
    delivery: DeliverySpec | None = Field(
        default=None,
        description="Delivery configuration for events sent to the subscriber. Immutable.",
    )


class PhysicalSubscriptionStatus(Model):
    """The resolved addresses of a Subscription."""

    subscriber_uri: str | None = None
    subscriber_ca_certs: str | None = Field(default=None, alias="subscriberCACerts")
    subscriber_audience: str | None = None
    reply_uri: str | None = None
    reply_ca_certs: str | None = Field(default=None, alias="replyCACerts")
    reply_audience: str | None = None
    dead_letter_sink_uri: str | None = None
    dead_letter_sink_ca_certs: str | None = Field(default=None, alias="deadLetterSinkCACerts")
    dead_letter_sink_audience: str | None = None


class SubscriptionStatus(Status):
    """The observed state of a Subscription."""

    physical_subscription: PhysicalSubscriptionStatus | None = None


def _is_empty(dest: Destination | None) -> bool:
    return dest is None or dest == Destination()


class Subscription(KObject):
    """Subscription routes events received on a Channel to a subscriber, and its replies on."""

    spec: SubscriptionSpec = Field(default_factory=SubscriptionSpec)
    status: SubscriptionStatus | None = None

    def apply_defaults(self, ctx: AdmissionContext) -> None:
        self.model_fields_set.add("spec")
        default_destination(self.spec.subscriber, self.namespace)
        default_destination(self.spec.reply, self.namespace)
        default_delivery(self.spec.delivery, self.namespace)

    def check(self, old: KObject | None, ctx: AdmissionContext, errs: FieldErrors) -> None:
        spec = errs.at("spec")
        channel = self.spec.channel
        if channel is None or channel == KReference():
            spec.required("channel", "the Subscription must reference a channel")
        else:
            check_kreference(channel, ctx, spec.at("channel"))
            if channel.namespace:
                spec.at("channel").forbidden(
                    "namespace", "only name, apiVersion and kind are supported fields"
                )
        missing_subscriber = _is_empty(self.spec.subscriber)
        missing_reply = _is_empty(self.spec.reply)
        if missing_subscriber and missing_reply:
            spec.required(
                "subscriber",
                "the Subscription must reference at least one of (reply or a subscriber)",
            )
        if self.spec.subscriber is not None and not missing_subscriber:
            check_destination(self.spec.subscriber, ctx, spec.at("subscriber"))
        if self.spec.reply is not None and not missing_reply:
            check_destination(self.spec.reply, ctx, spec.at("reply"))
        check_optional_delivery(self.spec.delivery, ctx, spec)
        if isinstance(old, Subscription):
            if old.spec.channel != self.spec.channel:
                spec.immutable("channel")
            if old.spec.delivery != self.spec.delivery:
                spec.immutable("delivery")
