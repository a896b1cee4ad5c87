"""Per-instance log files: rotation keeping one old file, tail, follow across rotation."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from shoal.runtime.logfile import LogFile, read_lines, rotated


def names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


async def collect(path: Path, **kwargs: object) -> list[str]:
    return [line async for line in read_lines(path, **kwargs)]  # type: ignore[arg-type]


async def test_rotates_keeping_one_old_file(tmp_path: Path) -> None:
    log = LogFile(tmp_path / "a.log", max_bytes=20)
    for n in range(10):
        log.write(f"line {n}\n".encode())  # 7 bytes each: two lines a file
    log.close()
    assert (tmp_path / "a.log").read_text() == "line 8\nline 9\n"
    assert rotated(tmp_path / "a.log").read_text() == "line 6\nline 7\n"
    assert names(tmp_path) == ["a.log", "a.log.1"]
    assert await collect(tmp_path / "a.log") == ["line 6", "line 7", "line 8", "line 9"]
    assert await collect(tmp_path / "a.log", tail=2) == ["line 8", "line 9"]
    assert await collect(tmp_path / "a.log", tail=0) == []
    log.remove()
    assert names(tmp_path) == []


async def test_unfinished_line_and_missing_file(tmp_path: Path) -> None:
    assert await collect(tmp_path / "none.log") == []
    log = LogFile(tmp_path / "b.log")
    log.write(b"one\ntw")
    log.close()
    assert await collect(tmp_path / "b.log") == ["one", "tw"]


async def test_follow_until_gone_across_rotation(tmp_path: Path) -> None:
    path = tmp_path / "c.log"
    log = LogFile(path, max_bytes=12)
    log.write(b"first\n")
    alive = True
    seen: list[str] = []

    async def follow() -> None:
        async with contextlib.aclosing(read_lines(path, follow=True,
                                                  alive=lambda: alive)) as lines:
            async for line in lines:
                seen.append(line)

    task = asyncio.create_task(follow())
    await asyncio.sleep(0.15)
    log.write(b"second\n")  # rotates: "first" moves to c.log.1
    await asyncio.sleep(0.3)
    log.write(b"third\n")  # rotates again
    await asyncio.sleep(0.3)
    log.write(b"fourth")
    alive = False
    await asyncio.wait_for(task, 5)
    log.close()
    assert seen == ["first", "second", "third", "fourth"]
