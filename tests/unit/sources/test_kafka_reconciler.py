"""The KafkaSource reconciler, one reconcile at a time against the fake client.

A fake stands in for the adapters: it records the plans it is given and reports whatever
state a test sets. Each test checks the plan and the status the reconciler leaves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tests.unit.controllers.fakeclient import FakeClient

from shoal.api.catalog import default_catalog
from shoal.eventing.backoff import RetryPolicy
from shoal.sources.kafka import KafkaSourceReconciler
from shoal.sources.kafka_adapter import AdapterState, KafkaPlan

CATALOG = default_catalog()
KAFKA_SOURCES = CATALOG.require("kafkasources")
SERVICES = CATALOG.require("services")
KEY = "default/orders"


@dataclass
class FakeAdapters:
    plans: dict[str, KafkaPlan] = field(default_factory=dict)
    states: dict[str, AdapterState] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)

    def state(self, key: str) -> AdapterState:
        return self.states.get(key, AdapterState())

    def apply(self, key: str, plan: KafkaPlan) -> None:
        self.plans[key] = plan

    def remove(self, key: str) -> None:
        self.plans.pop(key, None)
        self.removed.append(key)


def conditions(status: Any) -> dict[str, tuple[str, str]]:
    return {c.type: (c.status, c.reason or "") for c in status.conditions or []}


async def reconcile(fake: FakeClient, adapters: FakeAdapters, **spec: Any) -> Any:
    body = {"metadata": {"name": "orders", "namespace": "default",
                         "annotations": spec.pop("annotations", {})},
            "spec": {"bootstrapServers": ["127.0.0.1:9092"], "topics": ["a", "b"],
                     "consumerGroup": "g", "initialOffset": "earliest", "consumers": 1,
                     "sink": {"uri": "http://127.0.0.1:9/"}, **spec}}
    stored = await fake.create(KAFKA_SOURCES, body)
    reconciler = KafkaSourceReconciler(fake, adapters)
    source = reconciler.decode(stored)
    assert await reconciler.reconcile(source) is None
    return source.status


async def test_a_resolved_sink_starts_the_adapter_and_waits_for_the_connection() -> None:
    adapters = FakeAdapters()
    status = await reconcile(FakeClient(), adapters)
    plan = adapters.plans[KEY]
    assert (plan.servers, plan.topics, plan.group, plan.initial_offset, plan.consumers) == (
        ("127.0.0.1:9092",), ("a", "b"), "g", "earliest", 1)
    assert (plan.sink, plan.dead_letter, plan.policy) == ("http://127.0.0.1:9/", None,
                                                          RetryPolicy())
    assert status.sink_uri == "http://127.0.0.1:9/"
    assert [(a.type, a.source) for a in status.ce_attributes] == [
        ("dev.knative.kafka.event", "/apis/v1/namespaces/default/kafkasources/orders#a"),
        ("dev.knative.kafka.event", "/apis/v1/namespaces/default/kafkasources/orders#b")]
    assert conditions(status) == {
        "ConnectionEstablished": ("Unknown", "Connecting"),
        "Deployed": ("True", ""),
        "InitialOffsetsCommitted": ("Unknown", "OffsetsNotCommitted"),
        "Ready": ("Unknown", "Connecting"),
        "SinkProvided": ("True", ""),
    }


async def test_connected_with_offsets_committed_is_ready() -> None:
    adapters = FakeAdapters(states={KEY: AdapterState(True, "", True, 1)})
    status = await reconcile(FakeClient(), adapters)
    assert conditions(status)["Ready"] == ("True", "")
    assert status.consumers == 1


async def test_unreachable_brokers_make_it_not_ready_with_the_reason() -> None:
    adapters = FakeAdapters(states={KEY: AdapterState(False, "Unable to bootstrap")})
    status = await reconcile(FakeClient(), adapters)
    found = conditions(status)
    assert found["Ready"] == ("False", "ConnectionFailed")
    assert found["ConnectionEstablished"] == ("False", "ConnectionFailed")
    message = next(c.message for c in status.conditions if c.type == "Ready")
    assert "Unable to bootstrap" in message


async def test_a_missing_sink_stops_the_adapter() -> None:
    adapters = FakeAdapters()
    sink = {"ref": {"apiVersion": "serving.knative.dev/v1", "kind": "Service",
                    "name": "missing", "namespace": "default"}}
    status = await reconcile(FakeClient(), adapters, sink=sink)
    assert adapters.plans == {} and adapters.removed == [KEY]
    assert conditions(status)["SinkProvided"] == ("False", "NotFound")
    assert conditions(status)["Ready"][0] == "False"
    assert status.sink_uri is None


async def test_a_sink_ref_resolves_to_its_address() -> None:
    fake = FakeClient()
    svc = await fake.create(SERVICES, {"metadata": {"name": "display", "namespace": "default"}})
    await fake.update_status(SERVICES, {**svc, "status": {
        "address": {"url": "http://display.default.svc.cluster.local"}}})
    adapters = FakeAdapters()
    sink = {"ref": {"apiVersion": "serving.knative.dev/v1", "kind": "Service",
                    "name": "display", "namespace": "default"}}
    await reconcile(fake, adapters, sink=sink)
    assert adapters.plans[KEY].sink == "http://display.default.svc.cluster.local"


async def test_delivery_key_type_and_overrides_reach_the_plan() -> None:
    adapters = FakeAdapters()
    await reconcile(
        FakeClient(), adapters,
        annotations={"kafkasources.sources.knative.dev/key-type": "int"},
        ceOverrides={"extensions": {"b": "2", "a": "1"}},
        delivery={"retry": 3, "backoffPolicy": "linear", "backoffDelay": "PT1S",
                  "deadLetterSink": {"uri": "http://127.0.0.1:10/"}})
    plan = adapters.plans[KEY]
    assert plan.policy == RetryPolicy(retry=3, backoff_policy="linear", backoff_delay=1.0)
    assert plan.dead_letter == "http://127.0.0.1:10/"
    assert plan.key_type == "int"
    assert plan.overrides == (("a", "1"), ("b", "2"))
    assert plan.ordered


async def test_unordered_reaches_the_plan() -> None:
    adapters = FakeAdapters()
    await reconcile(FakeClient(), adapters, ordering="unordered")
    assert not adapters.plans[KEY].ordered


def test_only_a_change_of_delivery_keeps_the_consumers() -> None:
    plan = KafkaPlan("u", "ns", "s", ("h:1",), ("t",), "g", "latest", 1, "http://a/")
    assert plan.same_consumer(KafkaPlan("u", "ns", "s", ("h:1",), ("t",), "g", "latest", 1,
                                        "http://b/", key_type="int", overrides=(("x", "y"),)))
    assert not plan.same_consumer(KafkaPlan("u", "ns", "s", ("h:1",), ("t", "u"), "g",
                                            "latest", 1, "http://a/"))
    assert not plan.same_consumer(KafkaPlan("v", "ns", "s", ("h:1",), ("t",), "g", "latest",
                                            1, "http://a/"))
