"""A lean HTTP/1.1 client for deliveries: pooled keep-alive connections, httptools' parser.

Every delivery is one POST to a subscriber, usually the same few subscribers over and over;
a general client spends most of its time per request in its own layers (measured here:
about ten times the cost of this one). This client keeps idle connections per (host, port),
sends one request per connection at a time, parses the response with ``httptools``, and
reconnects once when a pooled connection turns out to have been closed by the server.

``post`` raises ``ConnectionError`` (an ``OSError``) when the server cannot be reached or
drops the connection; timeouts are the caller's (``Deliverer`` runs them on its clock).
Used by ``shoal.eventing.delivery``; plain ``http://`` only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import cast
from urllib.parse import urlsplit

import httptools

from shoal.api.names import connect_host

Result = tuple[int, dict[str, str], bytes]


class _Connection(asyncio.Protocol):
    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[Result] | None = None
        self.closed = False
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []
        self.keep_alive = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionResetError(
                "the server closed the connection before answering"))

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            if self.waiter is not None and not self.waiter.done():
                self.waiter.set_exception(ConnectionError(f"malformed HTTP response: {exc}"))
            self.close()

    def on_message_begin(self) -> None:
        self._headers, self._body = {}, []

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        self._headers[key] = f"{self._headers[key]}, {text}" if key in self._headers else text

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        self.keep_alive = self.parser.should_keep_alive()
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result((self.parser.get_status_code(), self._headers,
                                    b"".join(self._body)))

    def send(self, data: bytes) -> asyncio.Future[Result]:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return self.waiter

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


ROUTES = 1024  # URLs whose request head is kept encoded, per client


class _Route:
    """What a URL's requests share: the start of their head, and the idle connections to
    its host and port (one list for every URL of that host and port)."""

    __slots__ = ("head", "host", "idle", "port")

    def __init__(self, host: str, port: int, head: bytes, idle: list[_Connection]) -> None:
        self.host = host
        self.port = port
        self.head = head
        self.idle = idle


def _split(url: str) -> tuple[str, int, str]:
    """Host, port and the start of the request head (request line and Host) of a URL."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise ConnectionError(f"unsupported URL {url!r}: only http:// is delivered to")
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    return parts.hostname, parts.port or 80, f"POST {target} HTTP/1.1\r\nhost: {parts.netloc}"


_OWN_HEADERS = frozenset(("host", "content-length"))


def _header_lines(headers: Mapping[str, str]) -> str:
    return "".join([f"{key}: {value}\r\n" for key, value in headers.items()
                    if key.lower() not in _OWN_HEADERS])


def _request(route: _Route, headers: Mapping[str, str], body: bytes) -> bytes:
    lines = headers.encoded if isinstance(headers, EncodedHeaders) \
        else _header_lines(headers).encode("latin-1")
    return b"".join((route.head, b"%d\r\n" % len(body), lines, b"\r\n", body))


class EncodedHeaders(dict[str, str]):
    """Request headers with their lines encoded once, for a caller that sends the same
    headers many times (one event to many subscribers). Host and Content-Length are the
    client's own and never taken from here."""

    def __init__(self, headers: Mapping[str, str]) -> None:
        super().__init__(headers)
        self.lines = _header_lines(self)
        self._encoded: bytes | None = None

    @property
    def encoded(self) -> bytes:
        """``lines`` as sent (encoded when first sent, as other headers are)."""
        if self._encoded is None:
            self._encoded = self.lines.encode("latin-1")
        return self._encoded


class Exchange:
    """A request sent at once on a pooled connection (``HTTPClient.begin``): its answer
    comes in ``response``; then ``finish`` gives the connection back to the pool, or
    ``abandon`` closes it (no answer wanted any more, or it failed)."""

    __slots__ = ("_client", "_route", "connection", "response")

    def __init__(self, client: HTTPClient, route: _Route, connection: _Connection,
                 response: asyncio.Future[Result]) -> None:
        self._client = client
        self._route = route
        self.connection = connection
        self.response = response

    def finish(self) -> None:
        self._client._release(self._route, self.connection)

    def abandon(self) -> None:
        self.connection.close()


def _pooled(route: _Route) -> _Connection | None:
    """An idle connection to the route's host and port that is still open, if any."""
    idle = route.idle
    while idle:
        connection = idle.pop()
        if not connection.closed:
            return connection
    return None


class HTTPClient:
    """Keeps up to ``max_idle_per_host`` idle connections per (host, port): as many as the
    deliveries in flight to one subscriber, so that a burst does not end in closing and
    opening connections (which costs far more than the request itself)."""

    def __init__(self, *, max_idle_per_host: int = 1024) -> None:
        self.max_idle_per_host = max_idle_per_host
        self._idle: dict[tuple[str, int], list[_Connection]] = {}
        self._routes: dict[str, _Route] = {}

    def _route(self, url: str) -> _Route:
        route = self._routes.get(url)
        if route is None:
            host, port, start = _split(url)
            head = f"{start}\r\ncontent-length: ".encode("latin-1")
            if len(self._routes) >= ROUTES:
                self._routes.clear()
            route = self._routes[url] = _Route(
                host, port, head, self._idle.setdefault((host, port), []))
        return route

    def begin(self, url: str, headers: Mapping[str, str], body: bytes) -> Exchange | None:
        """Send a POST at once, with no coroutine, when a pooled connection to the URL's
        host is open; None when there is none (``post`` connects) or the URL cannot be
        posted to (``post`` says why). A connection the server had closed fails the
        exchange: then ``post`` tries again on a new one, as it would have."""
        try:
            route = self._routes.get(url) or self._route(url)
        except ConnectionError:
            return None
        connection = _pooled(route)
        if connection is None:
            return None
        return Exchange(self, route, connection, connection.send(_request(route, headers, body)))

    async def post(self, url: str, headers: Mapping[str, str], body: bytes) -> Result:
        route = self._routes.get(url) or self._route(url)
        data = _request(route, headers, body)
        for fresh in (False, True):
            connection = None if fresh else _pooled(route)
            if connection is None:
                connection = await self._connect(route)
            try:
                status, response_headers, payload = await connection.send(data)
            except ConnectionError:
                connection.close()
                if fresh:
                    raise
                continue  # a pooled connection the server had closed: once more, new
            except BaseException:
                connection.close()
                raise
            self._release(route, connection)
            return status, response_headers, payload
        raise ConnectionError("unreachable")  # pragma: no cover - the loop returns or raises

    async def _connect(self, route: _Route) -> _Connection:
        loop = asyncio.get_running_loop()
        _, connection = await loop.create_connection(
            _Connection, connect_host(route.host), route.port)
        return connection

    def _release(self, route: _Route, connection: _Connection) -> None:
        if connection.closed or not connection.keep_alive:
            connection.close()
            return
        idle = route.idle
        if len(idle) >= self.max_idle_per_host:
            connection.close()
        else:
            idle.append(connection)

    async def close(self) -> None:
        for idle in self._idle.values():
            for connection in idle:
                connection.close()
            idle.clear()
        self._idle.clear()
        self._routes.clear()
