"""Kafka records as CloudEvents, the way Knative's KafkaSource makes them.

``to_event`` is called by the Kafka adapter (``kafka.py``) for every record it consumes:

- A record that already is a CloudEvent in the Kafka protocol binding passes through as it
  is: structured mode when its ``content-type`` header is ``application/cloudevents+json``,
  binary mode when it has a ``ce_specversion`` header (attributes in ``ce_*`` headers, the
  ``content-type`` header as ``datacontenttype``, the value as data). Kafka header values
  are plain UTF-8, not percent-encoded as HTTP's are.
- Any other record (and one that claims to be an event but is not a valid one) becomes
  ``dev.knative.kafka.event`` with ``id`` ``partition:<p>/offset:<o>``, ``source``
  ``/apis/v1/namespaces/<ns>/kafkasources/<name>#<topic>``, ``subject``
  ``partition:<p>#<o>``, ``time`` the record's timestamp, the record's key in the ``key``
  and ``partitionkey`` extensions, every header but ``content-type`` as an extension
  ``kafkaheader<name>`` (the name lower-cased, all but letters and digits dropped), the
  ``content-type`` header (lower-cased) as ``datacontenttype`` and the value as data.

The key is read as the ``kafkasources.sources.knative.dev/key-type`` annotation says, with
Knative's fallbacks: ``string`` (the default; UTF-8), ``int`` (a 4-byte big-endian integer,
else a string), ``float`` (a 4- or 8-byte IEEE 754 number, else a string), ``byte-array``
(the bytes, base64-encoded as CloudEvents writes binary attributes). An empty key is none.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shoal.api.sources.kafka import EVENT_TYPE, event_source
from shoal.eventing import codec
from shoal.eventing.event import CloudEvent

HEADER_PREFIX = "kafkaheader"
CE_HEADER_PREFIX = "ce_"
CONTENT_TYPE = "content-type"


@dataclass(frozen=True)
class KafkaRecord:
    """What the adapter needs of one consumed record (aiokafka's ConsumerRecord has more)."""

    topic: str
    partition: int
    offset: int
    timestamp: int  # milliseconds since the epoch; negative when the record has none
    key: bytes | None = None
    value: bytes | None = None
    headers: Sequence[tuple[str, bytes]] = field(default_factory=tuple)


def to_event(record: KafkaRecord, namespace: str, name: str, key_type: str = "string",
             overrides: dict[str, str] | None = None) -> CloudEvent:
    """The CloudEvent a KafkaSource sends for ``record``, with ``overrides`` applied."""
    event = as_cloudevent(record)
    if event is None:
        event = converted(record, namespace, name, key_type)
    if overrides:
        event.attributes.update(overrides)
    return event


def _text(raw: bytes | None) -> str:
    return (raw or b"").decode("utf-8", errors="replace")


def as_cloudevent(record: KafkaRecord) -> CloudEvent | None:
    """The event a record carries in the Kafka binding, or None when it carries none."""
    content_type: str | None = None
    ce: dict[str, str] = {}
    for name, raw in record.headers:
        lowered = name.lower()
        if lowered == CONTENT_TYPE:
            content_type = _text(raw)
        elif lowered.startswith(CE_HEADER_PREFIX):
            ce[lowered[len(CE_HEADER_PREFIX):]] = _text(raw)
    body = record.value or b""
    try:
        if content_type and content_type.split(";")[0].strip().lower() == codec.STRUCTURED:
            (event,) = codec.parse_request({CONTENT_TYPE: content_type}, body)
            return event
        if "specversion" not in ce:
            return None
        # Through the HTTP binding and back: its percent-encoding keeps every value as it
        # is, and its parser validates the attributes.
        attributes: dict[str, Any] = dict(ce)
        if content_type is not None:
            attributes["datacontenttype"] = content_type
        headers, _ = codec.to_binary(CloudEvent(attributes))
        (event,) = codec.parse_request(headers, body)
        return event
    except codec.InvalidEvent:
        return None


def converted(record: KafkaRecord, namespace: str, name: str, key_type: str) -> CloudEvent:
    """``dev.knative.kafka.event`` made of a record's metadata, key, headers and value."""
    attributes: dict[str, Any] = {
        "specversion": "1.0",
        "id": f"partition:{record.partition}/offset:{record.offset}",
        "source": event_source(namespace, name, record.topic),
        "type": EVENT_TYPE,
        "subject": f"partition:{record.partition}#{record.offset}",
    }
    if record.timestamp >= 0:
        attributes["time"] = timestamp_text(record.timestamp)
    key = key_value(record.key, key_type)
    if key is not None:
        attributes["partitionkey"] = key
        attributes["key"] = key
    content_type: str | None = None
    for header, raw in record.headers:
        if header.lower() == CONTENT_TYPE:
            content_type = _text(raw).lower()
            continue
        attributes[HEADER_PREFIX + extension_suffix(header)] = _text(raw)
    if content_type:
        attributes["datacontenttype"] = content_type
    return CloudEvent(attributes, record.value)


def extension_suffix(header: str) -> str:
    """A header name as the end of an extension name: lower-case letters and digits only."""
    return "".join(c for c in header.lower() if ("a" <= c <= "z") or ("0" <= c <= "9"))


def timestamp_text(millis: int) -> str:
    """RFC 3339 in UTC with milliseconds: ``2024-05-01T12:00:00.123Z``."""
    moment = datetime.fromtimestamp(millis / 1000, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{millis % 1000:03d}Z"


def key_value(raw: bytes | None, key_type: str) -> str | int | None:
    """The ``key`` extension for a record key, read as ``key_type``; None for no key."""
    if not raw:
        return None
    if key_type == "int" and len(raw) == 4:
        return int(struct.unpack(">i", raw)[0])
    if key_type == "float" and len(raw) == 4:
        return _shortest_float32(struct.unpack(">f", raw)[0])
    if key_type == "float" and len(raw) == 8:
        return repr(struct.unpack(">d", raw)[0])
    if key_type == "byte-array":
        return base64.b64encode(raw).decode("ascii")
    return _text(raw)


def _shortest_float32(value: float) -> str:
    """The fewest digits that read back as the same 32-bit float (as Java prints a float)."""
    packed = struct.pack(">f", value)
    for digits in range(1, 10):
        text = f"{value:.{digits}g}"
        if struct.pack(">f", float(text)) == packed:
            return repr(float(text))
    return repr(value)
