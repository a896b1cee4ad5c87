"""The channel and flow reconcilers, one reconcile at a time against the fake client.

Each test puts objects in the store, reconciles one of them, and checks what was written:
children, channel entries and the status the reconciler leaves on its copy.
"""

from __future__ import annotations

from typing import Any

from tests.unit.controllers.fakeclient import FakeClient

from shoal.api.catalog import default_catalog
from shoal.controllers.eventing.channel import ChannelReconciler
from shoal.controllers.eventing.inmemorychannel import InMemoryChannelReconciler
from shoal.controllers.eventing.parallel import ParallelReconciler
from shoal.controllers.eventing.sequence import SequenceReconciler
from shoal.controllers.eventing.subscription import SubscriptionReconciler
from shoal.controllers.resolver import DestinationResolver
from shoal.controllers.tracker import Tracker

CATALOG = default_catalog()
CHANNELS = CATALOG.require("channels")
IMCS = CATALOG.require("inmemorychannels")
SUBSCRIPTIONS = CATALOG.require("subscriptions")
SEQUENCES = CATALOG.require("sequences")
PARALLELS = CATALOG.require("parallels")
MESSAGING = "messaging.knative.dev/v1"
IMC_TEMPLATE = {"apiVersion": MESSAGING, "kind": "InMemoryChannel"}
INGRESS = "http://127.0.0.1:8081"


def resolver(fake: FakeClient) -> DestinationResolver:
    return DestinationResolver(fake, CATALOG, Tracker())


def conditions(status: Any) -> dict[str, tuple[str, str]]:
    return {c.type: (c.status, c.reason or "") for c in status.conditions or []}


async def put(fake: FakeClient, kind: str, name: str, spec: dict[str, Any],
              status: dict[str, Any] | None = None, **meta: Any) -> dict[str, Any]:
    rt = CATALOG.require(kind)
    obj = await fake.create(rt, {"metadata": {"name": name, "namespace": "default", **meta},
                                 "spec": spec})
    if status is not None:
        obj = await fake.update_status(rt, {**obj, "status": status})
    return obj


# -- InMemoryChannel -----------------------------------------------------------------------


async def test_imc_gets_its_address_and_reports_every_subscriber(fake: FakeClient) -> None:
    stored = await put(fake, "inmemorychannels", "imc", {"subscribers": [
        {"uid": "a", "generation": 2, "subscriberUri": "http://a/"},
        {"uid": "b", "generation": 1, "replyUri": "http://b/"}]})
    reconciler = InMemoryChannelReconciler(INGRESS, resolver(fake))
    imc = reconciler.decode(stored)
    assert await reconciler.reconcile(imc) is None
    assert imc.status is not None
    assert imc.status.address is not None
    assert imc.status.address.url == f"{INGRESS}/channels/default/imc"
    assert [(s.uid, s.observed_generation, s.ready) for s in imc.status.subscribers or []] == [
        ("a", 2, "True"), ("b", 1, "True")]
    got = conditions(imc.status)
    assert got["Ready"] == ("True", "")
    assert got["DeadLetterSinkResolved"] == ("True", "DeadLetterSinkNotConfigured")
    dispatcher = next(c for c in imc.status.conditions or [] if c.type == "DispatcherReady")
    assert dispatcher.severity == "Info"


async def test_imc_with_an_unresolvable_sink_is_not_ready(fake: FakeClient) -> None:
    stored = await put(fake, "inmemorychannels", "imc", {"delivery": {"deadLetterSink": {
        "ref": {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": "dls"}}}})
    reconciler = InMemoryChannelReconciler(INGRESS, resolver(fake))
    imc = reconciler.decode(stored)
    result = await reconciler.reconcile(imc)
    assert result is not None and result.requeue_after
    assert imc.status is not None
    assert conditions(imc.status)["DeadLetterSinkResolved"] == (
        "False", "Unable to get the DeadLetterSink's URI")
    assert conditions(imc.status)["Ready"][0] == "False"


# -- Channel -------------------------------------------------------------------------------


async def test_channel_creates_its_backing_channel(fake: FakeClient) -> None:
    entry = {"uid": "s1", "generation": 1, "subscriberUri": "http://s/"}
    stored = await put(fake, "channels", "ch", {"channelTemplate": IMC_TEMPLATE,
                                                "subscribers": [entry]})
    reconciler = ChannelReconciler(fake)
    channel = reconciler.decode(stored)
    await reconciler.reconcile(channel)
    backing = await fake.get(IMCS, "ch", "default")
    assert backing["spec"] == {"subscribers": [entry]}
    (owner,) = backing["metadata"]["ownerReferences"]
    assert owner["uid"] == stored["metadata"]["uid"] and owner["controller"]
    assert channel.status is not None
    assert conditions(channel.status)["BackingChannelReady"] == (
        "Unknown", "BackingChannelNotConfigured")
    assert channel.status.channel is not None
    assert channel.status.channel.kind == "InMemoryChannel"


async def test_channel_syncs_subscribers_and_mirrors_the_backing_status(
        fake: FakeClient) -> None:
    entry = {"uid": "s1", "generation": 1, "subscriberUri": "http://s/"}
    stored = await put(fake, "channels", "ch", {"channelTemplate": IMC_TEMPLATE,
                                                "subscribers": [entry],
                                                "delivery": {"retry": 2}})
    reconciler = ChannelReconciler(fake)
    await reconciler.reconcile(reconciler.decode(stored))
    backing = await fake.get(IMCS, "ch", "default")
    await fake.update_status(IMCS, {**backing, "status": {
        "conditions": [{"type": "Ready", "status": "True"}],
        "address": {"url": f"{INGRESS}/channels/default/ch"},
        "subscribers": [{"uid": "s1", "observedGeneration": 1, "ready": "True"}]}})
    stored = await fake.patch(CHANNELS, "ch", "default", {"spec": {"subscribers": None}})
    channel = reconciler.decode(stored)
    await reconciler.reconcile(channel)
    backing = await fake.get(IMCS, "ch", "default")
    assert "subscribers" not in backing["spec"]
    assert backing["spec"]["delivery"] == {"retry": 2}
    assert channel.status is not None and channel.status.address is not None
    assert channel.status.address.url == f"{INGRESS}/channels/default/ch"
    assert [s.uid for s in channel.status.subscribers or []] == ["s1"]
    assert conditions(channel.status)["Ready"] == ("True", "")


async def test_channel_does_not_adopt_a_channel_it_does_not_own(fake: FakeClient) -> None:
    await put(fake, "inmemorychannels", "ch", {})
    stored = await put(fake, "channels", "ch", {"channelTemplate": IMC_TEMPLATE})
    reconciler = ChannelReconciler(fake)
    channel = reconciler.decode(stored)
    await reconciler.reconcile(channel)
    assert channel.status is not None
    assert conditions(channel.status)["BackingChannelReady"] == ("False", "ChannelNotOwned")


async def test_channel_of_an_unknown_kind_fails(fake: FakeClient) -> None:
    stored = await put(fake, "channels", "ch", {"channelTemplate": {
        "apiVersion": "messaging.knative.dev/v1", "kind": "KafkaChannel"}})
    reconciler = ChannelReconciler(fake)
    channel = reconciler.decode(stored)
    await reconciler.reconcile(channel)
    assert channel.status is not None
    assert conditions(channel.status)["BackingChannelReady"] == ("False", "ChannelFailure")


# -- Subscription --------------------------------------------------------------------------


def sub_spec(channel: str = "imc", kind: str = "InMemoryChannel", **spec: Any) -> dict[str, Any]:
    return {"channel": {"apiVersion": MESSAGING, "kind": kind, "name": channel},
            "subscriber": {"uri": "http://s/"}, **spec}


async def test_subscription_without_its_channel_waits(fake: FakeClient) -> None:
    stored = await put(fake, "subscriptions", "sub", sub_spec())
    reconciler = SubscriptionReconciler(fake, resolver(fake), Tracker())
    sub = reconciler.decode(stored)
    await reconciler.reconcile(sub)
    assert sub.status is not None
    assert conditions(sub.status)["ReferencesResolved"] == ("False", "ChannelReferenceFailed")


async def test_subscription_adds_itself_to_the_channel_then_becomes_ready(
        fake: FakeClient) -> None:
    await put(fake, "inmemorychannels", "imc", {})
    stored = await put(fake, "subscriptions", "sub", sub_spec(reply={"uri": "http://r/"}))
    reconciler = SubscriptionReconciler(fake, resolver(fake), Tracker())
    sub = reconciler.decode(stored)
    await reconciler.reconcile(sub)
    imc = await fake.get(IMCS, "imc", "default")
    assert imc["spec"]["subscribers"] == [{
        "uid": stored["metadata"]["uid"], "generation": 1, "subscriberUri": "http://s/",
        "replyUri": "http://r/"}]
    assert sub.status is not None
    assert conditions(sub.status)["AddedToChannel"] == ("True", "")
    assert conditions(sub.status)["ChannelReady"] == (
        "Unknown", "SubscriptionNotMarkedReadyByChannel")

    await fake.update_status(IMCS, {**imc, "status": {"subscribers": [
        {"uid": stored["metadata"]["uid"], "observedGeneration": 1, "ready": "True"}]}})
    sub = reconciler.decode(stored)
    await reconciler.reconcile(sub)
    assert sub.status is not None and conditions(sub.status)["Ready"] == ("True", "")
    assert fake.calls["patch"] == 1  # the entry was already there


async def test_subscription_uses_the_channels_dead_letter_sink(fake: FakeClient) -> None:
    await put(fake, "inmemorychannels", "imc",
              {"delivery": {"retry": 4, "deadLetterSink": {"uri": "http://dls/"}}},
              status={"deadLetterSinkUri": "http://dls/"})
    stored = await put(fake, "subscriptions", "sub", sub_spec())
    reconciler = SubscriptionReconciler(fake, resolver(fake), Tracker())
    sub = reconciler.decode(stored)
    await reconciler.reconcile(sub)
    (entry,) = (await fake.get(IMCS, "imc", "default"))["spec"]["subscribers"]
    assert entry["delivery"] == {"retry": 4, "deadLetterSink": {"uri": "http://dls/"}}
    assert sub.status is not None and sub.status.physical_subscription is not None
    assert sub.status.physical_subscription.dead_letter_sink_uri == "http://dls/"


async def test_subscription_with_an_unresolvable_subscriber(fake: FakeClient) -> None:
    await put(fake, "inmemorychannels", "imc", {})
    stored = await put(fake, "subscriptions", "sub", sub_spec(subscriber={"ref": {
        "apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": "nope",
        "namespace": "default"}}))
    reconciler = SubscriptionReconciler(fake, resolver(fake), Tracker())
    sub = reconciler.decode(stored)
    await reconciler.reconcile(sub)
    assert sub.status is not None
    assert conditions(sub.status)["ReferencesResolved"] == ("False", "SubscriberResolveFailed")
    assert not (await fake.get(IMCS, "imc", "default"))["spec"].get("subscribers")


async def test_finalize_takes_the_entry_out_of_the_channel(fake: FakeClient) -> None:
    await put(fake, "channels", "ch", {"channelTemplate": IMC_TEMPLATE, "subscribers": [
        {"uid": "other", "generation": 1, "subscriberUri": "http://o/"}]})
    stored = await put(fake, "subscriptions", "sub", sub_spec("ch", "Channel"))
    reconciler = SubscriptionReconciler(fake, resolver(fake), Tracker())
    await reconciler.reconcile(reconciler.decode(stored))
    assert len((await fake.get(CHANNELS, "ch", "default"))["spec"]["subscribers"]) == 2
    await reconciler.finalize(reconciler.decode(stored))
    remaining = (await fake.get(CHANNELS, "ch", "default"))["spec"]["subscribers"]
    assert [s["uid"] for s in remaining] == ["other"]


# -- Sequence and Parallel -----------------------------------------------------------------


def steps(*uris: str) -> list[dict[str, Any]]:
    return [{"uri": uri} for uri in uris]


async def names(fake: FakeClient, kind: str) -> list[str]:
    rt = CATALOG.require(kind)
    return sorted(o["metadata"]["name"] for o in (await fake.list(rt, "default")).items)


async def test_sequence_creates_a_channel_and_a_subscription_per_step(
        fake: FakeClient) -> None:
    stored = await put(fake, "sequences", "seq", {"channelTemplate": IMC_TEMPLATE,
                                                  "steps": steps("http://a/", "http://b/")})
    reconciler = SequenceReconciler(fake)
    seq = reconciler.decode(stored)
    await reconciler.reconcile(seq)
    assert await names(fake, "inmemorychannels") == ["seq-kn-sequence-0", "seq-kn-sequence-1"]
    assert await names(fake, "subscriptions") == ["seq-kn-sequence-0", "seq-kn-sequence-1"]
    assert seq.status is not None
    assert conditions(seq.status)["ChannelsReady"] == ("Unknown", "ChannelsNotReady")
    assert conditions(seq.status)["Addressable"] == ("Unknown", "emptyAddress")
    assert [s.ready.reason for s in seq.status.channel_statuses or [] if s.ready] == [
        "NoReady", "NoReady"]


async def test_sequence_follows_changes_to_its_steps(fake: FakeClient) -> None:
    stored = await put(fake, "sequences", "seq", {"channelTemplate": IMC_TEMPLATE,
                                                  "steps": steps("http://a/", "http://b/")})
    reconciler = SequenceReconciler(fake)
    await reconciler.reconcile(reconciler.decode(stored))
    first = await fake.get(SUBSCRIPTIONS, "seq-kn-sequence-0", "default")

    stored = await fake.patch(SEQUENCES, "seq", "default", {"spec": {"steps": [
        {"uri": "http://a2/", "delivery": {"retry": 1}}]}})
    await reconciler.reconcile(reconciler.decode(stored))
    assert await names(fake, "inmemorychannels") == ["seq-kn-sequence-0"]
    assert await names(fake, "subscriptions") == ["seq-kn-sequence-0"]
    replaced = await fake.get(SUBSCRIPTIONS, "seq-kn-sequence-0", "default")
    assert replaced["metadata"]["uid"] != first["metadata"]["uid"]  # delivery is immutable
    assert replaced["spec"]["subscriber"] == {"uri": "http://a2/"}
    assert "reply" not in replaced["spec"]

    stored = await fake.patch(SEQUENCES, "seq", "default", {"spec": {"steps": [
        {"uri": "http://a3/", "delivery": {"retry": 1}}]}})
    await reconciler.reconcile(reconciler.decode(stored))
    updated = await fake.get(SUBSCRIPTIONS, "seq-kn-sequence-0", "default")
    assert updated["metadata"]["uid"] == replaced["metadata"]["uid"]
    assert updated["spec"]["subscriber"] == {"uri": "http://a3/"}


async def test_parallel_creates_its_channels_and_two_subscriptions_per_branch(
        fake: FakeClient) -> None:
    stored = await put(fake, "parallels", "par", {"channelTemplate": IMC_TEMPLATE, "branches": [
        {"filter": {"uri": "http://f0/"}, "subscriber": {"uri": "http://s0/"}},
        {"subscriber": {"uri": "http://s1/"}}]})
    reconciler = ParallelReconciler(fake)
    par = reconciler.decode(stored)
    await reconciler.reconcile(par)
    assert await names(fake, "inmemorychannels") == [
        "par-kn-parallel", "par-kn-parallel-0", "par-kn-parallel-1"]
    assert await names(fake, "subscriptions") == [
        "par-kn-parallel-0", "par-kn-parallel-1", "par-kn-parallel-filter-0",
        "par-kn-parallel-filter-1"]
    assert par.status is not None
    assert conditions(par.status)["ChannelsReady"] == ("False", "ChannelsNotReady")
    assert conditions(par.status)["Addressable"] == ("False", "emptyAddress")
    assert par.status.ingress_channel_status is not None
    assert par.status.ingress_channel_status.ready is not None
    assert par.status.ingress_channel_status.ready.reason == "NotAddressable"

    ingress = await fake.get(IMCS, "par-kn-parallel", "default")
    await fake.update_status(IMCS, {**ingress, "status": {"address": {"url": "http://in/"}}})
    par = reconciler.decode(stored)
    await reconciler.reconcile(par)
    assert par.status is not None and par.status.address is not None
    assert par.status.address.url == "http://in/"
    assert conditions(par.status)["Addressable"] == ("True", "")
