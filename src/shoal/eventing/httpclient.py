"""A lean HTTP/1.1 client for deliveries: pooled keep-alive connections, httptools' parser.

Every delivery is one POST to a subscriber, usually the same few subscribers over and over;
a general client spends most of its time per request in its own layers (measured here:
about ten times the cost of this one). This client keeps a pool of connections per (host,
port) (``_Pool``: idle ones, a queue of requests waiting for one, a few opened at a time),
sends one request per connection at a time, parses the response with ``httptools``, and
sends again once, on a new connection, when a pooled one turns out to have been closed by
the server. ``begin`` makes a request with no coroutine (``Exchange``), for the
dispatcher's first attempts.

``post`` raises ``ConnectionError`` (an ``OSError``) when the server cannot be reached or
drops the connection; timeouts are the caller's (``Deliverer`` runs them on its clock).
Used by ``shoal.eventing.delivery``; plain ``http://`` only.
"""

from __future__ import annotations

import asyncio
import collections
import functools
from collections.abc import Mapping
from typing import cast
from urllib.parse import urlsplit

import httptools

from shoal.api.names import connect_host

Result = tuple[int, dict[str, str], bytes]


class _Connection(asyncio.Protocol):
    def __init__(self, pool: _Pool) -> None:
        self.pool = pool
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[Result] | None = None
        self.closed = False
        self.used = 0  # requests sent on it so far
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []
        self.keep_alive = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it
        self.transport = cast(asyncio.Transport, transport)
        self.pool.opened += 1
        self.pool.open += 1

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.pool.lost()
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

    def send(self, data: bytes,
             waiter: asyncio.Future[Result] | None = None) -> asyncio.Future[Result]:
        """Write a request; its response comes in ``waiter`` (a new future if None)."""
        assert self.transport is not None
        self.used += 1
        if waiter is None:
            waiter = asyncio.get_running_loop().create_future()
        self.waiter = waiter
        self.transport.write(data)
        return waiter

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class Exchange:
    """A request made with no coroutine (``HTTPClient.begin``): sent at once on an idle
    connection, or queued until one is free, when it is sent from the callback that frees
    it. Its answer (or the reason it failed, a ``ConnectionError`` or another ``OSError``)
    comes in ``response``; then ``finish`` gives the connection back to the pool, or
    ``abandon`` closes it (no answer wanted any more, or it failed). Cancelling
    ``response`` before it is sent takes the request out of the queue."""

    __slots__ = ("connection", "data", "response")

    def __init__(self, data: bytes, response: asyncio.Future[Result]) -> None:
        self.connection: _Connection | None = None
        self.data = data
        self.response = response

    def done(self) -> bool:
        return self.response.done()

    def start(self, connection: _Connection) -> None:
        self.connection = connection
        data, self.data = self.data, b""
        _ = connection.send(data, self.response)

    def finish(self) -> None:
        if self.connection is not None:
            self.connection.pool.release(self.connection)

    def abandon(self) -> None:
        if self.connection is not None:
            self.connection.close()


class _Pool:
    """The connections to one (host, port): idle ones, requests waiting for one, and the
    connections being opened for them.

    A request takes an idle connection if there is one. Otherwise it queues (a coroutine's
    future, or an ``Exchange``), and is handed the first connection that becomes free: one
    that another request gives back, or one opened for the queue. At most
    ``max_connecting`` connections are opened at a time (as MongoDB's drivers bound
    theirs), and no more than there are requests queued: a burst is served mostly by the
    connections that come back, and the pool grows by a few connections at a time while
    the queue lasts. Opening a connection costs both ends far more than a request on one,
    so a dispatcher that fell a few milliseconds behind would otherwise open one per
    queued request, fall further behind doing so, and open more.
    """

    __slots__ = ("host", "idle", "max_connecting", "max_idle", "open", "opened", "opening",
                 "port", "waiters")

    def __init__(self, host: str, port: int, *, max_connecting: int, max_idle: int) -> None:
        self.host = host
        self.port = port
        self.max_connecting = max_connecting
        self.max_idle = max_idle
        self.idle: list[_Connection] = []
        self.waiters: collections.deque[asyncio.Future[_Connection] | Exchange] = \
            collections.deque()
        self.opening: set[asyncio.Task[None]] = set()  # connections being opened for them
        self.open = 0  # connections made and not yet lost
        self.opened = 0  # connections made so far

    def pooled(self) -> _Connection | None:
        """An idle connection that is still open, if any."""
        idle = self.idle
        while idle:
            connection = idle.pop()
            if not connection.closed:
                return connection
        return None

    def exchange(self, data: bytes) -> Exchange:
        """Send a request on an idle connection, else queue it."""
        exchange = Exchange(data, asyncio.get_running_loop().create_future())
        connection = self.pooled()
        if connection is not None:
            exchange.start(connection)
        else:
            self.waiters.append(exchange)
            self._grow()
        return exchange

    async def acquire(self) -> _Connection:
        """An idle connection, else the first that becomes free; raises ``OSError`` when
        the connection opened for this request could not be."""
        connection = self.pooled()
        if connection is not None:
            return connection
        waiter: asyncio.Future[_Connection] = asyncio.get_running_loop().create_future()
        self.waiters.append(waiter)
        self._grow()
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self.release(waiter.result())  # handed over as the request was cancelled
            raise

    async def connect(self) -> _Connection:
        """A connection of its own, opened now (not counted against ``max_connecting``)."""
        loop = asyncio.get_running_loop()
        _, connection = await loop.create_connection(
            functools.partial(_Connection, self), connect_host(self.host), self.port)
        return connection

    def release(self, connection: _Connection) -> None:
        """Take back a connection whose response was read: to the oldest request waiting,
        else idle (closed when it does not keep alive, or too many are idle)."""
        if connection.closed or not connection.keep_alive:
            connection.close()
            return
        waiter = self._next_waiter()
        if isinstance(waiter, Exchange):
            waiter.start(connection)
        elif waiter is not None:
            waiter.set_result(connection)
        elif len(self.idle) >= self.max_idle:
            connection.close()
        else:
            self.idle.append(connection)

    def lost(self) -> None:
        """A connection closed: requests waiting for one get one opened, if need be."""
        self.open -= 1
        if self.waiters:
            self._grow()

    def _grow(self) -> None:
        waiters, opening = self.waiters, self.opening
        while waiters and waiters[0].done():
            del waiters[0]
        while len(opening) < min(self.max_connecting, len(waiters)):
            task = asyncio.get_running_loop().create_task(self._open())
            opening.add(task)
            task.add_done_callback(opening.discard)

    async def _open(self) -> None:
        """Open one connection for the queue: the oldest request waiting gets it (or, when
        none is left, it goes idle). When it cannot be opened, the oldest request fails
        with the reason, and every request fails when no connection is open to bring
        one back."""
        try:
            connection = await self.connect()
        except OSError as exc:
            self._fail(exc, everyone=self.open == 0)
        else:
            self.release(connection)
        self.opening.discard(asyncio.current_task())  # done: no longer counted as opening
        if self.waiters:
            self._grow()

    def _next_waiter(self) -> asyncio.Future[_Connection] | Exchange | None:
        """The oldest request still waiting, taken off the queue."""
        waiters = self.waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                return waiter
        return None

    def _fail(self, exc: OSError, *, everyone: bool) -> None:
        while (waiter := self._next_waiter()) is not None:
            response = waiter.response if isinstance(waiter, Exchange) else waiter
            response.set_exception(exc)
            if not everyone:
                return

    def close(self) -> None:
        for task in self.opening:
            task.cancel()
        for connection in self.idle:
            connection.close()
        self.idle.clear()
        self._fail(ConnectionAbortedError("the HTTP client was closed"), everyone=True)


ROUTES = 1024  # URLs whose request head is kept encoded, per client


class _Route:
    """What a URL's requests share: the start of their head, and the pool of connections
    to its host and port (one for every URL of that host and port)."""

    __slots__ = ("head", "pool")

    def __init__(self, head: bytes, pool: _Pool) -> None:
        self.head = head
        self.pool = pool


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


class HTTPClient:
    """Keeps up to ``max_idle_per_host`` idle connections per (host, port): as many as the
    deliveries in flight to one subscriber, so that a burst does not end in closing and
    opening connections (which costs far more than the request itself); opens at most
    ``max_connecting`` at a time per (host, port) (``_Pool``)."""

    def __init__(self, *, max_idle_per_host: int = 1024, max_connecting: int = 4) -> None:
        self.max_idle_per_host = max_idle_per_host
        self.max_connecting = max_connecting
        self._pools: dict[tuple[str, int], _Pool] = {}
        self._routes: dict[str, _Route] = {}

    def _route(self, url: str) -> _Route:
        route = self._routes.get(url)
        if route is None:
            host, port, start = _split(url)
            head = f"{start}\r\ncontent-length: ".encode("latin-1")
            if len(self._routes) >= ROUTES:
                self._routes.clear()
            pool = self._pools.get((host, port))
            if pool is None:
                pool = self._pools[host, port] = _Pool(
                    host, port, max_connecting=self.max_connecting,
                    max_idle=self.max_idle_per_host)
            route = self._routes[url] = _Route(head, pool)
        return route

    def opened(self, url: str) -> int:
        """How many connections this client has opened to the URL's host and port."""
        return self._route(url).pool.opened

    def begin(self, url: str, headers: Mapping[str, str], body: bytes) -> Exchange | None:
        """POST with no coroutine: at once on an idle connection to the URL's host, else
        as soon as one is free (``Exchange``); None when the URL cannot be posted to
        (``post`` says why). Unlike ``post``, a pooled connection the server had closed
        fails the exchange, which then was no attempt (``post`` sends it again if need
        be); so does a connection that could not be opened for it."""
        try:
            route = self._routes.get(url) or self._route(url)
        except ConnectionError:
            return None
        return route.pool.exchange(_request(route, headers, body))

    async def post(self, url: str, headers: Mapping[str, str], body: bytes) -> Result:
        """POST and read the response. A connection that had served requests before and
        fails before answering may have been closed by the server meanwhile: the request
        is sent once more, on a connection opened for it."""
        route = self._routes.get(url) or self._route(url)
        data = _request(route, headers, body)
        pool = route.pool
        connection = await pool.acquire()
        while True:
            try:
                result = await connection.send(data)
            except ConnectionError:
                connection.close()
                if connection.used > 1:
                    connection = await pool.connect()
                    continue
                raise
            except BaseException:
                connection.close()
                raise
            pool.release(connection)
            return result

    async def close(self) -> None:
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()
        self._routes.clear()
