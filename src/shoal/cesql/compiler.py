"""Turns a CESQL syntax tree into nested Python closures, so that evaluating an expression
per event costs a few function calls and no tree walking or dispatch.

Called by `shoal.cesql.expression.parse`, once per expression. Each compiled node is an
`Evaluator`: it takes the event's attributes and the error list of the current evaluation,
appends the errors it meets and returns a value.

Error semantics (the specification's section 3.3, as its conformance kit reads it):

- An operator or function whose operand failed (appended an error) does not compute: it
  returns the zero value of its return type (`false`, `0` or `''`) and leaves its later
  operands unevaluated. So `1 / missing` is `0` with a missing-attribute error and no math
  error, and `true AND (1 != 1 / 0)` is `false` with a math error.
- An error an operator meets itself, casting an operand or computing, keeps the value the
  specification defines: `NOT 10` is `true` with a cast error (10 is not implicitly a
  Boolean, the failed cast gives `false`), `2147483647 + 1` is `2147483647` with a math
  error (Integer results are clamped to 32 bits).
- A missing attribute on its own evaluates to `false` (its type is unknown).
- AND and OR evaluate their right operand only when the left does not decide the result.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any

from shoal.cesql.errors import (
    CesqlError,
    CesqlMathError,
    CesqlMissingAttributeError,
    CesqlMissingFunctionError,
)
from shoal.cesql.functions import lookup
from shoal.cesql.like import LikePattern
from shoal.cesql.nodes import Attribute, Binary, Call, Exists, In, Like, Literal, Node, Unary
from shoal.cesql.values import (
    INT_MAX,
    INT_MIN,
    ZERO,
    Type,
    Value,
    from_event,
    to_boolean,
    to_integer,
    to_string,
    to_type,
    type_of,
)

Event = Mapping[str, Any]
Evaluator = Callable[[Event, list[CesqlError]], Value]
_Arithmetic = Callable[[int, int, list[CesqlError]], int]


def compile_tree(node: Node) -> Evaluator:
    """The evaluator of a syntax tree."""
    match node:
        case Literal(value=value):
            return _literal(value)
        case Attribute(name=name):
            return _attribute(name)
        case Exists(name=name):
            return _exists(name)
        case Unary(operator="NOT", operand=operand):
            return _not(compile_tree(operand))
        case Unary(operand=operand):
            return _negate(compile_tree(operand))
        case Binary(operator=op, left=left, right=right) if op in _ARITHMETIC:
            return _arithmetic(_ARITHMETIC[op], compile_tree(left), compile_tree(right))
        case Binary(operator=op, left=left, right=right) if op in _ORDERING:
            return _ordering(_ORDERING[op], compile_tree(left), compile_tree(right))
        case Binary(operator="=" | "!=" | "<>" as op, left=left, right=right):
            return _equality(op == "=", compile_tree(left), compile_tree(right))
        case Binary(operator="AND" | "OR" as op, left=left, right=right):
            return _short_circuit(op == "OR", compile_tree(left), compile_tree(right))
        case Binary(operator="XOR", left=left, right=right):
            return _xor(compile_tree(left), compile_tree(right))
        case Like(operand=operand, pattern=pattern, negated=negated):
            return _like(compile_tree(operand), LikePattern(pattern), negated)
        case In(operand=operand, items=items, negated=negated):
            return _in(compile_tree(operand), items, negated)
        case Call(name=name, arguments=arguments):
            return _call(name, [compile_tree(argument) for argument in arguments])
    raise AssertionError(f"unknown node {node!r}")  # the parser builds no other nodes


# -- leaves ----------------------------------------------------------------------------


def _literal(value: Value) -> Evaluator:
    def literal(event: Event, errors: list[CesqlError]) -> Value:
        return value

    return literal


def _attribute(name: str) -> Evaluator:
    def attribute(event: Event, errors: list[CesqlError]) -> Value:
        raw = event.get(name)
        if raw is None:
            errors.append(CesqlMissingAttributeError(f"the event has no attribute {name!r}"))
            return False
        kind = type(raw)
        return raw if kind is str or kind is bool else from_event(raw)

    return attribute


def _exists(name: str) -> Evaluator:
    def exists(event: Event, errors: list[CesqlError]) -> Value:
        return event.get(name) is not None

    return exists


# -- unary operators -------------------------------------------------------------------


def _not(operand: Evaluator) -> Evaluator:
    def not_(event: Event, errors: list[CesqlError]) -> Value:
        before = len(errors)
        value = operand(event, errors)
        if len(errors) != before:
            return False
        return not (value if type(value) is bool else to_boolean(value, errors))

    return not_


def _negate(operand: Evaluator) -> Evaluator:
    def negate(event: Event, errors: list[CesqlError]) -> Value:
        before = len(errors)
        value = operand(event, errors)
        if len(errors) != before:
            return 0
        return _clamp(-to_integer(value, errors), errors)

    return negate


# -- arithmetic and ordering -----------------------------------------------------------


def _clamp(number: int, errors: list[CesqlError]) -> int:
    if INT_MIN <= number <= INT_MAX:
        return number
    errors.append(CesqlMathError(f"{number} overflows a 32-bit Integer"))
    return INT_MAX if number > INT_MAX else INT_MIN


def _divide(left: int, right: int, errors: list[CesqlError]) -> int:
    if right == 0:
        errors.append(CesqlMathError(f"division by zero: {left} / 0"))
        return 0
    quotient = abs(left) // abs(right)  # rounds towards zero, unlike Python's //
    return _clamp(quotient if (left < 0) == (right < 0) else -quotient, errors)


def _remainder(left: int, right: int, errors: list[CesqlError]) -> int:
    if right == 0:
        errors.append(CesqlMathError(f"division by zero: {left} % 0"))
        return 0
    remainder = abs(left) % abs(right)  # takes the sign of the left operand
    return -remainder if left < 0 else remainder


_ARITHMETIC: dict[str, _Arithmetic] = {
    "+": lambda left, right, errors: _clamp(left + right, errors),
    "-": lambda left, right, errors: _clamp(left - right, errors),
    "*": lambda left, right, errors: _clamp(left * right, errors),
    "/": _divide,
    "%": _remainder,
}
_ORDERING: dict[str, Callable[[int, int], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _arithmetic(compute: _Arithmetic, left: Evaluator, right: Evaluator) -> Evaluator:
    def arithmetic(event: Event, errors: list[CesqlError]) -> Value:
        before = len(errors)
        x = left(event, errors)
        if len(errors) != before:
            return 0
        y = right(event, errors)
        if len(errors) != before:
            return 0
        return compute(to_integer(x, errors), to_integer(y, errors), errors)

    return arithmetic


def _ordering(compare: Callable[[int, int], bool], left: Evaluator, right: Evaluator) -> Evaluator:
    def ordering(event: Event, errors: list[CesqlError]) -> Value:
        before = len(errors)
        x = left(event, errors)
        if len(errors) != before:
            return False
        y = right(event, errors)
        if len(errors) != before:
            return False
        return compare(to_integer(x, errors), to_integer(y, errors))

    return ordering


# -- equality and logic ----------------------------------------------------------------


def _equality(equal: bool, left: Evaluator, right: Evaluator) -> Evaluator:
    # `=` is defined for each type: the right operand's type decides, the left is cast.
    def equality(event: Event, errors: list[CesqlError]) -> Value:
        before = len(errors)
        x = left(event, errors)
        if len(errors) != before:
            return False
        y = right(event, errors)
        if len(errors) != before:
            return False
        if type(x) is not type(y):
            x = to_type(x, type_of(y), errors)
        return (x == y) is equal

    return equality


def _short_circuit(is_or: bool, left: Evaluator, right: Evaluator) -> Evaluator:
    # AND stops at a false left operand, OR at a true one; either way that is the result.
    def short_circuit(event: Event, errors: list[CesqlError]) -> Value:
        before = len(errors)
        x = left(event, errors)
        if len(errors) != before:
            return False
        if type(x) is not bool:
            x = to_boolean(x, errors)
        if x is is_or:
            return x
        before = len(errors)
        y = right(event, errors)
        if len(errors) != before:
            return False
        return y if type(y) is bool else to_boolean(y, errors)

    return short_circuit


def _xor(left: Evaluator, right: Evaluator) -> Evaluator:
    def xor(event: Event, errors: list[CesqlError]) -> Value:
        before = len(errors)
        x = left(event, errors)
        if len(errors) != before:
            return False
        y = right(event, errors)
        if len(errors) != before:
            return False
        return to_boolean(x, errors) is not to_boolean(y, errors)

    return xor


# -- LIKE, IN and calls ----------------------------------------------------------------


def _like(operand: Evaluator, pattern: LikePattern, negated: bool) -> Evaluator:
    matches = pattern.matches

    def like(event: Event, errors: list[CesqlError]) -> Value:
        before = len(errors)
        value = operand(event, errors)
        if len(errors) != before:
            return False
        return matches(value if type(value) is str else to_string(value)) is not negated

    return like


def _in(operand: Evaluator, nodes: tuple[Node, ...], negated: bool) -> Evaluator:
    # Each item is cast to the type of the left operand, then compared as by `=`; a set of
    # literals is cast once, here.
    constants = _constant_sets(nodes)
    items = [compile_tree(node) for node in nodes]

    def in_(event: Event, errors: list[CesqlError]) -> Value:
        before = len(errors)
        value = operand(event, errors)
        if len(errors) != before:
            return False
        target = type_of(value)
        if constants is not None and target in constants:
            return (value in constants[target]) is not negated
        for item in items:
            candidate = item(event, errors)
            if len(errors) != before:
                return False
            if type(candidate) is not type(value):
                candidate = to_type(candidate, target, errors)
                before = len(errors)
            if candidate == value:
                return not negated
        return negated

    return in_


def _constant_sets(items: tuple[Node, ...]) -> dict[Type, frozenset[Value]] | None:
    """For a set of literals, the set cast to each type the casts succeed for."""
    if not all(isinstance(item, Literal) for item in items):
        return None
    values = [item.value for item in items if isinstance(item, Literal)]
    sets: dict[Type, frozenset[Value]] = {}
    for target in Type:
        failures: list[CesqlError] = []
        cast = frozenset(to_type(value, target, failures) for value in values)
        if not failures:
            sets[target] = cast
    return sets


def _call(name: str, arguments: list[Evaluator]) -> Evaluator:
    function = lookup(name, len(arguments))
    if function is None:
        count = len(arguments)
        message = f"no function {name} taking {count} argument{'' if count == 1 else 's'}"

        def missing(event: Event, errors: list[CesqlError]) -> Value:
            errors.append(CesqlMissingFunctionError(message))
            return False

        return missing

    body, zero = function.body, ZERO[function.returns]

    def call(event: Event, errors: list[CesqlError]) -> Value:
        before = len(errors)
        values: list[Value] = []
        for argument in arguments:
            values.append(argument(event, errors))
            if len(errors) != before:
                return zero
        return body(values, errors)

    return call
