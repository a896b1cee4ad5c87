"""OpenAPI v2 in protobuf, the only form older kubectl (1.20) reads.

kubectl before 1.27 fetches ``/openapi/v2`` as ``application/com.github.proto-openapi.spec.
v2@v1.0+protobuf`` (gnostic's ``openapi.v2.Document``) to validate objects on ``apply`` and
``create``. This module encodes the subset of that message Shoal publishes: the document's
version and info, and the definitions with their descriptions, types, properties, items,
additional properties, required fields and vendor extensions. Schemas are converted the way
Kubernetes publishes CRDs in v2: int-or-string becomes ``string``/``int-or-string``, and a
node that preserves unknown fields becomes an untyped schema that accepts anything.
"""

from __future__ import annotations

import json
from typing import Any

# Kubernetes answers with this media type; Go clients cannot parse the "@" in the
# standard one, so this is what they get.
CONTENT_TYPE = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"

_LEN = 2  # the wire type of strings, bytes and embedded messages


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key(field: int, wire: int) -> bytes:
    return _varint(field << 3 | wire)


def _bytes(field: int, data: bytes) -> bytes:
    return _key(field, _LEN) + _varint(len(data)) + data


def _str(field: int, text: str) -> bytes:
    return _bytes(field, text.encode()) if text else b""


def _any_yaml(value: Any) -> bytes:
    """gnostic's ``Any`` carries its value as YAML text; JSON is valid YAML."""
    return _str(2, json.dumps(value))


def _named_any(name: str, value: Any) -> bytes:
    return _str(1, name) + _bytes(2, _any_yaml(value))


def _schema(schema: dict[str, Any]) -> bytes:
    if schema.get("x-kubernetes-int-or-string"):
        schema = {"type": "string", "format": "int-or-string",
                  "description": schema.get("description", "")}
    elif schema.get("x-kubernetes-preserve-unknown-fields"):
        schema = {"description": schema.get("description", "")}
    out = bytearray()
    out += _str(1, schema.get("$ref", ""))
    out += _str(2, schema.get("format", ""))
    out += _str(4, schema.get("description", ""))
    for name in schema.get("required", []):
        out += _str(19, name)
    for value in schema.get("enum", []):
        out += _bytes(20, _any_yaml(value))
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        out += _bytes(21, _bytes(1, _schema(extra)))
    if schema.get("type"):
        out += _bytes(22, _str(1, schema["type"]))
    if isinstance(schema.get("items"), dict):
        out += _bytes(23, _bytes(1, _schema(schema["items"])))
    props = schema.get("properties")
    if props:
        named = b"".join(_bytes(1, _str(1, k) + _bytes(2, _schema(v)))
                         for k, v in props.items())
        out += _bytes(25, named)
    for key, value in schema.items():
        if key.startswith("x-kubernetes-group-version-kind"):
            out += _bytes(31, _named_any(key, value))
    return bytes(out)


def encode_document(doc: dict[str, Any]) -> bytes:
    """The protobuf encoding of a swagger 2.0 document's version, info and definitions."""
    out = bytearray()
    out += _str(1, doc.get("swagger", "2.0"))
    info = doc.get("info", {})
    out += _bytes(2, _str(1, info.get("title", "")) + _str(2, info.get("version", "")))
    definitions = b"".join(_bytes(1, _str(1, name) + _bytes(2, _schema(schema)))
                           for name, schema in doc.get("definitions", {}).items())
    out += _bytes(9, definitions)
    return bytes(out)
