"""Kafka records as CloudEvents: Knative's shape, key types, headers, pass-through events."""

from __future__ import annotations

import base64
import json
import struct

import pytest

from shoal.sources.kafka_events import KafkaRecord, extension_suffix, key_value, to_event

T0 = 1_700_000_000_123  # 2023-11-14T22:13:20.123Z


def record(**fields: object) -> KafkaRecord:
    base: dict[str, object] = {"topic": "orders", "partition": 2, "offset": 17, "timestamp": T0}
    return KafkaRecord(**{**base, **fields})  # type: ignore[arg-type]


def test_a_plain_record_becomes_a_kafka_event() -> None:
    event = to_event(
        record(key=b"k1", value=b'{"a":1}',
               headers=(("My-Header_1", b"v1"), ("Content-Type", b"Application/JSON"))),
        "shop", "orders-source")
    assert event.attributes == {
        "specversion": "1.0",
        "id": "partition:2/offset:17",
        "source": "/apis/v1/namespaces/shop/kafkasources/orders-source#orders",
        "type": "dev.knative.kafka.event",
        "subject": "partition:2#17",
        "time": "2023-11-14T22:13:20.123Z",
        "key": "k1",
        "partitionkey": "k1",
        "kafkaheadermyheader1": "v1",
        "datacontenttype": "application/json",
    }
    assert event.data == b'{"a":1}'


def test_no_key_no_headers_no_value() -> None:
    event = to_event(record(key=b"", value=None), "ns", "s")
    assert "key" not in event.attributes
    assert "datacontenttype" not in event.attributes
    assert event.data is None


def test_a_record_without_timestamp_has_no_time() -> None:
    assert "time" not in to_event(record(timestamp=-1), "ns", "s").attributes


@pytest.mark.parametrize(
    ("raw", "key_type", "expected"),
    [
        (b"abc", "string", "abc"),
        (b"\xff", "string", "\ufffd"),
        (struct.pack(">i", -42), "int", -42),
        (b"12345", "int", "12345"),  # not 4 bytes: read as a string, as Knative does
        (struct.pack(">f", 0.1), "float", "0.1"),
        (struct.pack(">d", 2.5), "float", "2.5"),
        (b"abc", "float", "abc"),
        (b"\x00\x01\xff", "byte-array", base64.b64encode(b"\x00\x01\xff").decode()),
        (b"", "int", None),
        (None, "string", None),
    ],
)
def test_key_types(raw: bytes | None, key_type: str, expected: object) -> None:
    assert key_value(raw, key_type) == expected


def test_header_names_keep_letters_and_digits_lower_cased() -> None:
    assert extension_suffix("X-Trace.ID_2") == "xtraceid2"


def test_a_binary_cloudevent_record_passes_through() -> None:
    headers = (("ce_specversion", b"1.0"), ("ce_id", b"abc"), ("ce_source", b"/my/source"),
               ("ce_type", b"my.type"), ("ce_myext", b"50% off"),
               ("content-type", b"text/plain"))
    event = to_event(record(key=b"k", value=b"hello", headers=headers), "ns", "s")
    assert event.attributes == {"specversion": "1.0", "id": "abc", "source": "/my/source",
                                "type": "my.type", "myext": "50% off",
                                "datacontenttype": "text/plain"}
    assert event.data == b"hello"


def test_a_structured_cloudevent_record_passes_through() -> None:
    body = json.dumps({"specversion": "1.0", "id": "x1", "source": "/s", "type": "t",
                       "datacontenttype": "application/json", "data": {"n": 1}}).encode()
    event = to_event(record(value=body, headers=(
        ("content-type", b"application/cloudevents+json; charset=utf-8"),)), "ns", "s")
    assert (event.id, event.source, event.type) == ("x1", "/s", "t")
    assert json.loads(event.data or b"") == {"n": 1}


def test_an_invalid_cloudevent_record_is_converted_instead() -> None:
    headers = (("ce_specversion", b"1.0"), ("ce_type", b"no.id.or.source"))
    event = to_event(record(value=b"x", headers=headers), "ns", "s")
    assert event.type == "dev.knative.kafka.event"
    assert event.attributes["kafkaheadercespecversion"] == "1.0"


def test_overrides_are_applied_to_every_event() -> None:
    plain = to_event(record(), "ns", "s", overrides={"team": "blue"})
    assert plain.attributes["team"] == "blue"
    headers = (("ce_specversion", b"1.0"), ("ce_id", b"1"), ("ce_source", b"/s"),
               ("ce_type", b"t"))
    passed = to_event(record(headers=headers), "ns", "s", overrides={"team": "blue"})
    assert passed.attributes["team"] == "blue"
