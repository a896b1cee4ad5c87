"""Broker admission: class and delivery defaults from config-br-defaults, immutability."""

from __future__ import annotations

from tests.unit.api.eventing.eventing_admission import admit

from shoal.api.eventing.broker import BROKER_CLASS_ANNOTATION, Broker

DEFAULT_BROKER = """
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata:
  name: default
  namespace: default
"""

CONFIGURED_BROKER = """
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata:
  name: default
  annotations:
    eventing.knative.dev/broker.class: MTChannelBasedBroker
spec:
  config:
    apiVersion: v1
    kind: ConfigMap
    name: config-br-default-channel
    namespace: knative-eventing
  delivery:
    deadLetterSink:
      ref:
        apiVersion: serving.knative.dev/v1
        kind: Service
        name: example-sink
    backoffDelay: PT0.2S
    backoffPolicy: exponential
    retry: 5
"""

BR_DEFAULTS = """
clusterDefault:
  brokerClass: SQLiteBroker
  apiVersion: v1
  kind: ConfigMap
  name: cluster-config
  namespace: knative-eventing
  delivery:
    retry: 3
namespaceDefaults:
  team-a:
    brokerClass: TeamBroker
    delivery:
      retry: 7
      backoffPolicy: linear
  team-b:
    brokerClasses:
      SpecialBroker:
        delivery:
          retry: 1
"""


def test_a_bare_broker_gets_the_default_class_and_delivery() -> None:
    result = admit(Broker, DEFAULT_BROKER)
    assert result.errors == []
    stored = result.stored
    assert stored["metadata"]["annotations"] == {BROKER_CLASS_ANNOTATION: "SQLiteBroker"}
    assert stored["spec"] == {
        "delivery": {"retry": 10, "backoffPolicy": "exponential", "backoffDelay": "PT0.2S"},
    }
    assert "status" not in stored


def test_a_configured_broker_keeps_its_settings_and_gets_namespaces() -> None:
    result = admit(Broker, CONFIGURED_BROKER, namespace="shop")
    assert result.errors == []
    stored = result.stored
    assert stored["metadata"]["annotations"][BROKER_CLASS_ANNOTATION] == "MTChannelBasedBroker"
    assert stored["spec"]["config"]["namespace"] == "knative-eventing"
    assert stored["spec"]["delivery"] == {
        "deadLetterSink": {
            "ref": {
                "apiVersion": "serving.knative.dev/v1",
                "kind": "Service",
                "name": "example-sink",
                "namespace": "shop",
            }
        },
        "backoffDelay": "PT0.2S",
        "backoffPolicy": "exponential",
        "retry": 5,
    }


def test_cluster_defaults_from_the_config_map() -> None:
    result = admit(
        Broker,
        DEFAULT_BROKER,
        namespace="other",
        config={"config-br-defaults": {"default-br-config": BR_DEFAULTS}},
    )
    spec = result.stored["spec"]
    assert spec["delivery"] == {"retry": 3}
    assert spec["config"] == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "name": "cluster-config",
        "namespace": "knative-eventing",
    }


def test_namespace_defaults_win_over_cluster_defaults() -> None:
    config = {"config-br-defaults": {"default-br-config": BR_DEFAULTS}}
    result = admit(Broker, DEFAULT_BROKER, namespace="team-a", config=config)
    assert result.errors == []
    assert result.stored["metadata"]["annotations"][BROKER_CLASS_ANNOTATION] == "TeamBroker"
    assert result.stored["spec"]["delivery"] == {"retry": 7, "backoffPolicy": "linear"}


def test_a_class_entry_wins_within_a_namespace() -> None:
    config = {"config-br-defaults": {"default-br-config": BR_DEFAULTS}}
    special = {"metadata": {"name": "b", "annotations": {BROKER_CLASS_ANNOTATION: "SpecialBroker"}}}
    assert admit(Broker, special, namespace="team-b", config=config).stored["spec"]["delivery"] == {
        "retry": 1
    }
    plain = {"metadata": {"name": "b"}}
    assert admit(Broker, plain, namespace="team-b", config=config).stored["spec"]["delivery"] == {
        "retry": 3
    }


def test_unparsable_defaults_fall_back_to_the_built_in_ones() -> None:
    result = admit(
        Broker, DEFAULT_BROKER, config={"config-br-defaults": {"default-br-config": "{not: [yaml"}}
    )
    assert result.stored["metadata"]["annotations"][BROKER_CLASS_ANNOTATION] == "SQLiteBroker"
    assert result.stored["spec"]["delivery"]["retry"] == 10


def test_an_empty_class_annotation_is_defaulted() -> None:
    body = {"metadata": {"name": "b", "annotations": {BROKER_CLASS_ANNOTATION: ""}}}
    result = admit(Broker, body)
    assert result.stored["metadata"]["annotations"][BROKER_CLASS_ANNOTATION] == "SQLiteBroker"


def test_spec_config_needs_a_complete_reference() -> None:
    body = {"metadata": {"name": "b"}, "spec": {"config": {"kind": "ConfigMap"}}}
    result = admit(Broker, body)
    assert result.fields == ["spec.config.apiVersion", "spec.config.name"]


def test_the_class_cannot_change() -> None:
    old = admit(Broker, DEFAULT_BROKER)
    changed = {
        "metadata": {"name": "default", "annotations": {BROKER_CLASS_ANNOTATION: "OtherBroker"}}
    }
    result = admit(Broker, changed, old=old)
    field = f"metadata.annotations[{BROKER_CLASS_ANNOTATION}]"
    assert result.fields == [field]
    assert result.message(field) == "Invalid value: field is immutable"


def test_spec_config_cannot_change_but_delivery_can() -> None:
    old = admit(Broker, CONFIGURED_BROKER)
    body = old.stored
    body["spec"]["delivery"]["retry"] = 1
    assert admit(Broker, body, old=old).errors == []
    body["spec"]["config"]["name"] = "another"
    assert admit(Broker, body, old=old).fields == ["spec.config"]
