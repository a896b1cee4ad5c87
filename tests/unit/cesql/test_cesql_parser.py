"""Parsing CESQL: grouping and precedence, literals, and parse errors that say where."""

from __future__ import annotations

import pytest

from shoal.cesql import CesqlParseError, parse


@pytest.mark.parametrize(
    ("text", "grouped"),
    [
        ("a OR b AND c", "((a OR b) AND c)"),  # one level, left to right
        ("a AND b XOR c OR d", "(((a AND b) XOR c) OR d)"),
        ("1 + 2 * 3 = 7 AND TRUE", "(((1 + (2 * 3)) = 7) AND TRUE)"),
        ("4 - 2 - 1", "((4 - 2) - 1)"),
        ("NOT a = b", "((NOT a) = b)"),  # unary operators bind tightest
        ("-a * 2", "((-a) * 2)"),
        ("a + b IN (1, 2)", "(a + (b IN (1, 2)))"),  # IN and LIKE bind before + and =
        ("x NOT LIKE 'a%' AND y NOT IN (1)", "((x NOT LIKE 'a%') AND (y NOT IN (1)))"),
        ("NOT EXISTS subject", "(NOT (EXISTS subject))"),
        ("int(hop) < Int(TTL)", "(INT(hop) < INT(ttl))"),  # names are case-insensitive
        ("1 - -2", "(1 - -2)"),
        ("concat()", "CONCAT()"),
    ],
)
def test_grouping(text: str, grouped: str) -> None:
    assert str(parse(text).tree) == grouped


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("'it''s'", "it's"),
        ("'it\\'s'", "it's"),
        ('"say \\"hi\\""', 'say "hi"'),
        ("'a\\%b\\c'", "a\\%b\\c"),  # other backslashes are kept for LIKE
        ("-2147483648", -(2**31)),
        ("+7", 7),
        ("007", 7),
        ("tRuE", True),
        ("'multi\nline'", "multi\nline"),
    ],
)
def test_literals(text: str, value: object) -> None:
    result = parse(text).evaluate({})
    assert (result.value, result.errors) == (value, [])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ABC(", "expected an expression, found end of expression at column 5"),
        (
            "x LIKE 123",
            "the LIKE pattern must be a string literal, found integer '123' at column 8",
        ),
        ("", "empty expression at column 1"),
        ("1 2", "unexpected integer '2' at column 3"),
        ("x @ 1", "unexpected character '@' at column 3"),
        ("type = 'abc", "unterminated string literal at column 8"),
        ("2147483648", "integer literal 2147483648 is out of the 32-bit range at column 1"),
        ("1 + -2147483649", "integer literal -2147483649 is out of the 32-bit range at column 5"),
        (
            "my_ext = 1",
            "invalid attribute name 'my_ext': only letters and digits allowed at column 1",
        ),
        ("EXISTS 'a'", "expected an attribute name, found string 'a' at column 8"),
        ("x IN ()", "expected an expression, found ')' at column 7"),
        ("x NOT y", "unexpected word 'NOT' at column 3"),
        (
            "a = 1 AND\n(b = 2",
            "expected ')' to close the parenthesis, found end of expression at line 2, column 7",
        ),
    ],
)
def test_parse_errors_say_where(text: str, message: str) -> None:
    with pytest.raises(CesqlParseError) as caught:
        parse(text)
    assert str(caught.value) == message
    assert caught.value.kind == "parse"
    assert caught.value.position is not None


def test_nesting_is_bounded() -> None:
    assert parse("(" * 40 + "1" + ")" * 40).evaluate({}).value == 1
    with pytest.raises(CesqlParseError, match="nested more than 50 levels"):
        parse("(" * 60 + "1" + ")" * 60)
    with pytest.raises(CesqlParseError, match="more than 200 levels deep"):
        parse(" OR ".join(["a"] * 300))


def test_unknown_function_is_an_evaluation_error_not_a_parse_error() -> None:
    result = parse("NOPE(1)").evaluate({})
    assert result.value is False
    assert [e.kind for e in result.errors] == ["missingFunction"]
