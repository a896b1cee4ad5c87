"""The CESQL type system: the three value types, 32-bit integer bounds, and type casts.

Values are plain Python objects: `bool` for Boolean, `int` for Integer (always within
32 bits) and `str` for String. The compiler and the built-in functions call the casts here:
the `to_*` functions are the implicit casts operators and functions apply to their operands,
the `explicit_*` functions are the casts `INT()`, `BOOL()` and `STRING()` perform. A failed
cast appends a `CesqlCastError` to the error list it is given and returns the zero value of
the target type, as the specification says.

One deviation from the cast table, taken from the specification's own conformance kit: an
*implicit* cast from Integer to Boolean (for instance the operand of `NOT 10`) is refused
with a cast error and gives `false`; the explicit `BOOL(10)` gives `true`.

`from_event` turns an attribute value of an event (as the CloudEvent JSON form gives it)
into a CESQL value; values that are no CESQL type are represented as strings.
"""

from __future__ import annotations

import base64
import datetime
import enum
import re
from typing import Any

from shoal.cesql.errors import CesqlCastError, CesqlError

Value = bool | int | str
"""A CESQL value: Boolean, Integer (32-bit) or String."""

INT_MIN = -(2**31)
INT_MAX = 2**31 - 1

_INTEGER_TEXT = re.compile(r"[+-]?[0-9]+")


class Type(enum.Enum):
    BOOLEAN = "Boolean"
    INTEGER = "Integer"
    STRING = "String"


ZERO: dict[Type, Value] = {Type.BOOLEAN: False, Type.INTEGER: 0, Type.STRING: ""}
"""The zero value of each type: what an operation returns when it cannot compute."""


def type_of(value: Value) -> Type:
    if isinstance(value, bool):
        return Type.BOOLEAN
    if isinstance(value, int):
        return Type.INTEGER
    return Type.STRING


def in_range(number: int) -> bool:
    return INT_MIN <= number <= INT_MAX


def parse_integer(text: str) -> int | None:
    """The 32-bit integer a string spells in base 10 (optional sign), or None."""
    if _INTEGER_TEXT.fullmatch(text) is None:
        return None
    # Bound the digits before int() so a huge string cannot cost time (or hit
    # the interpreter's digit limit).
    if len(text.lstrip("+-").lstrip("0")) > 10:
        return None
    number = int(text)
    return number if in_range(number) else None


def parse_boolean(text: str) -> bool | None:
    lowered = text.lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    return None


def to_string(value: Value) -> str:
    """Cast to String; this cast cannot fail."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def to_integer(value: Value, errors: list[CesqlError]) -> int:
    """Cast to Integer (implicit and explicit alike)."""
    if isinstance(value, bool):
        return 1 if value else 0
    if isinstance(value, int):
        return value
    number = parse_integer(value)
    if number is None:
        errors.append(CesqlCastError(f"cannot cast String {value!r} to Integer"))
        return 0
    return number


def to_boolean(value: Value, errors: list[CesqlError]) -> bool:
    """Implicit cast to Boolean: an Integer is refused (see the module docstring)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        errors.append(CesqlCastError(f"Integer {value} is not implicitly cast to Boolean"))
        return False
    flag = parse_boolean(value)
    if flag is None:
        errors.append(CesqlCastError(f"cannot cast String {value!r} to Boolean"))
        return False
    return flag


def explicit_boolean(value: Value, errors: list[CesqlError]) -> bool:
    """Explicit cast to Boolean (`BOOL()`): an Integer is true unless it is 0."""
    if isinstance(value, int):  # bool included
        return value != 0
    return to_boolean(value, errors)


def to_type(value: Value, target: Type, errors: list[CesqlError]) -> Value:
    """Implicit cast to `target`."""
    if target is Type.BOOLEAN:
        return to_boolean(value, errors)
    if target is Type.INTEGER:
        return to_integer(value, errors)
    return to_string(value)


def from_event(raw: Any) -> Value:
    """The CESQL value of an attribute value as found in the event mapping (not None)."""
    kind = type(raw)
    if kind is str or kind is bool:
        return raw  # type: ignore[no-any-return]
    if isinstance(raw, str):  # a subclass, such as a str-based enum
        return str.__str__(raw)
    if isinstance(raw, int):
        number = int(raw)
        return number if in_range(number) else str(number)
    if isinstance(raw, bytes | bytearray):
        return base64.b64encode(raw).decode("ascii")
    if isinstance(raw, datetime.datetime):
        return raw.isoformat().replace("+00:00", "Z")
    return str(raw)
