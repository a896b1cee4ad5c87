"""The Parallel kind (``flows.knative.dev/v1``): branches that each see every event.

A Parallel fans each event out to its branches; in a branch an optional filter decides
whether the event goes on to the branch's subscriber, whose reply goes to the branch's reply
or else to the Parallel's. The channel kind comes from ``spec.channelTemplate``, defaulted
from ``default-ch-webhook``. Called by admission in the API server.
"""

from __future__ import annotations

from pydantic import Field

from shoal.api.config import AdmissionContext
from shoal.api.duck import (
    AddressableStatus,
    DeliverySpec,
    check_destination,
    check_optional_delivery,
    check_required_destination,
    default_delivery,
    default_destination,
)
from shoal.api.errors import FieldErrors
from shoal.api.flows.spec import check_flow_spec, default_flow_spec
from shoal.api.flows.status import ChannelStatus, SubscriptionStatus
from shoal.api.messaging.channeltemplate import ChannelTemplateSpec
from shoal.api.model import Destination, KObject, Model


class ParallelBranch(Model):
    """One branch of a Parallel: an optional filter, a subscriber and where replies go."""

    filter: Destination | None = Field(
        default=None,
        description="Filter is the destination guarding the branch: the event "
        "goes on to the subscriber only if the filter replies with it.",
    )
    subscriber: Destination | None = Field(
        default=None, description="Subscriber receives the event when the filter passes. Required."
    )
    reply: Destination | None = Field(
        default=None,
        description="Reply is where the subscriber's reply goes; if not set, the Parallel's reply.",
    )
    delivery: DeliverySpec | None = Field(
        default=None,
        description="Delivery is the delivery specification for events to the subscriber.",
    )


class ParallelSpec(Model):
    """The desired state of a Parallel."""

    branches: list[ParallelBranch] | None = Field(
        default=None, description="Branches is the list of filter/subscriber pairs. At least one."
    )
    channel_template: ChannelTemplateSpec | None = Field(
        default=None,
        description="ChannelTemplate specifies which Channel CRD to use; "
        "defaulted from the default-ch-webhook ConfigMap.",
    )
    reply: Destination | None = Field(
        default=None,
        description="Reply is where the result of a branch's subscriber goes "
        "when the branch has no reply of its own.",
    )


class ParallelBranchStatus(Model):
    """The state of the channels and subscriptions of one branch."""

    filter_subscription_status: SubscriptionStatus | None = None
    filter_channel_status: ChannelStatus | None = None
    subscriber_subscription_status: SubscriptionStatus | None = None


class ParallelStatus(AddressableStatus):
    """The observed state of a Parallel."""

    ingress_channel_status: ChannelStatus | None = None
    branch_statuses: list[ParallelBranchStatus] | None = None


class Parallel(KObject):
    """Parallel defines conditional branches that will be wired in series through Channels
    and Subscriptions."""

    spec: ParallelSpec = Field(default_factory=ParallelSpec)
    status: ParallelStatus | None = None

    def apply_defaults(self, ctx: AdmissionContext) -> None:
        self.model_fields_set.add("spec")
        spec = self.spec
        default_flow_spec(spec, ctx, self.namespace)
        for branch in spec.branches or []:
            default_destination(branch.filter, self.namespace)
            default_destination(branch.subscriber, self.namespace)
            default_destination(branch.reply, self.namespace)
            default_delivery(branch.delivery, self.namespace)

    def check(self, old: KObject | None, ctx: AdmissionContext, errs: FieldErrors) -> None:
        errs = errs.at("spec")
        spec = self.spec
        if not spec.branches:
            errs.required("branches", "a Parallel needs at least one branch")
        for i, branch in enumerate(spec.branches or []):
            at = errs.at("branches", i)
            if branch.filter is not None:
                check_destination(branch.filter, ctx, at.at("filter"))
            check_required_destination(branch.subscriber, "subscriber", ctx, at)
            if branch.reply is not None:
                check_destination(branch.reply, ctx, at.at("reply"))
            check_optional_delivery(branch.delivery, ctx, at)
        check_flow_spec(spec, ctx, errs)
