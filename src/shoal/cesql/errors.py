"""The errors of CESQL, one class per error kind the specification names.

The parser raises `CesqlParseError`; evaluation never raises, it collects instances of the
other classes in `EvalResult.errors` next to the value (CESQL is total: every expression has
a value, even when something went wrong). Each class carries the kind name the conformance
kit uses, in `kind`.

    CesqlError                      any CESQL error
     ├── CesqlParseError            "parse": the text is not a valid expression (raised)
     ├── CesqlMathError             "math": division by zero, 32-bit overflow
     ├── CesqlCastError             "cast": a value cannot be converted to the needed type
     ├── CesqlMissingAttributeError "missingAttribute": the event has no such attribute
     ├── CesqlMissingFunctionError  "missingFunction": no function of that name and arity
     ├── CesqlFunctionError         "functionEvaluation": a function's arguments are out of range
     └── CesqlGenericError          "generic": anything else
"""

from __future__ import annotations

from typing import ClassVar


class CesqlError(Exception):
    """Base of every CESQL error; `kind` is the name the specification's test kit uses."""

    kind: ClassVar[str] = "generic"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class CesqlParseError(CesqlError):
    """The expression text is not valid CESQL; the message says where (line and column)."""

    kind = "parse"

    def __init__(self, message: str, position: int | None = None) -> None:
        super().__init__(message)
        self.position = position
        """Offset of the offending character in the expression text, from 0, when known."""


class CesqlMathError(CesqlError):
    kind = "math"


class CesqlCastError(CesqlError):
    kind = "cast"


class CesqlMissingAttributeError(CesqlError):
    kind = "missingAttribute"


class CesqlMissingFunctionError(CesqlError):
    kind = "missingFunction"


class CesqlFunctionError(CesqlError):
    kind = "functionEvaluation"


class CesqlGenericError(CesqlError):
    kind = "generic"
