"""PingSource admission: schedule, time zone, payload and sink."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import pytest
from tests.unit.api.eventing.eventing_admission import admit

from shoal.api.sources.ping import PingSource, PingSourceSpec, schedule

DOCS_PING = """
apiVersion: sources.knative.dev/v1
kind: PingSource
metadata:
  name: test-ping-source
spec:
  schedule: "*/1 * * * *"
  contentType: "application/json"
  data: '{"message": "Hello world!"}'
  sink:
    ref:
      apiVersion: v1
      kind: Service
      name: event-display
"""

SINK = {"ref": {"apiVersion": "v1", "kind": "Service", "name": "event-display"}}


def ping(**spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "p"}, "spec": {"sink": SINK, **spec}}


def test_the_docs_ping_source_is_accepted() -> None:
    result = admit(PingSource, DOCS_PING, namespace="shop")
    assert result.errors == []
    assert result.stored["spec"]["sink"]["ref"]["namespace"] == "shop"
    assert result.stored["spec"]["schedule"] == "*/1 * * * *"


def test_the_schedule_defaults_to_every_minute() -> None:
    result = admit(PingSource, ping())
    assert result.errors == []
    assert result.stored["spec"]["schedule"] == "* * * * *"


@pytest.mark.parametrize(
    "spec",
    [
        {"schedule": "10 0/5 * * * ?"},
        {"schedule": "*/2 * * * *", "timezone": "Europe/Paris"},
        {"schedule": "CRON_TZ=Asia/Tokyo 0 9 * * *"},
        {"schedule": "@daily"},
        {"contentType": "text/plain", "dataBase64": "SGVsbG8gV29ybGQu"},
        {"contentType": "application/json", "dataBase64": base64.b64encode(b'{"a": 1}').decode()},
        {"contentType": "text/plain", "data": "not json at all"},
        {"ceOverrides": {"extensions": {"extra": "value", "Team1": "x"}}},
    ],
)
def test_valid_ping_sources(spec: dict[str, Any]) -> None:
    assert admit(PingSource, ping(**spec)).errors == []


@pytest.mark.parametrize(
    ("spec", "field", "message"),
    [
        (
            {"schedule": "2"},
            "spec.schedule",
            'Invalid value: "2": expected 5 to 6 fields, found 1: [2]',
        ),
        (
            {"schedule": "@every 2h"},
            "spec.schedule",
            'Invalid value: "@every 2h": unsupported descriptor @every',
        ),
        ({"schedule": "@every 2h", "timezone": "Europe/Paris"}, "spec.schedule", None),
        (
            {"schedule": "*/2 * * * *", "timezone": "Knative/Land"},
            "spec.timezone",
            'Invalid value: "Knative/Land": provided bad location Knative/Land: unknown time zone '
            "Knative/Land",
        ),
        ({"schedule": "CRON_TZ=Knative/Land * * * * *"}, "spec.timezone", None),
        ({"sink": None}, "spec.sink", "expected at least one, got none: ref, uri"),
        ({"sink": {"uri": "event-display"}}, "spec.sink.uri", None),
        (
            {"data": "Hello world", "dataBase64": "SGVsbG8gV29ybGQu"},
            "spec.dataBase64",
            "Forbidden: expected exactly one, got both: data, dataBase64",
        ),
        ({"dataBase64": "$$$ invalid base64 string $$$"}, "spec.dataBase64", None),
        ({"contentType": "application/json", "data": "Invalid JSON"}, "spec.data", None),
        (
            {"contentType": "application/json", "data": "[1, 2]"},
            "spec.data",
            'Invalid value: "[1, 2]": must be a JSON object',
        ),
        (
            {
                "contentType": "application/json",
                "dataBase64": base64.b64encode(b"Invalid JSON").decode(),
            },
            "spec.dataBase64",
            None,
        ),
        (
            {"ceOverrides": {"extensions": {"Invalid_type": "any value"}}},
            "spec.ceOverrides.extensions[Invalid_type]",
            'Invalid value: "Invalid_type": keys are expected to be alphanumeric',
        ),
        (
            {"ceOverrides": {"extensions": {"": "x"}}},
            "spec.ceOverrides.extensions[]",
            'Invalid value: "": keys MUST NOT be empty',
        ),
    ],
)
def test_invalid_ping_sources(spec: dict[str, Any], field: str, message: str | None) -> None:
    body = ping(**spec)
    body["spec"] = {k: v for k, v in body["spec"].items() if v is not None}
    result = admit(PingSource, body)
    assert result.fields == [field]
    if message is not None:
        assert result.message(field) == message


def test_payload_size_limit_from_config_ping_defaults() -> None:
    config = {"config-ping-defaults": {"dataMaxSize": "10"}}
    big = admit(PingSource, ping(data="x" * 11), config=config)
    assert big.fields == ["spec.data"]
    assert "exceeds limit set at 10" in big.message("spec.data")
    big64 = admit(PingSource, ping(dataBase64=base64.b64encode(b"y" * 9).decode()), config=config)
    assert big64.fields == ["spec.dataBase64"]
    assert admit(PingSource, ping(data="x" * 10), config=config).errors == []
    assert admit(PingSource, ping(data="x" * 5000)).errors == []


def test_the_schedule_helper_reads_the_timezone_field() -> None:
    spec = PingSourceSpec(schedule="0 9 * * *", timezone="Europe/Berlin")
    fire = schedule(spec).next(datetime(2024, 7, 1, tzinfo=UTC))
    assert fire is not None
    assert fire.isoformat() == "2024-07-01T09:00:00+02:00"
