"""to_binary, to_structured and parse_response: encoding events, round trips, and replies."""

from __future__ import annotations

import json

import pytest

from shoal.eventing.codec import (
    InvalidEvent,
    decode_header_value,
    encode_header_value,
    parse_request,
    parse_response,
    to_binary,
    to_structured,
)
from shoal.eventing.event import CloudEvent

CORE = {"specversion": "1.0", "id": "1", "source": "/s", "type": "t"}


def event(data: bytes | None = None, **attrs: object) -> CloudEvent:
    return CloudEvent({**CORE, **attrs}, data)


# --- percent-encoding (HTTP binding 3.1.3.2) ---------------------------------------------


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        ("Euro € 😀", "Euro%20%E2%82%AC%20%F0%9F%98%80"),  # the binding's example
        ("a b", "a%20b"),
        ('say "hi"', "say%20%22hi%22"),
        ("100%", "100%25"),
        ("tab\there", "tab%09here"),
        ("\x7f", "%7F"),
        ("\u0085", "%C2%85"),
        ("é", "%C3%A9"),
        # Printable ASCII other than space, '"' and '%' is left alone.
        ("!#$&'()*+,-./:;<=>?@[\\]^_`{|}~", "!#$&'()*+,-./:;<=>?@[\\]^_`{|}~"),
        ("https://example.com/a?b=c#d", "https://example.com/a?b=c#d"),
        ("", ""),
    ],
)
def test_encode_header_value(value: str, encoded: str) -> None:
    assert encode_header_value(value) == encoded
    assert decode_header_value(encoded) == value


def test_each_character_is_encoded_unless_printable_ascii_other_than_space_quote_percent(
) -> None:
    for code in [*range(0x300), 0x2028, 0xFEFF, 0x1F600]:
        char = chr(code)
        kept = 0x21 <= code <= 0x7E and char not in '"%'
        expected = char if kept else "".join(f"%{b:02X}" for b in char.encode())
        assert encode_header_value(f"a{char}b") == f"a{expected}b", hex(code)


@pytest.mark.parametrize(
    "value", ["plain", "with space", '"quoted"', "%41 literally", "日本語 テキスト", "🎉", "a\\b"]
)
def test_header_values_survive_encoding(value: str) -> None:
    assert decode_header_value(encode_header_value(value)) == value


# --- to_binary / to_structured -----------------------------------------------------------


def test_to_binary_headers_and_body() -> None:
    headers, body = to_binary(
        event(b'{"a":1}', datacontenttype="application/json", subject="Euro €", count=5, ok=True)
    )
    assert headers == {
        "ce-specversion": "1.0",
        "ce-id": "1",
        "ce-source": "/s",
        "ce-type": "t",
        "content-type": "application/json",
        "ce-subject": "Euro%20%E2%82%AC",
        "ce-count": "5",
        "ce-ok": "true",
    }
    assert body == b'{"a":1}'


def test_to_binary_without_data_or_content_type() -> None:
    headers, body = to_binary(event())
    assert "content-type" not in headers
    assert body == b""


def test_to_binary_does_not_change_the_event() -> None:
    original = event(b"x", datacontenttype="text/plain", subject="a b")
    snapshot = CloudEvent(dict(original.attributes), original.data)
    to_binary(original)
    to_structured(original)
    assert original == snapshot


@pytest.mark.parametrize(
    ("source", "members"),
    [
        (event(b'{"a":[1,2]}', datacontenttype="application/json"), {"data": {"a": [1, 2]}}),
        (event(b'{"a":1}'), {"data": {"a": 1}}),
        (event(b"hello", datacontenttype="text/plain"), {"data": "hello"}),
        (
            event(b"\x00\xff", datacontenttype="application/octet-stream"),
            {"data_base64": "AP8="},
        ),
        (event(b"not json", datacontenttype="application/json"), {"data_base64": "bm90IGpzb24="}),
        (event(), {}),
    ],
)
def test_to_structured(source: CloudEvent, members: dict[str, object]) -> None:
    headers, body = to_structured(source)
    assert headers == {"content-type": "application/cloudevents+json; charset=utf-8"}
    assert json.loads(body) == {**source.attributes, **members}


# --- round trips -------------------------------------------------------------------------

ROUND_TRIPS = [
    event(),
    event(b'{"a":1}', datacontenttype="application/json"),
    event(b"\x00\x01\xfe\xff", datacontenttype="application/octet-stream"),
    event(b"caf\xc3\xa9", datacontenttype="text/plain; charset=utf-8"),
    event(
        b"<x/>",
        datacontenttype="application/xml",
        subject='a "quoted" subject with 100% € 😀',
        time="2018-04-05T17:31:00.123456789Z",
        dataschema="https://example.com/schema?v=1",
        traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        knativebrokerttl="255",
    ),
]


@pytest.mark.parametrize("original", ROUND_TRIPS)
def test_binary_round_trip(original: CloudEvent) -> None:
    headers, body = to_binary(original)
    assert parse_request(headers, body) == [original]


@pytest.mark.parametrize("original", ROUND_TRIPS)
def test_structured_round_trip(original: CloudEvent) -> None:
    headers, body = to_structured(original)
    assert parse_request(headers, body) == [original]


def test_typed_extensions_round_trip_structured_but_become_strings_in_binary() -> None:
    original = event(count=5, ok=False)
    assert parse_request(*to_structured(original)) == [original]
    [binary] = parse_request(*to_binary(original))
    assert (binary.attributes["count"], binary.attributes["ok"]) == ("5", "false")


# --- parse_response ----------------------------------------------------------------------

REPLY = event(b'{"r":1}', datacontenttype="application/json")


@pytest.mark.parametrize("status", [200, 201, 203])
def test_a_reply_in_binary_or_structured_mode(status: int) -> None:
    assert parse_response(status, *to_binary(REPLY)) == REPLY
    assert parse_response(status, *to_structured(REPLY)) == REPLY


@pytest.mark.parametrize("status", [202, 100, 302, 400, 404, 500, 503])
def test_only_2xx_other_than_202_carries_a_reply(status: int) -> None:
    assert parse_response(status, *to_binary(REPLY)) is None


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({}, b""),
        ({"Content-Type": "text/plain"}, b"ok"),
        ({"Content-Type": "application/json"}, b'{"specversion": "1.0"}'),
        # ce- headers without ce-specversion do not make an event.
        ({"ce-id": "1", "ce-type": "t"}, b""),
        ({"Content-Type": "application/cloudevents-batch+json"}, b"[]"),
    ],
)
def test_responses_without_an_event(headers: dict[str, str], body: bytes) -> None:
    assert parse_response(200, headers, body) is None


@pytest.mark.parametrize(
    ("headers", "body", "message"),
    [
        ({"CE-SPECVERSION": "1.0", "ce-id": "1", "ce-type": "t"}, b"", "'source'"),
        ({"ce-specversion": "9.9"}, b"", "unsupported specversion"),
        ({"content-type": "application/cloudevents+json"}, b"{not json", "malformed JSON"),
        ({"content-type": "application/cloudevents+json"}, b'{"id": "1"}', "'specversion'"),
        ({"content-type": "application/cloudevents+xml"}, b"<e/>", "unsupported event format"),
    ],
)
def test_malformed_replies_raise(headers: dict[str, str], body: bytes, message: str) -> None:
    with pytest.raises(InvalidEvent, match=message):
        parse_response(200, headers, body)


def test_batched_replies() -> None:
    batch = {"content-type": "application/cloudevents-batch+json"}
    one = json.dumps([REPLY.to_json()]).encode()
    assert parse_response(200, batch, one) == REPLY
    two = json.dumps([REPLY.to_json(), REPLY.to_json()]).encode()
    with pytest.raises(InvalidEvent, match="at most one event"):
        parse_response(200, batch, two)
