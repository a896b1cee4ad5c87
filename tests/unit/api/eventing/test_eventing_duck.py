"""ISO-8601 durations, delivery options and destinations, as brokers and triggers see them."""

from __future__ import annotations

from typing import Any

import pytest
from tests.unit.api.eventing.eventing_admission import admit

from shoal.api.duck import is_absolute_uri, parse_iso8601_duration
from shoal.api.eventing.broker import Broker
from shoal.api.eventing.trigger import Trigger


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("PT0.2S", 0.2),
        ("PT1M", 60.0),
        ("PT1H30M", 5400.0),
        ("P1DT2H", 93600.0),
        ("P2W", 1209600.0),
        ("PT0S", 0.0),
        ("P0D", 0.0),
        ("PT1,5S", 1.5),
        ("PT1.5M", 90.0),
        ("-PT10S", -10.0),
        ("P1Y", 365.2425 * 86400),
    ],
)
def test_iso8601_durations_in_seconds(text: str, seconds: float) -> None:
    assert parse_iso8601_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "P",
        "PT",
        "1S",
        "PT1",
        "10s",
        "pt1s",
        "P1H",
        "PT1S1M",
        "PT1.5M3S",
        "P1DT",
        "PT-1S",
        "1m30s",
    ],
)
def test_not_iso8601_durations(text: str) -> None:
    assert parse_iso8601_duration(text) is None


@pytest.mark.parametrize(
    ("uri", "absolute"),
    [
        ("http://example.com", True),
        ("https://example.com/path?q=1", True),
        ("http://", False),
        ("/path", False),
        ("example.com", False),
        ("//example.com", False),
    ],
)
def test_absolute_uris(uri: str, absolute: bool) -> None:
    assert is_absolute_uri(uri) is absolute


def broker_with(delivery: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "eventing.knative.dev/v1",
        "kind": "Broker",
        "metadata": {"name": "default"},
        "spec": {"delivery": delivery},
    }


DLS = {"ref": {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": "dls"}}


@pytest.mark.parametrize(
    "delivery",
    [
        {"retry": 0},
        {"retry": 3, "backoffPolicy": "linear", "backoffDelay": "PT1S"},
        {"backoffPolicy": "exponential", "backoffDelay": "PT0.2S", "timeout": "PT10S"},
        {"deadLetterSink": {"uri": "http://dls.example.com/dead"}},
        {"deadLetterSink": DLS},
        {"deadLetterSink": {**DLS, "uri": "/relative/path"}},
        {"format": "binary"},
    ],
)
def test_valid_delivery(delivery: dict[str, Any]) -> None:
    assert admit(Broker, broker_with(delivery)).errors == []


@pytest.mark.parametrize(
    ("delivery", "field", "message"),
    [
        (
            {"retry": -1},
            "spec.delivery.retry",
            "Invalid value: -1: must be greater than or equal to 0",
        ),
        (
            {"backoffPolicy": "random"},
            "spec.delivery.backoffPolicy",
            'Unsupported value: "random": supported values: "linear", "exponential"',
        ),
        (
            {"backoffDelay": "1s"},
            "spec.delivery.backoffDelay",
            'Invalid value: "1s": must be an ISO-8601 duration such as PT0.2S or PT1M',
        ),
        (
            {"backoffDelay": "-PT1S"},
            "spec.delivery.backoffDelay",
            'Invalid value: "-PT1S": must not be negative',
        ),
        (
            {"timeout": "PT0S"},
            "spec.delivery.timeout",
            'Invalid value: "PT0S": must be greater than zero',
        ),
        (
            {"timeout": "10"},
            "spec.delivery.timeout",
            'Invalid value: "10": must be an ISO-8601 duration such as PT0.2S or PT1M',
        ),
        (
            {"retryAfterMax": "PT10S"},
            "spec.delivery.retryAfterMax",
            "Forbidden: the delivery-retryafter feature is disabled",
        ),
        (
            {"format": "xml"},
            "spec.delivery.format",
            'Unsupported value: "xml": supported values: "json", "binary"',
        ),
        (
            {"deadLetterSink": {}},
            "spec.delivery.deadLetterSink",
            "expected at least one, got none: ref, uri",
        ),
        (
            {"deadLetterSink": {"uri": "/dead"}},
            "spec.delivery.deadLetterSink.uri",
            'Invalid value: "/dead": Relative URI is not allowed when Ref and [apiVersion, kind, '
            "name] is absent",
        ),
        (
            {"deadLetterSink": {**DLS, "uri": "http://example.com"}},
            "spec.delivery.deadLetterSink.uri",
            'Invalid value: "http://example.com": Absolute URI is not allowed when Ref or '
            "[apiVersion, kind, name] is present",
        ),
        (
            {"deadLetterSink": {"ref": {"apiVersion": "v1", "kind": "Service"}}},
            "spec.delivery.deadLetterSink.ref.name",
            "Required value",
        ),
    ],
)
def test_invalid_delivery(delivery: dict[str, Any], field: str, message: str) -> None:
    result = admit(Broker, broker_with(delivery))
    assert result.fields == [field]
    assert result.message(field) == message


def test_delivery_feature_flags_follow_config_features() -> None:
    features = {
        "config-features": {"delivery-retryafter": "enabled", "delivery-timeout": "disabled"}
    }
    ok = admit(Broker, broker_with({"retryAfterMax": "PT10S"}), config=features)
    assert ok.errors == []
    refused = admit(Broker, broker_with({"timeout": "PT10S"}), config=features)
    assert refused.fields == ["spec.delivery.timeout"]
    negative = admit(Broker, broker_with({"retryAfterMax": "-PT1S"}), config=features)
    assert negative.fields == ["spec.delivery.retryAfterMax"]


def test_every_error_is_reported_at_once() -> None:
    result = admit(
        Broker,
        broker_with({"retry": -2, "backoffPolicy": "x", "backoffDelay": "y", "deadLetterSink": {}}),
    )
    assert result.fields == [
        "spec.delivery.backoffDelay",
        "spec.delivery.backoffPolicy",
        "spec.delivery.deadLetterSink",
        "spec.delivery.retry",
    ]


def test_reference_group_instead_of_api_version_needs_the_feature() -> None:
    trigger = {
        "metadata": {"name": "t"},
        "spec": {
            "broker": "default",
            "subscriber": {
                "ref": {"group": "serving.knative.dev", "kind": "Service", "name": "svc"}
            },
        },
    }
    assert admit(Trigger, trigger).fields == ["spec.subscriber.ref.apiVersion"]
    enabled = {"config-features": {"kreference-group": "enabled"}}
    assert admit(Trigger, trigger, config=enabled).errors == []
