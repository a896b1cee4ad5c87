"""The CESQL parser: recursive descent with one function per precedence level.

`parse_tree(text)` is called by `shoal.cesql.expression.parse`; it returns the syntax tree
(`shoal.cesql.nodes`) or raises `CesqlParseError` with the line and column in the message.

Precedence follows the specification (section 3.6), tightest first:

    function calls, literals, attributes, EXISTS, ( ... )
    unary NOT and -                     NOT a = b    is (NOT a) = b
    [NOT] LIKE, [NOT] IN                a + b IN (1) is a + (b IN (1))
    * / %
    + -
    = != <> < <= > >=
    AND OR XOR (one level)              a OR b AND c is (a OR b) AND c

Binary operators of equal precedence group left to right. A sign written before an integer
literal belongs to the literal, so `-2147483648` is a valid Integer.
"""

from __future__ import annotations

import re

from shoal.cesql.errors import CesqlParseError
from shoal.cesql.lexer import Kind, Token, parse_error, tokenize
from shoal.cesql.nodes import Attribute, Binary, Call, Exists, In, Like, Literal, Node, Unary
from shoal.cesql.values import INT_MAX, INT_MIN

MAX_NESTING = 50
"""Most parentheses, calls, IN sets and unary operators one inside another."""
MAX_DEPTH = 200
"""Most levels in the syntax tree (a chain of N binary operators is N levels deep)."""

_PRECEDENCE = {
    **dict.fromkeys(("AND", "OR", "XOR"), 1),
    **dict.fromkeys(("=", "!=", "<>", "<", "<=", ">", ">="), 2),
    **dict.fromkeys(("+", "-"), 3),
    **dict.fromkeys(("*", "/", "%"), 4),
}
_KEYWORDS = frozenset({"AND", "OR", "XOR", "NOT", "LIKE", "IN", "EXISTS", "TRUE", "FALSE"})
_ATTRIBUTE_NAME = re.compile(r"[A-Za-z0-9]+")
_FUNCTION_NAME = re.compile(r"[A-Za-z][A-Za-z_]*")


def parse_tree(source: str) -> Node:
    """The syntax tree of `source`."""
    return _Parser(source).parse()


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens = tokenize(source)
        self.tokens.append(self.tokens[-1])  # a second END, so peek(1) never runs off
        self.index = 0
        self.nesting = 0

    # -- token access -----------------------------------------------------------------

    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[self.index + ahead]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        if token.kind is not Kind.END:
            self.index += 1
        return token

    def expect(self, kind: Kind, context: str) -> Token:
        token = self.peek()
        if token.kind is not kind:
            raise self.error(token, f"expected {kind.value} {context}, found {token.describe()}")
        return self.advance()

    def error(self, token: Token, message: str) -> CesqlParseError:
        return parse_error(self.source, token.position, message)

    def enter(self, token: Token) -> None:
        self.nesting += 1
        if self.nesting > MAX_NESTING:
            raise self.error(token, f"expression nested more than {MAX_NESTING} levels deep")

    # -- grammar ----------------------------------------------------------------------

    def parse(self) -> Node:
        if self.peek().kind is Kind.END:
            raise self.error(self.peek(), "empty expression")
        node = self.binary()
        token = self.peek()
        if token.kind is not Kind.END:
            raise self.error(token, f"unexpected {token.describe()}")
        if _depth(node) > MAX_DEPTH:
            raise parse_error(self.source, 0, f"expression more than {MAX_DEPTH} levels deep")
        return node

    def binary(self, lowest: int = 1) -> Node:
        """Precedence climbing over the binary operators that bind at least `lowest`."""
        left = self.postfix()
        while True:
            operator = self.peek().key
            precedence = _PRECEDENCE.get(operator, 0)
            if precedence < lowest:
                return left
            self.index += 1
            left = Binary(operator, left, self.binary(precedence + 1))

    def postfix(self) -> Node:
        node = self.unary()
        while True:
            keyword = self.peek().key
            negated = keyword == "NOT" and self.peek(1).key in ("LIKE", "IN")
            if negated:
                self.index += 1
                keyword = self.peek().key
            if keyword == "LIKE":
                self.index += 1
                node = Like(node, self.like_pattern(), negated)
            elif keyword == "IN":
                self.index += 1
                node = In(node, self.set_items(), negated)
            else:
                return node

    def like_pattern(self) -> str:
        token = self.peek()
        if token.kind is not Kind.STRING:
            raise self.error(
                token, f"the LIKE pattern must be a string literal, found {token.describe()}"
            )
        self.index += 1
        return token.text

    def set_items(self) -> tuple[Node, ...]:
        opening = self.expect(Kind.LPAREN, "after IN")
        self.enter(opening)
        items = [self.binary()]
        while self.peek().kind is Kind.COMMA:
            self.index += 1
            items.append(self.binary())
        self.expect(Kind.RPAREN, "to close the IN set")
        self.nesting -= 1
        return tuple(items)

    def unary(self) -> Node:
        token = self.peek()
        if token.key == "NOT":
            self.index += 1
            self.enter(token)
            node: Node = Unary("NOT", self.unary())
            self.nesting -= 1
            return node
        if token.key in ("-", "+"):
            self.index += 1
            if self.peek().kind is Kind.INTEGER:
                return self.integer(self.advance(), sign=token)
            if token.key == "+":
                raise self.error(self.peek(), "expected an integer after '+'")
            self.enter(token)
            node = Unary("-", self.unary())
            self.nesting -= 1
            return node
        return self.primary()

    def integer(self, token: Token, sign: Token | None = None) -> Literal:
        """The literal of an integer token, with the sign token written before it if any."""
        digits = token.text.lstrip("0") or "0"
        value = int(digits) if len(digits) <= 10 else INT_MAX + 2  # bound int()'s work
        if sign is not None and sign.text == "-":
            value = -value
        if not INT_MIN <= value <= INT_MAX:
            written = (sign.text if sign else "") + token.text
            raise self.error(sign or token, f"integer literal {written} is out of the 32-bit range")
        return Literal(value)

    def primary(self) -> Node:
        token = self.advance()
        if token.kind is Kind.INTEGER:
            return self.integer(token)
        if token.kind is Kind.STRING:
            return Literal(token.text)
        if token.kind is Kind.LPAREN:
            self.enter(token)
            node = self.binary()
            self.expect(Kind.RPAREN, "to close the parenthesis")
            self.nesting -= 1
            return node
        if token.kind is not Kind.WORD:
            raise self.error(token, f"expected an expression, found {token.describe()}")
        word = token.key
        if word in ("TRUE", "FALSE"):
            return Literal(word == "TRUE")
        if word == "EXISTS":
            return Exists(self.attribute_name(self.advance()))
        if word in _KEYWORDS:
            raise self.error(token, f"expected an expression, found keyword {word}")
        if self.peek().kind is Kind.LPAREN:
            return self.call(token)
        return Attribute(self.attribute_name(token))

    def attribute_name(self, token: Token) -> str:
        if token.kind is not Kind.WORD or token.key in _KEYWORDS:
            raise self.error(token, f"expected an attribute name, found {token.describe()}")
        if _ATTRIBUTE_NAME.fullmatch(token.text) is None:
            raise self.error(
                token, f"invalid attribute name '{token.text}': only letters and digits allowed"
            )
        return token.text.lower()

    def call(self, name: Token) -> Call:
        if _FUNCTION_NAME.fullmatch(name.text) is None:
            raise self.error(
                name, f"invalid function name '{name.text}': only letters and '_' allowed"
            )
        opening = self.advance()
        self.enter(opening)
        arguments: list[Node] = []
        if self.peek().kind is not Kind.RPAREN:
            arguments.append(self.binary())
            while self.peek().kind is Kind.COMMA:
                self.index += 1
                arguments.append(self.binary())
        self.expect(Kind.RPAREN, f"to close the arguments of {name.text}")
        self.nesting -= 1
        return Call(name.key, tuple(arguments))


def _children(node: Node) -> tuple[Node, ...]:
    match node:
        case Unary(operand=operand) | Like(operand=operand):
            return (operand,)
        case Binary(left=left, right=right):
            return (left, right)
        case In(operand=operand, items=items):
            return (operand, *items)
        case Call(arguments=arguments):
            return arguments
        case _:
            return ()


def _depth(root: Node) -> int:
    """Levels in the tree, counted without recursion."""
    deepest = 0
    stack = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in _children(node))
    return deepest
