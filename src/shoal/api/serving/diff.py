"""A short, readable difference between two JSON documents, for validation messages.

Knative explains "Immutable fields changed (-old +new)" and "Saw the following changes
without a name change (-old +new)" with a diff; Revision and RevisionTemplate validation
use ``short_diff`` to say which fields changed.
"""

from __future__ import annotations

import json
from typing import Any

_MAX_LINES = 10


def short_diff(old: Any, new: Any) -> str:
    """``path: -old +new`` for each changed leaf, at most a few, "" when equal."""
    lines: list[str] = []
    _walk("", old, new, lines)
    if len(lines) > _MAX_LINES:
        lines = [*lines[:_MAX_LINES], f"... and {len(lines) - _MAX_LINES} more"]
    return "; ".join(lines)


def _walk(path: str, old: Any, new: Any, out: list[str]) -> None:
    if old == new:
        return
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new)):
            child = f"{path}.{key}" if path else key
            _walk(child, old.get(key), new.get(key), out)
        return
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            _walk(f"{path}[{i}]", a, b, out)
        return
    out.append(f"{path or '.'}: -{_show(old)} +{_show(new)}")


def _show(value: Any) -> str:
    return "<unset>" if value is None else json.dumps(value, sort_keys=True)
