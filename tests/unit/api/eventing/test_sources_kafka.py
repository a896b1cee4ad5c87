"""KafkaSource admission: Knative's defaults, every rule with its field path, the catalog."""

from __future__ import annotations

from typing import Any

import pytest
from tests.unit.api.eventing.eventing_admission import admit

from shoal.api.catalog import default_catalog
from shoal.api.sources.kafka import KafkaSource

DOCS_KAFKA = """
apiVersion: sources.knative.dev/v1beta1
kind: KafkaSource
metadata:
  name: kafka-source
spec:
  consumerGroup: knative-group
  bootstrapServers:
  - my-cluster-kafka-bootstrap.kafka:9092
  topics:
  - knative-demo-topic
  sink:
    ref:
      apiVersion: serving.knative.dev/v1
      kind: Service
      name: event-display
"""

SINK = {"ref": {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": "display"}}


def kafka(**spec: Any) -> dict[str, Any]:
    base = {"bootstrapServers": ["127.0.0.1:9092"], "topics": ["t"], "sink": SINK}
    return {"metadata": {"name": "k"}, "spec": {**base, **spec}}


def test_the_docs_kafka_source_is_accepted_and_defaulted() -> None:
    result = admit(KafkaSource, DOCS_KAFKA, namespace="shop")
    assert result.errors == []
    spec = result.stored["spec"]
    assert spec["consumerGroup"] == "knative-group"
    assert spec["initialOffset"] == "latest"
    assert spec["consumers"] == 1
    assert spec["ordering"] == "ordered"
    assert spec["sink"]["ref"]["namespace"] == "shop"


def test_the_consumer_group_defaults_to_a_generated_name_and_is_kept_on_update() -> None:
    first = admit(KafkaSource, kafka())
    group = first.stored["spec"]["consumerGroup"]
    assert group.startswith("knative-kafka-source-") and len(group) > len("knative-kafka-source-")
    again = admit(KafkaSource, kafka(), old=first)
    assert again.errors == []
    assert again.stored["spec"]["consumerGroup"] == group


def test_the_consumer_group_is_immutable() -> None:
    first = admit(KafkaSource, kafka(consumerGroup="a"))
    changed = admit(KafkaSource, kafka(consumerGroup="b"), old=first)
    assert changed.fields == ["spec.consumerGroup"]


@pytest.mark.parametrize(
    ("spec", "fields"),
    [
        ({"topics": []}, ["spec.topics"]),
        ({"topics": None}, ["spec.topics"]),
        ({"topics": ["ok", " "]}, ["spec.topics[1]"]),
        ({"bootstrapServers": []}, ["spec.bootstrapServers"]),
        ({"bootstrapServers": ["nohost"]}, ["spec.bootstrapServers[0]"]),
        ({"bootstrapServers": ["h:99999"]}, ["spec.bootstrapServers[0]"]),
        ({"initialOffset": "newest"}, ["spec.initialOffset"]),
        ({"ordering": "random"}, ["spec.ordering"]),
        ({"consumers": 0}, ["spec.consumers"]),
        ({"sink": None}, ["spec.sink"]),
        ({"net": {"tls": {"enable": True}}}, ["spec.net.tls.enable"]),
        ({"net": {"sasl": {"enable": True, "user": {"secretKeyRef": {"name": "s", "key": "u"}}}}},
         ["spec.net.sasl.enable"]),
        ({"delivery": {"backoffPolicy": "sometimes"}}, ["spec.delivery.backoffPolicy"]),
        ({"ceOverrides": {"extensions": {"bad-name": "x"}}},
         ["spec.ceOverrides.extensions[bad-name]"]),
    ],
)
def test_a_bad_spec_names_the_field(spec: dict[str, Any], fields: list[str]) -> None:
    body = kafka(**spec)
    body["spec"] = {k: v for k, v in body["spec"].items() if v is not None}
    assert admit(KafkaSource, body).fields == fields


def test_every_error_is_reported_at_once() -> None:
    body = {"metadata": {"name": "k"}, "spec": {"initialOffset": "now",
                                                 "net": {"tls": {"enable": True}}}}
    assert admit(KafkaSource, body).fields == [
        "spec.bootstrapServers", "spec.initialOffset", "spec.net.tls.enable", "spec.sink",
        "spec.topics"]


def test_tls_and_sasl_disabled_are_accepted() -> None:
    net = {"tls": {"enable": False}, "sasl": {"enable": False}}
    assert admit(KafkaSource, kafka(net=net)).errors == []


def test_the_key_type_annotation_is_checked() -> None:
    body = kafka()
    body["metadata"]["annotations"] = {"kafkasources.sources.knative.dev/key-type": "uuid"}
    assert admit(KafkaSource, body).fields == [
        "metadata.annotations[kafkasources.sources.knative.dev/key-type]"]
    body["metadata"]["annotations"] = {"kafkasources.sources.knative.dev/key-type": "int"}
    assert admit(KafkaSource, body).errors == []


def test_the_catalog_serves_kafkasources_as_knative_does() -> None:
    rt = default_catalog().require("kafkasource")
    assert (rt.api_version, rt.kind, rt.plural) == (
        "sources.knative.dev/v1beta1", "KafkaSource", "kafkasources")
    assert [c.name for c in rt.columns] == ["Topics", "BootstrapServers", "Ready", "Reason",
                                            "Age"]
    assert "sources" in rt.categories
