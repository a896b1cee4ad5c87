"""``kubectl get`` tables: a kind's printer columns, evaluated server side.

kubectl asks for ``application/json;as=Table;g=meta.k8s.io;v=v1`` and prints the cells it
gets back, so every kind shows Knative's columns (ksvc: NAME URL LATESTCREATED LATESTREADY
READY REASON) with no client-side knowledge. Column paths use the subset of JSONPath that
CRDs' ``additionalPrinterColumns`` use: ``.a.b``, ``[0]``, ``['dotted.key']`` and filters
``[?(@.type=='Ready')]``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from functools import cache
from typing import Any

from shoal.api.types import PrinterColumn, ResourceType

Obj = dict[str, Any]

_TOKEN = re.compile(
    r"""\.(?P<name>[A-Za-z0-9_\-]+)
      | \[\s*'(?P<sq>(?:[^'\\]|\\.)*)'\s*\]
      | \[\s*"(?P<dq>(?:[^"\\]|\\.)*)"\s*\]
      | \[(?P<index>-?\d+)\]
      | \[\*\]
      | \[\?\(@\.(?P<field>[A-Za-z0-9_.\-]+)\s*==\s*['"](?P<value>[^'"]*)['"]\)\]
    """, re.VERBOSE)


@cache
def _segments(path: str) -> tuple[tuple[str, Any], ...]:
    segments: list[tuple[str, Any]] = []
    pos = 0
    while pos < len(path):
        m = _TOKEN.match(path, pos)
        if not m:
            raise ValueError(f"unsupported JSONPath {path!r} at {pos}")
        if m.group("name") is not None:
            segments.append(("key", m.group("name")))
        elif m.group("sq") is not None or m.group("dq") is not None:
            raw = m.group("sq") if m.group("sq") is not None else m.group("dq")
            segments.append(("key", re.sub(r"\\(.)", r"\1", raw)))
        elif m.group("index") is not None:
            segments.append(("index", int(m.group("index"))))
        elif m.group("field") is not None:
            segments.append(("filter", (m.group("field").split("."), m.group("value"))))
        else:
            segments.append(("all", None))
        pos = m.end()
    return tuple(segments)


def jsonpath(obj: Any, path: str) -> list[Any]:
    """Every value at ``path`` in ``obj`` (an empty list when there is none)."""
    nodes = [obj]
    for kind, arg in _segments(path):
        nxt: list[Any] = []
        for node in nodes:
            keyed = kind == "key" and isinstance(node, dict) and arg in node
            indexed = kind == "index" and isinstance(node, list) and -len(node) <= arg < len(node)
            if keyed or indexed:
                nxt.append(node[arg])
            elif kind == "all" and isinstance(node, list):
                nxt.extend(node)
            elif kind == "filter" and isinstance(node, list):
                fields, value = arg
                for item in node:
                    probe = item
                    for f in fields:
                        probe = probe.get(f) if isinstance(probe, dict) else None
                    if probe is not None and str(probe) == value:
                        nxt.append(item)
        nodes = nxt
    return nodes


def human_duration(seconds: float) -> str:
    """Kubernetes' short ages: 45s, 5m10s, 45m, 3h5m, 26h, 3d4h, 45d, 2y."""
    s = int(max(seconds, 0))
    if s < 120:
        return f"{s}s"
    m = s // 60
    if m < 10:
        return f"{m}m{s % 60}s" if s % 60 else f"{m}m"
    if m < 180:
        return f"{m}m"
    h = s // 3600
    if h < 8:
        return f"{h}h{m % 60}m" if m % 60 else f"{h}h"
    if h < 48:
        return f"{h}h"
    d = h // 24
    if d < 8:
        return f"{d}d{h % 24}h" if h % 24 else f"{d}d"
    if d < 365 * 2:
        return f"{d}d"
    return f"{d // 365}y"


def age(timestamp: str, now: datetime) -> str:
    try:
        then = datetime.fromisoformat(timestamp)
    except (TypeError, ValueError):
        return "<unknown>"
    if then.tzinfo is None:
        then = then.replace(tzinfo=UTC)
    return human_duration((now - then).total_seconds())


_WIRE_TYPE = {"count": "integer", "objectref": "string", "date": "date", "ready": "string"}


def column_definitions(rt: ResourceType) -> list[Obj]:
    defs = [{"name": "Name", "type": "string", "format": "name", "priority": 0,
             "description": "Name must be unique within a namespace."}]
    for col in rt.columns:
        defs.append({"name": col.name, "type": _WIRE_TYPE.get(col.type, col.type),
                     "format": col.format, "priority": col.priority,
                     "description": col.description})
    return defs


def cell(col: PrinterColumn, obj: Obj, now: datetime) -> Any:
    values = jsonpath(obj, col.json_path)
    if col.type == "ready":  # a pod's "1/1": ready container statuses of all
        statuses = values[0] if values and isinstance(values[0], list) else []
        ready = sum(1 for s in statuses if isinstance(s, dict) and s.get("ready"))
        total = len(statuses) or len((obj.get("spec") or {}).get("containers") or [])
        return f"{ready}/{total}"
    if not values:
        return 0 if col.type == "count" else None
    value = values[0]
    if col.type == "count":
        return len(value) if isinstance(value, dict | list) else 0
    if col.type == "date":
        return age(str(value), now)
    if col.type == "objectref" and isinstance(value, dict):
        return f"{str(value.get('kind', '')).lower()}/{value.get('name', '')}"
    if col.type in ("integer", "number", "boolean"):
        return value
    if isinstance(value, dict | list):  # as Kubernetes prints them: ["a","b"]
        return json.dumps(value, separators=(",", ":"))
    return value if isinstance(value, str) else str(value)


def row(rt: ResourceType, obj: Obj, now: datetime, include_object: str) -> Obj:
    meta = obj.get("metadata", {})
    cells = [meta.get("name", "")] + [cell(c, obj, now) for c in rt.columns]
    out: Obj = {"cells": cells}
    if include_object == "Object":
        out["object"] = obj
    elif include_object != "None":
        out["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                         "metadata": meta}
    return out


def table(rt: ResourceType, objs: Iterable[Obj], resource_version: str, now: datetime,
          include_object: str = "Metadata", with_columns: bool = True) -> Obj:
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": column_definitions(rt) if with_columns else [],
        "rows": [row(rt, o, now, include_object) for o in objs],
    }
