"""Kubernetes label selectors (``matchLabels``, ``matchExpressions``) in their string form.

ApiServerSource passes each resource's selector to the API's list and watch; SinkBinding
matches its subjects with the same string. Pure.
"""

from __future__ import annotations

from shoal.api.sources.base import LabelSelector


def selector_string(selector: LabelSelector | None) -> str:
    """``a=b,c in (x,y),!d``: what ``labelSelector=`` takes; empty for no selector."""
    if selector is None:
        return ""
    parts = [f"{key}={value}" for key, value in sorted((selector.match_labels or {}).items())]
    for req in selector.match_expressions or []:
        values = ",".join(req.values or [])
        if req.operator == "In":
            parts.append(f"{req.key} in ({values})")
        elif req.operator == "NotIn":
            parts.append(f"{req.key} notin ({values})")
        elif req.operator == "Exists":
            parts.append(f"{req.key}")
        elif req.operator == "DoesNotExist":
            parts.append(f"!{req.key}")
    return ",".join(parts)
