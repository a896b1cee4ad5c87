"""An instance's output on disk: appended as it comes, rotated at a size, read back by line.

``LogFile`` is written by the process runtime's output pump; when the next write would take
it past ``max_bytes`` the file becomes ``NAME.1`` (replacing the older one) and a new file
starts, so an instance never holds more than about twice the limit. ``read_lines`` gives
the last lines of both files and, with ``follow``, waits for more (across rotations) until
its ``alive`` callback says the instance is gone.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncGenerator, Callable
from pathlib import Path
from typing import BinaryIO

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
POLL_INTERVAL = 0.1


def rotated(path: Path) -> Path:
    return path.with_name(path.name + ".1")


class LogFile:
    def __init__(self, path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.path = path
        self.max_bytes = max_bytes
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: BinaryIO | None = None
        self._size = 0

    def write(self, data: bytes) -> None:
        if self._file is None:
            self._file = open(self.path, "ab")  # noqa: SIM115 - kept open until close()
            self._size = self._file.tell()
        if self._size and self._size + len(data) > self.max_bytes:
            self._file.close()
            os.replace(self.path, rotated(self.path))
            self._file = open(self.path, "ab")  # noqa: SIM115 - kept open until close()
            self._size = 0
        self._file.write(data)
        self._file.flush()
        self._size += len(data)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def remove(self) -> None:
        self.close()
        for path in (self.path, rotated(self.path)):
            path.unlink(missing_ok=True)


def _decode(raw: bytes) -> str:
    return raw.decode(errors="replace").rstrip("\r")


def _read_file(path: Path, position: int = 0) -> tuple[bytes, int | None]:
    """The bytes of ``path`` from ``position`` and its inode (``None`` when missing)."""
    try:
        with open(path, "rb") as file:
            file.seek(position)
            return file.read(), os.fstat(file.fileno()).st_ino
    except FileNotFoundError:
        return b"", None


async def read_lines(path: Path, *, tail: int | None = None, follow: bool = False,
                     alive: Callable[[], bool] = lambda: False) -> AsyncGenerator[str, None]:
    """The lines of the log at ``path`` (without newlines), the last ``tail`` of them."""
    older, _ = _read_file(rotated(path))
    current, inode = _read_file(path)
    position = len(current)
    lines = (older + current).split(b"\n")
    pending = lines.pop()  # an unfinished last line, or b""
    if tail is not None:
        lines = lines[max(len(lines) - tail, 0):]
    for line in lines:
        yield _decode(line)
    if not follow:
        if pending:
            yield _decode(pending)
        return
    while True:
        running = alive()
        chunk, inode, position = _read_new(path, inode, position)
        if chunk:
            lines = (pending + chunk).split(b"\n")
            pending = lines.pop()
            for line in lines:
                yield _decode(line)
        elif not running:
            break
        else:
            await asyncio.sleep(POLL_INTERVAL)
    if pending:
        yield _decode(pending)


def _read_new(path: Path, inode: int | None, position: int) -> tuple[bytes, int | None, int]:
    """What was appended since ``position`` of the file with ``inode``; after a rotation,
    the rest of the old file and then the new one from its start."""
    chunk, current = _read_file(path, position)
    if current == inode or current is None:
        return chunk, inode, position + len(chunk)
    rest = b""
    old, old_inode = _read_file(rotated(path), position)
    if inode is not None and old_inode == inode:
        rest = old
    chunk, current = _read_file(path)
    return rest + chunk, current, len(chunk)
