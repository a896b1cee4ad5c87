"""What a NATS message becomes: CloudEvents pass through, anything else is wrapped."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from shoal.eventing import codec
from shoal.eventing.event import CloudEvent
from shoal.sources.nats import AdapterConfig, header_extension, to_events

CONFIG = AdapterConfig(namespace="shop", name="orders", servers=("nats://127.0.0.1:4222",),
                       subject="orders.>", sink="http://127.0.0.1:9/",
                       overrides=(("team", "red"),))


def test_a_plain_message_is_wrapped_like_kafkasource_does() -> None:
    at = datetime(2026, 1, 2, 3, 4, 5, 600000, tzinfo=UTC)
    (event,) = to_events(CONFIG, "orders.eu.created",
                         {"Content-Type": "application/json", "X-Trace-Id": "t1"},
                         b'{"n": 1}', sequence=42, timestamp=at)
    assert event.attributes == {
        "specversion": "1.0", "id": "42", "type": "dev.knative.nats.event",
        "source": "/apis/v1/namespaces/shop/natssources/orders#orders.>",
        "subject": "orders.eu.created", "time": "2026-01-02T03:04:05.600000Z",
        "datacontenttype": "application/json", "natsheaderxtraceid": "t1", "team": "red"}
    assert event.data == b'{"n": 1}'


def test_core_messages_get_a_generated_id_and_no_content_type() -> None:
    first, = to_events(CONFIG, "orders.a", None, b"raw")
    second, = to_events(CONFIG, "orders.a", None, b"raw")
    assert first.id and first.id != second.id
    assert "datacontenttype" not in first.attributes
    assert first.data == b"raw"


def test_header_names_become_lowercase_alphanumeric_extensions() -> None:
    assert header_extension("X-Trace_Id.2") == "natsheaderxtraceid2"
    assert header_extension("--") is None


def test_binary_mode_cloudevents_pass_through() -> None:
    original = CloudEvent({"specversion": "1.0", "id": "e1", "type": "com.example.a",
                           "source": "/app", "datacontenttype": "text/plain"}, b"hi")
    headers, body = codec.to_binary(original)
    (event,) = to_events(CONFIG, "orders.a", headers, body, sequence=7)
    assert event.attributes == {**original.attributes, "team": "red"}
    assert event.data == b"hi"


def test_structured_mode_cloudevents_pass_through() -> None:
    body = json.dumps({"specversion": "1.0", "id": "s1", "type": "com.example.b",
                       "source": "/app", "data": {"k": 1}}).encode()
    (event,) = to_events(CONFIG, "orders.a",
                         {"Content-Type": "application/cloudevents+json"}, body)
    assert (event.id, event.type, event.source) == ("s1", "com.example.b", "/app")
    assert json.loads(event.data or b"") == {"k": 1}


def test_an_invalid_cloudevent_is_wrapped_rather_than_lost() -> None:
    (event,) = to_events(CONFIG, "orders.a", {"ce-specversion": "1.0"}, b"x")
    assert event.type == "dev.knative.nats.event"
    assert event.attributes["natsheadercespecversion"] == "1.0"
