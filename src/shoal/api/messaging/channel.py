"""The Channel kind (``messaging.knative.dev/v1``): a channel of whatever kind is default.

A Channel names the kind of channel that backs it in ``spec.channelTemplate`` (defaulted
from ``default-ch-webhook``, InMemoryChannel unless configured otherwise); the Channel
controller creates that backing channel and mirrors its address. The template cannot change
after creation. Called by admission in the API server.
"""

from __future__ import annotations

from pydantic import Field

from shoal.api.config import AdmissionContext
from shoal.api.duck import DeliverySpec, check_optional_delivery, default_delivery
from shoal.api.errors import FieldErrors
from shoal.api.messaging.channelable import (
    ChannelableStatus,
    SubscriberSpec,
    check_subscribers,
    default_subscribers,
)
from shoal.api.messaging.channeltemplate import (
    ChannelTemplateSpec,
    check_channel_template,
    default_channel_template,
)
from shoal.api.model import KObject, KReference, Model

SUBSCRIBABLE_ANNOTATION = "messaging.knative.dev/subscribable"
SUBSCRIBABLE_VERSION = "v1"


class ChannelSpec(Model):
    """The desired state of a Channel."""

    channel_template: ChannelTemplateSpec | None = Field(
        default=None,
        description="ChannelTemplate specifies which Channel CRD to use to "
        "create the CRD Channel backing this Channel. Immutable; defaulted from the "
        "default-ch-webhook ConfigMap.",
    )
    subscribers: list[SubscriberSpec] | None = Field(
        default=None,
        description="Subscribers is a list of subscribers to this channel, "
        "maintained by the Subscription controller.",
    )
    delivery: DeliverySpec | None = Field(
        default=None, description="Delivery options for events sent through this channel."
    )


class ChannelStatus(ChannelableStatus):
    """The observed state of a Channel."""

    channel: KReference | None = Field(
        default=None, description="Channel is a reference to the backing channel."
    )


def default_subscribable_annotation(obj: KObject) -> None:
    annotations = dict(obj.metadata.annotations or {})
    if SUBSCRIBABLE_ANNOTATION not in annotations:
        annotations[SUBSCRIBABLE_ANNOTATION] = SUBSCRIBABLE_VERSION
        obj.metadata.annotations = annotations


class Channel(KObject):
    """Channel represents a generic Channel, backed by a channel of the default kind."""

    spec: ChannelSpec = Field(default_factory=ChannelSpec)
    status: ChannelStatus | None = None

    def apply_defaults(self, ctx: AdmissionContext) -> None:
        default_subscribable_annotation(self)
        self.model_fields_set.add("spec")
        if self.spec.channel_template is None:
            self.spec.channel_template = default_channel_template(ctx.config, self.namespace)
        default_delivery(self.spec.delivery, self.namespace)
        default_subscribers(self.spec.subscribers, self.namespace)

    def check(self, old: KObject | None, ctx: AdmissionContext, errs: FieldErrors) -> None:
        spec = errs.at("spec")
        if self.spec.channel_template is None:
            spec.required("channelTemplate")
        else:
            check_channel_template(self.spec.channel_template, spec.at("channelTemplate"))
        check_subscribers(self.spec.subscribers, ctx, spec.at("subscribers"))
        check_optional_delivery(self.spec.delivery, ctx, spec)
        if isinstance(old, Channel) and old.spec.channel_template != self.spec.channel_template:
            spec.immutable("channelTemplate")
