"""The lean HTTP server and client of the event hot path, over real loopback sockets."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from aiohttp import web

from shoal.eventing.httpclient import HTTPClient
from shoal.eventing.httpserver import LeanHTTPServer, Request, Response


@pytest.fixture
async def echo() -> AsyncIterator[LeanHTTPServer]:
    async def handle(request: Request) -> Response:
        if request.path == "/boom":
            raise RuntimeError("boom")
        if request.path == "/slow":
            await asyncio.sleep(0.05)
        return Response(200, {"x-path": request.path, "x-id": request.headers.get("ce-id", "")},
                        request.body)

    server = LeanHTTPServer(handle, "127.0.0.1", 0, max_body=1024)
    await server.start()
    yield server
    await server.stop()


async def test_keep_alive_reuses_one_connection(echo: LeanHTTPServer) -> None:
    client = HTTPClient()
    url = f"http://127.0.0.1:{echo.port}/a/b?q=1"
    for i in range(5):
        status, headers, body = await client.post(url, {"ce-id": str(i)}, b"payload")
        assert (status, headers["x-path"], headers["x-id"], body) == (200, "/a/b", str(i),
                                                                      b"payload")
    assert len(echo._connections) == 1
    await client.close()


async def test_names_under_localhost_reach_the_loopback(echo: LeanHTTPServer) -> None:
    # Shoal's own addresses (hello.default.svc.localhost) need no DNS set-up
    client = HTTPClient()
    status, headers, _ = await client.post(
        f"http://hello.default.svc.localhost:{echo.port}/x", {}, b"")
    assert (status, headers["x-path"]) == (200, "/x")
    await client.close()


async def test_pipelined_requests_are_answered_in_order(echo: LeanHTTPServer) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", echo.port)
    writer.write(b"POST /slow HTTP/1.1\r\nhost: x\r\ncontent-length: 1\r\n\r\nA"
                 b"POST /fast HTTP/1.1\r\nhost: x\r\ncontent-length: 1\r\n\r\nB")
    await writer.drain()
    data = b""
    while data.count(b"HTTP/1.1 200") < 2:
        data += await asyncio.wait_for(reader.read(4096), 5)
    assert data.index(b"x-path: /slow") < data.index(b"x-path: /fast")
    writer.close()


async def test_oversized_body_gets_413_and_handler_errors_500(echo: LeanHTTPServer) -> None:
    client = HTTPClient()
    status, _, _ = await client.post(f"http://127.0.0.1:{echo.port}/boom", {}, b"")
    assert status == 500
    status, headers, _ = await client.post(f"http://127.0.0.1:{echo.port}/", {}, b"x" * 2048)
    assert status == 413 and headers.get("connection") == "close"
    await client.close()


async def test_malformed_request_gets_400(echo: LeanHTTPServer) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", echo.port)
    writer.write(b"NOT HTTP AT ALL\r\n\r\n")
    data = await asyncio.wait_for(reader.read(4096), 5)
    assert data.startswith(b"HTTP/1.1 400")
    writer.close()


async def test_client_reconnects_when_a_pooled_connection_was_closed() -> None:
    calls = 0

    async def handle(request: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        return web.Response(status=202, headers={"Connection": "close"} if calls == 1 else {})

    app = web.Application()
    app.router.add_post("/", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = (getattr(site._server, "sockets", None) or [])[0].getsockname()[1]
    client = HTTPClient()
    try:
        for _ in range(3):
            status, _, _ = await client.post(f"http://127.0.0.1:{port}/", {}, b"x")
            assert status == 202
        assert calls == 3
    finally:
        await client.close()
        await runner.cleanup()


async def test_chunked_response_is_read_whole() -> None:
    async def handle(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=200)
        response.enable_chunked_encoding()
        await response.prepare(request)
        for part in (b"one ", b"two ", b"three"):
            await response.write(part)
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_post("/", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = (getattr(site._server, "sockets", None) or [])[0].getsockname()[1]
    client = HTTPClient()
    try:
        status, _, body = await client.post(f"http://127.0.0.1:{port}/", {}, b"")
        assert (status, body) == (200, b"one two three")
    finally:
        await client.close()
        await runner.cleanup()


async def test_unreachable_server_raises_oserror() -> None:
    client = HTTPClient()
    with pytest.raises(OSError):
        await client.post("http://127.0.0.1:9/", {}, b"")
    with pytest.raises(ConnectionError):
        await client.post("https://example.invalid/", {}, b"")


async def test_a_burst_keeps_its_connections_for_the_next_one(echo: LeanHTTPServer) -> None:
    client = HTTPClient(max_idle_per_host=300)
    url = f"http://127.0.0.1:{echo.port}/slow"
    opened = set()
    for _ in range(2):
        await asyncio.gather(*(client.post(url, {}, b"") for _ in range(300)))
        opened |= set(echo._connections)
    assert len(opened) == 300  # the second burst opened none
    await client.close()


async def test_caller_headers_are_sent_once_with_the_caller_spelling() -> None:
    seen: list[bytes] = []
    server = await asyncio.start_server(
        lambda r, w: _record_head(r, w, seen), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = HTTPClient()
    status, _, _ = await client.post(f"http://127.0.0.1:{port}/p?x=1",
                                     {"Host": "elsewhere", "Content-Length": "9",
                                      "Kn-Namespace": "ns"}, b"abc")
    assert status == 204
    assert seen[0].split(b"\r\n")[:4] == [b"POST /p?x=1 HTTP/1.1",
                                          f"host: 127.0.0.1:{port}".encode(),
                                          b"content-length: 3", b"Kn-Namespace: ns"]
    await client.close()
    server.close()
    await server.wait_closed()


async def _record_head(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                       seen: list[bytes]) -> None:
    seen.append(await reader.readuntil(b"\r\n\r\n"))
    await reader.readexactly(3)
    writer.write(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
    await writer.drain()
    writer.close()


# -- the pool: requests queue for a free connection, a few are opened at a time ------------


@dataclass
class Held:
    """A server that records each request's line and body, and answers 202 once ``hold``
    is set."""

    url: str
    hold: asyncio.Event
    seen: list[bytes]


@pytest.fixture
async def held() -> AsyncIterator[Held]:
    hold, seen, writers = asyncio.Event(), list[bytes](), list[asyncio.StreamWriter]()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                seen.append(head.split(b"\r\n")[0] + b" " + await reader.readexactly(length))
                await hold.wait()
                writer.write(b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n")
                await writer.drain()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    yield Held(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/", hold, seen)
    server.close()
    for writer in writers:
        writer.close()
    await server.wait_closed()


@pytest.fixture
async def one_at_a_time() -> AsyncIterator[HTTPClient]:
    """A client that opens one connection at a time to a host."""
    client = HTTPClient(max_connecting=1)
    yield client
    await client.close()


async def test_a_burst_is_served_by_the_connections_that_come_back(
        echo: LeanHTTPServer) -> None:
    client = HTTPClient(max_connecting=1)
    url = f"http://127.0.0.1:{echo.port}/"
    try:
        answers = await asyncio.gather(*(client.post(url, {"ce-id": str(i)}, b"")
                                         for i in range(60)))
        assert [headers["x-id"] for _, headers, _ in answers] == [str(i) for i in range(60)]
        # one connection opened at a time, while the ones open carry the queue
        assert client.opened(url) == echo.accepted < 30
    finally:
        await client.close()


async def test_no_more_connections_are_opened_than_requests_wait(
        echo: LeanHTTPServer) -> None:
    client = HTTPClient(max_connecting=8)
    url = f"http://127.0.0.1:{echo.port}/slow"
    try:
        await asyncio.gather(*(client.post(url, {}, b"") for _ in range(3)))
        assert client.opened(url) == 3
        await client.post(url, {}, b"")  # an idle one serves it
        assert client.opened(url) == 3
    finally:
        await client.close()


async def test_a_begun_request_queues_and_a_cancelled_one_is_never_sent(
        held: Held, one_at_a_time: HTTPClient) -> None:
    client, url = one_at_a_time, held.url
    first = client.begin(url, {}, b"1")
    dropped = client.begin(url, {}, b"2")
    assert first is not None and dropped is not None
    assert first.connection is None  # no connection yet: both wait for one
    dropped.response.cancel()  # taken out of the queue
    held.hold.set()
    assert (await asyncio.wait_for(first.response, 5))[0] == 202
    first.finish()
    third = client.begin(url, {}, b"3")
    assert third is not None and third.connection is first.connection  # sent at once
    assert (await asyncio.wait_for(third.response, 5))[0] == 202
    third.finish()
    assert held.seen == [b"POST / HTTP/1.1 1", b"POST / HTTP/1.1 3"]
    assert client.opened(url) == 1


async def test_a_request_cancelled_while_waiting_leaves_no_connection_behind(
        held: Held, one_at_a_time: HTTPClient) -> None:
    client, url = one_at_a_time, held.url
    first = asyncio.create_task(client.post(url, {}, b"1"))
    await asyncio.sleep(0.05)
    waiting = asyncio.create_task(client.post(url, {}, b"2"))
    await asyncio.sleep(0)  # queued, a connection being opened for it
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    held.hold.set()
    assert (await first)[0] == 202
    await asyncio.sleep(0.05)
    assert (await client.post(url, {}, b"3"))[0] == 202
    # the connection opened for the cancelled request went idle, and carried the third
    assert held.seen == [b"POST / HTTP/1.1 1", b"POST / HTTP/1.1 3"]
    assert client.opened(url) == 2


async def test_every_queued_request_fails_when_the_host_cannot_be_reached(
        one_at_a_time: HTTPClient) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/"
    listener.close()  # nothing listens there now
    exchange = one_at_a_time.begin(url, {}, b"")
    results = await asyncio.wait_for(asyncio.gather(
        *(one_at_a_time.post(url, {}, b"") for _ in range(20)), return_exceptions=True), 5)
    assert all(isinstance(r, OSError) for r in results)
    assert exchange is not None
    with pytest.raises(OSError):
        await exchange.response
