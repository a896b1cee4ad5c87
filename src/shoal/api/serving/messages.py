"""Knative's validation messages, written into Shoal's ``FieldErrors``.

Knative's webhook words its errors with a handful of constructors (``ErrMissingField``,
``ErrDisallowedFields``, ``ErrOutOfBoundsValue``, ...). The serving kinds' validation uses
these helpers so that a user sees the messages Knative would print, each at its field path.
A name may be a dotted child path (``"httpGet.port"``) or None for the current path.
"""

from __future__ import annotations

from typing import Any

from shoal.api.errors import FORBIDDEN, INVALID, REQUIRED, FieldErrors


def show(value: Any) -> str:
    """A value as Go's ``%v`` prints it (booleans lower case)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def missing(errs: FieldErrors, name: str | None = None) -> None:
    errs.add("missing field(s)", name, REQUIRED)


def disallowed(errs: FieldErrors, name: str | None = None, detail: str = "") -> None:
    errs.add("must not set the field(s)" + (f": {detail}" if detail else ""), name, FORBIDDEN)


def invalid_value(errs: FieldErrors, name: str | None, value: Any, detail: str = "") -> None:
    errs.add(f"invalid value: {show(value)}" + (f": {detail}" if detail else ""), name, INVALID)


def out_of_bounds(errs: FieldErrors, name: str | None, value: Any, low: Any, high: Any) -> None:
    errs.add(f"expected {show(low)} <= {show(value)} <= {show(high)}", name, INVALID)


def missing_one_of(errs: FieldErrors, *names: str) -> None:
    errs.add("expected exactly one, got neither: " + ", ".join(names), None, REQUIRED)


def multiple_one_of(errs: FieldErrors, *names: str) -> None:
    errs.add("expected exactly one, got both: " + ", ".join(names), None, INVALID)


def invalid_key(errs: FieldErrors, key: str, detail: str = "") -> None:
    errs.add(f'invalid key name "{key}"' + (f": {detail}" if detail else ""), None, INVALID)


def generic(errs: FieldErrors, name: str | None, message: str) -> None:
    errs.add(message, name, INVALID)
