"""`matches`: CESQL as a Trigger filter; any evaluation error means the event does not pass."""

from __future__ import annotations

import pytest

from shoal.cesql import CesqlParseError, matches, parse

EVENT = {
    "specversion": "1.0",
    "id": "abc-1",
    "source": "https://example.com/src",
    "type": "com.example.created",
    "sequence": "10",
}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("type LIKE 'com.example.%' AND sequence > 3", True),
        ("type = 'com.example.deleted'", False),
        ("EXISTS subject", False),
        ("NOT EXISTS subject", True),
        # Errors: no match, whatever the value.
        ("subject = 'x' OR TRUE", False),
        ("NOT (subject = 'x')", False),
        ("NOT 10", False),  # true, with a cast error
        ("ABS(-2147483648) > 0", False),
        ("1 / 0 = 0", False),
        ("UNKNOWN(type)", False),
        # A value that is not Boolean is cast to Boolean.
        ("'true'", True),
        ("sequence", False),  # '10' is no Boolean: cast error
        ("LENGTH(type)", True),
        ("0", False),
    ],
)
def test_matches(expression: str, expected: bool) -> None:
    assert matches(expression, EVENT) is expected
    assert matches(parse(expression), EVENT) is expected


def test_an_invalid_expression_raises() -> None:
    with pytest.raises(CesqlParseError):
        matches("type LIKE", EVENT)
