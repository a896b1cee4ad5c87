"""Evaluating CESQL: 32-bit integers, how errors shape values, casts, LIKE, and event values."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from shoal.cesql import parse

EVENT: dict[str, Any] = {
    "specversion": "1.0",
    "id": "abc-1",
    "source": "https://example.com/src",
    "type": "com.example.created",
    "count": "10",
    "flag": True,
    "size": 7,
}


def run(text: str, event: dict[str, Any] | None = None) -> tuple[object, list[str]]:
    result = parse(text).evaluate(EVENT if event is None else event)
    return result.value, [error.kind for error in result.errors]


@pytest.mark.parametrize(
    ("text", "value", "errors"),
    [
        ("2147483647 + 1", 2147483647, ["math"]),
        ("-2147483648 - 1", -2147483648, ["math"]),
        ("65536 * 65536", 2147483647, ["math"]),
        ("-65536 * 65536", -2147483648, ["math"]),
        ("-2147483648 / -1", 2147483647, ["math"]),
        ("-(-2147483648)", 2147483647, ["math"]),
        ("ABS(-2147483648)", 2147483647, ["math"]),
        ("2147483647 + 0", 2147483647, []),
        ("-2147483647 - 1", -2147483648, []),
        ("INT('2147483648')", 0, ["cast"]),
        ("INT('-2147483648')", -2147483648, []),
        ("INT('00000000000000000042')", 42, []),
    ],
)
def test_integers_are_32_bit(text: str, value: int, errors: list[str]) -> None:
    assert run(text) == (value, errors)


@pytest.mark.parametrize(
    ("text", "value"),
    [("-7 / 2", -3), ("7 / -2", -3), ("-7 % 3", -1), ("7 % -3", 1), ("size * count", 70)],
)
def test_division_truncates_towards_zero(text: str, value: int) -> None:
    assert run(text) == (value, [])


@pytest.mark.parametrize(
    ("text", "value", "errors"),
    [
        # An operand that failed makes its operator return the zero value...
        ("1 / missing", 0, ["missingAttribute"]),
        ("NOT (missing = 1)", False, ["missingAttribute"]),
        ("LENGTH(missing)", 0, ["missingAttribute"]),
        ("UPPER(missing)", "", ["missingAttribute"]),
        ("LEFT('abc', -1) = 'abc'", False, ["functionEvaluation"]),
        # ...and its later operands are not evaluated.
        ("missing = other", False, ["missingAttribute"]),
        ("missing AND 1 / 0 = 0", False, ["missingAttribute"]),
        # An operator's own error keeps the value the specification gives.
        ("NOT 10", True, ["cast"]),
        ("'abc' OR TRUE", True, ["cast"]),
        ("1 = TRUE", False, ["cast"]),
        ("BOOL(10)", True, []),
        # AND and OR stop once the left operand decides.
        ("false AND missing", False, []),
        ("true OR missing", True, []),
        ("false OR missing", False, ["missingAttribute"]),
    ],
)
def test_error_semantics(text: str, value: object, errors: list[str]) -> None:
    assert run(text) == (value, errors)


@pytest.mark.parametrize(
    ("text", "value", "errors"),
    [
        ("count > 9", True, []),
        ("count = 10", True, []),
        ("10 = '010'", False, []),  # `=` casts the left operand to the right one's type
        ("'010' = 10", True, []),
        ("flag = 'true'", True, []),
        ("size IN ('7', 8)", True, []),
        ("'7' IN (size)", True, []),
        ("type IN ('a', 'com.example.created')", True, []),
        ("type NOT IN ('a', 'b')", True, []),
        ("count IN (missing, 10)", False, ["missingAttribute"]),
        ("count IN (10, missing)", True, []),
        ("TRUE IN ('yes', TRUE)", True, ["cast"]),
        ("IS_INT(count) AND IS_BOOL(flag) AND NOT IS_INT('x')", True, []),
        ("CONCAT_WS('/', source, size, flag)", "https://example.com/src/7/true", []),
        ("SUBSTRING('abc', 3)", "c", []),
        ("SUBSTRING('abc', -3, 2)", "ab", []),
        ("SUBSTRING('abc', 1, -1)", "", ["functionEvaluation"]),
        ("RIGHT('abc', 0)", "", []),
        ("TRIM('\u3000 a \u00a0')", "a", []),
        ("LENGTH(TRIM('\x1fa\x1f'))", 3, []),  # control characters are not whitespace
    ],
)
def test_casts_and_functions(text: str, value: object, errors: list[str]) -> None:
    assert run(text) == (value, errors)


@pytest.mark.parametrize(
    ("value", "pattern", "expected"),
    [
        ("com.example.created", "com.example.%", True),
        ("com.example.created", "%.created", True),
        ("com.example.created", "%example%", True),
        ("com.example.created", "com._xample.%d", True),
        ("abc", "a_c_", False),
        ("a%c", "a\\%c", True),
        ("abc", "a\\%c", False),
        ("a\\c", "a\\c", True),  # a backslash before another character is literal
        ("", "%", True),
        ("", "_", False),
        ("line\nbreak", "line_break", True),
        ("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", "%a%a%a%a%a%c", False),
        ("xaybzc", "%a%b%c", True),
        ("abab", "%ab", True),
        ("ab", "a%%b", True),
        ("ab", "a%_%b", False),
        ("日本語", "日_語", True),
    ],
)
def test_like(value: str, pattern: str, expected: bool) -> None:
    escaped = pattern.replace("'", "\\'")
    assert run(f"x LIKE '{escaped}'", {"x": value}) == (expected, [])
    assert run(f"x NOT LIKE '{escaped}'", {"x": value}) == (not expected, [])


def test_event_values_that_are_no_cesql_type_are_strings() -> None:
    event = {
        "big": 2**40,
        "data": b"\x00\xff",
        "time": datetime.datetime(2024, 5, 1, 12, 0, tzinfo=datetime.UTC),
        "none": None,
    }
    assert run("big", event) == ("1099511627776", [])
    assert run("data", event) == ("AP8=", [])
    assert run("time", event) == ("2024-05-01T12:00:00Z", [])
    assert run("none", event) == (False, ["missingAttribute"])
    assert run("EXISTS none OR EXISTS big", event) == (True, [])


def test_evaluation_does_not_touch_the_event() -> None:
    event = dict(EVENT)
    parse("count + 1 > 3 AND type LIKE 'com.%' AND missing = 1").evaluate(event)
    assert event == EVENT


def test_an_expression_is_reusable() -> None:
    expression = parse("size > 5")
    assert [expression.evaluate({"size": n}).value for n in (1, 6, 5, 9)] == [
        False,
        True,
        False,
        True,
    ]
