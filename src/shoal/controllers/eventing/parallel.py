"""The Parallel reconciler: an ingress channel, and per branch a filter and a subscriber.

A Parallel owns the ingress channel ``{name}-kn-parallel`` (its address is the Parallel's)
and, for branch ``i``, the channel ``{name}-kn-parallel-{i}``, the filter subscription
``{name}-kn-parallel-filter-{i}`` (ingress channel → the branch's filter, whose reply, the
event if it passes, goes to the branch's channel; with no filter every event goes on) and
the subscription ``{name}-kn-parallel-{i}`` (branch channel → the branch's subscriber, its
reply to the branch's reply or else the Parallel's). Children are kept as ``FlowChildren``
keeps a Sequence's. Conditions and statuses follow Knative's: a channel counts as ready once
it has an address; ``branchStatuses`` copy each subscription's Ready condition.
"""

from __future__ import annotations

from shoal.api.catalog import default_catalog
from shoal.api.flows.parallel import Parallel, ParallelBranchStatus, ParallelStatus
from shoal.api.flows.status import ChannelStatus, SubscriptionStatus
from shoal.api.model import Addressable, Condition
from shoal.api.types import ResourceType
from shoal.client.base import Client
from shoal.controllers.conditions import ConditionManager, ConditionSet
from shoal.controllers.eventing.builders import (
    Obj,
    condition_of,
    make_parallel_channel,
    make_parallel_filter_subscription,
    make_parallel_subscription,
    parallel_branch_channel_name,
    parallel_channel_name,
    parallel_filter_subscription_name,
    parallel_subscription_name,
)
from shoal.controllers.eventing.sequence import (
    SUBSCRIPTIONS,
    FlowChildren,
    channel_type,
    object_reference,
    owned_watches,
)
from shoal.controllers.reconciler import ModelReconciler, ReconcileResult

PARALLEL_CONDITIONS = ConditionSet("Ready", ["Addressable", "ChannelsReady",
                                             "SubscriptionsReady"])
PARALLELS = default_catalog().require("parallels")


def _addressable_status(rt: ResourceType, channel: Obj) -> ChannelStatus:
    url = ((channel.get("status") or {}).get("address") or {}).get("url")
    ready = (Condition(type="Ready", status="True") if url else
             Condition(type="Ready", status="False", reason="NotAddressable",
                       message="Channel is not addressable"))
    return ChannelStatus(channel=object_reference(rt, channel), ready=ready)


def _subscription_status(subscription: Obj) -> tuple[SubscriptionStatus, bool]:
    """The status of one subscription and whether it is Ready."""
    ready = condition_of(subscription)
    status = SubscriptionStatus(subscription=object_reference(SUBSCRIPTIONS, subscription))
    if ready is not None:
        status.ready = Condition.model_validate(ready)
    return status, ready is not None and ready.get("status") == "True"


class ParallelReconciler(ModelReconciler[Parallel]):
    rt = PARALLELS
    watches = owned_watches(PARALLELS)

    def __init__(self, client: Client) -> None:
        self.children = FlowChildren(client)

    async def reconcile(self, obj: Parallel) -> ReconcileResult | None:
        status = obj.status = obj.status or ParallelStatus()
        conditions = PARALLEL_CONDITIONS.manage(status)
        conditions.initialize()
        rt = channel_type(obj.spec.channel_template, conditions)
        if rt is None:
            return None
        branches = range(len(obj.spec.branches or []))
        ingress = await self.children.channel(
            rt, make_parallel_channel(obj, parallel_channel_name(obj.name)))
        channels = [await self.children.channel(
            rt, make_parallel_channel(obj, parallel_branch_channel_name(obj.name, i)))
            for i in branches]
        self._propagate_channels(status, rt, ingress, channels, conditions)
        filters, subscribers = [], []
        for i in branches:
            filters.append(await self.children.subscription(
                make_parallel_filter_subscription(obj, i)))
            subscribers.append(await self.children.subscription(
                make_parallel_subscription(obj, i)))
        self._propagate_subscriptions(status, filters, subscribers, conditions)
        await self.children.prune(obj.namespace, obj.metadata.uid or "", {
            rt: {parallel_channel_name(obj.name),
                 *(parallel_branch_channel_name(obj.name, i) for i in branches)},
            SUBSCRIPTIONS: {*(parallel_filter_subscription_name(obj.name, i) for i in branches),
                            *(parallel_subscription_name(obj.name, i) for i in branches)},
        })
        return None

    @staticmethod
    def _branches(status: ParallelStatus, count: int) -> list[ParallelBranchStatus]:
        if status.branch_statuses is None or len(status.branch_statuses) != count:
            status.branch_statuses = [ParallelBranchStatus() for _ in range(count)]
        return status.branch_statuses

    def _propagate_channels(self, status: ParallelStatus, rt: ResourceType, ingress: Obj,
                            channels: list[Obj], conditions: ConditionManager) -> None:
        status.ingress_channel_status = _addressable_status(rt, ingress)
        all_ready = status.ingress_channel_status.ready is not None and \
            status.ingress_channel_status.ready.status == "True"
        url = ((ingress.get("status") or {}).get("address") or {}).get("url")
        if url:
            status.address = Addressable(url=url)
            conditions.mark_true("Addressable")
        else:
            status.address = None
            conditions.mark_false("Addressable", "emptyAddress", "addressable is nil")
        for branch, channel in zip(self._branches(status, len(channels)), channels,
                                   strict=True):
            branch.filter_channel_status = _addressable_status(rt, channel)
            ready = branch.filter_channel_status.ready
            all_ready = all_ready and ready is not None and ready.status == "True"
        if all_ready:
            conditions.mark_true("ChannelsReady")
        else:
            conditions.mark_false("ChannelsReady", "ChannelsNotReady",
                                  "Channels are not ready yet, or there are none")

    def _propagate_subscriptions(self, status: ParallelStatus, filters: list[Obj],
                                 subscribers: list[Obj], conditions: ConditionManager) -> None:
        all_ready = bool(subscribers)
        for branch, filter_sub, sub in zip(self._branches(status, len(subscribers)), filters,
                                           subscribers, strict=True):
            branch.subscriber_subscription_status, sub_ready = _subscription_status(sub)
            branch.filter_subscription_status, filter_ready = _subscription_status(filter_sub)
            all_ready = all_ready and sub_ready and filter_ready
        if all_ready:
            conditions.mark_true("SubscriptionsReady")
        else:
            conditions.mark_false("SubscriptionsReady", "SubscriptionsNotReady",
                                  "Subscriptions are not ready yet, or there are none")
