"""The eventing kinds as the catalog serves them: names, columns, schemas; and EventType."""

from __future__ import annotations

import subprocess
import sys

import pytest
from tests.unit.api.eventing.eventing_admission import admit

from shoal.api import eventing, flows, messaging, sources
from shoal.api.catalog import default_catalog
from shoal.api.eventing.eventtype import EventType
from shoal.api.schema import object_schema
from shoal.api.types import ResourceType

EVENTING_TYPES = (*eventing.TYPES, *messaging.TYPES, *flows.TYPES, *sources.TYPES)


@pytest.mark.parametrize(
    ("name", "group", "kind"),
    [
        ("brokers", "eventing.knative.dev", "Broker"),
        ("broker", "eventing.knative.dev", "Broker"),
        ("triggers.eventing.knative.dev", "eventing.knative.dev", "Trigger"),
        ("eventtypes", "eventing.knative.dev", "EventType"),
        ("ch", "messaging.knative.dev", "Channel"),
        ("imc", "messaging.knative.dev", "InMemoryChannel"),
        ("sub", "messaging.knative.dev", "Subscription"),
        ("sequences", "flows.knative.dev", "Sequence"),
        ("parallel", "flows.knative.dev", "Parallel"),
        ("pingsources", "sources.knative.dev", "PingSource"),
        ("ApiServerSource", "sources.knative.dev", "ApiServerSource"),
        ("containersource", "sources.knative.dev", "ContainerSource"),
        ("sinkbindings", "sources.knative.dev", "SinkBinding"),
    ],
)
def test_the_catalog_resolves_names(name: str, group: str, kind: str) -> None:
    found = default_catalog().resolve(name)
    assert found is not None
    assert (found.group, found.kind) == (group, kind)


def test_no_short_names_beyond_knatives() -> None:
    short = {t.kind: t.short_names for t in EVENTING_TYPES if t.short_names}
    assert short == {"Channel": ("ch",), "InMemoryChannel": ("imc",), "Subscription": ("sub",)}


def test_versions_and_categories() -> None:
    versions = {t.kind: t.api_version for t in EVENTING_TYPES}
    assert versions["EventType"] == "eventing.knative.dev/v1beta2"
    assert versions["PingSource"] == "sources.knative.dev/v1"
    for t in EVENTING_TYPES:
        assert t.categories[:2] == ("all", "knative")
        assert t.status_subresource and t.namespaced


@pytest.mark.parametrize(
    ("kind", "columns"),
    [
        ("Broker", ["URL", "Age", "Ready", "Reason"]),
        ("Trigger", ["Broker", "Subscriber_URI", "Age", "Ready", "Reason"]),
        (
            "EventType",
            [
                "Type",
                "Source",
                "Schema",
                "Reference Name",
                "Reference Kind",
                "Description",
                "Ready",
                "Reason",
            ],
        ),
        ("Channel", ["URL", "Age", "Ready", "Reason"]),
        ("Subscription", ["Age", "Ready", "Reason"]),
        ("Sequence", ["URL", "Age", "Ready", "Reason"]),
        ("PingSource", ["Sink", "Schedule", "Age", "Ready", "Reason"]),
        ("SinkBinding", ["Sink", "Age", "Ready", "Reason"]),
    ],
)
def test_printer_columns(kind: str, columns: list[str]) -> None:
    found = next(t for t in EVENTING_TYPES if t.kind == kind)
    assert [c.name for c in found.columns] == columns


@pytest.mark.parametrize("rt", EVENTING_TYPES, ids=lambda t: t.kind)
def test_every_kind_has_a_schema_with_spec_and_status(rt: ResourceType) -> None:
    schema = object_schema(rt.model, rt.group, rt.version, rt.kind)
    assert {"spec", "status", "metadata"} <= set(schema["properties"])
    assert schema["properties"]["spec"]["properties"]


def test_wire_names_in_schemas() -> None:
    et = object_schema(EventType, "eventing.knative.dev", "v1beta2", "EventType")
    assert {"type", "source", "schema", "schemaData", "reference", "description"} <= set(
        et["properties"]["spec"]["properties"]
    )
    broker_rt = default_catalog().resolve("brokers")
    assert broker_rt is not None
    broker = object_schema(broker_rt.model, "eventing.knative.dev", "v1", "Broker")
    status = broker["properties"]["status"]["properties"]
    assert {
        "address",
        "addresses",
        "conditions",
        "deadLetterSinkUri",
        "deadLetterSinkCACerts",
        "observedGeneration",
        "annotations",
    } <= set(status)


def test_importing_the_kinds_warns_about_nothing() -> None:
    code = "import shoal.api.eventing, shoal.api.messaging, shoal.api.flows, shoal.api.sources"
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr


EVENT_TYPE = """
apiVersion: eventing.knative.dev/v1beta2
kind: EventType
metadata:
  name: dev.knative.source.github.push-34cnb
spec:
  type: dev.knative.source.github.push
  source: https://github.com/knative/eventing
  schema: https://example.com/schema.json
  description: A push to a repository
  reference:
    apiVersion: eventing.knative.dev/v1
    kind: Broker
    name: default
"""


def test_an_event_type_keeps_schema_under_its_wire_name() -> None:
    result = admit(EventType, EVENT_TYPE, namespace="shop")
    assert result.errors == []
    spec = result.stored["spec"]
    assert spec["schema"] == "https://example.com/schema.json"
    assert spec["reference"]["namespace"] == "shop"


def test_an_event_type_needs_a_type() -> None:
    result = admit(EventType, {"metadata": {"name": "e"}, "spec": {"source": "/x"}})
    assert result.fields == ["spec.type"]
