"""The Sequence kind (``flows.knative.dev/v1``): steps called one after another.

A Sequence wires its steps in series through channels and subscriptions: an event sent to
its address goes to the first step, each step's reply to the next, and the last reply to
``spec.reply``. The channel kind comes from ``spec.channelTemplate``, defaulted from
``default-ch-webhook``. Called by admission in the API server.
"""

from __future__ import annotations

from pydantic import Field

from shoal.api.config import AdmissionContext
from shoal.api.duck import (
    AddressableStatus,
    DeliverySpec,
    check_destination,
    check_optional_delivery,
    default_delivery,
    default_destination,
)
from shoal.api.errors import FieldErrors
from shoal.api.flows.spec import check_flow_spec, default_flow_spec
from shoal.api.flows.status import ChannelStatus, SubscriptionStatus
from shoal.api.messaging.channeltemplate import ChannelTemplateSpec
from shoal.api.model import Destination, KObject, Model


class SequenceStep(Destination):
    """A step of a Sequence: a destination, with its own delivery options."""

    delivery: DeliverySpec | None = Field(
        default=None,
        description="Delivery is the delivery specification for events to the "
        "subscriber of this step (retries, dead-letter sink, ...).",
    )


class SequenceSpec(Model):
    """The desired state of a Sequence."""

    steps: list[SequenceStep] | None = Field(
        default=None,
        description="Steps is the list of destinations (processors, functions) "
        "called in the order provided. At least one.",
    )
    channel_template: ChannelTemplateSpec | None = Field(
        default=None,
        description="ChannelTemplate specifies which Channel CRD to use; "
        "defaulted from the default-ch-webhook ConfigMap.",
    )
    reply: Destination | None = Field(
        default=None, description="Reply is where the result of the last step is sent."
    )


class SequenceStatus(AddressableStatus):
    """The observed state of a Sequence."""

    subscription_statuses: list[SubscriptionStatus] | None = None
    channel_statuses: list[ChannelStatus] | None = None


class Sequence(KObject):
    """Sequence defines a sequence of Subscribers that will be wired in series through
    Channels and Subscriptions."""

    spec: SequenceSpec = Field(default_factory=SequenceSpec)
    status: SequenceStatus | None = None

    def apply_defaults(self, ctx: AdmissionContext) -> None:
        self.model_fields_set.add("spec")
        spec = self.spec
        default_flow_spec(spec, ctx, self.namespace)
        for step in spec.steps or []:
            default_destination(step, self.namespace)
            default_delivery(step.delivery, self.namespace)

    def check(self, old: KObject | None, ctx: AdmissionContext, errs: FieldErrors) -> None:
        errs = errs.at("spec")
        spec = self.spec
        if not spec.steps:
            errs.required("steps", "a Sequence needs at least one step")
        for i, step in enumerate(spec.steps or []):
            at = errs.at("steps", i)
            check_destination(step, ctx, at)
            check_optional_delivery(step.delivery, ctx, at)
        check_flow_spec(spec, ctx, errs)
