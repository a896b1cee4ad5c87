"""CloudEvents over HTTP: the HTTP protocol binding 1.0 with the JSON event format.

Broker ingress and channels call `parse_request` on every POST (binary, structured and
batched content modes); dispatchers encode deliveries with `to_binary` or `to_structured`
and read what a subscriber answered with `parse_response`. Anything that is not a valid
event raises `InvalidEvent`, whose message names the problem (ingress answers 400 with it).

Validation follows the spec and what Knative (through sdk-go) enforces: the required
attributes, non-empty ``id``/``type``/``source``/``subject``, RFC 3339 ``time``, an absolute
URI in ``dataschema``, an RFC 2046 media type in ``datacontenttype``, strings without
control characters, and attribute names of lower-case letters and digits. Like current
sdk-go, names are not capped at 20 characters (the spec only says SHOULD). Specversion
1.0 is accepted as is; 0.3 is converted to 1.0 with sdk-go's rules: ``schemaurl`` becomes
``dataschema``, ``datacontentencoding`` stays as an extension, and base64 ``data`` that it
announces is decoded. Extension values stay strings in binary mode and keep their JSON type
(bool, 32-bit integer, string) in structured mode.

This module is on the hot path (thousands of events a second), so it works on plain dicts
and strings: header names are lowered once, values are percent-decoded only when they hold
``%`` or ``"``, attribute-name checks are cached, and the rules per attribute sit in one
table. The ``cloudevents`` SDK is used only by the interoperability tests. Gaps found in
its 2.2.0 release, and why it is not used here: the legacy ``cloudevents.v1`` API neither
percent-encodes nor percent-decodes header values, writes non-string extensions into
headers unconverted and JSON-encodes string data in binary mode whatever the content type;
the ``cloudevents.core`` API picks binary mode whenever any ``ce-`` header is present (even
with a structured Content-Type), decodes invalid UTF-8 escapes to U+FFFD instead of
rejecting them, does not unescape double-quoted header values, accepts any ISO 8601
``time`` and re-formats it, does not check ``data_base64``, and has no batched mode over
HTTP.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import json
import re
from collections.abc import Callable, Mapping
from typing import Any, Final
from urllib.parse import unquote_to_bytes

from shoal.eventing.event import REQUIRED, CloudEvent

STRUCTURED: Final = "application/cloudevents+json"
BATCH: Final = "application/cloudevents-batch+json"
STRUCTURED_CONTENT_TYPE: Final = STRUCTURED + "; charset=utf-8"
_FORMAT_PREFIX: Final = "application/cloudevents"
_INT32 = range(-(2**31), 2**31)


class InvalidEvent(ValueError):
    """A request or reply that is not a valid CloudEvent; the message says why."""


# ---------------------------------------------------------------------------------------
# Rules for attribute values: each returns why a value is bad, or None when it is fine.

Rule = Callable[[Any], str | None]

_FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_NAME = re.compile(r"[a-z0-9]+")
_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_MEDIA_TYPE = re.compile(rf"[ \t]*{_TOKEN}(?:/{_TOKEN})?[ \t]*(?:;.*)?", re.DOTALL)
_ABSOLUTE_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s]*")
_RFC3339 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.[0-9]+)?"
    r"(?:[Zz]|[+-]([0-9]{2}):([0-9]{2}))"
)


def _string(value: Any) -> str | None:
    if type(value) is not str:
        return "must be a string"
    if not (value.isascii() and value.isprintable()) and _FORBIDDEN.search(value) is not None:
        return "must not contain control characters"
    return None


def _non_empty(value: Any) -> str | None:
    problem = _string(value)
    if problem is None and not value.strip():
        return "must be a non-empty string"
    return problem


def _uri(value: Any) -> str | None:
    problem = _non_empty(value)
    if problem is None and _ABSOLUTE_URI.fullmatch(value) is None:
        return "must be an absolute URI"
    return problem


_media_types: set[str] = set()  # content types found valid: most events carry one of few


def _media_type(value: Any) -> str | None:
    if type(value) is str and value in _media_types:
        return None
    problem = _non_empty(value)
    if problem is None and _MEDIA_TYPE.fullmatch(value) is None:
        return "must be a media type (RFC 2046)"
    if problem is None and len(_media_types) < 256:
        _media_types.add(value)
    return problem


def _timestamp(value: Any) -> str | None:
    if type(value) is not str:
        return "must be a string"
    match = _RFC3339.fullmatch(value)
    if match is None:
        return "must be an RFC 3339 timestamp"
    year, month, day, hour, minute, second, off_hour, off_minute = match.groups()
    try:
        datetime.date(int(year), int(month), int(day))
    except ValueError:
        return "must be an RFC 3339 timestamp (no such date)"
    if int(hour) > 23 or int(minute) > 59 or int(second) > 60:
        return "must be an RFC 3339 timestamp (no such time of day)"
    if off_hour is not None and (int(off_hour) > 23 or int(off_minute) > 59):
        return "must be an RFC 3339 timestamp (no such offset)"
    return None


def _json_extension(value: Any) -> str | None:
    kind = type(value)
    if kind is bool:
        return None
    if kind is int:
        return None if value in _INT32 else "must be a 32-bit integer"
    if kind is str:
        return _string(value)
    return "must be a boolean, a 32-bit integer or a string"


def _reserved(value: Any) -> str | None:
    return "is reserved for the event's data"


RULES_V1: Final[Mapping[str, Rule]] = {
    "specversion": _non_empty,
    "id": _non_empty,
    "source": _non_empty,  # a URI-reference: any non-empty string without controls
    "type": _non_empty,
    "subject": _non_empty,
    "time": _timestamp,
    "datacontenttype": _media_type,
    "dataschema": _uri,
    "data": _reserved,
}
"""The context attributes of CloudEvents 1.0 and the rule for each value."""

RULES_V03: Final[Mapping[str, Rule]] = {
    **{name: rule for name, rule in RULES_V1.items() if name != "dataschema"},
    "schemaurl": _non_empty,  # a URI-reference in 0.3
    "datacontentencoding": _non_empty,
}
"""The context attributes of CloudEvents 0.3 and the rule for each value."""

_known_names: set[str] = set()


def _check_name(name: str, where: str) -> None:
    if name in _known_names:
        return
    if _NAME.fullmatch(name) is None:
        raise InvalidEvent(
            f"{where}attribute name {name!r} must consist of lower-case letters and digits"
        )
    if len(_known_names) < 4096:
        _known_names.add(name)


def _check(attrs: dict[str, Any], rules: Mapping[str, Rule], typed: bool, where: str) -> None:
    for name in REQUIRED:
        if name not in attrs:
            raise InvalidEvent(f"{where}missing required attribute {name!r}")
    for name, value in attrs.items():
        rule = rules.get(name)
        if rule is None:
            _check_name(name, where)
            rule = _json_extension if typed else _string
        problem = rule(value)
        if problem is not None:
            raise InvalidEvent(f"{where}attribute {name!r} {problem}, got {value!r:.100}")


def _to_v1(attrs: dict[str, Any], typed: bool, where: str) -> dict[str, Any]:
    """Validate `attrs` for their specversion and return them as CloudEvents 1.0."""
    version = attrs.get("specversion")
    if version == "1.0":
        _check(attrs, RULES_V1, typed, where)
        return attrs
    if version == "0.3":
        _check(attrs, RULES_V03, typed, where)
        converted = {name: value for name, value in attrs.items() if name != "schemaurl"}
        converted["specversion"] = "1.0"
        if "schemaurl" in attrs:
            converted["dataschema"] = attrs["schemaurl"]
        return converted
    if version is None:
        raise InvalidEvent(f"{where}missing required attribute 'specversion'")
    raise InvalidEvent(f"{where}unsupported specversion {version!r}: 1.0 and 0.3 are accepted")


# ---------------------------------------------------------------------------------------
# Header values: RFC 7230 quoted strings, then one round of percent-decoding (binding 3.1.3.2).

_UNSAFE = re.compile('[^\x21-\x7e]|["%]')


def _escape(match: re.Match[str]) -> str:
    return "".join(f"%{byte:02X}" for byte in match.group().encode())


def encode_header_value(value: str) -> str:
    """Percent-encode space, ``"``, ``%`` and everything outside printable ASCII."""
    if value.isascii() and value.isprintable() and " " not in value and '"' not in value \
            and "%" not in value:  # the usual value, told without the regex
        return value
    return value if _UNSAFE.search(value) is None else _UNSAFE.sub(_escape, value)


def _unquote(value: str) -> str:
    out: list[str] = []
    quoted = escaped = False
    for char in value:
        if escaped:
            out.append(char)
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        else:
            out.append(char)
    if quoted or escaped:
        raise InvalidEvent(f"unterminated quoted string in header value {value!r:.100}")
    return "".join(out)


def decode_header_value(value: str) -> str:
    """The attribute value a ``ce-`` header carries; InvalidEvent when it is malformed."""
    value = value.strip(" \t")
    if '"' in value:
        value = _unquote(value)
    if "%" in value:
        try:
            value = unquote_to_bytes(value).decode()
        except UnicodeError:
            raise InvalidEvent(
                f"header value {value!r:.100} is not percent-encoded UTF-8"
            ) from None
    return value


def _header_text(value: Any) -> str:
    if type(value) is str:
        return value
    if type(value) is bool:
        return "true" if value else "false"
    return str(value)


# ---------------------------------------------------------------------------------------
# Decoding.


def _split_headers(headers: Mapping[str, str]) -> tuple[list[tuple[str, str]], str | None]:
    """The ``ce-`` headers (names lowered, prefix cut) and the Content-Type, in one pass."""
    ce: list[tuple[str, str]] = []
    content_type: str | None = None
    for key, value in headers.items():
        lowered = key.lower()
        if lowered.startswith("ce-"):
            ce.append((lowered[3:], value))
        elif lowered == "content-type":
            content_type = value.strip()
    return ce, content_type


def _media(content_type: str | None) -> str:
    return "" if content_type is None else content_type.split(";", 1)[0].strip().lower()


def is_json_media_type(content_type: str | None) -> bool:
    """Whether data of this content type is JSON (``*/json`` or ``*/*+json``; absent too)."""
    media = _media(content_type)
    return not media or media.endswith("/json") or media.endswith("+json")


def _parse_binary(ce: list[tuple[str, str]], content_type: str | None, body: bytes) -> CloudEvent:
    attrs: dict[str, Any] = {}
    for name, raw in ce:
        if name in attrs:
            raise InvalidEvent(f"attribute {name!r} given twice")
        plain = "%" not in raw and '"' not in raw
        attrs[name] = raw.strip(" \t") if plain else decode_header_value(raw)
    if content_type:
        attrs["datacontenttype"] = content_type
    return CloudEvent(_to_v1(attrs, False, ""), body if body else None)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _load_json(body: bytes) -> Any:
    try:
        return json.loads(body, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as e:
        raise InvalidEvent(f"malformed JSON: {e}") from None


def _dump_json(value: Any, where: str) -> bytes:
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    except UnicodeEncodeError:
        raise InvalidEvent(f"{where}data holds text that is not valid Unicode") from None


def _decode_base64(value: Any, member: str, where: str) -> bytes:
    if type(value) is not str:
        raise InvalidEvent(f"{where}{member} must be a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidEvent(f"{where}{member} is not valid base64") from None


def _is_base64(encoding: Any) -> bool:
    return type(encoding) is str and encoding.lower() == "base64"


def _json_data(obj: dict[str, Any], attrs: dict[str, Any], where: str) -> bytes | None:
    encoded = obj.get("data_base64")
    if encoded is not None:
        if obj.get("data") is not None:
            raise InvalidEvent(f"{where}data and data_base64 must not both be present")
        return _decode_base64(encoded, "data_base64", where)
    if "data" not in obj:
        return None
    value = obj["data"]
    encoding = attrs.get("datacontentencoding")
    if value is not None and attrs.get("specversion") == "0.3" and _is_base64(encoding):
        return _decode_base64(value, "data", where)
    if is_json_media_type(attrs.get("datacontenttype")):
        return _dump_json(value, where)
    if value is None:
        return None
    if type(value) is not str:
        return _dump_json(value, where)
    try:
        return value.encode()
    except UnicodeEncodeError:
        raise InvalidEvent(f"{where}data holds text that is not valid Unicode") from None


def _event_from_json(obj: Any, where: str) -> CloudEvent:
    if type(obj) is not dict:
        raise InvalidEvent(f"{where}a structured event must be a JSON object")
    attrs = {
        name: value
        for name, value in obj.items()
        if value is not None and name != "data" and name != "data_base64"
    }
    data = _json_data(obj, attrs, where)
    return CloudEvent(_to_v1(attrs, True, where), data)


def _parse_batch(body: bytes) -> list[CloudEvent]:
    items = _load_json(body)
    if type(items) is not list:
        raise InvalidEvent("a batch must be a JSON array of events")
    events = [_event_from_json(item, f"event [{i}]: ") for i, item in enumerate(items)]
    versions = {item.get("specversion") for item in items}
    if len(versions) > 1:
        raise InvalidEvent("batched events must all have the same specversion")
    return events


def _has_specversion(ce: list[tuple[str, str]]) -> bool:
    # a plain loop: cheaper than any() over a generator, on every request
    for name, _ in ce:  # noqa: SIM110
        if name == "specversion":
            return True
    return False


def _parse(ce: list[tuple[str, str]], content_type: str | None, body: bytes) -> list[CloudEvent]:
    media = _media(content_type)
    if media == STRUCTURED:
        return [_event_from_json(_load_json(body), "")]
    if media == BATCH:
        return _parse_batch(body)
    if _has_specversion(ce):
        return [_parse_binary(ce, content_type, body)]
    if media.startswith(_FORMAT_PREFIX):
        raise InvalidEvent(f"unsupported event format {media!r}: only JSON is accepted")
    raise InvalidEvent(
        "missing required attribute 'specversion' (no ce-specversion header, and the "
        f"content type is not {STRUCTURED} or {BATCH})"
    )


def parse_request(headers: Mapping[str, str], body: bytes) -> list[CloudEvent]:
    """The events an HTTP request carries: one in binary or structured mode, any number
    in batched mode. Header names are case-insensitive; the Content-Type picks the mode
    (``application/cloudevents+json``: structured, ``application/cloudevents-batch+json``:
    batched), else a ``ce-specversion`` header means binary mode."""
    ce, content_type = _split_headers(headers)
    return _parse(ce, content_type, body)


def parse_response(status: int, headers: Mapping[str, str], body: bytes) -> CloudEvent | None:
    """The reply event in a subscriber's response, or None when it carries none.

    Only a 2xx other than 202 can carry a reply (Knative's data-plane contract: a 202 MUST
    NOT be processed as a reply). A response carries an event when it has a
    ``ce-specversion`` header or a CloudEvents content type; InvalidEvent when that event
    is malformed, or when a batched reply holds more than one event.
    """
    if status < 200 or status > 299 or status == 202:
        return None
    ce, content_type = _split_headers(headers)
    media = _media(content_type)
    if not media.startswith(_FORMAT_PREFIX) and not _has_specversion(ce):
        return None
    events = _parse(ce, content_type, body)
    if len(events) > 1:
        raise InvalidEvent(f"a reply carries at most one event, got a batch of {len(events)}")
    return events[0] if events else None


# ---------------------------------------------------------------------------------------
# Encoding.


def to_binary(event: CloudEvent) -> tuple[dict[str, str], bytes]:
    """Headers and body of `event` in binary mode: ``ce-`` headers (percent-encoded where
    the binding requires it) and ``content-type`` from ``datacontenttype``; header names
    are lower-case."""
    headers: dict[str, str] = {}
    for name, value in event.attributes.items():
        if value is None:
            continue
        if name == "datacontenttype":
            headers["content-type"] = _header_text(value)
        else:
            headers["ce-" + name] = encode_header_value(_header_text(value))
    return headers, event.data if event.data is not None else b""


def to_structured(event: CloudEvent) -> tuple[dict[str, str], bytes]:
    """Headers and body of `event` in structured mode, in the JSON event format."""
    body = json.dumps(event.to_json(), separators=(",", ":"), ensure_ascii=False).encode()
    return {"content-type": STRUCTURED_CONTENT_TYPE}, body
