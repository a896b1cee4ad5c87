"""The engine's bookkeeping on status, before and after a reconcile; pure functions on dicts.

``Controller`` calls ``mark_new_generation`` on the copy it hands a reconciler and
``settle_status`` on what the reconciler left, then writes the status only if
``status_changed``. These are Knative's ``PreProcessReconcile`` / ``PostProcessReconcile``
and its ``lastTransitionTime`` rule, kept apart from the engine so they can be tested alone.
"""

from __future__ import annotations

import copy
from typing import Any

from shoal.controllers.cache import Obj

NEW_GENERATION_REASON = "NewObservedGenFailure"
NEW_GENERATION_MESSAGE = "unsuccessfully observed a new generation"

# The fields whose change is a transition; lastTransitionTime moves only when one changes.
_TRANSITION_FIELDS = ("status", "reason", "message", "severity")


def clone(obj: Obj) -> Obj:
    """A deep copy of a JSON-shaped dict."""
    return copy.deepcopy(obj)


def generation(obj: Obj) -> int | None:
    value = (obj.get("metadata") or {}).get("generation")
    return value if isinstance(value, int) else None


def mark_new_generation(obj: Obj, happy: str = "Ready") -> None:
    """On a generation not yet observed, reset the happy condition to Unknown, in place.

    The reconciler is expected to overwrite it; if it does not, the object's status shows
    that the new generation was never processed.
    """
    gen = generation(obj)
    status: dict[str, Any] = obj.get("status") or {}
    if gen is None or status.get("observedGeneration") == gen:
        return
    conditions = [c for c in status.get("conditions") or [] if c.get("type") != happy]
    conditions.append(
        {
            "type": happy,
            "status": "Unknown",
            "reason": NEW_GENERATION_REASON,
            "message": NEW_GENERATION_MESSAGE,
        }
    )
    conditions.sort(key=lambda c: str(c.get("type", "")))
    status["conditions"] = conditions
    obj["status"] = status


def _same_transition(old: dict[str, Any], new: dict[str, Any]) -> bool:
    return all((old.get(f) or "") == (new.get(f) or "") for f in _TRANSITION_FIELDS)


def settle_status(
    read: Obj,
    new_status: dict[str, Any] | None,
    now: str,
) -> dict[str, Any] | None:
    """The status to store: ``new_status`` with observedGeneration and transition times.

    ``read`` is the object as the engine read it. ``observedGeneration`` becomes the
    object's ``metadata.generation`` (when it has one). A condition keeps the
    ``lastTransitionTime`` it had in ``read`` unless its status, reason, message or
    severity changed; then (or when it had none) it gets ``now``.
    """
    gen = generation(read)
    if new_status is None and gen is None:
        return None
    status = clone(new_status or {})
    if gen is not None:
        status["observedGeneration"] = gen
    if "conditions" in status and status["conditions"] is not None:
        before = {c.get("type"): c for c in (read.get("status") or {}).get("conditions") or []}
        for cond in status["conditions"]:
            prev = before.get(cond.get("type"))
            if prev is not None and prev.get("lastTransitionTime") and _same_transition(prev, cond):
                cond["lastTransitionTime"] = prev["lastTransitionTime"]
            else:
                cond["lastTransitionTime"] = now
    return status


def status_changed(read: Obj, status: dict[str, Any] | None) -> bool:
    return (status or {}) != (read.get("status") or {})
