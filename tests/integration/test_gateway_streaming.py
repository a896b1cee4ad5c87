"""The gateway streams: large bodies both ways without holding them, and WebSockets."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator

import aiohttp
import pytest
from tests.integration.test_gateway_harness import (
    BLOCK,
    App,
    block,
    route,
    running,
    set_endpoints,
)

from shoal.serving.routing import RoutingTable

MIB = 64
BOUND = 2 * BLOCK  # what the gateway may hold at once for one connection


@pytest.fixture
async def app() -> AsyncIterator[App]:
    started = await App("hello-1").start()
    yield started
    await started.stop()


@pytest.fixture
def table(app: App) -> RoutingTable:
    table = RoutingTable()
    set_endpoints(table, "default/hello-1", [app.endpoint])
    table.update(route("hello", {"hello-1": 100}))
    return table


def expected_digest(blocks: int) -> str:
    digest = hashlib.sha256()
    for i in range(blocks):
        digest.update(block(i))
    return digest.hexdigest()


async def test_large_upload_streams_with_back_pressure(table: RoutingTable) -> None:
    async def body() -> AsyncIterator[bytes]:
        for i in range(MIB):
            yield block(i)

    async with running(table) as gateway, aiohttp.ClientSession() as session:
        for framing in ({"Content-Length": str(MIB * BLOCK)}, {}):  # length, then chunked
            # the instance waits before reading: without back-pressure the gateway would
            # take in the whole body meanwhile
            async with session.post(f"http://127.0.0.1:{gateway.port}/upload?wait=0.3",
                                    data=body(), headers={"Host": "hello.default.localhost",
                                                          **framing}) as response:
                assert response.status == 200
                result = await response.json()
            assert result == {"length": MIB * BLOCK, "sha256": expected_digest(MIB)}
    assert 0 < gateway.stats.peak_buffered < BOUND


@pytest.mark.parametrize("length", [True, False], ids=["content-length", "chunked"])
async def test_large_download_streams_to_a_slow_reader(table: RoutingTable,
                                                       length: bool) -> None:
    query = f"mib={MIB}" + ("&length=1" if length else "")
    async with running(table) as gateway:
        reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port, limit=BLOCK)
        writer.write(f"GET /download?{query} HTTP/1.1\r\nHost: hello.default.localhost\r\n"
                     "Connection: close\r\n\r\n".encode())
        await asyncio.sleep(0.3)  # a slow reader: the gateway must stop reading upstream
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200")
        assert (b"content-length: %d" % (MIB * BLOCK) in head.lower()) == length
        assert (b"transfer-encoding: chunked" in head.lower()) != length
        digest = hashlib.sha256()
        size = 0
        async with asyncio.timeout(60):
            if length:
                while data := await reader.read(BLOCK):
                    digest.update(data)
                    size += len(data)
            else:
                while (chunk_size := int((await reader.readuntil(b"\r\n"))[:-2], 16)) > 0:
                    data = await reader.readexactly(chunk_size + 2)
                    digest.update(data[:-2])
                    size += chunk_size
        writer.close()
    assert (size, digest.hexdigest()) == (MIB * BLOCK, expected_digest(MIB))
    assert 0 < gateway.stats.peak_buffered < BOUND


async def test_websocket_echo_through_the_gateway(table: RoutingTable) -> None:
    async with running(table) as gateway, aiohttp.ClientSession() as session:
        async with session.ws_connect(f"http://127.0.0.1:{gateway.port}/ws",
                                      headers={"Host": "hello.default.localhost"}) as ws:
            for i in range(10):
                await ws.send_str(f"ping {i}")
                assert await ws.receive_str(timeout=5) == f"hello-1: ping {i}"
            big = bytes(range(256)) * 4096  # 1 MiB in one frame
            await ws.send_bytes(big)
            assert await ws.receive_bytes(timeout=5) == big[::-1]
        # the next plain request on a new connection still works
        async with session.get(f"http://127.0.0.1:{gateway.port}/",
                               headers={"Host": "hello.default.localhost"}) as response:
            assert response.status == 200
    assert gateway.stats.tunnels == 1


async def test_upgrade_refused_by_the_instance_is_passed_on(table: RoutingTable) -> None:
    async with running(table) as gateway:
        reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
        writer.write(b"GET /not-ws HTTP/1.1\r\nHost: hello.default.localhost\r\n"
                     b"Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
        async with asyncio.timeout(5):
            data = await reader.read()  # the gateway closes after the answer
        writer.close()
    assert data.startswith(b"HTTP/1.1 200")
    assert b"connection: close" in data.lower()
