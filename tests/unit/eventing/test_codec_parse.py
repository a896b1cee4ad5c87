"""parse_request: binary, structured and batched content modes, and CloudEvents 0.3."""

from __future__ import annotations

import json
from typing import Any

import pytest
from multidict import CIMultiDict

from shoal.eventing.codec import InvalidEvent, parse_request
from shoal.eventing.event import CloudEvent

STRUCTURED = {"Content-Type": "application/cloudevents+json"}
BATCH = {"Content-Type": "application/cloudevents-batch+json"}
CORE = {"specversion": "1.0", "id": "A234-1234-1234", "source": "/mycontext", "type": "t.x"}


def binary_headers(**extra: str) -> dict[str, str]:
    headers = {"ce-" + name: value for name, value in CORE.items()}
    headers.update({name.replace("_", "-"): value for name, value in extra.items()})
    return headers


def one(headers: dict[str, str], body: bytes = b"") -> CloudEvent:
    [event] = parse_request(headers, body)
    return event


def structured(**members: Any) -> bytes:
    return json.dumps({**CORE, **members}).encode()


# --- binary mode -------------------------------------------------------------------------


def test_binary_minimal_event_has_no_data() -> None:
    event = one(binary_headers())
    assert event.attributes == CORE
    assert event.data is None


def test_binary_content_type_is_datacontenttype_and_body_is_data() -> None:
    event = one(binary_headers(**{"Content-Type": "application/xml"}), b"<much wow='xml'/>")
    assert event.attributes["datacontenttype"] == "application/xml"
    assert event.data == b"<much wow='xml'/>"


def test_binary_header_names_are_case_insensitive() -> None:
    headers = {"CE-SpecVersion": "1.0", "Ce-Id": "1", "CE-SOURCE": "/s", "ce-Type": "t"}
    headers["CONTENT-TYPE"] = "text/plain"
    event = one(headers, b"hi")
    assert event.attributes == {
        "specversion": "1.0",
        "id": "1",
        "source": "/s",
        "type": "t",
        "datacontenttype": "text/plain",
    }


def test_binary_extensions_stay_strings() -> None:
    event = one(binary_headers(**{"ce-count": "5", "ce-flag": "true"}))
    assert event.attributes["count"] == "5"
    assert event.attributes["flag"] == "true"


def test_binary_content_type_wins_over_a_stray_ce_datacontenttype() -> None:
    headers = binary_headers(**{"ce-datacontenttype": "text/plain"})
    headers["content-type"] = "application/json"
    assert one(headers, b"{}").attributes["datacontenttype"] == "application/json"


def test_binary_works_with_a_case_insensitive_multidict() -> None:
    headers = CIMultiDict(binary_headers())
    headers["Content-Type"] = "application/json"
    assert one(headers, b"[1]").data == b"[1]"  # type: ignore[arg-type]


def test_binary_attribute_given_twice_is_refused() -> None:
    headers = CIMultiDict(binary_headers())
    headers.add("CE-ID", "other")
    with pytest.raises(InvalidEvent, match="'id' given twice"):
        parse_request(headers, b"")


@pytest.mark.parametrize(
    ("raw", "decoded"),
    [
        # The binding's example, then lower-case hex and needless escapes.
        ("Euro%20%E2%82%AC%20%F0%9F%98%80", "Euro € 😀"),
        ("Euro%20%e2%82%ac", "Euro €"),
        ("%41%42C", "ABC"),
        ("100%25", "100%"),
        ("%22quoted%22", '"quoted"'),
        # Double-quoted strings (RFC 7230) are unescaped first, then percent-decoded.
        ('"a b"', "a b"),
        ('"say \\"hi\\""', 'say "hi"'),
        ('"back\\\\slash"', "back\\slash"),
        ('"Euro%20%E2%82%AC"', "Euro €"),
        # Optional whitespace around the value is not part of it.
        ("  padded\t", "padded"),
        # A '%' that starts no escape is kept as it is.
        ("50%off", "50%off"),
        ("plain", "plain"),
    ],
)
def test_binary_header_values_are_decoded(raw: str, decoded: str) -> None:
    assert one(binary_headers(**{"ce-subject": raw})).attributes["subject"] == decoded


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("%C0%A0", "not percent-encoded UTF-8"),  # overlong encoding of U+0020
        ("%FF", "not percent-encoded UTF-8"),
        ("%E2%82", "not percent-encoded UTF-8"),  # truncated sequence
        ("%ED%A0%80", "not percent-encoded UTF-8"),  # an encoded surrogate
        ('"unterminated', "unterminated quoted string"),
        ("a%0Ab", "must not contain control characters"),
    ],
)
def test_binary_bad_header_values_are_refused(raw: str, message: str) -> None:
    with pytest.raises(InvalidEvent, match=message):
        parse_request(binary_headers(**{"ce-subject": raw}), b"")


def test_binary_ce_headers_are_ignored_in_structured_mode() -> None:
    headers = {**STRUCTURED, "ce-id": "from-header", "ce-other": "x"}
    event = one(headers, structured())
    assert event.attributes == CORE


# --- structured mode ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("members", "data"),
    [
        ({"data": {"a": [1, True, None]}}, b'{"a":[1,true,null]}'),
        ({"datacontenttype": "application/json", "data": "text"}, b'"text"'),
        ({"data": "I'm just a string"}, b'"I\'m just a string"'),
        ({"datacontenttype": "application/vnd+json", "data": 5}, b"5"),
        ({"datacontenttype": "text/plain", "data": "hi €"}, "hi €".encode()),
        ({"datacontenttype": "application/xml", "data": "<a b='c'/>\n"}, b"<a b='c'/>\n"),
        ({"datacontenttype": "text/plain", "data": {"a": 1}}, b'{"a":1}'),
        ({"datacontenttype": "application/octet-stream", "data_base64": "AAH/"}, b"\x00\x01\xff"),
        ({"data_base64": "aGk="}, b"hi"),
        ({"data": None}, b"null"),
        ({"datacontenttype": "text/plain", "data": None}, None),
        ({}, None),
    ],
)
def test_structured_data(members: dict[str, Any], data: bytes | None) -> None:
    assert one(STRUCTURED, structured(**members)).data == data


def test_structured_extensions_keep_their_json_types() -> None:
    event = one(STRUCTURED, structured(count=5, negative=-2147483648, flag=False, name="x"))
    assert event.attributes["count"] == 5
    assert event.attributes["negative"] == -2147483648
    assert event.attributes["flag"] is False
    assert event.attributes["name"] == "x"


def test_structured_null_attributes_are_unset() -> None:
    event = one(STRUCTURED, structured(subject=None, time=None, unsetextension=None))
    assert event.attributes == CORE


def test_structured_content_type_ignores_case_and_parameters() -> None:
    headers = {"content-type": "Application/CloudEvents+JSON; charset=UTF-8"}
    assert one(headers, structured()).attributes == CORE


def test_structured_keeps_optional_attributes_as_written() -> None:
    optional = {
        "subject": "larger-context",
        "time": "2018-04-05T17:31:00.123456789+02:00",
        "dataschema": "https://example.com/schema.json",
        "datacontenttype": "application/json; charset=utf-8",
    }
    assert one(STRUCTURED, structured(**optional)).attributes == {**CORE, **optional}


def test_long_attribute_names_are_accepted_as_sdk_go_does() -> None:
    name = "a" * 40
    assert one(STRUCTURED, structured(**{name: "v"})).attributes[name] == "v"


# --- batched mode ------------------------------------------------------------------------


def test_batch_of_two_events() -> None:
    body = json.dumps(
        [
            {
                **CORE,
                "id": "1",
                "datacontenttype": "application/octet-stream",
                "data_base64": "AA==",
            },
            {**CORE, "id": "2", "data": {"k": "v"}},
        ]
    ).encode()
    first, second = parse_request(BATCH, body)
    assert (first.id, first.data) == ("1", b"\x00")
    assert (second.id, second.data) == ("2", b'{"k":"v"}')


def test_empty_batch() -> None:
    assert parse_request(BATCH, b"[]") == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"specversion": "1.0"}', "must be a JSON array"),
        (json.dumps([CORE, {**CORE, "id": ""}]).encode(), r"event \[1\]: attribute 'id'"),
        (json.dumps([CORE, "event"]).encode(), r"event \[1\]: a structured event must be"),
        (json.dumps([{k: v for k, v in CORE.items() if k != "type"}]).encode(), r"\[0\].*'type'"),
        (json.dumps([CORE, {**CORE, "specversion": "0.3"}]).encode(), "same specversion"),
        (b"[", "malformed JSON"),
    ],
)
def test_bad_batches_are_refused(body: bytes, message: str) -> None:
    with pytest.raises(InvalidEvent, match=message):
        parse_request(BATCH, body)


# --- CloudEvents 0.3 ---------------------------------------------------------------------


def test_v03_binary_is_converted_to_v1() -> None:
    headers = binary_headers(**{"ce-specversion": "0.3", "ce-schemaurl": "/schemas/a"})
    event = one(headers)
    assert event.attributes == {**CORE, "dataschema": "/schemas/a"}


def test_v03_structured_base64_data_is_decoded() -> None:
    body = structured(
        specversion="0.3",
        datacontenttype="application/octet-stream",
        datacontentencoding="base64",
        data="AAH/",
        schemaurl="https://example.com/schema",
    )
    event = one(STRUCTURED, body)
    assert event.data == b"\x00\x01\xff"
    # As sdk-go's conversion does, the 0.3 encoding stays as an extension.
    assert event.attributes == {
        **CORE,
        "datacontenttype": "application/octet-stream",
        "datacontentencoding": "base64",
        "dataschema": "https://example.com/schema",
    }


def test_v03_structured_json_data_and_data_base64() -> None:
    assert one(STRUCTURED, structured(specversion="0.3", data={"a": 1})).data == b'{"a":1}'
    assert one(STRUCTURED, structured(specversion="0.3", data_base64="aGk=")).data == b"hi"


def test_v03_bad_base64_data_is_refused() -> None:
    body = structured(specversion="0.3", datacontentencoding="Base64", data="%%%")
    with pytest.raises(InvalidEvent, match="data is not valid base64"):
        parse_request(STRUCTURED, body)
