"""CloudEvents SQL Expression Language (CESQL) v1: parse an expression once, evaluate it
against many events. Used by Trigger filters (`matches`) and by validation (`parse`).

    expression = parse("type LIKE 'com.example.%' AND EXISTS subject")
    result = expression.evaluate({"type": "com.example.created", "subject": "a"})
    result.value, result.errors        # True, []
    matches("sequence > 3", {"sequence": "10"})  # True: '10' is cast to Integer

Modules, in the order data flows: `lexer` (text to tokens), `parser` (tokens to the tree of
`nodes`), `compiler` (tree to closures, using `values` for types and casts, `like` for LIKE
patterns and `functions` for the built-ins), `expression` (`parse`, `Expression`,
`EvalResult`), `filtering` (`matches`); `errors` holds the error classes.
"""

from shoal.cesql.errors import (
    CesqlCastError,
    CesqlError,
    CesqlFunctionError,
    CesqlGenericError,
    CesqlMathError,
    CesqlMissingAttributeError,
    CesqlMissingFunctionError,
    CesqlParseError,
)
from shoal.cesql.expression import EvalResult, Expression, parse
from shoal.cesql.filtering import matches

__all__ = [
    "CesqlCastError",
    "CesqlError",
    "CesqlFunctionError",
    "CesqlGenericError",
    "CesqlMathError",
    "CesqlMissingAttributeError",
    "CesqlMissingFunctionError",
    "CesqlParseError",
    "EvalResult",
    "Expression",
    "matches",
    "parse",
]
