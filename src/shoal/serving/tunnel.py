"""The splice between a client and an instance after an upgrade (WebSocket and the like).

Once the instance answers ``101 Switching Protocols``, the gateway stops parsing HTTP on
both connections and each side's protocol hands its bytes to ``Tunnel.forward``. A full
write buffer on one side pauses reading on the other; an end of stream is passed on as a
half-close, and the tunnel closes both connections once both sides have ended or either
is lost. Used by ``shoal.serving.gateway`` and ``shoal.serving.upstream``.
"""

from __future__ import annotations

import asyncio

CLIENT = 0
UPSTREAM = 1


class Tunnel:
    """Two transports spliced together; sides are ``CLIENT`` and ``UPSTREAM``."""

    __slots__ = ("_ended", "_ends", "closed")

    def __init__(self, client: asyncio.Transport, upstream: asyncio.Transport) -> None:
        self._ends = (client, upstream)
        self._ended = [False, False]
        self.closed = False

    def forward(self, side: int, data: bytes) -> None:
        """Bytes read from ``side`` go to the other side."""
        other = self._ends[1 - side]
        if not other.is_closing():
            other.write(data)

    def ended(self, side: int) -> bool:
        """``side`` ended its stream; returns whether its transport stays open."""
        self._ended[side] = True
        other = self._ends[1 - side]
        if all(self._ended) or not other.can_write_eof() or other.is_closing():
            self.close()
            return False
        other.write_eof()
        return True

    def writing_paused(self, side: int, paused: bool) -> None:
        """``side``'s write buffer filled up (or drained): stop (or resume) reading the
        other side."""
        other = self._ends[1 - side]
        if other.is_closing():
            return
        if paused:
            other.pause_reading()
        else:
            other.resume_reading()

    def close(self) -> None:
        self.closed = True
        for end in self._ends:
            end.close()

    def abort(self) -> None:
        self.closed = True
        for end in self._ends:
            end.abort()
