"""A parsed CESQL expression, ready to evaluate against many events, and `parse` to make one.

Callers (Trigger filters, the API server's validation) parse an expression once and keep
the `Expression`; `evaluate` then runs the compiled closures of `shoal.cesql.compiler`
against one event's attributes and returns the value together with the errors met.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shoal.cesql.compiler import Evaluator, compile_tree
from shoal.cesql.errors import CesqlError
from shoal.cesql.nodes import Node
from shoal.cesql.parser import parse_tree
from shoal.cesql.values import Value


@dataclass(frozen=True, slots=True)
class EvalResult:
    """The outcome of one evaluation: always a value, and the errors met on the way."""

    value: Value
    errors: list[CesqlError] = field(default_factory=list)


class Expression:
    """A parsed and compiled CESQL expression; immutable and safe to share between tasks."""

    __slots__ = ("_evaluator", "source", "tree")

    def __init__(self, source: str, tree: Node) -> None:
        self.source = source
        """The expression text as given."""
        self.tree = tree
        """The syntax tree; `str(tree)` shows the expression fully parenthesised."""
        self._evaluator: Evaluator = compile_tree(tree)

    def evaluate(self, event: Mapping[str, Any]) -> EvalResult:
        """Evaluate against an event's attributes (context attributes and extensions by name,
        valued as in the CloudEvent JSON form). The mapping is only read."""
        errors: list[CesqlError] = []
        value = self._evaluator(event, errors)
        return EvalResult(value, errors)

    def __repr__(self) -> str:
        return f"Expression({self.source!r})"

    def __str__(self) -> str:
        return self.source


def parse(expression: str) -> Expression:
    """Parse and compile `expression`; raises `CesqlParseError` when it is not valid CESQL."""
    return Expression(expression, parse_tree(expression))
