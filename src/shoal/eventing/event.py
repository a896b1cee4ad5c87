"""The CloudEvent as the eventing data plane carries it: attributes and data bytes.

Attributes hold every context attribute and extension by name (``specversion``, ``id``,
``source``, ``type``, ``datacontenttype``, ``time``, ``knativebrokerttl``, …) with values as
the JSON format gives them (str, int, bool). ``data`` is the payload's bytes (None when the
event has none). ``to_json``/``from_json`` convert to and from the CloudEvents JSON format.

``to_record``/``from_record`` are the form an event takes in a broker's or channel's log:
the attributes as one line of compact JSON, then, when the event has data, a newline and
the data's bytes as they arrived. Writing and reading a record never parses or re-encodes
the payload, which matters on the hot path (JSON escapes every newline inside strings, so
the first newline always ends the attributes).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

REQUIRED = ("specversion", "id", "source", "type")

_compact = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
"""``json.dumps`` with these options, without building an encoder for every call."""


@dataclass
class CloudEvent:
    attributes: dict[str, Any] = field(default_factory=dict)
    data: bytes | None = None

    @property
    def id(self) -> str:
        return str(self.attributes.get("id", ""))

    @property
    def type(self) -> str:
        return str(self.attributes.get("type", ""))

    @property
    def source(self) -> str:
        return str(self.attributes.get("source", ""))

    @property
    def content_type(self) -> str | None:
        value = self.attributes.get("datacontenttype")
        return None if value is None else str(value)

    def copy(self) -> CloudEvent:
        return CloudEvent(dict(self.attributes), self.data)

    def to_record(self) -> bytes:
        head = _compact(self.attributes).encode()
        return head if self.data is None else head + b"\n" + self.data

    @staticmethod
    def from_record(record: bytes) -> CloudEvent:
        head, newline, data = record.partition(b"\n")
        # as json.loads decodes bytes, without its guess at the encoding: records are UTF-8
        attributes = json.loads(head.decode("utf-8", "surrogatepass"))
        return CloudEvent(attributes, data if newline else None)

    def to_json(self) -> dict[str, Any]:
        """The CloudEvents JSON format of this event."""
        out = dict(self.attributes)
        if self.data is not None:
            ctype = (self.content_type or "application/json").split(";")[0].strip()
            if ctype == "application/json" or ctype.endswith("+json"):
                try:
                    out["data"] = json.loads(self.data)
                    return out
                except (ValueError, UnicodeDecodeError):
                    pass
            if ctype.startswith("text/"):
                try:
                    out["data"] = self.data.decode()
                    return out
                except UnicodeDecodeError:
                    pass
            out["data_base64"] = base64.b64encode(self.data).decode()
        return out

    @staticmethod
    def from_json(obj: dict[str, Any]) -> CloudEvent:
        """An event from its JSON format (no validation: see the HTTP codec for that)."""
        attributes = {k: v for k, v in obj.items() if k not in ("data", "data_base64")}
        data: bytes | None = None
        if "data_base64" in obj and obj["data_base64"] is not None:
            data = base64.b64decode(obj["data_base64"])
        elif "data" in obj:
            value = obj["data"]
            data = value.encode() if isinstance(value, str) and not _is_json_type(
                attributes) else json.dumps(value, separators=(",", ":")).encode()
        return CloudEvent(attributes, data)


def _is_json_type(attributes: dict[str, Any]) -> bool:
    ctype = str(attributes.get("datacontenttype") or "application/json").split(";")[0].strip()
    return ctype == "application/json" or ctype.endswith("+json")
