"""`matches`: CESQL as an event filter, the way a Knative Trigger's `cesql` filter uses it.

An event passes only when the expression evaluates without any error and its value, cast
to Boolean as `BOOL()` does, is true. Called by the eventing side for each event a filter
sees; given an expression text, it keeps the parsed form in a small cache so repeated calls
do not parse again.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from shoal.cesql.errors import CesqlError
from shoal.cesql.expression import Expression, parse
from shoal.cesql.values import explicit_boolean

_parse_cached = lru_cache(maxsize=256)(parse)


def matches(expression: str | Expression, event: Mapping[str, Any]) -> bool:
    """Whether `event` passes the filter `expression`.

    An evaluation error (a missing attribute, a failed cast, ...) means no match. An
    expression text that does not parse raises `CesqlParseError`: that is a fault in the
    filter, which validation should have refused, not a property of the event.
    """
    if isinstance(expression, str):
        expression = _parse_cached(expression)
    result = expression.evaluate(event)
    if result.errors:
        return False
    failures: list[CesqlError] = []
    return explicit_boolean(result.value, failures) and not failures
