"""Interoperability with the CloudEvents Python SDK, both ways and in both of its APIs.

Events the SDK encodes parse here; events encoded here parse with the SDK's ``from_http``.
The legacy ``cloudevents.v1`` API neither percent-encodes nor decodes header values and
puts non-string extensions in its header dict as they are, so its headers go through
`on_the_wire` (what an HTTP stack sends) and its cases keep to ASCII without spaces; in
binary mode it also JSON-encodes string data whatever the content type.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from cloudevents.core.bindings.http import (
    HTTPMessage,
    from_http_event,
    to_binary_event,
    to_structured_event,
)
from cloudevents.core.v03.event import CloudEvent as CoreEventV03
from cloudevents.core.v1.event import CloudEvent as CoreEvent
from cloudevents.v1.conversion import to_binary as legacy_to_binary
from cloudevents.v1.conversion import to_structured as legacy_to_structured
from cloudevents.v1.http import CloudEvent as LegacyEvent
from cloudevents.v1.http import from_http as legacy_from_http

from shoal.eventing.codec import parse_request, to_binary, to_structured
from shoal.eventing.event import CloudEvent

CORE: dict[str, Any] = {
    "specversion": "1.0",
    "id": "id-1",
    "source": "/sdk",
    "type": "com.example.sdk",
}


def on_the_wire(headers: dict[str, Any]) -> dict[str, str]:
    return {name: str(value) for name, value in headers.items()}


def parse_one(headers: dict[str, Any], body: bytes) -> CloudEvent:
    [event] = parse_request(on_the_wire(headers), body)
    return event


# --- legacy API (cloudevents.v1) ---------------------------------------------------------


def same_data(ours: bytes | None, theirs: Any) -> bool:
    if isinstance(theirs, dict):
        return ours is not None and bool(json.loads(ours) == theirs)
    if isinstance(theirs, str):
        return ours == theirs.encode()
    return bool(ours == theirs)


LEGACY_CASES: list[tuple[dict[str, Any], Any]] = [
    ({}, {"a": 1, "b": [True, None]}),
    ({"datacontenttype": "application/json"}, {"a": "x"}),
    ({"datacontenttype": "application/octet-stream"}, b"\x00\x01\xff"),
    ({"datacontenttype": "text/plain"}, "plain-text"),
    ({"subject": "sub", "myext": "value"}, None),
]


@pytest.mark.parametrize(("attrs", "data"), LEGACY_CASES)
def test_legacy_sdk_binary_parses_here(attrs: dict[str, Any], data: Any) -> None:
    headers, body = legacy_to_binary(LegacyEvent({**CORE, **attrs}, data))
    event = parse_one(headers, body)
    assert {k: v for k, v in event.attributes.items() if k != "time"} == {**CORE, **attrs}
    # The body is the data as sent (this SDK JSON-encodes strings, even for text/plain).
    assert event.data == (body or None)


@pytest.mark.parametrize(("attrs", "data"), LEGACY_CASES)
def test_legacy_sdk_structured_parses_here(attrs: dict[str, Any], data: Any) -> None:
    event = parse_one(*legacy_to_structured(LegacyEvent({**CORE, **attrs}, data)))
    assert {k: v for k, v in event.attributes.items() if k != "time"} == {**CORE, **attrs}
    assert same_data(event.data, data)


def test_legacy_sdk_typed_extension() -> None:
    typed: Any = {**CORE, "count": 5, "flag": True}  # its hints say str; it takes these too
    source = LegacyEvent(typed, None)
    assert parse_one(*legacy_to_structured(source)).attributes["count"] == 5
    assert parse_one(*legacy_to_structured(source)).attributes["flag"] is True
    assert parse_one(*legacy_to_binary(source)).attributes["count"] == "5"


@pytest.mark.parametrize("encode", [to_binary, to_structured])
def test_our_events_parse_with_the_legacy_sdk(encode: Any) -> None:
    ours = CloudEvent(
        {**CORE, "datacontenttype": "application/json", "subject": "s1", "myext": "v"},
        b'{"k":"v"}',
    )
    theirs = legacy_from_http(*encode(ours))
    assert theirs["id"] == "id-1"
    assert theirs["subject"] == "s1"
    assert theirs["myext"] == "v"
    assert theirs.get_data() == {"k": "v"}


def test_our_binary_data_parses_with_the_legacy_sdk() -> None:
    ours = CloudEvent({**CORE, "datacontenttype": "application/octet-stream"}, b"\x00\xff")
    assert legacy_from_http(*to_structured(ours)).get_data() == b"\x00\xff"
    assert legacy_from_http(*to_binary(ours)).get_data() == b"\x00\xff"


# --- core API (cloudevents.core) ---------------------------------------------------------

NON_ASCII = 'Euro € 😀, "quoted", 100%'


def core_event(data: Any = None, **attrs: Any) -> CoreEvent:
    return CoreEvent(attributes={**CORE, **attrs}, data=data)


@pytest.mark.parametrize("encode", [to_binary_event, to_structured_event])
def test_core_sdk_events_parse_here(encode: Any) -> None:
    message = encode(core_event({"a": 1}, subject=NON_ASCII, count=7))
    event = parse_one(message.headers, message.body)
    assert event.attributes["subject"] == NON_ASCII
    assert str(event.attributes["count"]) == "7"
    assert json.loads(event.data or b"") == {"a": 1}
    assert event.attributes["time"].endswith("Z")


def test_core_sdk_binary_data_parses_here() -> None:
    source = core_event(b"\x00\x01", datacontenttype="application/octet-stream")
    for message in (to_binary_event(source), to_structured_event(source)):
        assert parse_one(message.headers, message.body).data == b"\x00\x01"


@pytest.mark.parametrize("encode", [to_binary, to_structured])
def test_our_events_parse_with_the_core_sdk(encode: Any) -> None:
    attrs: dict[str, Any] = {"datacontenttype": "application/json", "subject": NON_ASCII}
    ours = CloudEvent(
        {**CORE, **attrs, "count": 7},
        b'{"k":[1,2]}',
    )
    headers, body = encode(ours)
    theirs = from_http_event(HTTPMessage(headers, body))
    assert theirs.get_subject() == NON_ASCII
    assert str(theirs.get_extension("count")) == "7"
    assert theirs.get_data() == {"k": [1, 2]}


def test_our_events_with_a_time_parse_with_the_core_sdk() -> None:
    ours = CloudEvent({**CORE, "time": "2018-04-05T17:31:00Z"}, None)
    for headers, body in (to_binary(ours), to_structured(ours)):
        theirs = from_http_event(HTTPMessage(headers, body))
        assert theirs.get_time() is not None
        assert theirs.get_time().isoformat() == "2018-04-05T17:31:00+00:00"  # type: ignore[union-attr]


# --- CloudEvents 0.3 from the SDK --------------------------------------------------------

V03 = {**CORE, "specversion": "0.3", "schemaurl": "https://example.com/schema"}
AS_V1 = {**CORE, "dataschema": "https://example.com/schema"}


def test_core_sdk_v03_binary_is_converted() -> None:
    source = CoreEventV03(attributes={**V03, "datacontenttype": "text/plain"}, data="hi")
    message = to_binary_event(source)
    event = parse_one(message.headers, message.body)
    assert {k: v for k, v in event.attributes.items() if k != "time"} == {
        **AS_V1,
        "datacontenttype": "text/plain",
    }
    assert event.data == b"hi"


def test_core_sdk_v03_structured_base64_is_converted() -> None:
    source = CoreEventV03(
        attributes={**V03, "datacontenttype": "application/octet-stream"}, data=b"\x00\xff"
    )
    message = to_structured_event(source)
    assert json.loads(message.body)["datacontentencoding"] == "base64"
    event = parse_one(message.headers, message.body)
    assert event.attributes["specversion"] == "1.0"
    assert event.attributes["dataschema"] == "https://example.com/schema"
    assert "schemaurl" not in event.attributes
    assert event.data == b"\x00\xff"


@pytest.mark.parametrize("encode", [legacy_to_binary, legacy_to_structured])
def test_legacy_sdk_v03_is_converted(encode: Any) -> None:
    headers, body = encode(LegacyEvent(dict(V03), {"a": 1}))
    event = parse_one(headers, body)
    assert {k: v for k, v in event.attributes.items() if k != "time"} == AS_V1
    assert json.loads(event.data or b"") == {"a": 1}
