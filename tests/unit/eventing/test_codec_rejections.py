"""Every way parse_request refuses a request, each with a message naming the problem."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shoal.eventing.codec import InvalidEvent, parse_request

STRUCTURED = {"content-type": "application/cloudevents+json"}
CORE = {"specversion": "1.0", "id": "1", "source": "/s", "type": "t"}


def without(name: str) -> dict[str, str]:
    return {key: value for key, value in CORE.items() if key != name}


def as_headers(attrs: dict[str, str]) -> dict[str, str]:
    return {"ce-" + name: value for name, value in attrs.items()}


@pytest.mark.parametrize("name", ["id", "source", "type"])
def test_missing_required_attribute_in_binary_mode(name: str) -> None:
    with pytest.raises(InvalidEvent, match=f"missing required attribute '{name}'"):
        parse_request(as_headers(without(name)), b"")


@pytest.mark.parametrize("name", ["specversion", "id", "source", "type"])
def test_missing_required_attribute_in_structured_mode(name: str) -> None:
    with pytest.raises(InvalidEvent, match=f"missing required attribute '{name}'"):
        parse_request(STRUCTURED, json.dumps(without(name)).encode())


def test_not_a_cloudevent_at_all() -> None:
    with pytest.raises(InvalidEvent, match=r"missing required attribute 'specversion'.*ce-"):
        parse_request(as_headers(without("specversion")), b"")
    with pytest.raises(InvalidEvent, match="missing required attribute 'specversion'"):
        parse_request({"Content-Type": "application/json"}, b"{}")


def test_other_event_formats_are_refused() -> None:
    with pytest.raises(InvalidEvent, match="unsupported event format 'application/cloudevents"):
        parse_request({"Content-Type": "application/cloudevents+avro"}, b"\x00")


@pytest.mark.parametrize("version", ["0.2", "1.1", "2.0", "1"])
def test_unsupported_specversion(version: str) -> None:
    with pytest.raises(InvalidEvent, match=f"unsupported specversion '{version}'"):
        parse_request(as_headers({**CORE, "specversion": version}), b"")


# (attribute, value, message) refused in structured mode.
BAD_VALUES: list[tuple[str, Any, str]] = [
    ("specversion", 1.0, "unsupported specversion 1.0"),
    ("id", "", "'id' must be a non-empty string"),
    ("id", "  ", "'id' must be a non-empty string"),
    ("id", 1234, "'id' must be a string"),
    ("source", "", "'source' must be a non-empty string"),
    ("source", ["/s"], "'source' must be a string"),
    ("type", "", "'type' must be a non-empty string"),
    ("type", "a\tb", "'type' must not contain control characters"),
    ("subject", "", "'subject' must be a non-empty string"),
    ("subject", "line\nbreak", "'subject' must not contain control characters"),
    ("subject", "\x85", "'subject' must not contain control characters"),
    ("subject", "\ud800", "'subject' must not contain control characters"),
    ("time", "2018-04-05", "'time' must be an RFC 3339 timestamp"),
    ("time", "yesterday", "'time' must be an RFC 3339 timestamp"),
    ("time", "2018-04-05 17:31:00Z", "'time' must be an RFC 3339 timestamp"),
    ("time", "2018-04-05T17:31:00", "'time' must be an RFC 3339 timestamp"),
    ("time", "2018-13-05T17:31:00Z", "no such date"),
    ("time", "2018-02-30T17:31:00Z", "no such date"),
    ("time", "2018-04-05T24:00:00Z", "no such time of day"),
    ("time", "2018-04-05T17:31:00+24:00", "no such offset"),
    ("time", 1522949460, "'time' must be a string"),
    ("dataschema", "", "'dataschema' must be a non-empty string"),
    ("dataschema", "/relative/schema", "'dataschema' must be an absolute URI"),
    ("dataschema", "not a uri", "'dataschema' must be an absolute URI"),
    ("datacontenttype", "", "'datacontenttype' must be a non-empty string"),
    ("datacontenttype", "not a media type", "must be a media type"),
    ("datacontenttype", "text/", "must be a media type"),
    ("myext", 1.5, "'myext' must be a boolean, a 32-bit integer or a string"),
    ("myext", 1.0, "'myext' must be a boolean, a 32-bit integer or a string"),
    ("myext", [1], "'myext' must be a boolean, a 32-bit integer or a string"),
    ("myext", {"a": 1}, "'myext' must be a boolean, a 32-bit integer or a string"),
    ("myext", 2**31, "'myext' must be a 32-bit integer"),
    ("myext", -(2**31) - 1, "'myext' must be a 32-bit integer"),
    ("myext", "tab\there", "'myext' must not contain control characters"),
]


@pytest.mark.parametrize(("name", "value", "message"), BAD_VALUES)
def test_bad_attribute_values_are_refused(name: str, value: Any, message: str) -> None:
    with pytest.raises(InvalidEvent, match=message):
        parse_request(STRUCTURED, json.dumps({**CORE, name: value}).encode())


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("id", "", "'id' must be a non-empty string"),
        ("time", "2018-04-05", "'time' must be an RFC 3339 timestamp"),
        ("dataschema", "relative", "'dataschema' must be an absolute URI"),
        ("data", "x", "'data' is reserved"),
    ],
)
def test_bad_attribute_values_are_refused_in_binary_mode(
    name: str, value: str, message: str
) -> None:
    with pytest.raises(InvalidEvent, match=message):
        parse_request(as_headers({**CORE, name: value}), b"")


def test_bad_content_type_header_is_refused_in_binary_mode() -> None:
    with pytest.raises(InvalidEvent, match="'datacontenttype' must be a media type"):
        parse_request({**as_headers(CORE), "Content-Type": "text plain"}, b"x")


@pytest.mark.parametrize("name", ["myExt", "my_ext", "my-ext", "ext.name", "é", ""])
def test_bad_attribute_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidEvent, match="must consist of lower-case letters and digits"):
        parse_request(STRUCTURED, json.dumps({**CORE, name: "v"}).encode())


@pytest.mark.parametrize("header", ["ce-my_ext", "ce-", "ce-ext.name"])
def test_bad_attribute_names_are_refused_in_binary_mode(header: str) -> None:
    with pytest.raises(InvalidEvent, match="must consist of lower-case letters and digits"):
        parse_request({**as_headers(CORE), header: "v"}, b"")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "malformed JSON"),
        (b"{", "malformed JSON"),
        (b"\xff\xfe{", "malformed JSON"),
        (b'{"specversion": "1.0", "id": NaN}', "malformed JSON"),
        (b"[]", "a structured event must be a JSON object"),
        (b'"event"', "a structured event must be a JSON object"),
    ],
)
def test_malformed_structured_bodies_are_refused(body: bytes, message: str) -> None:
    with pytest.raises(InvalidEvent, match=message):
        parse_request(STRUCTURED, body)


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ({"data": {"a": 1}, "data_base64": "AA=="}, "data and data_base64 must not both"),
        ({"data_base64": "not base64!"}, "data_base64 is not valid base64"),
        ({"data_base64": "AAA"}, "data_base64 is not valid base64"),
        ({"data_base64": 5}, "data_base64 must be a base64 string"),
        ({"datacontenttype": "text/plain", "data": "\ud800"}, "not valid Unicode"),
        ({"data": "\udfff"}, "not valid Unicode"),
    ],
)
def test_bad_data_is_refused(members: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidEvent, match=message):
        parse_request(STRUCTURED, json.dumps({**CORE, **members}).encode())


def test_invalid_event_is_a_value_error() -> None:
    assert issubclass(InvalidEvent, ValueError)
