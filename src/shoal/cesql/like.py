"""LIKE patterns: `%` matches any run of characters, `_` exactly one, `\\%` and `\\_` match
themselves; every other character (a backslash before anything else included) matches
itself, case-sensitively.

The parser builds a `LikePattern` once per `LIKE` and the compiled expression calls
`matches` per event. Matching never backtracks: the pattern is split at each `%` into
fixed-length pieces, the first is anchored at the start, the last at the end, and each one
between is taken at its leftmost place (which is always a correct choice), so the work stays
proportional to the text length times the pattern length. Pieces without `_` are plain
substring searches; the common shapes (`abc`, `abc%`, `%abc`, `%abc%`) are one string
method call.
"""

from __future__ import annotations

import re
from collections.abc import Callable

_Piece = str | re.Pattern[str]
"""A fixed-length run of the pattern: a plain string, or a regex when it contains `_`."""


def _split(pattern: str) -> list[list[str | None]]:
    """The pattern as runs between `%`, each run a list of characters (None for `_`)."""
    runs: list[list[str | None]] = [[]]
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern) and pattern[i + 1] in "%_":
            runs[-1].append(pattern[i + 1])
            i += 2
            continue
        if char == "%":
            runs.append([])
        else:
            runs[-1].append(None if char == "_" else char)
        i += 1
    return runs


def _piece(run: list[str | None]) -> _Piece:
    if None not in run:
        return "".join(c for c in run if c is not None)
    return re.compile("".join("." if c is None else re.escape(c) for c in run), re.DOTALL)


def _at(piece: _Piece, text: str, start: int) -> bool:
    """Whether `piece` matches `text` at offset `start` (the text is long enough)."""
    if isinstance(piece, str):
        return text.startswith(piece, start)
    return piece.match(text, start) is not None


def _find(piece: _Piece, text: str, start: int, end: int) -> int:
    """Where `piece` first matches inside text[start:end], or -1."""
    if isinstance(piece, str):
        return text.find(piece, start, end)
    found = piece.search(text, start, end)
    return -1 if found is None else found.start()


class LikePattern:
    """A compiled LIKE pattern."""

    __slots__ = ("_lengths", "_pieces", "matches", "pattern")

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        runs = _split(pattern)
        self._pieces = [_piece(run) for run in runs]
        self._lengths = [len(run) for run in runs]
        self.matches: Callable[[str], bool] = self._fast_path() or self._general

    def __repr__(self) -> str:
        return f"LikePattern({self.pattern!r})"

    def _fast_path(self) -> Callable[[str], bool] | None:
        plain = [piece for piece in self._pieces if isinstance(piece, str)]
        if len(plain) != len(self._pieces) or len(plain) > 3:
            return None
        first, last = plain[0], plain[-1]
        if len(plain) == 1:
            return lambda text: text == first
        if len(plain) == 2 and first == "":
            return lambda text: text.endswith(last)
        if len(plain) == 2 and last == "":
            return lambda text: text.startswith(first)
        if len(plain) == 3 and first == "" and last == "":
            middle = plain[1]
            return lambda text: middle in text
        return None

    def _general(self, text: str) -> bool:
        pieces, lengths = self._pieces, self._lengths
        if len(pieces) == 1:
            return len(text) == lengths[0] and _at(pieces[0], text, 0)
        end = len(text) - lengths[-1]
        if end < lengths[0] or not _at(pieces[0], text, 0) or not _at(pieces[-1], text, end):
            return False
        position = lengths[0]
        for piece, length in zip(pieces[1:-1], lengths[1:-1], strict=True):
            found = _find(piece, text, position, end)
            if found < 0:
                return False
            position = found + length
        return True
