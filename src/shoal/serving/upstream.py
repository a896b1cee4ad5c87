"""Connections from the gateway to revision instances, and the keep-alive pool of them.

An ``Upstream`` is one HTTP/1.1 connection to an instance (``host:port``), carrying one
request at a time. It parses the response with httptools and reports each part to the
``Receiver`` it is attached to (the gateway's exchange for that request) as it arrives, so
bodies stream through without being gathered. A plain response (``http1.quick_response``:
HTTP/1.1, no hop-by-hop headers, a Content-Length or no body) skips the parser: the
first read goes to the receiver whole (``on_quick_response``) and the rest of the body is
counted, not parsed; bytes beyond it keep the connection out of the pool. After a
complete response on a connection both sides keep alive, the gateway hands it back to
the ``UpstreamPool``, which keeps a bounded number of idle connections per endpoint (the
most recently used goes out first) and forgets those the instance closes while idle.
After ``101 Switching Protocols`` the connection is spliced to the client
(``shoal.serving.tunnel``) and never pooled.
"""

from __future__ import annotations

import asyncio
import typing
from typing import cast

import httptools

from shoal.serving import http1
from shoal.serving.tunnel import UPSTREAM, Tunnel


class Receiver(typing.Protocol):
    """What an upstream connection reports to while a request is on it."""

    def hold(self) -> None:
        """Bytes for the client from now until ``flush()`` may go out in one write."""

    def flush(self) -> None: ...

    def on_response_head(self, status: int, head: bytes) -> None:
        """A response head came, raw (``head`` ends with CRLF CRLF)."""

    def on_quick_response(self, status: int, data: bytes, end: int, complete: bool) -> None:
        """A response the quick path read (``http1.quick_response``): its head is
        ``data[:end]`` and the rest of ``data`` its body so far; ``complete``: that is all
        of it (else the rest comes to ``on_response_body``, then ``on_response_complete``)."""

    def on_response_body(self, data: bytes) -> None: ...

    def on_response_complete(self, keep_alive: bool) -> None: ...

    def on_upgraded(self, rest: bytes) -> None:
        """A 101 came; ``rest`` is what the instance sent after it."""

    def on_upstream_lost(self, reason: str) -> None:
        """The connection failed before the response completed."""

    def on_upstream_paused(self, paused: bool) -> None:
        """The connection's write buffer filled up (True) or drained (False)."""


def split_endpoint(endpoint: str) -> tuple[str, int]:
    """``"127.0.0.1:8080"`` or ``"[::1]:8080"`` as (host, port)."""
    host, _, port = endpoint.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"endpoint {endpoint!r} is not host:port")
    return host.strip("[]"), int(port)


class Upstream(asyncio.Protocol):
    """One keep-alive connection to an instance."""

    def __init__(self, endpoint: str, pool: UpstreamPool) -> None:
        self.endpoint = endpoint
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.receiver: Receiver | None = None
        self.tunnel: Tunnel | None = None
        self.closed = False
        self.uses = 0
        self.answered = False  # the current request has had response bytes
        self.reading_paused = False
        self._head_request = False
        self._status = 0
        self._head = b""  # bytes of the response head received so far
        self._in_head = False
        self._reset = False  # the parser starts afresh after this read (a HEAD response)
        self._upgraded = False
        self._left = 0  # body bytes still to come of a response on the quick path

    # -- the gateway's side -----------------------------------------------------------

    def attach(self, receiver: Receiver, head_request: bool) -> None:
        self.receiver = receiver
        self._head_request = head_request
        self._head = b""
        self._in_head = True
        self.answered = False
        self.uses += 1

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.closed:
            self.transport.write(data)

    def writelines(self, data: list[bytes]) -> None:
        if self.transport is not None and not self.closed:
            self.transport.writelines(data)

    def buffered(self) -> int:
        return self.transport.get_write_buffer_size() if self.transport is not None else 0

    def pause_reading(self) -> None:
        if not self.reading_paused and self.transport is not None and not self.closed:
            self.reading_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.reading_paused and self.transport is not None and not self.closed:
            self.reading_paused = False
            self.transport.resume_reading()

    def close(self) -> None:
        self.closed = True
        self.receiver = None
        if self.transport is not None:
            self.transport.close()

    # -- asyncio.Protocol -------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.tunnel is not None:
            self.tunnel.close()
            return
        receiver, self.receiver = self.receiver, None
        if receiver is not None:
            receiver.on_upstream_lost(f"the connection failed: {exc}" if exc else
                                      "the instance closed the connection")
        else:
            self.pool.forget(self)

    def data_received(self, data: bytes) -> None:
        if self.tunnel is not None:
            self.tunnel.forward(UPSTREAM, data)
            return
        receiver = self.receiver
        if receiver is None:  # an idle connection has nothing to say
            self.close()
            return
        self.answered = True
        if self._left:
            self._quick_body(receiver, data)
            return
        if self._in_head and not self._head:
            quick = http1.quick_response(data)
            if quick is not None and self._quick_start(receiver, data, *quick):
                return
        if self._in_head:  # the response starts where the first read after the request does
            self._head = self._head + data if self._head else data
        receiver.hold()
        try:
            self.parser.feed_data(data)
            if self._upgraded and self.receiver is not None:
                self.receiver.on_upgraded(b"")
        except httptools.HttpParserUpgrade as upgrade:
            if self.receiver is not None:
                self.receiver.on_upgraded(data[upgrade.args[0]:])
        except httptools.HttpParserError as exc:
            current, self.receiver = self.receiver, None
            self.close()
            if current is not None:
                current.on_upstream_lost(f"malformed HTTP response: {exc}")
        finally:
            if self._reset:
                self._reset = False
                self.parser = httptools.HttpResponseParser(self)
            receiver.flush()

    def _quick_start(self, receiver: Receiver, data: bytes, status: int, end: int,
                     length: int) -> bool:
        """Pass on a response the quick path read, unless it needs the general path (a
        close-delimited body, or more bytes than the response holds)."""
        if self._head_request or status == 204 or status == 304:
            length = 0
        elif length < 0:
            return False
        have = len(data) - end
        if have > length:
            return False
        self._in_head = False
        self._left = length - have
        if not self._left:
            self.receiver = None
        receiver.on_quick_response(status, data, end, not self._left)
        return True

    def _quick_body(self, receiver: Receiver, data: bytes) -> None:
        left = self._left
        if len(data) < left:
            self._left = left - len(data)
            receiver.on_response_body(data)
            return
        # the end of the body; bytes beyond it make the connection unfit for reuse
        self._left = 0
        self.receiver = None
        receiver.on_response_body(data if len(data) == left else data[:left])
        receiver.on_response_complete(len(data) == left)

    def eof_received(self) -> bool | None:
        if self.tunnel is not None:
            return self.tunnel.ended(UPSTREAM)
        return None

    def pause_writing(self) -> None:
        if self.tunnel is not None:
            self.tunnel.writing_paused(UPSTREAM, True)
        elif self.receiver is not None:
            self.receiver.on_upstream_paused(True)

    def resume_writing(self) -> None:
        if self.tunnel is not None:
            self.tunnel.writing_paused(UPSTREAM, False)
        elif self.receiver is not None:
            self.receiver.on_upstream_paused(False)

    # -- httptools callbacks ----------------------------------------------------------

    def on_headers_complete(self) -> None:
        status = self._status = self.parser.get_status_code()
        raw = self._head
        end = raw.find(b"\r\n\r\n") + 4
        head = bytes(raw[:end])
        if 100 <= status < 200 and status != 101:
            self._head = raw[end:]  # an interim response: the final one follows
        else:
            self._head = b""
            self._in_head = False
        if self.receiver is None:
            return
        self.receiver.on_response_head(status, head)
        if self._head_request and status >= 200 and status != 101:
            # the parser does not know the request was HEAD and would wait for a body
            self._reset = True
            self._complete()

    def on_body(self, body: bytes) -> None:
        if self.receiver is not None:
            self.receiver.on_response_body(body)

    def on_message_complete(self) -> None:
        if self._status == 101:
            self._upgraded = True
        elif self._status >= 200 and not self._reset:
            self._complete()

    def _complete(self) -> None:
        keep_alive = self.parser.should_keep_alive()
        receiver, self.receiver = self.receiver, None
        if receiver is not None:
            receiver.on_response_complete(keep_alive)


class UpstreamPool:
    """Idle keep-alive connections per endpoint; counts connections opened and reused."""

    def __init__(self, *, max_idle_per_endpoint: int = 64) -> None:
        self.max_idle_per_endpoint = max_idle_per_endpoint
        self.opened = 0
        self.reused = 0
        self._idle: dict[str, list[Upstream]] = {}

    def acquire(self, endpoint: str) -> Upstream | None:
        """An idle connection to ``endpoint``, or None."""
        idle = self._idle.get(endpoint)
        while idle:
            upstream = idle.pop()
            if not upstream.closed:
                self.reused += 1
                return upstream
        return None

    async def connect(self, endpoint: str) -> Upstream:
        """A new connection to ``endpoint``; raises ``OSError`` when it cannot be made."""
        host, port = split_endpoint(endpoint)
        loop = asyncio.get_running_loop()
        _, upstream = await loop.create_connection(lambda: Upstream(endpoint, self),
                                                   host, port)
        self.opened += 1
        return upstream

    def release(self, upstream: Upstream) -> None:
        """Take back a connection whose last response completed and that keeps alive."""
        upstream.receiver = None
        if upstream.closed:
            return
        if upstream.reading_paused:
            upstream.resume_reading()
        idle = self._idle.get(upstream.endpoint)
        if idle is None:
            idle = self._idle[upstream.endpoint] = []
        if len(idle) >= self.max_idle_per_endpoint:
            upstream.close()
        else:
            idle.append(upstream)

    def forget(self, upstream: Upstream) -> None:
        """``upstream`` closed while idle."""
        idle = self._idle.get(upstream.endpoint)
        if idle and upstream in idle:
            idle.remove(upstream)

    def idle(self, endpoint: str) -> int:
        return len(self._idle.get(endpoint, ()))

    def close(self) -> None:
        for idle in self._idle.values():
            for upstream in idle:
                upstream.close()
        self._idle.clear()
