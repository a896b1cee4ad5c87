"""The text of ``shoal describe``: an object, its conditions and its events, for people.

``describe(obj, events, now)`` is pure; the ``describe`` command fetches the object and the
core ``v1`` Events about it and prints what this returns. The layout follows
``kubectl describe``: aligned ``Key:  value`` lines, nested fields indented with keys in
Title Case (``containerConcurrency`` → ``Container Concurrency``; keys of free-form maps
such as labels and ConfigMap data as they are), then a Conditions table and an Events table.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from shoal.apiserver.tables import human_duration
from shoal.cli.printers import Aligner

Obj = dict[str, Any]

_TOP = ("name", "namespace", "labels", "annotations", "managedFields")
_FREEFORM = {
    "labels",
    "annotations",
    "data",
    "binaryData",
    "stringData",
    "nodeSelector",
    "matchLabels",
    "attributes",
    "extensions",
    "selector",
    "config",
}
_ACRONYMS = {
    "Api": "API",
    "Uid": "UID",
    "Url": "URL",
    "Uri": "URI",
    "Id": "ID",
    "Ip": "IP",
    "Cpu": "CPU",
    "Dns": "DNS",
    "Http": "HTTP",
    "Tls": "TLS",
    "Ttl": "TTL",
    "Json": "JSON",
    "Cel": "CEL",
    "Cesql": "CESQL",
}
_IDENTIFIER = re.compile(r"^[a-z][A-Za-z0-9]*$")
_WORD_BREAK = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
PADDING = 2  # kubectl describe's tabwriter padding


def title(key: str) -> str:
    """``latestReadyRevisionName`` → ``Latest Ready Revision Name``; other keys unchanged."""
    if not _IDENTIFIER.match(key):
        return key
    words = [w[:1].upper() + w[1:] for w in _WORD_BREAK.split(key)]
    return " ".join(_ACRONYMS.get(w, w) for w in words)


def scalar(value: Any) -> str:
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def age_of(timestamp: Any, now: datetime) -> str:
    """The age of an RFC 3339 time (``5m``), ``<unknown>`` when it does not parse."""
    if not isinstance(timestamp, str) or not timestamp:
        return "<unknown>"
    try:
        then = datetime.fromisoformat(timestamp)
    except ValueError:
        return "<unknown>"
    if then.tzinfo is None:
        return "<unknown>"
    return human_duration((now - then).total_seconds())


def fields(value: Obj, indent: int, *, freeform: bool = False) -> list[str]:
    """A map as indented ``Key:  value`` lines, scalars of one level aligned."""
    pad = " " * indent
    keys = sorted(value)
    label = {k: (k if freeform else title(k)) + ":" for k in keys}
    width = max((len(label[k]) for k in keys if _inline(value[k])), default=0)
    lines: list[str] = []
    for key in keys:
        item = value[key]
        if _is_scalar(item):
            text = scalar(item)
            if "\n" in text:
                lines.append(f"{pad}{label[key]}")
                lines += [f"{pad}  {line}" for line in text.splitlines()]
            else:
                lines.append(f"{pad}{label[key].ljust(width + PADDING)}{text}")
        elif not item:
            lines.append(f"{pad}{label[key].ljust(width + PADDING)}<none>")
        else:
            lines.append(f"{pad}{label[key]}")
            lines += _nested(item, indent + 2, freeform=key in _FREEFORM)
    return lines


def _nested(value: Any, indent: int, *, freeform: bool) -> list[str]:
    if isinstance(value, dict):
        return fields(value, indent, freeform=freeform)
    lines: list[str] = []
    pad = " " * indent
    for item in value:
        if isinstance(item, dict) and item:
            inner = fields(item, indent + 2, freeform=freeform)
            lines.append(f"{pad}- {inner[0].lstrip()}")
            lines += inner[1:]
        elif isinstance(item, list):
            lines.append(f"{pad}-")
            lines += _nested(item, indent + 2, freeform=freeform)
        else:
            lines.append(f"{pad}{scalar(item)}")
    return lines


def _is_scalar(value: Any) -> bool:
    return not isinstance(value, dict | list)


def _inline(value: Any) -> bool:
    """Whether a value is printed on its key's line (scalars, empty maps and lists)."""
    return _is_scalar(value) or not value


def _pairs(values: Obj | None, sep: str) -> list[str]:
    return [f"{k}{sep}{v}" for k, v in sorted((values or {}).items())] or ["<none>"]


def header(obj: Obj) -> list[str]:
    """Name, Namespace, Labels, Annotations, API Version, Kind: kubectl's first block."""
    meta = obj.get("metadata") or {}
    rows: list[tuple[str, list[str]]] = [("Name", [str(meta.get("name", ""))])]
    if meta.get("namespace"):
        rows.append(("Namespace", [str(meta["namespace"])]))
    rows += [
        ("Labels", _pairs(meta.get("labels"), "=")),
        ("Annotations", _pairs(meta.get("annotations"), ": ")),
        ("API Version", [str(obj.get("apiVersion", ""))]),
        ("Kind", [str(obj.get("kind", ""))]),
    ]
    width = max(len(name) for name, _ in rows) + 1 + PADDING
    lines = []
    for name, values in rows:
        lines.append(f"{name}:".ljust(width) + values[0])
        lines += [" " * width + v for v in values[1:]]
    return lines


def _table(rows: list[list[str]], indent: int = 2) -> list[str]:
    underline = ["-" * len(h) for h in rows[0]]
    return [" " * indent + line for line in Aligner(PADDING).lines([rows[0], underline, *rows[1:]])]


def conditions(status: Obj, now: datetime) -> list[str]:
    conds = [c for c in status.get("conditions") or [] if isinstance(c, dict)]
    if not conds:
        return []
    rows = [["Type", "Status", "Reason", "Last Transition", "Message"]]
    for c in conds:
        rows.append(
            [
                str(c.get("type", "")),
                str(c.get("status", "")),
                str(c.get("reason") or ""),
                age_of(c.get("lastTransitionTime"), now),
                str(c.get("message") or ""),
            ]
        )
    return ["Conditions:", *_table(rows)]


def _event_time(event: Obj) -> str:
    return str(
        event.get("lastTimestamp")
        or event.get("eventTime")
        or event.get("firstTimestamp")
        or (event.get("metadata") or {}).get("creationTimestamp")
        or ""
    )


def event_lines(events: list[Obj], now: datetime) -> list[str]:
    if not events:
        return ["Events:  <none>"]
    rows = [["Type", "Reason", "Age", "From", "Message"]]
    for e in sorted(events, key=_event_time):
        when = age_of(_event_time(e), now)
        count = int(e.get("count") or 1)
        if count > 1 and e.get("firstTimestamp"):
            when += f" (x{count} over {age_of(e['firstTimestamp'], now)})"
        source = e.get("source") or {}
        origin = str(source.get("component") or e.get("reportingComponent") or "")
        if source.get("host"):
            origin = f"{origin}, {source['host']}" if origin else str(source["host"])
        rows.append(
            [
                str(e.get("type") or ""),
                str(e.get("reason") or ""),
                when,
                origin,
                str(e.get("message") or "").replace("\n", " "),
            ]
        )
    return ["Events:", *_table(rows)]


def describe(obj: Obj, events: list[Obj], now: datetime) -> str:
    """The whole description of ``obj``, ending with a newline."""
    lines = header(obj)
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in _TOP}
    if meta:
        lines += ["Metadata:", *fields(meta, 2)]
    body = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata", "status")}
    if body:
        lines += fields(body, 0)
    status = obj.get("status")
    if isinstance(status, dict):
        rest = {k: v for k, v in status.items() if k != "conditions"}
        if rest:
            lines += ["Status:", *fields(rest, 2)]
        lines += conditions(status, now)
    lines += event_lines(events, now)
    return "\n".join(lines) + "\n"
