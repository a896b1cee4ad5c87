"""The pure builders behind the channel and flow reconcilers, tested without a store."""

from __future__ import annotations

from typing import Any

from shoal.api.flows.parallel import Parallel
from shoal.api.flows.sequence import Sequence
from shoal.api.messaging.channel import Channel
from shoal.api.messaging.subscription import Subscription
from shoal.controllers.eventing.builders import (
    backing_channel_spec,
    condition_of,
    controller_ref,
    imc_url,
    is_controlled_by,
    make_backing_channel,
    make_parallel_channel,
    make_parallel_filter_subscription,
    make_parallel_subscription,
    make_sequence_channel,
    make_sequence_subscription,
    make_subscriber_spec,
    parallel_channel_name,
    remove_subscriber,
    upsert_subscriber,
)

IMC_TEMPLATE = {"apiVersion": "messaging.knative.dev/v1", "kind": "InMemoryChannel"}
IMC_REF = {"apiVersion": "messaging.knative.dev/v1", "kind": "InMemoryChannel"}


def meta(name: str, uid: str = "uid-1", generation: int = 1) -> dict[str, Any]:
    return {"name": name, "namespace": "ns", "uid": uid, "generation": generation}


def ksvc(name: str) -> dict[str, Any]:
    return {"ref": {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": name,
                    "namespace": "ns"}}


def owner_of(obj: dict[str, Any]) -> dict[str, Any]:
    (ref,) = obj["metadata"]["ownerReferences"]
    return dict(ref)


# -- addresses and ownership ---------------------------------------------------------------


def test_imc_url_is_a_path_under_the_eventing_listener() -> None:
    assert imc_url("http://127.0.0.1:8081/", "ns", "ch") == (
        "http://127.0.0.1:8081/channels/ns/ch")


def test_controller_ref_marks_the_owner_as_controller() -> None:
    channel = Channel.model_validate({"apiVersion": "messaging.knative.dev/v1",
                                      "kind": "Channel", "metadata": meta("ch")})
    assert controller_ref(channel) == {
        "apiVersion": "messaging.knative.dev/v1", "kind": "Channel", "name": "ch",
        "uid": "uid-1", "controller": True, "blockOwnerDeletion": True}
    child = {"metadata": {"ownerReferences": [controller_ref(channel)]}}
    assert is_controlled_by(child, "uid-1")
    assert not is_controlled_by(child, "other")
    not_controller = {"metadata": {"ownerReferences": [
        {**controller_ref(channel), "controller": False}]}}
    assert not is_controlled_by(not_controller, "uid-1")


def test_condition_of_reads_a_status_condition() -> None:
    obj = {"status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    assert condition_of(obj) == {"type": "Ready", "status": "True"}
    assert condition_of(obj, "Addressable") is None
    assert condition_of({}) is None


# -- Channel -------------------------------------------------------------------------------


def channel(**spec: Any) -> Channel:
    return Channel.model_validate({
        "apiVersion": "messaging.knative.dev/v1", "kind": "Channel", "metadata": meta("ch"),
        "spec": {"channelTemplate": {**IMC_TEMPLATE, "spec": {"delivery": {"retry": 1}}},
                 **spec}})


def test_backing_channel_has_the_template_kind_the_same_name_and_an_owner() -> None:
    sub = {"uid": "s1", "generation": 2, "subscriberUri": "http://a/"}
    backing = make_backing_channel(channel(subscribers=[sub]))
    assert backing["apiVersion"] == "messaging.knative.dev/v1"
    assert backing["kind"] == "InMemoryChannel"
    assert backing["metadata"]["name"] == "ch"
    assert backing["metadata"]["namespace"] == "ns"
    assert owner_of(backing)["kind"] == "Channel"
    assert backing["spec"] == {"delivery": {"retry": 1}, "subscribers": [sub]}


def test_the_channels_delivery_wins_over_the_templates() -> None:
    spec = backing_channel_spec(channel(delivery={"retry": 5}))
    assert spec == {"subscribers": None, "delivery": {"retry": 5}}
    assert backing_channel_spec(channel())["delivery"] == {"retry": 1}


# -- Subscription --------------------------------------------------------------------------


def subscription(**spec: Any) -> Subscription:
    return Subscription.model_validate({
        "apiVersion": "messaging.knative.dev/v1", "kind": "Subscription",
        "metadata": meta("sub", uid="sub-uid", generation=3),
        "spec": {"channel": {**IMC_REF, "name": "ch"}, **spec}})


def test_subscriber_entry_carries_uid_generation_and_resolved_uris() -> None:
    entry = make_subscriber_spec(subscription(), subscriber_uri="http://s/",
                                 reply_uri="http://r/", dead_letter_uri=None)
    assert entry == {"uid": "sub-uid", "generation": 3, "subscriberUri": "http://s/",
                     "replyUri": "http://r/"}


def test_subscriber_entry_has_the_subscriptions_delivery_with_the_resolved_sink() -> None:
    sub = subscription(delivery={"retry": 3, "backoffPolicy": "linear",
                                 "deadLetterSink": ksvc("dls")})
    entry = make_subscriber_spec(sub, subscriber_uri="http://s/", reply_uri=None,
                                 dead_letter_uri="http://dls/",
                                 channel_delivery={"retry": 9})
    assert entry["delivery"] == {"retry": 3, "backoffPolicy": "linear",
                                 "deadLetterSink": {"uri": "http://dls/"}}
    assert "replyUri" not in entry


def test_subscriber_entry_falls_back_to_the_channels_delivery() -> None:
    entry = make_subscriber_spec(subscription(), subscriber_uri="http://s/", reply_uri=None,
                                 dead_letter_uri="http://channel-dls/",
                                 channel_delivery={"retry": 9,
                                                   "deadLetterSink": {"uri": "http://x/"}})
    assert entry["delivery"] == {"retry": 9, "deadLetterSink": {"uri": "http://channel-dls/"}}


def test_upsert_and_remove_subscriber_keep_the_others() -> None:
    a, b = {"uid": "a", "generation": 1}, {"uid": "b", "generation": 1}
    subscribers = [a, b]
    assert upsert_subscriber(subscribers, {"uid": "b", "generation": 2}) == [
        a, {"uid": "b", "generation": 2}]
    assert upsert_subscriber(subscribers, {"uid": "c"}) == [a, b, {"uid": "c"}]
    assert remove_subscriber(subscribers, "a") == [b]
    assert subscribers == [a, b]  # the caller's list is left alone


# -- Sequence ------------------------------------------------------------------------------


def sequence(steps: int, reply: dict[str, Any] | None = None) -> Sequence:
    spec: dict[str, Any] = {
        "channelTemplate": IMC_TEMPLATE,
        "steps": [{**ksvc(f"step{i}"), "delivery": {"retry": i}} for i in range(steps)]}
    if reply is not None:
        spec["reply"] = reply
    return Sequence.model_validate({"apiVersion": "flows.knative.dev/v1", "kind": "Sequence",
                                    "metadata": meta("seq"), "spec": spec})


def test_sequence_channels_are_named_after_their_step() -> None:
    ch = make_sequence_channel(sequence(2), 1)
    assert ch["metadata"]["name"] == "seq-kn-sequence-1"
    assert ch["kind"] == "InMemoryChannel"
    assert owner_of(ch)["kind"] == "Sequence"
    assert ch["spec"] == {}


def test_sequence_step_replies_to_the_next_channel() -> None:
    sub = make_sequence_subscription(sequence(2, reply={"uri": "http://end/"}), 0)
    assert sub["metadata"]["name"] == "seq-kn-sequence-0"
    assert owner_of(sub)["uid"] == "uid-1"
    assert sub["spec"] == {
        "channel": {**IMC_REF, "name": "seq-kn-sequence-0"},
        "subscriber": ksvc("step0"),
        "reply": {"ref": {**IMC_REF, "name": "seq-kn-sequence-1", "namespace": "ns"}},
        "delivery": {"retry": 0},
    }


def test_the_last_step_replies_to_the_sequences_reply() -> None:
    sub = make_sequence_subscription(sequence(2, reply={"uri": "http://end/"}), 1)
    assert sub["spec"]["channel"]["name"] == "seq-kn-sequence-1"
    assert sub["spec"]["reply"] == {"uri": "http://end/"}
    assert "reply" not in make_sequence_subscription(sequence(1), 0)["spec"]


# -- Parallel ------------------------------------------------------------------------------


def parallel(reply: dict[str, Any] | None = None) -> Parallel:
    spec: dict[str, Any] = {"channelTemplate": IMC_TEMPLATE, "branches": [
        {"filter": ksvc("f0"), "subscriber": ksvc("s0"), "reply": {"uri": "http://r0/"}},
        {"subscriber": ksvc("s1"), "delivery": {"retry": 2}},
    ]}
    if reply is not None:
        spec["reply"] = reply
    return Parallel.model_validate({"apiVersion": "flows.knative.dev/v1", "kind": "Parallel",
                                    "metadata": meta("par"), "spec": spec})


def test_parallel_channels() -> None:
    assert parallel_channel_name("par") == "par-kn-parallel"
    ingress = make_parallel_channel(parallel(), "par-kn-parallel")
    assert ingress["metadata"]["name"] == "par-kn-parallel"
    assert owner_of(ingress)["kind"] == "Parallel"


def test_filter_subscription_takes_the_ingress_to_the_branch_channel() -> None:
    sub = make_parallel_filter_subscription(parallel(), 0)
    assert sub["metadata"]["name"] == "par-kn-parallel-filter-0"
    assert sub["spec"] == {
        "channel": {**IMC_REF, "name": "par-kn-parallel"},
        "subscriber": ksvc("f0"),
        "reply": {"ref": {**IMC_REF, "name": "par-kn-parallel-0", "namespace": "ns"}},
    }


def test_a_branch_without_filter_passes_every_event_on() -> None:
    sub = make_parallel_filter_subscription(parallel(), 1)
    assert "subscriber" not in sub["spec"]
    assert sub["spec"]["reply"]["ref"]["name"] == "par-kn-parallel-1"


def test_branch_subscription_replies_to_the_branch_reply_else_the_parallels() -> None:
    first = make_parallel_subscription(parallel(reply={"uri": "http://all/"}), 0)
    assert first["metadata"]["name"] == "par-kn-parallel-0"
    assert first["spec"] == {"channel": {**IMC_REF, "name": "par-kn-parallel-0"},
                             "subscriber": ksvc("s0"), "reply": {"uri": "http://r0/"}}
    second = make_parallel_subscription(parallel(reply={"uri": "http://all/"}), 1)
    assert second["spec"]["reply"] == {"uri": "http://all/"}
    assert second["spec"]["delivery"] == {"retry": 2}
    assert "reply" not in make_parallel_subscription(parallel(), 1)["spec"]
