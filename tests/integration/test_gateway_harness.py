"""Shared pieces of the gateway tests (no tests here): instance apps and a running gateway.

``App`` is an aiohttp server standing in for one instance of a revision: it echoes what it
received as JSON (revision name, headers, body length, the client port it saw), hashes
uploads as they stream in, streams generated downloads, sleeps on ``/slow`` and echoes
WebSocket messages on ``/ws``. ``RawApp`` is a bare asyncio server whose answer a test
writes byte for byte (to misbehave on purpose). Everything listens on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
import time
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import WSMsgType, web

from shoal.serving.activator import Activator
from shoal.serving.gateway import Gateway
from shoal.serving.routing import Backend, Route, RoutingTable

DOMAIN = "localhost"
BLOCK = 1024 * 1024


def block(i: int) -> bytes:
    """The ``i``-th MiB of a generated body (cheap, and different per block)."""
    return hashlib.sha256(str(i).encode()).digest() * (BLOCK // 32)


class App:
    """An instance of a revision: an aiohttp app on a free loopback port."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.seen: list[dict[str, str]] = []
        self.peers: list[int] = []
        self.started_slow = asyncio.Event()
        self.endpoint = ""
        app = web.Application(client_max_size=1024 * BLOCK)
        app.router.add_get("/ws", self.websocket)
        app.router.add_post("/upload", self.upload)
        app.router.add_get("/download", self.download)
        app.router.add_get("/slow", self.slow)
        app.router.add_route("*", "/{tail:.*}", self.echo)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)

    def _note(self, request: web.Request) -> None:
        self.seen.append(dict(request.headers))
        peer = request.transport.get_extra_info("peername") if request.transport else None
        self.peers.append(peer[1] if peer else 0)

    async def echo(self, request: web.Request) -> web.Response:
        body = await request.read()
        self._note(request)
        return web.json_response(
            {"revision": self.name, "method": request.method, "path": request.path_qs,
             "headers": dict(request.headers), "length": len(body)},
            headers={"x-revision": self.name})

    async def upload(self, request: web.Request) -> web.Response:
        self._note(request)
        await asyncio.sleep(float(request.query.get("wait", "0")))
        digest = hashlib.sha256()
        size = 0
        async for data in request.content.iter_any():
            digest.update(data)
            size += len(data)
        return web.json_response({"length": size, "sha256": digest.hexdigest()})

    async def download(self, request: web.Request) -> web.StreamResponse:
        self._note(request)
        response = web.StreamResponse(headers={"x-revision": self.name})
        blocks = int(request.query["mib"])
        if "length" in request.query:
            response.content_length = blocks * BLOCK
        await response.prepare(request)
        for i in range(blocks):
            await response.write(block(i))
        await response.write_eof()
        return response

    async def slow(self, request: web.Request) -> web.Response:
        self._note(request)
        self.started_slow.set()
        await asyncio.sleep(float(request.query.get("delay", "1")))
        return web.Response(text=f"slow {self.name}\n")

    async def websocket(self, request: web.Request) -> web.WebSocketResponse:
        self._note(request)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                await ws.send_str(f"{self.name}: {message.data}")
            elif message.type == WSMsgType.BINARY:
                await ws.send_bytes(message.data[::-1])
        return ws

    async def start(self) -> App:
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.endpoint = f"127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    async def stop(self) -> None:
        await self._runner.cleanup()


class RawApp:
    """A bare server: reads each request and writes ``answer(head, n)`` (``n``: the
    request's number on its connection, from 0), then closes if ``close`` or if the answer
    is empty, to misbehave in ways aiohttp will not."""

    def __init__(self, answer: Callable[[bytes, int], bytes], *, close: bool = True) -> None:
        self.answer = answer
        self.close = close
        self.heads: list[bytes] = []
        self.endpoint = ""
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            for n in range(1000):
                head = await reader.readuntil(b"\r\n\r\n")
                self.heads.append(head)
                lower = head.lower()
                if b"transfer-encoding: chunked" in lower:
                    await reader.readuntil(b"0\r\n\r\n")
                elif b"content-length:" in lower:
                    length = lower.partition(b"content-length:")[2].split(b"\r\n")[0]
                    await reader.readexactly(int(length))
                answer = self.answer(head, n)
                writer.write(answer)
                await writer.drain()
                if self.close or not answer:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    async def start(self) -> RawApp:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.endpoint = f"127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._writers):
                writer.close()
            await self._server.wait_closed()


def free_endpoint() -> str:
    """A loopback address nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


def route(name: str, split: dict[str, int], *, tags: dict[str, str] | None = None,
          cluster_local: bool = False, namespace: str = "default") -> Route:
    """A Route over revisions named ``namespace/<key of split>``."""
    return Route(namespace, name, (f"{name}.{namespace}.{DOMAIN}",), cluster_local,
                 tuple(Backend(f"{namespace}/{rev}", pct) for rev, pct in split.items()),
                 {tag: f"{namespace}/{rev}" for tag, rev in (tags or {}).items()})


_ACTIVATORS: weakref.WeakKeyDictionary[RoutingTable, Activator] = (
    weakref.WeakKeyDictionary())


def activator_for(table: RoutingTable) -> Activator:
    """The activator a test's gateway over ``table`` uses (one per table)."""
    activator = _ACTIVATORS.get(table)
    if activator is None:
        activator = _ACTIVATORS[table] = Activator(time.monotonic)
    return activator


def set_endpoints(table: RoutingTable, revision: str, addresses: list[str]) -> None:
    """Put ``addresses`` in rotation for ``revision`` behind ``table``."""
    activator_for(table).backend(revision).set_endpoints(addresses)


@asynccontextmanager
async def running(table: RoutingTable) -> AsyncIterator[Gateway]:
    gateway = Gateway(table, "127.0.0.1", 0, activator=activator_for(table))
    await gateway.start()
    try:
        yield gateway
    finally:
        await gateway.stop(timeout=2.0)


async def exchange(port: int, request: bytes, *, until: bytes = b"",
                   timeout: float = 5.0) -> bytes:
    """Send raw ``request`` bytes to 127.0.0.1:``port`` and read until ``until`` has been
    seen (or the server closes)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        data = b""
        async with asyncio.timeout(timeout):
            while not (until and until in data):
                more = await reader.read(65536)
                if not more:
                    break
                data += more
        return data
    finally:
        writer.close()


def json_body(response: bytes) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(response.partition(b"\r\n\r\n")[2])
    return result
