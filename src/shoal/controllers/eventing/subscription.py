"""The Subscription reconciler: resolves its destinations and writes itself into its channel.

As Knative's: a Subscription resolves ``spec.subscriber``, ``spec.reply`` and its dead-letter
sink (its own, else its channel's resolved one) into ``status.physicalSubscription``, then
adds or updates its entry in the channel's ``spec.subscribers`` (the channel is a Channel or
an InMemoryChannel, as ``spec.channel`` says) with a merge patch guarded by the channel's
resourceVersion, and becomes Ready once the channel reports the entry ready for its
generation in ``status.subscribers``. Its finalizer takes the entry out again on deletion.
It tracks the channel and every referent, so it is reconciled again when one changes.
"""

from __future__ import annotations

from shoal.api.catalog import default_catalog
from shoal.api.errors import ApiError, Conflict, NotFound
from shoal.api.messaging.subscription import (
    PhysicalSubscriptionStatus,
    Subscription,
    SubscriptionStatus,
)
from shoal.api.model import Destination
from shoal.api.types import ResourceType
from shoal.client.base import Client
from shoal.controllers.conditions import ConditionManager, ConditionSet
from shoal.controllers.errors import TemporaryError
from shoal.controllers.eventing.builders import (
    Obj,
    find_subscriber,
    make_subscriber_spec,
    remove_subscriber,
    upsert_subscriber,
)
from shoal.controllers.reconciler import ModelReconciler, ReconcileResult, Watch
from shoal.controllers.resolver import DestinationResolver, ResolveError
from shoal.controllers.tracker import Reference, Tracker

SUBSCRIPTION_CONDITIONS = ConditionSet("Ready", ["AddedToChannel", "ChannelReady",
                                                 "ReferencesResolved"])
FINALIZER = "subscriptions.messaging.knative.dev"
CHANNEL_KINDS = ("channels", "inmemorychannels")
TRACKED_KINDS = ("services", "brokers", "channels", "inmemorychannels", "sequences",
                 "parallels")

CHANNEL_REFERENCE_FAILED = "ChannelReferenceFailed"
SUBSCRIBER_RESOLVE_FAILED = "SubscriberResolveFailed"
REPLY_RESOLVE_FAILED = "ReplyResolveFailed"
DEAD_LETTER_SINK_RESOLVE_FAILED = "DeadLetterSinkResolveFailed"
PHYSICAL_CHANNEL_SYNC_FAILED = "PhysicalChannelSyncFailed"
NOT_MARKED_READY = "SubscriptionNotMarkedReadyByChannel"


def _is_empty(dest: Destination | None) -> bool:
    return dest is None or dest == Destination()


class _Unresolved(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class SubscriptionReconciler(ModelReconciler[Subscription]):
    rt = default_catalog().require("subscriptions")
    finalizer = FINALIZER

    def __init__(self, client: Client, resolver: DestinationResolver, tracker: Tracker) -> None:
        self.client = client
        self.resolver = resolver
        self.tracker = tracker
        catalog = default_catalog()
        self.channel_types = {(rt.api_version, rt.kind): rt
                              for rt in (catalog.require(k) for k in CHANNEL_KINDS)}
        self.watches = tuple(Watch(catalog.require(k), tracker.mapper(catalog.require(k)))
                             for k in TRACKED_KINDS)

    def _channel_type(self, obj: Subscription) -> ResourceType | None:
        ref = obj.spec.channel
        if ref is None:
            return None
        return self.channel_types.get((ref.api_version or "", ref.kind or ""))

    async def _channel(self, obj: Subscription) -> tuple[ResourceType, Obj]:
        ref = obj.spec.channel
        rt = self._channel_type(obj)
        kind, name = (ref.kind or "", ref.name or "") if ref else ("", "")
        if rt is None:
            raise _Unresolved(CHANNEL_REFERENCE_FAILED,
                              "Failed to get Spec.Channel or backing channel: "
                              f"{kind} is not a channel kind")
        self.tracker.track(Reference.to(rt, obj.namespace, name),
                           f"{obj.namespace}/{obj.name}")
        try:
            return rt, await self.client.get(rt, name, obj.namespace)
        except NotFound:
            raise _Unresolved(CHANNEL_REFERENCE_FAILED,
                              "Failed to get Spec.Channel or backing channel: "
                              f'{kind} "{name}" not found') from None

    async def reconcile(self, obj: Subscription) -> ReconcileResult | None:
        status = obj.status = obj.status or SubscriptionStatus()
        conditions = SUBSCRIPTION_CONDITIONS.manage(status)
        conditions.initialize()
        try:
            rt, channel = await self._channel(obj)
            physical = await self._resolve(obj, channel)
        except _Unresolved as err:
            conditions.mark_false("ReferencesResolved", err.reason, err.message)
            return None
        status.physical_subscription = physical
        conditions.mark_true("ReferencesResolved")

        entry = make_subscriber_spec(
            obj, subscriber_uri=physical.subscriber_uri, reply_uri=physical.reply_uri,
            dead_letter_uri=physical.dead_letter_sink_uri,
            channel_delivery=(channel.get("spec") or {}).get("delivery"))
        subscribers = list((channel.get("spec") or {}).get("subscribers") or [])
        if find_subscriber(subscribers, entry["uid"]) != entry:
            channel = await self._write(rt, channel, upsert_subscriber(subscribers, entry),
                                        conditions)
        conditions.mark_true("AddedToChannel")
        self._mark_channel_ready(obj, channel, conditions)
        return None

    async def _resolve(self, obj: Subscription, channel: Obj) -> PhysicalSubscriptionStatus:
        key = f"{obj.namespace}/{obj.name}"
        physical = PhysicalSubscriptionStatus()
        try:
            if not _is_empty(obj.spec.subscriber):
                physical.subscriber_uri = await self.resolver.resolve(
                    obj.spec.subscriber, obj.namespace, by=key)
        except ResolveError as err:
            raise _Unresolved(SUBSCRIBER_RESOLVE_FAILED,
                              f"Failed to resolve spec.subscriber: {err.message}") from None
        try:
            if not _is_empty(obj.spec.reply):
                physical.reply_uri = await self.resolver.resolve(
                    obj.spec.reply, obj.namespace, by=key)
        except ResolveError as err:
            raise _Unresolved(REPLY_RESOLVE_FAILED,
                              f"Failed to resolve spec.reply: {err.message}") from None
        sink = obj.spec.delivery.dead_letter_sink if obj.spec.delivery else None
        if sink is not None:
            try:
                physical.dead_letter_sink_uri = await self.resolver.resolve(
                    sink, obj.namespace, by=key)
            except ResolveError as err:
                raise _Unresolved(
                    DEAD_LETTER_SINK_RESOLVE_FAILED,
                    f"Failed to resolve spec.delivery.deadLetterSink: {err.message}") from None
        elif ((channel.get("spec") or {}).get("delivery") or {}).get("deadLetterSink"):
            uri = (channel.get("status") or {}).get("deadLetterSinkUri")
            if not uri:
                raise _Unresolved(
                    DEAD_LETTER_SINK_RESOLVE_FAILED,
                    f"channel {channel['metadata']['name']} didn't set "
                    f"status.deadLetterSinkUri")
            physical.dead_letter_sink_uri = str(uri)
        return physical

    async def _write(self, rt: ResourceType, channel: Obj, subscribers: list[Obj],
                     conditions: ConditionManager | None) -> Obj:
        meta = channel["metadata"]
        patch = {"metadata": {"resourceVersion": meta["resourceVersion"]},
                 "spec": {"subscribers": subscribers or None}}
        try:
            return await self.client.patch(rt, meta["name"], meta.get("namespace", ""), patch,
                                           "merge")
        except (Conflict, NotFound):
            raise
        except ApiError as err:
            if conditions is not None:
                conditions.mark_false("AddedToChannel", PHYSICAL_CHANNEL_SYNC_FAILED,
                                      f"Failed to sync physical Channel: {err}")
            raise TemporaryError(f"failed to synchronize to channel {meta['name']!r}: {err}",
                                 reason=PHYSICAL_CHANNEL_SYNC_FAILED) from err

    def _mark_channel_ready(self, obj: Subscription, channel: Obj,
                            conditions: ConditionManager) -> None:
        uid = obj.metadata.uid or ""
        reported = find_subscriber((channel.get("status") or {}).get("subscribers") or [], uid)
        name = channel["metadata"]["name"]
        if reported is None:
            conditions.mark_unknown(
                "ChannelReady", NOT_MARKED_READY,
                f'Failed to get subscription status: subscription "{obj.name}" not present '
                f'in channel "{name}" subscriber\'s list')
        elif reported.get("observedGeneration") != obj.metadata.generation:
            conditions.mark_unknown(
                "ChannelReady", NOT_MARKED_READY,
                f'channel "{name}" has not yet observed generation '
                f'{obj.metadata.generation} of the subscription')
        elif reported.get("ready") == "True":
            conditions.mark_true("ChannelReady")
        elif reported.get("ready") == "False":
            conditions.mark_false("ChannelReady", NOT_MARKED_READY,
                                  "Subscription marked by Channel as False")
        else:
            conditions.mark_unknown("ChannelReady", NOT_MARKED_READY,
                                    "Subscription marked by Channel as Unknown")

    async def finalize(self, obj: Subscription) -> None:
        """Take this Subscription's entry out of its channel, if the channel is still there."""
        rt = self._channel_type(obj)
        ref = obj.spec.channel
        if rt is None or ref is None:
            return
        try:
            channel = await self.client.get(rt, ref.name or "", obj.namespace)
        except NotFound:
            return
        subscribers = list((channel.get("spec") or {}).get("subscribers") or [])
        uid = obj.metadata.uid or ""
        if find_subscriber(subscribers, uid) is not None:
            try:
                await self._write(rt, channel, remove_subscriber(subscribers, uid), None)
            except NotFound:
                return

    async def deleted(self, key: str) -> None:
        self.tracker.forget(key)
