"""NatsSource admission: servers, subject, queue group, JetStream options and sink."""

from __future__ import annotations

from typing import Any

import pytest
from tests.unit.api.eventing.eventing_admission import admit

from shoal.api.sources.nats import NatsSource, server_list

SINK = {"ref": {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": "display"}}


def source(**spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "orders"}, "spec": {"sink": SINK, "subject": "orders.>",
                                                     **spec}}


def test_servers_default_to_config_nats() -> None:
    result = admit(NatsSource, source(), namespace="shop",
                   config={"config-nats": {"url": "nats://127.0.0.1:4333"}})
    assert result.errors == []
    assert result.stored["spec"]["servers"] == ["nats://127.0.0.1:4333"]
    assert result.stored["spec"]["sink"]["ref"]["namespace"] == "shop"


def test_jetstream_defaults_the_consumer_and_policy() -> None:
    result = admit(NatsSource, source(jetstream={"stream": "ORDERS"}), namespace="shop")
    assert result.errors == []
    assert result.stored["spec"]["jetstream"] == {
        "stream": "ORDERS", "consumer": "knative-shop-orders", "deliverPolicy": "all"}


@pytest.mark.parametrize("servers", [
    "nats://127.0.0.1:4222", "nats://127.0.0.1:4222, tls://127.0.0.1:4223",
    ["nats://127.0.0.1:4222", "nats://localhost:4223"]])
@pytest.mark.parametrize("subject", ["orders", "orders.*", "orders.>", "*.created", ">"])
def test_valid_sources_are_accepted(servers: Any, subject: str) -> None:
    result = admit(NatsSource, source(servers=servers, subject=subject, queueGroup="workers"))
    assert result.errors == []


def test_server_list_reads_both_spellings() -> None:
    assert server_list(" nats://a:1 ,nats://b:2,") == ["nats://a:1", "nats://b:2"]
    assert server_list(["nats://a:1"]) == ["nats://a:1"]
    assert server_list(None) == []


@pytest.mark.parametrize(("spec", "field", "words"), [
    ({"subject": None}, "spec.subject", "Required"),
    ({"subject": "orders..x"}, "spec.subject", "empty tokens"),
    ({"subject": "orders.>.x"}, "spec.subject", "> may only be the last"),
    ({"subject": "ord*rs"}, "spec.subject", "whole tokens"),
    ({"subject": "orders x"}, "spec.subject", "whitespace"),
    ({"servers": ["http://127.0.0.1:4222"]}, "spec.servers[0]", "nats://"),
    ({"servers": "nats://:4222"}, "spec.servers[0]", "host"),
    ({"queueGroup": "a b"}, "spec.queueGroup", "one token"),
    ({"jetstream": {"consumer": "c"}}, "spec.jetstream.stream", "Required"),
    ({"jetstream": {"stream": "A.B"}}, "spec.jetstream.stream", "letters"),
    ({"jetstream": {"stream": "S", "consumer": "c.d"}}, "spec.jetstream.consumer", "letters"),
    ({"jetstream": {"stream": "S", "deliverPolicy": "first"}},
     "spec.jetstream.deliverPolicy", "Unsupported"),
    ({"jetstream": {"stream": "S"}, "queueGroup": "q"}, "spec.queueGroup", "jetstream"),
    ({"sink": None}, "spec.sink", "expected at least one"),
    ({"ceOverrides": {"extensions": {"bad-key": "x"}}},
     "spec.ceOverrides.extensions[bad-key]", "alphanumeric"),
])
def test_bad_fields_are_named(spec: dict[str, Any], field: str, words: str) -> None:
    result = admit(NatsSource, source(**spec))
    assert field in result.fields, result.errors
    assert words in str(result.errors)


def test_the_durable_consumer_cannot_change() -> None:
    old = admit(NatsSource, source(jetstream={"stream": "S", "consumer": "one"}))
    new = admit(NatsSource, source(jetstream={"stream": "S", "consumer": "two"}), old=old)
    assert new.fields == ["spec.jetstream.consumer"]
