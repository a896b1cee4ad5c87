"""The CESQL tokenizer: turns expression text into a list of tokens for the parser.

Called by `shoal.cesql.parser`. Words (keywords, attribute names, function names) come out
as `WORD` tokens with their text unchanged; the parser decides what a word means, so
keywords stay case-insensitive there. Integer literals come out unsigned (the parser folds
a leading sign into them). String literals are delimited by `'` or `"`; inside, the
delimiter is written `\\'` (or `\\"`) or doubled (`''`); every other backslash is kept as
it is, so that `LIKE` patterns still see their `\\%` and `\\_` escapes.

Errors are raised as `CesqlParseError`, with the line and column in the message.
"""

from __future__ import annotations

import enum
import re
from typing import NamedTuple

from shoal.cesql.errors import CesqlParseError


class Kind(enum.Enum):
    WORD = "word"
    INTEGER = "integer"
    STRING = "string"
    OPERATOR = "operator"
    LPAREN = "'('"
    RPAREN = "')'"
    COMMA = "','"
    END = "end of expression"


class Token(NamedTuple):
    kind: Kind
    text: str
    """The word, the operator, the digits, or the decoded content of a string literal."""
    position: int
    """Offset of the token's first character in the expression, from 0."""
    key: str = ""
    """What the parser matches on: a word in upper case, an operator as written, else ''."""

    def describe(self) -> str:
        if self.kind is Kind.END:
            return "end of expression"
        if self.kind is Kind.STRING:
            return f"string {self.text!r}"
        if self.kind in (Kind.WORD, Kind.INTEGER, Kind.OPERATOR):
            return f"{self.kind.value} '{self.text}'"
        return str(self.kind.value)


_TOKEN = re.compile(
    r"""
      (?P<space>[ \t\r\n]+)
    | (?P<integer>[0-9]+(?![A-Za-z0-9_]))
    | (?P<word>[A-Za-z0-9_]+)
    | (?P<string>'(?:\\.|''|[^'\\])*'|"(?:\\.|""|[^"\\])*")
    | (?P<operator>!=|<>|<=|>=|[=<>+\-*/%])
    | (?P<punctuation>[(),])
    """,
    re.VERBOSE | re.DOTALL,
)
# In a literal: a backslash and any character, or a doubled quote.
_ESCAPES = {quote: re.compile(r"\\(.)|" + quote * 2, re.DOTALL) for quote in "'\""}
_PUNCTUATION = {"(": Kind.LPAREN, ")": Kind.RPAREN, ",": Kind.COMMA}


def where(source: str, position: int) -> str:
    """Human-readable location of an offset: 'column C', or 'line L, column C'."""
    line = source.count("\n", 0, position) + 1
    column = position - (source.rfind("\n", 0, position) + 1) + 1
    if "\n" in source:
        return f"line {line}, column {column}"
    return f"column {column}"


def parse_error(source: str, position: int, message: str) -> CesqlParseError:
    return CesqlParseError(f"{message} at {where(source, position)}", position)


def tokenize(source: str) -> list[Token]:
    """The tokens of `source`, ending with an `END` token."""
    tokens: list[Token] = []
    position, length = 0, len(source)
    while position < length:
        found = _TOKEN.match(source, position)
        if found is None:
            char = source[position]
            problem = (
                "unterminated string literal" if char in "'\"" else f"unexpected character {char!r}"
            )
            raise parse_error(source, position, problem)
        text, group = found.group(), found.lastgroup
        if group == "word":
            tokens.append(Token(Kind.WORD, text, position, text.upper()))
        elif group == "integer":
            tokens.append(Token(Kind.INTEGER, text, position))
        elif group == "string":
            tokens.append(Token(Kind.STRING, _decode(text), position))
        elif group == "operator":
            tokens.append(Token(Kind.OPERATOR, text, position, text))
        elif group == "punctuation":
            tokens.append(Token(_PUNCTUATION[text], text, position))
        position = found.end()
    tokens.append(Token(Kind.END, "", length))
    return tokens


def _decode(literal: str) -> str:
    """The content of a quoted literal: `\\'` (in '...') and `''` give a quote; any other
    backslash pair stays as written."""
    quote = literal[0]

    def replace(escape: re.Match[str]) -> str:
        following = escape.group(1)
        if following is None or following == quote:
            return quote
        return escape.group()

    return _ESCAPES[quote].sub(replace, literal[1:-1])
