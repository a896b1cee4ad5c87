"""The syntax tree of a CESQL expression: what the parser builds and the compiler reads.

Nodes are immutable. Names are normalised by the parser: attribute names in lower case
(CloudEvents attribute names are lower case), function names and operators in upper case.
`str(node)` renders the node back as fully parenthesised CESQL, which shows how an
expression was grouped.
"""

from __future__ import annotations

from dataclasses import dataclass

from shoal.cesql.values import Value, to_string


@dataclass(frozen=True, slots=True)
class Literal:
    value: Value

    def __str__(self) -> str:
        if isinstance(self.value, str):
            return "'" + self.value.replace("'", "''") + "'"
        return to_string(self.value).upper() if isinstance(self.value, bool) else str(self.value)


@dataclass(frozen=True, slots=True)
class Attribute:
    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class Exists:
    name: str

    def __str__(self) -> str:
        return f"(EXISTS {self.name})"


@dataclass(frozen=True, slots=True)
class Unary:
    operator: str
    """`NOT` or `-`."""
    operand: Node

    def __str__(self) -> str:
        space = " " if self.operator == "NOT" else ""
        return f"({self.operator}{space}{self.operand})"


@dataclass(frozen=True, slots=True)
class Binary:
    operator: str
    """An arithmetic, comparison or logical operator: `+`, `<>`, `AND`, ..."""
    left: Node
    right: Node

    def __str__(self) -> str:
        return f"({self.left} {self.operator} {self.right})"


@dataclass(frozen=True, slots=True)
class Like:
    operand: Node
    pattern: str
    """The pattern as written in the literal, escapes (`\\%`, `\\_`) included."""
    negated: bool

    def __str__(self) -> str:
        keyword = "NOT LIKE" if self.negated else "LIKE"
        return f"({self.operand} {keyword} {Literal(self.pattern)})"


@dataclass(frozen=True, slots=True)
class In:
    operand: Node
    items: tuple[Node, ...]
    negated: bool

    def __str__(self) -> str:
        keyword = "NOT IN" if self.negated else "IN"
        return f"({self.operand} {keyword} ({', '.join(map(str, self.items))}))"


@dataclass(frozen=True, slots=True)
class Call:
    name: str
    arguments: tuple[Node, ...]

    def __str__(self) -> str:
        return f"{self.name}({', '.join(map(str, self.arguments))})"


Node = Literal | Attribute | Exists | Unary | Binary | Like | In | Call
