"""The InMemoryChannel kind (``messaging.knative.dev/v1``): Shoal's built-in channel.

Despite the name (kept from Knative so manifests carry over), Shoal's dispatcher keeps the
events of an InMemoryChannel in its durable log. Spec and status follow the Channelable duck
type. The optional ``eventing.knative.dev/scope`` annotation is ``cluster`` or
``namespace``. Called by admission in the API server.
"""

from __future__ import annotations

from pydantic import Field

from shoal.api.config import AdmissionContext
from shoal.api.duck import DeliverySpec, check_optional_delivery, default_delivery
from shoal.api.errors import FieldErrors
from shoal.api.messaging.channel import default_subscribable_annotation
from shoal.api.messaging.channelable import (
    ChannelableStatus,
    SubscriberSpec,
    check_subscribers,
    default_subscribers,
)
from shoal.api.model import KObject, Model

SCOPE_ANNOTATION = "eventing.knative.dev/scope"
SCOPES = ("cluster", "namespace")


class InMemoryChannelSpec(Model):
    """The desired state of an InMemoryChannel."""

    subscribers: list[SubscriberSpec] | None = Field(
        default=None,
        description="Subscribers is a list of subscribers to this channel, "
        "maintained by the Subscription controller.",
    )
    delivery: DeliverySpec | None = Field(
        default=None, description="Delivery options for events sent through this channel."
    )


class InMemoryChannel(KObject):
    """InMemoryChannel is a channel whose events Shoal's dispatcher delivers."""

    spec: InMemoryChannelSpec = Field(default_factory=InMemoryChannelSpec)
    status: ChannelableStatus | None = None

    def apply_defaults(self, ctx: AdmissionContext) -> None:
        default_subscribable_annotation(self)
        self.model_fields_set.add("spec")
        default_delivery(self.spec.delivery, self.namespace)
        default_subscribers(self.spec.subscribers, self.namespace)

    def check(self, old: KObject | None, ctx: AdmissionContext, errs: FieldErrors) -> None:
        scope = (self.metadata.annotations or {}).get(SCOPE_ANNOTATION)
        if scope is not None and scope not in SCOPES:
            at = errs.at("metadata").at("annotations", SCOPE_ANNOTATION)
            at.not_supported(None, scope, list(SCOPES))
        spec = errs.at("spec")
        check_subscribers(self.spec.subscribers, ctx, spec.at("subscribers"))
        check_optional_delivery(self.spec.delivery, ctx, spec)
