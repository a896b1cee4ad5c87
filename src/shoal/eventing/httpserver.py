"""A lean HTTP/1.1 server for the event hot path: asyncio protocol plus httptools' parser.

The broker and channel ingress take thousands of small POSTs a second; a general web
framework spends most of its time per request in its own layers (measured here: about ten
times the cost of this server for the same request). This server parses with ``httptools``
(the parser uvicorn uses), hands each complete request to one async handler, and writes
the response; requests on one connection are answered in order (keep-alive and
pipelining), a body over the limit gets 413 and the connection is closed.

Used by ``shoal.eventing.plane``; the handler does its own routing (the ingress has two
paths). Not a general web server: no streaming bodies, no upgrades, no TLS.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import cast

import httptools

log = logging.getLogger("shoal.eventing.httpserver")


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes

    @property
    def content_length(self) -> int | None:
        value = self.headers.get("content-length")
        return int(value) if value and value.isdigit() else None


@dataclass
class Response:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    @staticmethod
    def text(status: int, text: str, headers: dict[str, str] | None = None) -> Response:
        return Response(status, {"content-type": "text/plain; charset=utf-8",
                                 **(headers or {})}, text.encode())


Handler = Callable[[Request], Awaitable[Response]]


_REASONS = {status.value: status.phrase for status in HTTPStatus}
_NAMES: dict[bytes, str] = {}  # header names as received -> lower-cased text
_PATHS: dict[bytes, str] = {}  # request targets as received -> their path
_METHODS: dict[bytes, str] = {}
_KNOWN = 1024  # the most names or paths kept of each
_BARE: dict[int, bytes] = {}  # the encoded keep-alive responses without headers or body


def _encode(response: Response, keep_alive: bool) -> bytes:
    bare = keep_alive and not response.headers and not response.body
    if bare and response.status in _BARE:
        return _BARE[response.status]
    lines = [f"HTTP/1.1 {response.status} {_REASONS.get(response.status, '')}"]
    for name, value in response.headers.items():
        lines.append(f"{name}: {value}")
    lines.append(f"content-length: {len(response.body)}")
    if not keep_alive:
        lines.append("connection: close")
    encoded = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + response.body
    if bare and len(_BARE) < 64:
        _BARE[response.status] = encoded
    return encoded


class _Connection(asyncio.Protocol):
    def __init__(self, handler: Handler, max_body: int,
                 live: set[_Connection]) -> None:
        self.handler = handler
        self.max_body = max_body
        self.live = live
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        # complete requests waiting for their answer, in order; None: the connection is gone
        self.queue: collections.deque[tuple[Request, bool] | None] = collections.deque()
        self._wakeup: asyncio.Future[None] | None = None
        self.worker: asyncio.Task[None] | None = None
        self._url = b""
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []
        self._size = 0
        self._too_large = False

    # -- asyncio.Protocol -------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it
        self.transport = cast(asyncio.Transport, transport)
        self.live.add(self)
        self.worker = asyncio.get_running_loop().create_task(self._serve())

    def connection_lost(self, exc: Exception | None) -> None:
        self.live.discard(self)
        self._push(None)

    def _push(self, item: tuple[Request, bool] | None) -> None:
        self.queue.append(item)
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
        if self.worker is not None:
            self.worker.cancel()

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self._fail(400, "malformed HTTP request\n")
        except httptools.HttpParserUpgrade:
            self._fail(400, "upgrades are not supported here\n")

    # -- httptools callbacks ----------------------------------------------------------

    def on_message_begin(self) -> None:
        self._url, self._headers, self._body, self._size = b"", {}, [], 0
        self._too_large = False

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        key = _NAMES.get(name)
        if key is None:
            key = name.decode("latin-1").lower()
            if len(_NAMES) < _KNOWN:
                _NAMES[name] = key
        text = value.decode("latin-1")
        headers = self._headers
        headers[key] = f"{headers[key]}, {text}" if key in headers else text

    def on_body(self, body: bytes) -> None:
        self._size += len(body)
        if self._size > self.max_body:
            self._too_large = True
        elif not self._too_large:
            self._body.append(body)

    def on_message_complete(self) -> None:
        raw_method = self.parser.get_method()
        method = _METHODS.get(raw_method)
        if method is None:
            method = raw_method.decode("latin-1")
            if len(_METHODS) < _KNOWN:
                _METHODS[raw_method] = method
        path = _PATHS.get(self._url)
        if path is None:
            path = httptools.parse_url(self._url).path.decode("latin-1") if self._url else "/"
            if len(_PATHS) < _KNOWN:
                _PATHS[self._url] = path
        request = Request(method, path, self._headers, b"".join(self._body))
        if self._too_large:
            request.headers["x-shoal-too-large"] = "1"
        self._push((request, self.parser.should_keep_alive()))

    # -- serving ----------------------------------------------------------------------

    def _fail(self, status: int, text: str) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(_encode(Response.text(status, text), keep_alive=False))
            self.transport.close()

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self.queue:
                self._wakeup = loop.create_future()
                await self._wakeup
                continue
            item = self.queue.popleft()
            if item is None or self.transport is None or self.transport.is_closing():
                return
            request, keep_alive = item
            if "x-shoal-too-large" in request.headers:
                self._fail(413, "request body too large\n")
                return
            try:
                response = await self.handler(request)
            except Exception:
                log.exception("%s %s failed", request.method, request.path)
                response = Response.text(500, "internal error\n")
            if self.transport.is_closing():
                return
            self.transport.write(_encode(response, keep_alive))
            if not keep_alive:
                self.transport.close()
                return


class LeanHTTPServer:
    """Serves ``handler`` on ``host:port`` (``port=0``: a free one, read back after start)."""

    def __init__(self, handler: Handler, host: str, port: int, *,
                 max_body: int = 4 * 1024 * 1024) -> None:
        self.handler = handler
        self.host = host
        self.port = port
        self.max_body = max_body
        self._server: asyncio.Server | None = None
        self._connections: set[_Connection] = set()
        self.accepted = 0  # connections accepted so far

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._accept,
            self.host, self.port,
            reuse_address=True, backlog=1024)
        if self.port == 0:
            self.port = self._server.sockets[0].getsockname()[1]

    def _accept(self) -> _Connection:
        self.accepted += 1
        return _Connection(self.handler, self.max_body, self._connections)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            workers = [c.worker for c in self._connections if c.worker is not None]
            for connection in list(self._connections):
                connection.close()
            await asyncio.gather(*workers, return_exceptions=True)
            await self._server.wait_closed()
            self._server = None
