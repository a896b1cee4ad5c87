"""Channel, InMemoryChannel and Subscription admission."""

from __future__ import annotations

from typing import Any

import pytest
from tests.unit.api.eventing.eventing_admission import admit

from shoal.api.messaging.channel import SUBSCRIBABLE_ANNOTATION, Channel
from shoal.api.messaging.inmemorychannel import InMemoryChannel
from shoal.api.messaging.subscription import Subscription

IMC = {"apiVersion": "messaging.knative.dev/v1", "kind": "InMemoryChannel"}


def test_a_bare_channel_is_backed_by_an_in_memory_channel() -> None:
    result = admit(
        Channel,
        {
            "apiVersion": "messaging.knative.dev/v1",
            "kind": "Channel",
            "metadata": {"name": "my-channel"},
        },
    )
    assert result.errors == []
    assert result.stored["spec"] == {"channelTemplate": IMC}
    assert result.stored["metadata"]["annotations"] == {SUBSCRIBABLE_ANNOTATION: "v1"}


def test_the_channel_template_comes_from_the_namespace_default() -> None:
    config = {
        "default-ch-webhook": {
            "default-ch-config": (
                "clusterDefault:\n  apiVersion: messaging.knative.dev/v1\n  kind: InMemoryChannel\n"
                "namespaceDefaults:\n  team-a:\n    apiVersion: messaging.knative.dev/v1\n"
                "    kind: KafkaChannel\n    spec:\n      numPartitions: 2\n"
            )
        }
    }
    team = admit(Channel, {"metadata": {"name": "c"}}, namespace="team-a", config=config)
    assert team.stored["spec"]["channelTemplate"] == {
        "apiVersion": "messaging.knative.dev/v1",
        "kind": "KafkaChannel",
        "spec": {"numPartitions": 2},
    }
    other = admit(Channel, {"metadata": {"name": "c"}}, namespace="other", config=config)
    assert other.stored["spec"]["channelTemplate"] == IMC


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"channelTemplate": {"kind": "InMemoryChannel"}}, "spec.channelTemplate.apiVersion"),
        (
            {"channelTemplate": {"apiVersion": "messaging.knative.dev/v1"}},
            "spec.channelTemplate.kind",
        ),
        ({"delivery": {"backoffPolicy": "never"}}, "spec.delivery.backoffPolicy"),
        ({"subscribers": [{"uid": "1"}]}, "spec.subscribers[0]"),
    ],
)
def test_invalid_channels(spec: dict[str, Any], field: str) -> None:
    assert admit(Channel, {"metadata": {"name": "c"}, "spec": spec}).fields == [field]


def test_the_channel_template_cannot_change() -> None:
    old = admit(Channel, {"metadata": {"name": "c"}})
    body = old.stored
    body["spec"]["delivery"] = {"retry": 2}
    assert admit(Channel, body, old=old).errors == []
    body["spec"]["channelTemplate"]["kind"] = "KafkaChannel"
    assert admit(Channel, body, old=old).fields == ["spec.channelTemplate"]


def test_in_memory_channel_subscribers_need_a_uri() -> None:
    body = {
        "metadata": {"name": "imc"},
        "spec": {
            "subscribers": [
                {"uid": "a", "generation": 1, "subscriberUri": "http://a.example.com"},
                {"uid": "b", "generation": 1},
                {
                    "uid": "c",
                    "replyUri": "http://c.example.com",
                    "delivery": {
                        "deadLetterSink": {
                            "ref": {"apiVersion": "v1", "kind": "Service", "name": "dls"}
                        }
                    },
                },
            ]
        },
    }
    result = admit(InMemoryChannel, body, namespace="shop")
    assert result.fields == ["spec.subscribers[1]"]
    assert result.message("spec.subscribers[1]") == (
        "expected at least one, got none: replyUri, subscriberUri"
    )
    dls = result.stored["spec"]["subscribers"][2]["delivery"]["deadLetterSink"]
    assert dls["ref"]["namespace"] == "shop"
    assert result.stored["metadata"]["annotations"] == {SUBSCRIBABLE_ANNOTATION: "v1"}


def test_in_memory_channel_scope_annotation() -> None:
    good = {"metadata": {"name": "imc", "annotations": {"eventing.knative.dev/scope": "cluster"}}}
    assert admit(InMemoryChannel, good).errors == []
    bad = {"metadata": {"name": "imc", "annotations": {"eventing.knative.dev/scope": "world"}}}
    assert admit(InMemoryChannel, bad).fields == [
        "metadata.annotations[eventing.knative.dev/scope]"
    ]


SUBSCRIPTION = """
apiVersion: messaging.knative.dev/v1
kind: Subscription
metadata:
  name: my-subscription
spec:
  channel:
    apiVersion: messaging.knative.dev/v1
    kind: Channel
    name: my-channel
  delivery:
    deadLetterSink:
      ref:
        apiVersion: serving.knative.dev/v1
        kind: Service
        name: my-dls
    backoffDelay: PT1S
    backoffPolicy: linear
    retry: 3
  reply:
    ref:
      apiVersion: messaging.knative.dev/v1
      kind: InMemoryChannel
      name: my-reply-channel
  subscriber:
    ref:
      apiVersion: serving.knative.dev/v1
      kind: Service
      name: my-service
"""


def test_the_docs_subscription_gets_namespaces_on_its_references() -> None:
    result = admit(Subscription, SUBSCRIPTION, namespace="shop")
    assert result.errors == []
    spec = result.stored["spec"]
    assert spec["subscriber"]["ref"]["namespace"] == "shop"
    assert spec["reply"]["ref"]["namespace"] == "shop"
    assert spec["delivery"]["deadLetterSink"]["ref"]["namespace"] == "shop"
    assert "namespace" not in spec["channel"]


CHANNEL = {"apiVersion": "messaging.knative.dev/v1", "kind": "Channel", "name": "c"}


@pytest.mark.parametrize(
    ("spec", "field", "message"),
    [
        (
            {"subscriber": {"uri": "http://a.example.com"}},
            "spec.channel",
            "Required value: the Subscription must reference a channel",
        ),
        ({"channel": {}, "subscriber": {"uri": "http://a.example.com"}}, "spec.channel", None),
        (
            {"channel": {"kind": "Channel", "name": "c"}, "reply": {"uri": "http://r.example.com"}},
            "spec.channel.apiVersion",
            "Required value",
        ),
        (
            {"channel": {**CHANNEL, "namespace": "other"}, "subscriber": {"uri": "http://a.com"}},
            "spec.channel.namespace",
            "Forbidden: only name, apiVersion and kind are supported fields",
        ),
        (
            {"channel": CHANNEL},
            "spec.subscriber",
            "Required value: the Subscription must reference at least one of (reply or a "
            "subscriber)",
        ),
        ({"channel": CHANNEL, "subscriber": {}, "reply": {}}, "spec.subscriber", None),
        ({"channel": CHANNEL, "reply": {"uri": "relative"}}, "spec.reply.uri", None),
        (
            {"channel": CHANNEL, "subscriber": {"ref": {"apiVersion": "v1", "name": "s"}}},
            "spec.subscriber.ref.kind",
            "Required value",
        ),
    ],
)
def test_invalid_subscriptions(spec: dict[str, Any], field: str, message: str | None) -> None:
    result = admit(Subscription, {"metadata": {"name": "s"}, "spec": spec})
    assert result.fields == [field]
    if message is not None:
        assert result.message(field) == message


def test_a_reply_alone_is_enough() -> None:
    body = {
        "metadata": {"name": "s"},
        "spec": {"channel": CHANNEL, "reply": {"uri": "http://r.example.com"}},
    }
    assert admit(Subscription, body).errors == []


def test_only_subscriber_and_reply_can_change() -> None:
    old = admit(Subscription, SUBSCRIPTION)
    body = old.stored
    body["spec"]["subscriber"] = {"uri": "http://new.example.com"}
    del body["spec"]["reply"]
    assert admit(Subscription, body, old=old).errors == []
    body["spec"]["channel"]["name"] = "other"
    body["spec"]["delivery"]["retry"] = 9
    assert admit(Subscription, body, old=old).fields == ["spec.channel", "spec.delivery"]
