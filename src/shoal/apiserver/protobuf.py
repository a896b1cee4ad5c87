"""Request bodies in Kubernetes' protobuf encoding, for the core kinds kubectl sends that way.

kubectl's typed commands (``kubectl create namespace``, ``create configmap``, ``create
secret``) send ``application/vnd.kubernetes.protobuf``: the magic ``k8s\\0`` and a
``runtime.Unknown`` envelope (type meta, then the object's bytes). This module decodes the
fields of Namespace, ConfigMap and Secret (and the ObjectMeta fields a client sets) into the
same JSON shape the rest of the server takes. Responses stay JSON, which kubectl accepts.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import Any

from shoal.api.errors import BadRequest, UnsupportedMediaType

CONTENT_TYPE = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"

Obj = dict[str, Any]
Field = tuple[int, int, Any]  # (number, wire type, int or bytes)


def _fields(data: bytes) -> Iterator[Field]:
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
            yield number, wire, value
        elif wire == 2:
            length, pos = _varint(data, pos)
            if pos + length > len(data):
                raise BadRequest("truncated protobuf body")
            yield number, wire, data[pos:pos + length]
            pos += length
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            yield number, wire, data[pos:pos + size]
            pos += size
        else:
            raise BadRequest(f"unsupported protobuf wire type {wire}")


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise BadRequest("truncated protobuf varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return result, pos


def _text(value: Any) -> str:
    return bytes(value).decode()


def _entry(value: bytes) -> tuple[str, bytes]:
    key, val = "", b""
    for number, _, item in _fields(value):
        if number == 1:
            key = _text(item)
        elif number == 2:
            val = bytes(item)
    return key, val


def _owner(value: bytes) -> Obj:
    names = {1: "kind", 3: "name", 4: "uid", 5: "apiVersion"}
    ref: Obj = {}
    for number, wire, item in _fields(value):
        if number in names:
            ref[names[number]] = _text(item)
        elif number == 6 and wire == 0:
            ref["controller"] = bool(item)
        elif number == 7 and wire == 0:
            ref["blockOwnerDeletion"] = bool(item)
    return ref


def _metadata(value: bytes) -> Obj:
    meta: Obj = {}
    for number, _, item in _fields(value):
        if number in (1, 2, 3) and item:
            meta[{1: "name", 2: "generateName", 3: "namespace"}[number]] = _text(item)
        elif number in (11, 12):
            key, val = _entry(item)
            meta.setdefault("labels" if number == 11 else "annotations", {})[key] = val.decode()
        elif number == 13:
            meta.setdefault("ownerReferences", []).append(_owner(item))
        elif number == 14:
            meta.setdefault("finalizers", []).append(_text(item))
    return meta


def _map(obj: Obj, key: str, item: bytes, as_base64: bool = False) -> None:
    k, v = _entry(item)
    obj.setdefault(key, {})[k] = base64.b64encode(v).decode() if as_base64 else v.decode()


def _configmap(obj: Obj, number: int, wire: int, item: Any) -> None:
    if number == 2:
        _map(obj, "data", item)
    elif number == 3:
        _map(obj, "binaryData", item, as_base64=True)
    elif number == 4 and wire == 0:
        obj["immutable"] = bool(item)


def _secret(obj: Obj, number: int, wire: int, item: Any) -> None:
    if number == 2:
        _map(obj, "data", item, as_base64=True)
    elif number == 3 and item:
        obj["type"] = _text(item)
    elif number == 4:
        _map(obj, "stringData", item)
    elif number == 5 and wire == 0:
        obj["immutable"] = bool(item)


def _namespace(obj: Obj, number: int, wire: int, item: Any) -> None:
    if number == 2:
        finalizers = [_text(v) for n, _, v in _fields(item) if n == 1]
        if finalizers:
            obj["spec"] = {"finalizers": finalizers}


_KINDS: dict[str, Callable[[Obj, int, int, Any], None]] = {
    "ConfigMap": _configmap, "Secret": _secret, "Namespace": _namespace}


def decode(body: bytes) -> Obj:
    """The JSON shape of a protobuf-encoded Namespace, ConfigMap or Secret."""
    if not body.startswith(MAGIC):
        raise BadRequest("a protobuf body must start with the k8s magic bytes")
    api_version = kind = ""
    raw = b""
    for number, _, item in _fields(body[len(MAGIC):]):
        if number == 1:
            for n, _, v in _fields(item):
                if n == 1:
                    api_version = _text(v)
                elif n == 2:
                    kind = _text(v)
        elif number == 2:
            raw = bytes(item)
    handler = _KINDS.get(kind)
    if api_version != "v1" or handler is None:
        raise UnsupportedMediaType(
            f"protobuf bodies are accepted for Namespace, ConfigMap and Secret only, not "
            f"{api_version} {kind}; send application/json")
    obj: Obj = {"apiVersion": api_version, "kind": kind, "metadata": {}}
    for number, wire, item in _fields(raw):
        if number == 1:
            obj["metadata"] = _metadata(item)
        else:
            handler(obj, number, wire, item)
    return obj
