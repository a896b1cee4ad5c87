"""Trigger admission: defaults, attribute and Subscriptions API filters, CESQL, the broker."""

from __future__ import annotations

from typing import Any

import pytest
from tests.unit.api.eventing.eventing_admission import admit

from shoal.api.eventing.trigger import (
    BROKER_LABEL,
    DEFAULT_MAX_IN_FLIGHT,
    Trigger,
    max_in_flight,
    ordered,
)

SERVICE = {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": "my-service"}

DOCS_TRIGGER = """
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata:
  name: my-service-trigger
spec:
  broker: default
  filter:
    attributes:
      type: dev.knative.foo.bar
      myextension: my-extension-value
  subscriber:
    ref:
      apiVersion: serving.knative.dev/v1
      kind: Service
      name: my-service
"""


def trigger(**spec: Any) -> dict[str, Any]:
    full = {"broker": "default", "subscriber": {"ref": dict(SERVICE)}, **spec}
    return {"metadata": {"name": "t"}, "spec": full}


def test_the_docs_trigger_is_labelled_and_its_subscriber_namespaced() -> None:
    result = admit(Trigger, DOCS_TRIGGER, namespace="shop")
    assert result.errors == []
    stored = result.stored
    assert stored["metadata"]["labels"] == {BROKER_LABEL: "default"}
    assert stored["spec"]["subscriber"]["ref"]["namespace"] == "shop"
    assert stored["spec"]["filter"] == {
        "attributes": {"type": "dev.knative.foo.bar", "myextension": "my-extension-value"}
    }


def test_a_trigger_without_filter_gets_the_match_all_filter() -> None:
    body = trigger()
    body["metadata"]["labels"] = {"app": "x"}
    stored = admit(Trigger, body).stored
    assert stored["spec"]["filter"] == {}
    assert stored["metadata"]["labels"] == {"app": "x", BROKER_LABEL: "default"}


def test_an_empty_attribute_value_means_the_attribute_must_exist() -> None:
    assert admit(Trigger, trigger(filter={"attributes": {"source": ""}})).errors == []


@pytest.mark.parametrize("name", ["SOURCE", "s-pace", "123", "Type", "my_ext", ""])
def test_invalid_attribute_names_are_refused(name: str) -> None:
    result = admit(Trigger, trigger(filter={"attributes": {name: "x", "type": "ok"}}))
    field = f"spec.filter.attributes[{name}]"
    assert result.fields == [field]
    assert "Attribute name must start with a letter" in result.message(field)


def test_every_bad_attribute_name_is_reported() -> None:
    result = admit(Trigger, trigger(filter={"attributes": {"SOURCE": "", "s-pace": ""}}))
    assert result.fields == ["spec.filter.attributes[SOURCE]", "spec.filter.attributes[s-pace]"]


@pytest.mark.parametrize(
    "filters",
    [
        [{"exact": {"type": "com.github.push"}}],
        [{"prefix": {"type": "com.github."}}, {"suffix": {"source": ".org"}}],
        [
            {
                "any": [
                    {"exact": {"type": "com.github.push"}},
                    {"exact": {"subject": "https://github.com/knative/eventing"}},
                ]
            }
        ],
        [{"all": [{"exact": {"type": "a"}}, {"not": {"prefix": {"source": "b"}}}]}],
        [{"not": {"any": [{"exact": {"type": "a"}}]}}],
        [{"exact": {"type": ""}}],
    ],
)
def test_valid_subscriptions_api_filters(filters: list[dict[str, Any]]) -> None:
    assert admit(Trigger, trigger(filters=filters)).errors == []


@pytest.mark.parametrize(
    ("filters", "field", "message"),
    [
        (
            [{}],
            "spec.filters[0]",
            "Required value: expected exactly one, got neither: exact, prefix, suffix, all, any, "
            "not, cesql",
        ),
        (
            [{"exact": {"type": "a"}, "prefix": {"type": "b"}}],
            "spec.filters[0]",
            'Invalid value: "exact, prefix": multiple dialects found, filters can have only one '
            "dialect set",
        ),
        (
            [{"exact": {"type": "a", "source": "b"}}],
            "spec.filters[0].exact",
            "Invalid value: 2: must have exactly one key-value",
        ),
        (
            [{"exact": {"SOURCE": "a"}}],
            "spec.filters[0].exact[SOURCE]",
            'Invalid value: "SOURCE": Attribute name must start with a letter and can only contain '
            "lowercase alphanumeric",
        ),
        ([{"prefix": {"s-pace": "a"}}], "spec.filters[0].prefix[s-pace]", None),
        ([{"suffix": {"123": "a"}}], "spec.filters[0].suffix[123]", None),
        (
            [{"prefix": {"type": ""}}],
            "spec.filters[0].prefix[type]",
            'Invalid value: "": must not be empty',
        ),
        ([{"suffix": {"type": ""}}], "spec.filters[0].suffix[type]", None),
        (
            [{"all": []}],
            "spec.filters[0].all",
            "Required value: all must contain at least one nested filter",
        ),
        (
            [{"any": [{"exact": {"type": "a"}}, {"exact": {"TYPE": "b"}}]}],
            "spec.filters[0].any[1].exact[TYPE]",
            None,
        ),
        ([{"not": {"not": {"prefix": {"x": ""}}}}], "spec.filters[0].not.not.prefix[x]", None),
        (
            [{"exact": {"type": "a"}}, {"cesql": "  "}],
            "spec.filters[1].cesql",
            'Invalid value: "  ": must not be empty',
        ),
    ],
)
def test_invalid_subscriptions_api_filters(
    filters: list[dict[str, Any]], field: str, message: str | None
) -> None:
    result = admit(Trigger, trigger(filters=filters))
    assert result.fields == [field]
    if message is not None:
        assert result.message(field) == message


def test_filters_are_not_checked_when_the_feature_is_disabled() -> None:
    disabled = {"config-features": {"new-trigger-filters": "disabled"}}
    assert admit(Trigger, trigger(filters=[{}]), config=disabled).errors == []


def test_a_cesql_parse_error_is_refused_at_admission() -> None:
    pytest.importorskip("shoal.cesql")
    ok = admit(
        Trigger,
        trigger(
            filters=[
                {"cesql": "source LIKE '%commerce%' AND type IN ('order.created', 'order.updated')"}
            ]
        ),
    )
    assert ok.errors == []
    result = admit(Trigger, trigger(filters=[{"any": [{"cesql": "type = = 'x'"}]}]))
    assert result.fields == ["spec.filters[0].any[0].cesql"]
    assert result.message("spec.filters[0].any[0].cesql").startswith(
        "Invalid value: \"type = = 'x'\": "
    )


@pytest.mark.parametrize(
    ("spec", "field", "message"),
    [
        ({"broker": ""}, "spec.broker", "Required value"),
        ({"subscriber": None}, "spec.subscriber", "expected at least one, got none: ref, uri"),
        ({"subscriber": {}}, "spec.subscriber", "expected at least one, got none: ref, uri"),
        (
            {"subscriber": {"uri": "/path"}},
            "spec.subscriber.uri",
            'Invalid value: "/path": Relative URI is not allowed when Ref and [apiVersion, kind, '
            "name] is absent",
        ),
        (
            {"subscriber": {"ref": {"kind": "Service", "name": "s"}}},
            "spec.subscriber.ref.apiVersion",
            "Required value",
        ),
        ({"delivery": {"retry": -1}}, "spec.delivery.retry", None),
    ],
)
def test_invalid_trigger_specs(spec: dict[str, Any], field: str, message: str | None) -> None:
    body = trigger(**spec)
    body["spec"] = {k: v for k, v in body["spec"].items() if v is not None}
    result = admit(Trigger, body)
    assert result.fields == [field]
    if message is not None:
        assert result.message(field) == message


def test_a_subscriber_uri_alone_must_be_absolute() -> None:
    body = trigger(subscriber={"uri": "http://receiver.default.localhost:8080/events"})
    assert admit(Trigger, body).errors == []


def test_an_empty_trigger_reports_broker_and_subscriber() -> None:
    result = admit(Trigger, {"metadata": {"name": "t"}})
    assert result.fields == ["spec.broker", "spec.subscriber"]


def test_the_broker_cannot_change_but_the_subscriber_can() -> None:
    old = admit(Trigger, DOCS_TRIGGER)
    body = old.stored
    body["spec"]["subscriber"] = {"uri": "http://elsewhere.example.com"}
    assert admit(Trigger, body, old=old).errors == []
    body["spec"]["broker"] = "other"
    result = admit(Trigger, body, old=old)
    assert result.fields == ["spec.broker"]
    assert result.message("spec.broker") == "Invalid value: field is immutable"


def annotated(annotations: dict[str, str]) -> dict[str, Any]:
    body = trigger()
    body["metadata"]["annotations"] = annotations
    return body


@pytest.mark.parametrize("annotations", [
    {"shoal.dev/delivery-order": "ordered", "shoal.dev/max-in-flight": "1"},
    {"kafka.eventing.knative.dev/delivery.order": "unordered"},
    {"shoal.dev/max-in-flight": "500"},
])
def test_delivery_annotations_shoal_follows(annotations: dict[str, str]) -> None:
    assert admit(Trigger, annotated(annotations)).errors == []


@pytest.mark.parametrize(("key", "value", "message"), [
    ("shoal.dev/delivery-order", "sorted",
     'Unsupported value: "sorted": supported values: "ordered", "unordered"'),
    ("kafka.eventing.knative.dev/delivery.order", "Ordered",
     'Unsupported value: "Ordered": supported values: "ordered", "unordered"'),
    ("shoal.dev/max-in-flight", "0", 'Invalid value: "0": must be a positive integer'),
    ("shoal.dev/max-in-flight", "ten", 'Invalid value: "ten": must be a positive integer'),
    ("shoal.dev/max-in-flight", "-3", 'Invalid value: "-3": must be a positive integer'),
    ("shoal.dev/max-in-flight", "²", 'Invalid value: "²": must be a positive integer'),
])
def test_delivery_annotations_shoal_cannot_follow_are_refused(
        key: str, value: str, message: str) -> None:
    result = admit(Trigger, annotated({key: value}))
    field = f"metadata.annotations.{key}"
    assert result.fields == [field]
    assert result.message(field) == message


def test_the_dispatchers_read_the_delivery_annotations() -> None:
    assert (ordered(None), max_in_flight(None)) == (False, DEFAULT_MAX_IN_FLIGHT)
    assert ordered({"kafka.eventing.knative.dev/delivery.order": "ordered"})
    assert not ordered({"shoal.dev/delivery-order": "unordered"})
    assert max_in_flight({"shoal.dev/max-in-flight": "7"}) == 7
