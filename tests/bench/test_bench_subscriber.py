"""The eventing benchmark's compiled subscriber is measuring equipment: its counts, arrival
times and connections accepted are what the benchmark's figures are made of."""

from __future__ import annotations

import asyncio
import importlib.util
import shutil
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from shoal.eventing.httpclient import HTTPClient

BENCH = Path(__file__).resolve().parents[2] / "bench" / "eventing_bench.py"


def bench_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("eventing_bench", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
async def subscriber() -> AsyncIterator[Any]:
    cc = shutil.which("cc")
    if cc is None:
        pytest.skip("no C compiler: the benchmark falls back to its Python subscriber")
    sub = bench_module().CSubscriber(cc)
    try:
        yield sub
    finally:
        await sub.stop()


def post(event_id: str, body: bytes = b"{}") -> bytes:
    return (f"POST /t HTTP/1.1\r\nhost: x\r\nce-id: {event_id}\r\n"
            f"content-length: {len(body)}\r\n\r\n").encode() + body


async def test_counts_and_times_every_arrival(subscriber: Any) -> None:
    url: str = subscriber.url
    host, port = url.removeprefix("http://").rstrip("/").split(":")
    before = time.monotonic()
    client = HTTPClient()
    try:
        status, _, _ = await client.post(url + "t", {"ce-id": "a1"}, b"{}")
        assert status == 202
        # pipelined on one connection, one body in two writes, an id seen twice
        reader, writer = await asyncio.open_connection(host, int(port))
        big = b"x" * 40_000
        second = post("a2", big)
        writer.write(post("a2") + second[:100])
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(second[100:] + post("b1"))
        answers = b""
        while answers.count(b"202 Accepted") < 3:
            answers += await asyncio.wait_for(reader.read(65536), 5)
        writer.close()
    finally:
        await client.close()
    after = time.monotonic()
    # the events' two connections, and the one the benchmark's handle asks on
    assert await subscriber.connections() == 3
    assert await subscriber.count() == 4
    arrivals = await subscriber.arrivals("a")
    assert sorted(arrivals) == ["a1", "a2"] and len(arrivals["a2"]) == 2
    for times in arrivals.values():
        assert all(before <= t <= after for t in times)
        assert times == sorted(times)
