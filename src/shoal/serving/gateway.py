"""The serving gateway: one HTTP/1.1 listener in front of every Knative Service.

A reverse proxy on asyncio protocols and httptools (no web framework on the hot path).
For each request on a client connection it looks up the Host header (and the
``Knative-Serving-Tag`` header) in the ``RoutingTable``, picks the revision and one of its
endpoints, and forwards the request over a pooled keep-alive connection to that instance
(``shoal.serving.upstream``) with ``X-Forwarded-For/-Proto/-Host`` and ``Forwarded`` added
(``shoal.serving.http1``). Bodies stream both ways as they arrive; a full write buffer on
one side pauses reading on the other, so a large upload or download holds at most a few
hundred KiB here. A 101 answer to an upgrade request splices the two connections
(``shoal.serving.tunnel``).

Most requests and responses take a quick path (``http1.quick_request`` and
``http1.quick_response``): a complete, strictly well-formed head without a body to frame
or hop-by-hop headers to drop is read from the raw bytes without the general parser; the
request head goes upstream as it came, with the forwarding fields (cached per client
connection and Host) spliced in; the response, head and body, goes to the client in the
bytes it came in (one write each way). Everything else takes the general path: httptools
parses the head field by field and ``http1`` rebuilds it.

Client connections keep alive and may pipeline: requests are answered in order, one at a
time per connection. What the gateway answers itself, as Knative does (the connection
stays open after it unless a request body is still unread):

- 404 for a host no Route serves (the body lists the external hosts, for local use);
- 503 when the revision has no room left to hold the request (``shoal.serving.activator``:
  the activator's queue, or an instance's queue when the activator is out of the path);
- 502 when the instance cannot be reached or closes the connection before answering (a
  reused pooled connection that turns out closed is retried once on a new one when the
  request has no body);
- 504 ``request timeout`` when the revision's ``timeoutSeconds`` passes (the whole
  request, held time included), its ``responseStartTimeoutSeconds`` passes before the
  first byte of the response, or its ``idleTimeoutSeconds`` passes between two writes of
  the response; once the response is under way, the connection is cut instead.

Each request holds a slot of one instance (``RevisionBackend.acquire``) from the moment it
is forwarded until its response ends, or waits for one; the backend counts it in the
revision's concurrency and request metrics that the autoscaler reads.

``stop()`` shuts down in order: stop accepting, close idle connections, let requests in
flight finish (each connection closes after its current response) until the deadline,
abort what is left, close the pool.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, cast

import httptools

from shoal.serving import http1
from shoal.serving.activator import QUEUE_FULL, Activator, Overloaded, RevisionBackend
from shoal.serving.http1 import Fields, Framing
from shoal.serving.routing import RoutingTable
from shoal.serving.tunnel import CLIENT, Tunnel
from shoal.serving.upstream import Upstream, UpstreamPool

log = logging.getLogger("shoal.serving.gateway")

TIMEOUT_BODY = "request timeout\n"  # what Knative's queue-proxy answers with its 504
SWEEP = 0.1  # seconds between checks of the requests' deadlines
MAX_HEAD = 64 * 1024  # bytes of request line and headers
MAX_PIPELINE = 16  # requests queued on one connection before reading pauses
BUFFER_LIMIT = 256 * 1024  # request body held while no upstream connection is attached
LINGER = 2.0  # seconds a connection closing after an early answer keeps discarding a body

# why a client connection's reading is paused, a bit each
_PAUSE_UPSTREAM = 1  # the instance's connection does not take more bytes
_PAUSE_BUFFER = 2  # the request body waits for a connection to the instance
_PAUSE_PIPELINE = 4  # too many requests queued
_PAUSE_EARLY = 8  # bytes after an upgrade request wait for the 101


@dataclass
class GatewayStats:
    """Counters for tests and benchmarks."""

    connections: int = 0  # client connections accepted
    requests: int = 0  # request heads parsed
    tunnels: int = 0  # upgraded connections spliced
    peak_buffered: int = 0  # most bytes held for one connection at once (write buffers too)


class _HeadTooLarge(Exception):
    pass


class _Exchange:
    """One request and its response, from the request's head to the response's end."""

    # per-exchange state that starts the same for every request (class defaults make
    # creating an exchange, once per request, cheaper)
    upstream: Upstream | None = None
    upstream_paused = False
    request_done = False
    body_seen = False
    buffered = 0  # body bytes in ``out`` while no upstream is attached
    started = False  # the response head went to the client
    done = False
    framing = Framing.NONE
    until_close = False
    close_after = False
    retried = False
    revision = ""
    endpoint = ""
    backend: RevisionBackend | None = None
    waiting = False
    status = 0
    began = 0.0
    last = 0.0  # the latest write of the response, for the idle timeout
    total = 0.0  # the timeouts of this request, 0 for none
    first_byte = 0.0
    idle = 0.0
    task: asyncio.Task[None] | None = None

    def __init__(self, client: _ClientConnection, head: bytes, host: str, tag: str | None,
                 chunked: bool, head_request: bool, keep_alive: bool, http11: bool,
                 upgrade: bool, request_done: bool) -> None:
        self.client = client
        self.request_done = request_done  # (a request without a body is, once its head is)
        self.head = head
        self.host = host
        self.tag = tag
        self.chunked = chunked
        self.head_request = head_request
        self.keep_alive = keep_alive
        self.http11 = http11
        self.upgrade = upgrade
        self.out: list[bytes] = [head]  # for the instance, not yet written

    # what upstream.Receiver asks for: the client's own batching of writes
    def hold(self) -> None:
        self.client.hold()

    def flush(self) -> None:
        self.client.flush()

    # -- routing and connecting -------------------------------------------------------

    def start(self) -> None:
        """The exchange is the connection's current one: route it and connect."""
        gateway = self.client.gateway
        hit = gateway.table.lookup(self.host, self.tag)
        if hit is None:
            self.local(404, gateway.unknown_host(self.host))
            return
        revision = hit[1]
        self.revision = revision
        backend = gateway.backends.get(revision) or gateway.activator.backend(revision)
        now = self.began = self.last = gateway.clock()
        limits = backend.timeouts
        total = self.total = limits.total
        first_byte = self.first_byte = limits.response_start
        idle = self.idle = limits.idle
        if total > 0 or first_byte > 0 or idle > 0:
            # the gateway's sweep checks the deadlines (one periodic timer for every
            # request is cheaper than a timer each)
            gateway.watch(self)
        try:
            endpoint = backend.acquire(self, now)
        except Overloaded:
            backend.stats.observe(503, 0.0)
            self.local(503, QUEUE_FULL)
            return
        self.backend = backend
        if endpoint is None:
            self.waiting = True
            return
        self.endpoint = endpoint
        upstream = gateway.pool.acquire(endpoint)
        if upstream is not None:
            self.attach(upstream)
        else:
            self.task = gateway.spawn(self.connect(endpoint))

    def granted(self, address: str) -> None:
        """The activator found a slot for this waiting request."""
        self.waiting = False
        if self.done:  # pragma: no cover - a finished exchange has left the queue
            if self.backend is not None:
                self.backend.release(address, self.client.gateway.clock())
            return
        self.dial(address)

    def dial(self, endpoint: str) -> None:
        self.endpoint = endpoint
        upstream = self.client.gateway.pool.acquire(endpoint)
        if upstream is not None:
            self.attach(upstream)
        else:
            self.task = self.client.gateway.spawn(self.connect(endpoint))

    async def connect(self, endpoint: str) -> None:
        try:
            upstream = await self.client.gateway.pool.connect(endpoint)
        except (OSError, ValueError) as exc:
            self.task = None
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            self.local(502, f"cannot connect to revision {self.revision} at {endpoint}: "
                            f"{reason}\n")
            return
        self.task = None
        if self.done:  # pragma: no cover - a finished exchange cancels its task
            upstream.close()
            return
        self.attach(upstream)

    def attach(self, upstream: Upstream) -> None:
        self.upstream = upstream
        upstream.attach(self, self.head_request)
        client = self.client
        if client.writing_paused:
            upstream.pause_reading()
        if not client.feeding:
            self.flush_up()

    # -- the request, towards the instance --------------------------------------------

    def flush_up(self) -> None:
        upstream = self.upstream
        out = self.out
        if upstream is None or not out:
            return
        self.out = []
        if len(out) == 1:
            upstream.write(out[0])
        else:
            upstream.writelines(out)
        if self.upstream_paused:
            self.client.gateway.note_buffered(upstream.buffered())
        if self.buffered:
            self.buffered = 0
            self.client.resume(_PAUSE_BUFFER)

    def _send_up(self, data: bytes) -> None:
        if self.upstream is not None and not self.client.feeding:
            self.upstream.write(data)
            return
        self.out.append(data)
        if self.upstream is None:
            self.buffered += len(data)
            self.client.gateway.note_buffered(self.buffered)
            if self.buffered > BUFFER_LIMIT:
                self.client.pause(_PAUSE_BUFFER)

    def request_body(self, data: bytes) -> None:
        if self.done:
            return
        self.body_seen = True
        if self.chunked:
            for piece in http1.chunk(data):
                self._send_up(piece)
        else:
            self._send_up(data)

    def request_complete(self) -> None:
        self.request_done = True
        if self.chunked and not self.done:
            self._send_up(http1.LAST_CHUNK)

    # -- the response, from the instance (upstream.Receiver) ----------------------------

    def on_response_head(self, status: int, head: bytes) -> None:
        if self.done:
            return
        if status < 200 and status != 101:  # an interim answer; the final one follows
            if self.http11:
                self.client.send(http1.interim_head(status, head))
            return
        if status == 101 and not self.upgrade:
            self.local(502, f"revision {self.revision} switched protocols unasked\n")
            return
        client = self.client
        self.status = status
        if self.idle:
            self.last = client.gateway.clock()
        close = (not self.keep_alive or not self.request_done or client.draining
                 or (self.upgrade and status != 101))
        response = http1.forward_response_head(status, head, head_request=self.head_request,
                                               http11=self.http11, close=close)
        self.started = True
        self.framing = response.framing
        self.until_close = response.until_close
        self.close_after = response.close
        client.send(response.data)

    def on_quick_response(self, status: int, data: bytes, end: int, complete: bool) -> None:
        if self.done:
            return
        client = self.client
        self.status = status
        if self.idle:
            self.last = client.gateway.clock()
        close = self.close_after = (not self.keep_alive or not self.request_done
                                    or client.draining or self.upgrade)
        self.started = True
        if close:
            data = data[:end - 2] + b"connection: close\r\n\r\n" + data[end:]
        elif not self.http11:
            data = data[:end - 2] + b"connection: keep-alive\r\n\r\n" + data[end:]
        client.send(data)
        if complete:
            self._release(self.request_done)
            client.exchange_done(self)
        else:  # the rest of a Content-Length body follows (nothing when HEAD, 204, 304)
            self.framing = Framing.LENGTH

    def on_response_body(self, data: bytes) -> None:
        if self.done:
            return
        if self.idle:
            self.last = self.client.gateway.clock()
        if self.framing is Framing.CHUNKED:
            self.client.send_pieces(http1.chunk(data))
        elif self.framing is not Framing.NONE:
            self.client.send(data)

    def on_response_complete(self, keep_alive: bool) -> None:
        if self.done:
            return
        if self.framing is Framing.CHUNKED:
            self.client.send(http1.LAST_CHUNK)
        self._finish(keep_alive and self.request_done)

    def on_upgraded(self, rest: bytes) -> None:
        upstream = self.upstream
        if self.done or upstream is None or not self.started:
            if upstream is not None:
                upstream.close()
            return
        self.upstream = None
        self._release(False)
        self.client.start_tunnel(self, upstream, rest)

    def on_upstream_lost(self, reason: str) -> None:
        if self.done:
            return
        upstream, self.upstream = self.upstream, None
        if self.started:
            if not self.until_close:
                self.client.abort()  # the body is cut short: the client must see it
                return
            if self.framing is Framing.CHUNKED:
                self.client.send(http1.LAST_CHUNK)
            self._finish(False)
            return
        if (upstream is not None and upstream.uses > 1 and not upstream.answered
                and not self.retried and self.request_done and not self.body_seen):
            self.retried = True  # a pooled connection the instance had closed
            self.out = [self.head]
            self.task = self.client.gateway.spawn(self.connect(self.endpoint))
            return
        self.local(502, f"revision {self.revision} at {self.endpoint}: {reason} before "
                        f"answering\n")

    def on_upstream_paused(self, paused: bool) -> None:
        if self.done:
            return
        self.upstream_paused = paused
        if paused:
            if self.upstream is not None:
                self.client.gateway.note_buffered(self.upstream.buffered())
            self.client.pause(_PAUSE_UPSTREAM)
        else:
            self.client.resume(_PAUSE_UPSTREAM)

    # -- endings ----------------------------------------------------------------------

    def local(self, status: int, text: str) -> None:
        """Answer the client from here (and drop any upstream connection)."""
        if self.done:
            return
        if self.started:
            self.client.abort()
            return
        close = (not self.keep_alive or not self.request_done or self.client.draining
                 or self.upgrade)
        self.client.send(http1.local_response(status, text, close=close))
        self.status = status
        self.started = True
        self.close_after = close
        self._finish(False)

    def expired(self, now: float) -> bool:
        return ((self.total > 0 and now - self.began >= self.total)
                or (self.first_byte > 0 and not self.started
                    and now - self.began >= self.first_byte)
                or (self.idle > 0 and now - self.last >= self.idle))

    def timed_out(self) -> None:
        if self.done:
            return
        if self.started:
            self.client.abort()
        else:
            self.local(504, TIMEOUT_BODY)

    def _release(self, reuse: bool) -> None:
        self.done = True
        gateway = self.client.gateway
        gateway.timed.discard(self)
        backend = self.backend
        if backend is not None:
            self.backend = None
            now = gateway.clock()
            if self.waiting:
                self.waiting = False
                backend.cancel(self, now, self.status, now - self.began)
            else:
                backend.release(self.endpoint, now, self.status, now - self.began)
        task = self.task
        if task is not None:
            self.task = None
            if task is not asyncio.current_task():
                task.cancel()
        upstream = self.upstream
        if upstream is not None:
            self.upstream = None
            if reuse:
                gateway.pool.release(upstream)
            else:
                upstream.close()
        if self.out:
            self.out = []
        if self.upstream_paused:
            self.upstream_paused = False
            self.client.resume(_PAUSE_UPSTREAM)
        if self.buffered:
            self.buffered = 0
            self.client.resume(_PAUSE_BUFFER)

    def _finish(self, reuse: bool) -> None:
        self._release(reuse)
        self.client.exchange_done(self)

    def abandon(self) -> None:
        """The client went away."""
        if not self.done:
            self._release(False)


class _ClientConnection(asyncio.Protocol):
    """A connection from a client: parses requests and answers them in order."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.ip = b""
        self.ip_for = b""
        self.queue: deque[_Exchange] = deque()  # the first is the current one
        self.receiving: _Exchange | None = None  # the request whose body is arriving
        self.batch: list[bytes] | None = None
        self.feeding = False
        self.paused = 0
        self.writing_paused = False
        self.tunnel: Tunnel | None = None
        self.early: list[bytes] | None = None  # bytes after an upgrade request
        self.closed = False
        self.draining = False
        self.lingering = False
        self.ignore = False  # the last request did not keep alive: parse no more
        self.in_message = False  # the general parser is inside a request
        self._url = b""
        self._fields: Fields = []
        self._head_size = 0
        # the forwarding fields of the last quick request's Host, as bytes and as str
        self._for_host = b""
        self._forwarding = b""
        self._host = ""

    # -- asyncio.Protocol -------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        ip = str(peer[0]) if isinstance(peer, tuple) and peer else "unknown"
        self.ip = ip.encode("latin-1")
        self.ip_for = http1.forwarded_for(ip)
        self.gateway.clients.add(self)
        self.gateway.stats.connections += 1
        if self.gateway.stopping:
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.tunnel is not None:
            self.tunnel.close()
        for exchange in self.queue:
            exchange.abandon()
        self.queue.clear()
        if self.receiving is not None:
            self.receiving.abandon()
            self.receiving = None
        self.gateway.connection_closed(self)

    def data_received(self, data: bytes) -> None:
        if self.tunnel is not None:
            self.tunnel.forward(CLIENT, data)
            return
        if self.early is not None:
            self.early.append(data)
            self.pause(_PAUSE_EARLY)
            return
        if self.ignore:
            return
        if not self.in_message:
            data = self._quick(data)
            if not data:
                return
        self.feeding = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            rest = data[upgrade.args[0]:]
            self.early = [rest] if rest else []
            if rest:
                self.pause(_PAUSE_EARLY)
        except httptools.HttpParserError as exc:
            if not self.ignore:
                self._malformed(exc)
        finally:
            self.feeding = False
            if self.queue:
                self.queue[0].flush_up()

    def eof_received(self) -> bool | None:
        if self.tunnel is not None:
            return self.tunnel.ended(CLIENT)
        if self.queue:  # answer what was asked, then close
            self.draining = True
            return True
        return None

    def pause_writing(self) -> None:
        self.writing_paused = True
        if self.transport is not None:
            self.gateway.note_buffered(self.transport.get_write_buffer_size())
        if self.tunnel is not None:
            self.tunnel.writing_paused(CLIENT, True)
        elif self.queue and self.queue[0].upstream is not None:
            self.queue[0].upstream.pause_reading()

    def resume_writing(self) -> None:
        self.writing_paused = False
        if self.tunnel is not None:
            self.tunnel.writing_paused(CLIENT, False)
        elif self.queue and self.queue[0].upstream is not None:
            self.queue[0].upstream.resume_reading()

    # -- httptools callbacks ----------------------------------------------------------

    def _quick(self, data: bytes) -> bytes:
        """Take the requests at the start of ``data`` that the quick path reads (see
        ``http1.quick_request``); what is left is for the general parser."""
        start = 0
        size = len(data)
        while start < size:
            quick = http1.quick_request(data, start)
            if quick is None or quick[0] - start > MAX_HEAD:
                break
            end, host, tag, keep_alive, cut_from, cut_to = quick
            if host != self._for_host:
                self._for_host = host
                self._host = host.decode("latin-1")
                self._forwarding = http1.forwarding_fields(host, self.ip, self.ip_for)
            if cut_to:
                head = data[start:cut_from] + data[cut_to:end - 2] + self._forwarding
            else:
                head = data[start:end - 2] + self._forwarding
            exchange = _Exchange(self, head, self._host, tag.decode("latin-1") if tag else None,
                                 False, data.startswith(b"HEAD ", start), keep_alive, True,
                                 False, True)
            self._begin(exchange)
            start = end
            if not keep_alive:
                self.ignore = True
            if self.ignore or self.closed:
                return b""
        return data[start:] if start else data

    def on_message_begin(self) -> None:
        self.in_message = True
        self._url = b""
        self._fields = []
        self._head_size = 0

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._head_size += len(url)
        if self._head_size > MAX_HEAD:
            raise _HeadTooLarge

    def on_header(self, name: bytes, value: bytes) -> None:
        self._fields.append((name, value))
        self._head_size += len(name) + len(value) + 4
        if self._head_size > MAX_HEAD:
            raise _HeadTooLarge

    def on_headers_complete(self) -> None:
        parser = self.parser
        method = parser.get_method()
        upgrade = parser.should_upgrade()
        head = http1.request_head(method, self._url or b"/", self._fields, self.ip,
                                  self.ip_for, upgrade=upgrade)
        exchange = _Exchange(self, head.data, head.host, head.tag, head.chunked,
                             method == b"HEAD", parser.should_keep_alive(),
                             parser.get_http_version() == "1.1", upgrade,
                             not head.body and not upgrade)
        self.receiving = exchange
        self._begin(exchange)

    def _begin(self, exchange: _Exchange) -> None:
        self.gateway.stats.requests += 1
        queue = self.queue
        queue.append(exchange)
        if len(queue) == 1:
            exchange.start()
        elif len(queue) >= MAX_PIPELINE:
            self.pause(_PAUSE_PIPELINE)

    def on_body(self, body: bytes) -> None:
        if self.receiving is not None:
            self.receiving.request_body(body)

    def on_message_complete(self) -> None:
        self.in_message = False
        exchange, self.receiving = self.receiving, None
        if exchange is None:
            return
        exchange.request_complete()
        if self.lingering:
            self.close()
        elif not exchange.keep_alive:
            self.ignore = True

    # -- writing to the client --------------------------------------------------------

    def hold(self) -> None:
        if self.batch is None:
            self.batch = []

    def flush(self) -> None:
        batch, self.batch = self.batch, None
        if not batch or self.closed or self.transport is None:
            return
        # one write either way; joining small pieces costs less than a vectored write
        if len(batch) == 1:
            self.transport.write(batch[0])
        elif len(batch) < 8 and len(batch[-1]) < 16384:
            self.transport.write(b"".join(batch))
        else:
            self.transport.writelines(batch)
        if self.writing_paused:
            self.gateway.note_buffered(self.transport.get_write_buffer_size())

    def send(self, data: bytes) -> None:
        if self.closed or self.transport is None:
            return
        if self.batch is not None:
            self.batch.append(data)
        else:
            self.transport.write(data)
            if self.writing_paused:
                self.gateway.note_buffered(self.transport.get_write_buffer_size())

    def send_pieces(self, pieces: tuple[bytes, ...]) -> None:
        if self.batch is not None:
            self.batch.extend(pieces)
        elif not self.closed and self.transport is not None:
            self.transport.writelines(pieces)
            if self.writing_paused:
                self.gateway.note_buffered(self.transport.get_write_buffer_size())

    # -- flow -------------------------------------------------------------------------

    def pause(self, reason: int) -> None:
        was = self.paused
        self.paused |= reason
        if not was and not self.closed and self.transport is not None:
            self.transport.pause_reading()

    def resume(self, reason: int) -> None:
        if not self.paused & reason:
            return
        self.paused &= ~reason
        if not self.paused and not self.closed and self.transport is not None:
            self.transport.resume_reading()

    def exchange_done(self, exchange: _Exchange) -> None:
        queue = self.queue
        if queue and queue[0] is exchange:
            queue.popleft()
        if exchange.close_after or self.draining:
            if exchange is self.receiving and not self.closed:
                self._linger()  # read the rest of the body so the answer is not reset
            else:
                self.close()
            return
        if self.paused & _PAUSE_PIPELINE and len(queue) < MAX_PIPELINE:
            self.resume(_PAUSE_PIPELINE)
        if queue:
            queue[0].start()

    def _linger(self) -> None:
        self.flush()
        self.lingering = True
        self.ignore = False
        self.paused = 0
        if self.transport is not None:
            self.transport.resume_reading()
        self.gateway.loop.call_later(LINGER, self.close)

    def start_tunnel(self, exchange: _Exchange, upstream: Upstream, rest: bytes) -> None:
        if self.queue and self.queue[0] is exchange:
            self.queue.popleft()
        if self.transport is None or upstream.transport is None or self.closed:
            upstream.close()
            return
        tunnel = self.tunnel = upstream.tunnel = Tunnel(self.transport, upstream.transport)
        upstream.receiver = None
        if rest:
            self.send(rest)
        for data in self.early or ():
            upstream.write(data)
        self.early = None
        self.resume(self.paused)
        if self.writing_paused:
            tunnel.writing_paused(CLIENT, True)
        elif upstream.reading_paused:
            upstream.resume_reading()
        self.gateway.stats.tunnels += 1

    def _malformed(self, exc: httptools.HttpParserError) -> None:
        self.ignore = True
        if self.queue:  # an answer is under way; this connection cannot go on after it
            self.draining = True
            return
        too_large = isinstance(exc.__context__, _HeadTooLarge)
        if isinstance(exc, httptools.HttpParserCallbackError) and not too_large:
            log.error("gateway: handling a request failed", exc_info=exc.__context__)
        status, text = (431, "request header too large\n") if too_large else (
            400, "malformed HTTP request\n")
        self.send(http1.local_response(status, text, close=True))
        self.close()

    def drain(self) -> None:
        """The gateway stops: close now if idle, else after the current response."""
        self.draining = True
        if not self.queue and self.tunnel is None:
            self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.flush()
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()


class Gateway:
    """The reverse proxy serving ``table`` on ``host:port`` (``port=0``: a free one, read
    back from ``port`` after ``start``)."""

    def __init__(self, table: RoutingTable, host: str = "127.0.0.1", port: int = 8080, *,
                 activator: Activator | None = None,
                 max_idle_per_endpoint: int = 64) -> None:
        self.table = table
        self.host = host
        self.port = port
        self.activator = activator or Activator(time.monotonic)
        self.backends = self.activator.backends
        self.clock = self.activator.clock
        self.pool = UpstreamPool(max_idle_per_endpoint=max_idle_per_endpoint)
        self.stats = GatewayStats()
        self.clients: set[_ClientConnection] = set()
        self.stopping = False
        self._server: asyncio.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._drained: asyncio.Event | None = None
        self.timed: set[_Exchange] = set()  # requests with deadlines, checked by the sweep
        self._sweeping: asyncio.TimerHandle | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        assert self._loop is not None, "the gateway is not started"
        return self._loop

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.stopping = False
        self._server = await self._loop.create_server(
            lambda: _ClientConnection(self), self.host, self.port,
            reuse_address=True, backlog=1024)
        if self.port == 0:
            self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self, timeout: float = 10.0) -> None:
        """Stop accepting, let requests in flight finish for up to ``timeout`` seconds,
        then close every connection."""
        server, self._server = self._server, None
        if server is None:
            return
        self.stopping = True
        server.close()
        for client in list(self.clients):
            client.drain()
        if self.clients:
            self._drained = asyncio.Event()
            try:
                async with asyncio.timeout(timeout):
                    await self._drained.wait()
            except TimeoutError:
                log.warning("gateway: %d connections still busy after %gs; closing them",
                            len(self.clients), timeout)
        for client in list(self.clients):
            client.abort()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.pool.close()
        if self._sweeping is not None:
            self._sweeping.cancel()
            self._sweeping = None
        self.timed.clear()
        await server.wait_closed()

    # -- for the connections ----------------------------------------------------------

    def spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = self.loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def watch(self, exchange: _Exchange) -> None:
        self.timed.add(exchange)
        if self._sweeping is None:
            self._sweeping = self.loop.call_later(SWEEP, self._sweep)

    def _sweep(self) -> None:
        """Answer or cut the requests whose deadlines passed; again while any is left."""
        self._sweeping = None
        now = self.clock()
        for exchange in [e for e in self.timed if e.expired(now)]:
            self.timed.discard(exchange)
            exchange.timed_out()
        if self.timed:
            self._sweeping = self.loop.call_later(SWEEP, self._sweep)

    def note_buffered(self, size: int) -> None:
        if size > self.stats.peak_buffered:
            self.stats.peak_buffered = size

    def connection_closed(self, client: _ClientConnection) -> None:
        self.clients.discard(client)
        if not self.clients and self._drained is not None:
            self._drained.set()

    def unknown_host(self, host: str) -> str:
        hosts = self.table.external_hosts()
        known = ", ".join(hosts[:20]) + (f" and {len(hosts) - 20} more" if len(hosts) > 20
                                         else "")
        shown = repr(host[:200]) if host else "(no Host header)"
        return (f"no Knative Service answers to host {shown}; known hosts: "
                f"{known or 'none'}\n")
