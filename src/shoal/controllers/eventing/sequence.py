"""The Sequence reconciler, and ``FlowChildren``: the channels and subscriptions a flow owns.

A Sequence of N steps owns N channels ``{name}-kn-sequence-{i}`` of its template's kind and N
subscriptions of the same names: subscription ``i`` takes channel ``i`` to step ``i`` and its
reply to channel ``i + 1``; the last reply goes to ``spec.reply``. Its address is channel 0's.
As Knative's: channels are created when missing and left alone otherwise (Subscriptions
write their entries into them); a subscription whose spec differs from the one built for it
is updated, or deleted and created again when what changed is immutable (its channel or
delivery); children no longer wanted are deleted. ``status.channelStatuses`` and
``subscriptionStatuses`` copy each child's Ready condition. ``FlowChildren`` does the
reading and writing of children for the Sequence and the Parallel reconcilers.
"""

from __future__ import annotations

import contextlib
import copy

from shoal.api.catalog import default_catalog
from shoal.api.core import ObjectReference
from shoal.api.errors import AlreadyExists, NotFound
from shoal.api.flows.sequence import Sequence, SequenceStatus
from shoal.api.flows.status import ChannelStatus, SubscriptionStatus
from shoal.api.messaging.channeltemplate import ChannelTemplateSpec
from shoal.api.model import Addressable, Condition
from shoal.api.types import ResourceType
from shoal.client.base import Client
from shoal.controllers.conditions import ConditionManager, ConditionSet
from shoal.controllers.errors import TemporaryError
from shoal.controllers.eventing.builders import (
    Obj,
    condition_of,
    is_controlled_by,
    make_sequence_channel,
    make_sequence_subscription,
    sequence_channel_name,
    sequence_subscription_name,
)
from shoal.controllers.reconciler import ModelReconciler, ReconcileResult, Watch

SEQUENCE_CONDITIONS = ConditionSet("Ready", ["Addressable", "ChannelsReady",
                                             "SubscriptionsReady"])
CATALOG = default_catalog()
SEQUENCES = CATALOG.require("sequences")
SUBSCRIPTIONS = CATALOG.require("subscriptions")
CHANNEL_TYPES = (CATALOG.require("channels"), CATALOG.require("inmemorychannels"))
IMMUTABLE_SUBSCRIPTION_FIELDS = ("channel", "delivery")
RECREATE_DELAY = 0.5


def channel_type(template: ChannelTemplateSpec | None,
                 conditions: ConditionManager) -> ResourceType | None:
    """The channel kind a flow's template names, if it is one this server serves; if not,
    ChannelsReady is False and the flow has nothing to do until its template changes."""
    rt = None
    if template is not None:
        rt = CATALOG.by_kind(template.api_version or "", template.kind or "")
    if rt not in CHANNEL_TYPES:
        conditions.mark_false("ChannelsReady", "ChannelTemplateInvalid",
                              "the channel template does not name a channel kind this "
                              "server serves")
        return None
    return rt


def object_reference(rt: ResourceType, obj: Obj) -> ObjectReference:
    meta = obj.get("metadata") or {}
    return ObjectReference(api_version=rt.api_version, kind=rt.kind, name=meta.get("name"),
                           namespace=meta.get("namespace"))


def _ready(obj: Obj, what: str) -> Condition:
    found = condition_of(obj)
    if found is None:
        return Condition(type="Ready", status="Unknown", reason="NoReady",
                         message=f"{what} does not have Ready condition")
    return Condition.model_validate(found)


class FlowChildren:
    """Creates, updates and prunes the channels and subscriptions a flow owns."""

    def __init__(self, client: Client) -> None:
        self.client = client

    async def channel(self, rt: ResourceType, desired: Obj) -> Obj:
        """The channel named in ``desired``, created if missing."""
        meta = desired["metadata"]
        try:
            return await self.client.get(rt, meta["name"], meta["namespace"])
        except NotFound:
            return await self.client.create(rt, desired)

    async def subscription(self, desired: Obj) -> Obj:
        """The subscription named in ``desired``, created, updated or replaced to match it."""
        meta = desired["metadata"]
        try:
            actual = await self.client.get(SUBSCRIPTIONS, meta["name"], meta["namespace"])
        except NotFound:
            return await self.client.create(SUBSCRIPTIONS, desired)
        want, have = desired["spec"], actual.get("spec") or {}
        if want == have:
            return actual
        if actual["metadata"].get("deletionTimestamp") is None:
            if all(want.get(f) == have.get(f) for f in IMMUTABLE_SUBSCRIPTION_FIELDS):
                body = copy.deepcopy(actual)
                body["spec"] = copy.deepcopy(want)
                return await self.client.update(SUBSCRIPTIONS, body)
            await self.client.delete(SUBSCRIPTIONS, meta["name"], meta["namespace"])
        try:
            return await self.client.create(SUBSCRIPTIONS, desired)
        except AlreadyExists:
            raise TemporaryError(f'waiting for subscription "{meta["name"]}" to be deleted',
                                 delay=RECREATE_DELAY, reason="SubscriptionReplaced") from None

    async def prune(self, namespace: str, owner_uid: str,
                    keep: dict[ResourceType, set[str]]) -> None:
        """Delete the channels and subscriptions ``owner_uid`` controls that ``keep`` does
        not name."""
        for rt in (*CHANNEL_TYPES, SUBSCRIPTIONS):
            wanted = keep.get(rt, set())
            for obj in (await self.client.list(rt, namespace)).items:
                meta = obj["metadata"]
                if (is_controlled_by(obj, owner_uid) and meta["name"] not in wanted
                        and not meta.get("deletionTimestamp")):
                    with contextlib.suppress(NotFound):
                        await self.client.delete(rt, meta["name"], namespace)

    @staticmethod
    def channel_status(rt: ResourceType, obj: Obj) -> ChannelStatus:
        return ChannelStatus(channel=object_reference(rt, obj), ready=_ready(obj, "Channel"))

    @staticmethod
    def subscription_status(obj: Obj) -> SubscriptionStatus:
        return SubscriptionStatus(subscription=object_reference(SUBSCRIPTIONS, obj),
                                  ready=_ready(obj, "Subscription"))


def owned_watches(owner: ResourceType) -> tuple[Watch, ...]:
    """A flow is reconciled again when a channel or subscription it controls changes."""
    return tuple(Watch.owned(rt, owner) for rt in (*CHANNEL_TYPES, SUBSCRIPTIONS))


class SequenceReconciler(ModelReconciler[Sequence]):
    rt = SEQUENCES
    watches = owned_watches(SEQUENCES)

    def __init__(self, client: Client) -> None:
        self.children = FlowChildren(client)

    async def reconcile(self, obj: Sequence) -> ReconcileResult | None:
        status = obj.status = obj.status or SequenceStatus()
        conditions = SEQUENCE_CONDITIONS.manage(status)
        conditions.initialize()
        rt = channel_type(obj.spec.channel_template, conditions)
        if rt is None:
            return None
        steps = range(len(obj.spec.steps or []))
        channels = [await self.children.channel(rt, make_sequence_channel(obj, i))
                    for i in steps]
        self._propagate_channels(status, rt, channels, conditions)
        subscriptions = [await self.children.subscription(make_sequence_subscription(obj, i))
                         for i in steps]
        self._propagate_subscriptions(status, subscriptions, conditions)
        await self.children.prune(obj.namespace, obj.metadata.uid or "", {
            rt: {sequence_channel_name(obj.name, i) for i in steps},
            SUBSCRIPTIONS: {sequence_subscription_name(obj.name, i) for i in steps},
        })
        return None

    @staticmethod
    def _propagate_channels(status: SequenceStatus, rt: ResourceType, channels: list[Obj],
                            conditions: ConditionManager) -> None:
        status.channel_statuses = [FlowChildren.channel_status(rt, c) for c in channels]
        address = ((channels[0].get("status") or {}).get("address") or {}) if channels else {}
        if address.get("url"):
            status.address = Addressable(url=address["url"])
            if address.get("audience"):
                status.address.audience = address["audience"]
            conditions.mark_true("Addressable")
        else:
            status.address = None
            conditions.mark_unknown("Addressable", "emptyAddress", "addressable is nil")
        if channels and all(s.ready is not None and s.ready.status == "True"
                            for s in status.channel_statuses):
            conditions.mark_true("ChannelsReady")
        else:
            conditions.mark_unknown("ChannelsReady", "ChannelsNotReady",
                                    "Channels are not ready yet, or there are none")

    @staticmethod
    def _propagate_subscriptions(status: SequenceStatus, subscriptions: list[Obj],
                                 conditions: ConditionManager) -> None:
        status.subscription_statuses = [FlowChildren.subscription_status(s)
                                        for s in subscriptions]
        if subscriptions and all(s.ready is not None and s.ready.status == "True"
                                 for s in status.subscription_statuses):
            conditions.mark_true("SubscriptionsReady")
        else:
            conditions.mark_unknown("SubscriptionsReady", "SubscriptionsNotReady",
                                    "Subscriptions are not ready yet, or there are none")
