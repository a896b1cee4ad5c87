"""The Channel reconciler, and ``channel_reconcilers``: every reconciler of channels and flows.

A Channel is a front for a channel of the kind its ``spec.channelTemplate`` names
(InMemoryChannel unless configured otherwise). As Knative's channel reconciler, it creates
that backing channel with the same name and owns it, keeps the backing channel's
``spec.subscribers`` and ``spec.delivery`` equal to its own (Subscriptions that name a
Channel write theirs into the Channel), and mirrors the backing channel's address,
subscriber statuses and dead-letter sink into its status. ``shoal up`` adds the list
``channel_reconcilers`` returns to its controller manager.
"""

from __future__ import annotations

from typing import Any

from shoal.api.catalog import default_catalog
from shoal.api.errors import Invalid, NotFound
from shoal.api.messaging.channel import Channel, ChannelStatus
from shoal.api.messaging.channelable import SubscriberStatus
from shoal.api.messaging.channeltemplate import ChannelTemplateSpec
from shoal.api.model import Addressable, KReference
from shoal.api.types import ResourceType
from shoal.client.base import Client
from shoal.controllers.clock import Clock
from shoal.controllers.conditions import ConditionManager, ConditionSet
from shoal.controllers.errors import PermanentError
from shoal.controllers.eventing.builders import (
    Obj,
    backing_channel_spec,
    condition_of,
    is_controlled_by,
    make_backing_channel,
)
from shoal.controllers.eventing.inmemorychannel import InMemoryChannelReconciler
from shoal.controllers.eventing.parallel import ParallelReconciler
from shoal.controllers.eventing.sequence import SequenceReconciler
from shoal.controllers.eventing.subscription import SubscriptionReconciler
from shoal.controllers.reconciler import ModelReconciler, Reconciler, ReconcileResult, Watch
from shoal.controllers.resolver import tracked_resolver

CHANNEL_CONDITIONS = ConditionSet("Ready", ["Addressable", "BackingChannelReady",
                                            "DeadLetterSinkResolved"])
CHANNELS = default_catalog().require("channels")
IMCS = default_catalog().require("inmemorychannels")
CHANNEL_FAILURE = "ChannelFailure"


def channel_reconcilers(client: Client, ingress: str,
                        clock: Clock | None = None) -> list[Reconciler[Any]]:
    """The reconcilers of InMemoryChannel, Channel, Subscription, Sequence and Parallel.

    ``ingress`` is the eventing plane's base URL; the channel data plane's routes must be
    served on it (``ChannelPlane.routes()``). Each reconciler that tracks referents gets a
    tracker of its own (see ``tracked_resolver``).
    """
    imc_tracker, imc_resolver = tracked_resolver(client, default_catalog(), clock)
    sub_tracker, sub_resolver = tracked_resolver(client, default_catalog(), clock)
    return [
        InMemoryChannelReconciler(ingress, imc_resolver, imc_tracker),
        ChannelReconciler(client),
        SubscriptionReconciler(client, sub_resolver, sub_tracker),
        SequenceReconciler(client),
        ParallelReconciler(client),
    ]


def _needs_sync(desired: Obj, spec: Obj) -> bool:
    return any(spec.get(key) != value for key, value in desired.items())


class ChannelReconciler(ModelReconciler[Channel]):
    rt = CHANNELS
    watches = (Watch.owned(IMCS, CHANNELS),)

    def __init__(self, client: Client) -> None:
        self.client = client

    async def reconcile(self, obj: Channel) -> ReconcileResult | None:
        status = obj.status = obj.status or ChannelStatus()
        conditions = CHANNEL_CONDITIONS.manage(status)
        conditions.initialize()
        template = obj.spec.channel_template or ChannelTemplateSpec()
        rt = default_catalog().by_kind(template.api_version or "", template.kind or "")
        if rt is None or rt is CHANNELS:
            conditions.mark_false("BackingChannelReady", CHANNEL_FAILURE,
                                  "the channel template does not name a channel kind "
                                  "this server serves")
            return None
        backing = await self._backing(obj, rt, conditions)
        if backing is None:
            return None
        status.channel = KReference(api_version=rt.api_version, kind=rt.kind, name=obj.name,
                                    namespace=obj.namespace)
        self._propagate(obj, backing, conditions)
        return None

    async def _backing(self, obj: Channel, rt: ResourceType,
                       conditions: ConditionManager) -> Obj | None:
        """The backing channel, created or brought in step with the Channel."""
        try:
            backing = await self.client.get(rt, obj.name, obj.namespace)
        except NotFound:
            try:
                return await self.client.create(rt, make_backing_channel(obj))
            except Invalid as err:
                conditions.mark_false("BackingChannelReady", CHANNEL_FAILURE,
                                      f"problem reconciling the backing channel: {err}")
                raise PermanentError(str(err), reason=CHANNEL_FAILURE) from err
        if not is_controlled_by(backing, obj.metadata.uid or ""):
            conditions.mark_false("BackingChannelReady", "ChannelNotOwned",
                                  f'{rt.kind} "{obj.name}" is not owned by this Channel')
            return None
        desired = backing_channel_spec(obj)
        if _needs_sync(desired, backing.get("spec") or {}):
            patch = {"metadata": {"resourceVersion": backing["metadata"]["resourceVersion"]},
                     "spec": desired}
            backing = await self.client.patch(rt, obj.name, obj.namespace, patch, "merge")
        return backing

    def _propagate(self, obj: Channel, backing: Obj, conditions: ConditionManager) -> None:
        """Knative's ``PropagateStatuses``: readiness, address, subscribers, dead-letter sink."""
        status = obj.status
        assert status is not None
        observed: Obj = backing.get("status") or {}
        ready = condition_of(backing)
        if ready is None:
            conditions.mark_unknown("BackingChannelReady", "BackingChannelNotConfigured",
                                    "BackingChannel has not yet been reconciled.")
        elif ready.get("status") == "True":
            conditions.mark_true("BackingChannelReady")
        elif ready.get("status") == "False":
            conditions.mark_false("BackingChannelReady", str(ready.get("reason") or ""),
                                  str(ready.get("message") or ""))
        else:
            conditions.mark_unknown("BackingChannelReady", str(ready.get("reason") or ""),
                                    str(ready.get("message") or ""))
        address = observed.get("address") or {}
        if address.get("url"):
            status.address = Addressable.model_validate(address)
            conditions.mark_true("Addressable")
        else:
            status.address = None
            conditions.mark_false("Addressable", "EmptyHostname", "hostname is the empty string")
        status.subscribers = [SubscriberStatus.model_validate(s)
                              for s in observed.get("subscribers") or []] or None

        if obj.spec.delivery is None or obj.spec.delivery.dead_letter_sink is None:
            status.dead_letter_sink_uri = None
            conditions.mark_true("DeadLetterSinkResolved", "DeadLetterSinkNotConfigured",
                                 "No dead letter sink is configured.")
            return
        status.dead_letter_sink_uri = observed.get("deadLetterSinkUri") or None
        if status.dead_letter_sink_uri:
            conditions.mark_true("DeadLetterSinkResolved")
            return
        resolved = condition_of(backing, "DeadLetterSinkResolved") or {}
        if resolved.get("status") == "False":
            conditions.mark_false("DeadLetterSinkResolved", str(resolved.get("reason") or ""),
                                  str(resolved.get("message") or ""))
        else:
            conditions.mark_unknown("DeadLetterSinkResolved", "DeadLetterSinkNotResolved",
                                    "the backing channel has not resolved the dead letter "
                                    "sink yet")
