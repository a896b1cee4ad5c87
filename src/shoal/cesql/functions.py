"""The built-in CESQL functions and their look-up by name and number of arguments.

The compiler calls `lookup(name, arity)` once per function call in an expression; a call
that finds nothing evaluates to `false` with a `CesqlMissingFunctionError`. A function body
receives its evaluated arguments and the error list; it applies the implicit casts its
signature asks for, and on bad input appends an error and still returns a value of its
return type, as the specification requires (`LEFT('abc', -2)` is `'abc'` plus an error).

    String   LENGTH(x)  CONCAT(x...)  CONCAT_WS(delimiter, x...)  LOWER(x)  UPPER(x)
             TRIM(x)  LEFT(x, n)  RIGHT(x, n)  SUBSTRING(x, pos)  SUBSTRING(x, pos, len)
    Integer  ABS(x)
    Casts    INT(x)  BOOL(x)  STRING(x)  IS_INT(x)  IS_BOOL(x)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from shoal.cesql.errors import CesqlError, CesqlFunctionError, CesqlMathError
from shoal.cesql.values import (
    INT_MAX,
    INT_MIN,
    Type,
    Value,
    explicit_boolean,
    to_integer,
    to_string,
)

Body = Callable[[Sequence[Value], list[CesqlError]], Value]

# The Unicode White_Space property; str.strip() would also drop the control characters
# U+001C..U+001F, which the specification says TRIM keeps.
_UNICODE_WHITESPACE = (
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)


@dataclass(frozen=True, slots=True)
class Function:
    name: str
    arity: int
    """Number of fixed parameters."""
    variadic: bool
    """Whether any number of further arguments may follow the fixed ones."""
    returns: Type
    body: Body


def _length(args: Sequence[Value], errors: list[CesqlError]) -> Value:
    return len(to_string(args[0]))


def _concat(args: Sequence[Value], errors: list[CesqlError]) -> Value:
    return "".join(map(to_string, args))


def _concat_ws(args: Sequence[Value], errors: list[CesqlError]) -> Value:
    return to_string(args[0]).join(map(to_string, args[1:]))


def _lower(args: Sequence[Value], errors: list[CesqlError]) -> Value:
    return to_string(args[0]).lower()


def _upper(args: Sequence[Value], errors: list[CesqlError]) -> Value:
    return to_string(args[0]).upper()


def _trim(args: Sequence[Value], errors: list[CesqlError]) -> Value:
    return to_string(args[0]).strip(_UNICODE_WHITESPACE)


def _left(args: Sequence[Value], errors: list[CesqlError]) -> Value:
    text, count = to_string(args[0]), to_integer(args[1], errors)
    if count < 0:
        errors.append(CesqlFunctionError(f"LEFT: the length {count} is negative"))
        return text
    return text[:count]


def _right(args: Sequence[Value], errors: list[CesqlError]) -> Value:
    text, count = to_string(args[0]), to_integer(args[1], errors)
    if count < 0:
        errors.append(CesqlFunctionError(f"RIGHT: the length {count} is negative"))
        return text
    return text[len(text) - count :] if count < len(text) else text


def _substring(args: Sequence[Value], errors: list[CesqlError]) -> Value:
    text, position = to_string(args[0]), to_integer(args[1], errors)
    length = to_integer(args[2], errors) if len(args) == 3 else None
    if not -len(text) <= position <= len(text):
        errors.append(
            CesqlFunctionError(
                f"SUBSTRING: the position {position} is outside a string of length {len(text)}"
            )
        )
        return ""
    if length is not None and length < 0:
        errors.append(CesqlFunctionError(f"SUBSTRING: the length {length} is negative"))
        return ""
    if position == 0:
        return ""
    start = position - 1 if position > 0 else len(text) + position
    return text[start:] if length is None else text[start : start + length]


def _abs(args: Sequence[Value], errors: list[CesqlError]) -> Value:
    number = to_integer(args[0], errors)
    if number == INT_MIN:
        errors.append(CesqlMathError(f"ABS({number}) overflows a 32-bit Integer"))
        return INT_MAX
    return abs(number)


def _int(args: Sequence[Value], errors: list[CesqlError]) -> Value:
    return to_integer(args[0], errors)


def _bool(args: Sequence[Value], errors: list[CesqlError]) -> Value:
    return explicit_boolean(args[0], errors)


def _string(args: Sequence[Value], errors: list[CesqlError]) -> Value:
    return to_string(args[0])


def _is_int(args: Sequence[Value], errors: list[CesqlError]) -> Value:
    failures: list[CesqlError] = []
    to_integer(args[0], failures)
    return not failures


def _is_bool(args: Sequence[Value], errors: list[CesqlError]) -> Value:
    failures: list[CesqlError] = []
    explicit_boolean(args[0], failures)
    return not failures


BUILTINS: tuple[Function, ...] = (
    Function("LENGTH", 1, False, Type.INTEGER, _length),
    Function("CONCAT", 0, True, Type.STRING, _concat),
    Function("CONCAT_WS", 1, True, Type.STRING, _concat_ws),
    Function("LOWER", 1, False, Type.STRING, _lower),
    Function("UPPER", 1, False, Type.STRING, _upper),
    Function("TRIM", 1, False, Type.STRING, _trim),
    Function("LEFT", 2, False, Type.STRING, _left),
    Function("RIGHT", 2, False, Type.STRING, _right),
    Function("SUBSTRING", 2, False, Type.STRING, _substring),
    Function("SUBSTRING", 3, False, Type.STRING, _substring),
    Function("ABS", 1, False, Type.INTEGER, _abs),
    Function("INT", 1, False, Type.INTEGER, _int),
    Function("BOOL", 1, False, Type.BOOLEAN, _bool),
    Function("STRING", 1, False, Type.STRING, _string),
    Function("IS_INT", 1, False, Type.BOOLEAN, _is_int),
    Function("IS_BOOL", 1, False, Type.BOOLEAN, _is_bool),
)

_FIXED = {(f.name, f.arity): f for f in BUILTINS if not f.variadic}
_VARIADIC = {f.name: f for f in BUILTINS if f.variadic}


def lookup(name: str, arity: int) -> Function | None:
    """The function `name` (upper case) that takes `arity` arguments, if there is one."""
    found = _FIXED.get((name, arity))
    if found is None:
        variadic = _VARIADIC.get(name)
        if variadic is not None and arity >= variadic.arity:
            found = variadic
    return found
