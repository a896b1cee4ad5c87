"""One connection to NATS, opened in the background and kept open across server restarts.

The JetStream broker class (``jetstream.py``) and the NATS source (``shoal.sources.nats``)
hold one each. ``connection()`` hands out the live client, waiting a bounded time for it:
the first call starts a task that tries to connect every ``retry`` seconds (the servers are
asked for anew on every try, so a changed ``config-nats`` is picked up); once connected,
nats-py reconnects by itself for as long as the connection lives. ``error`` says why there
is no connection, for a condition's message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import nats
from nats.aio.client import Client as NatsClient

log = logging.getLogger("shoal.eventing.nats")

Servers = Callable[[], Awaitable[list[str]]]


class NatsUnavailable(RuntimeError):
    """No connection to NATS now; the message says why."""


class NatsConnection:
    def __init__(self, servers: Servers, *, retry: float = 1.0, name: str = "shoal") -> None:
        self.servers = servers
        self.retry = retry
        self.name = name
        self.error = "not connected yet"
        self.urls: list[str] = []
        self._client: NatsClient | None = None
        self._connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def client(self) -> NatsClient | None:
        """The client while it is connected, else None."""
        client = self._client
        return client if client is not None and client.is_connected else None

    async def connection(self, wait: float = 2.0) -> NatsClient:
        """The connected client; ``NatsUnavailable`` when there is none within ``wait``."""
        if self._task is None:
            self._task = asyncio.create_task(self._connect_loop(), name="nats connect")
        if not self._connected.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._connected.wait(), wait)
        client = self.client
        if client is None:
            urls = ", ".join(self.urls) or "NATS"
            raise NatsUnavailable(f"cannot reach {urls}: {self.error}")
        return client

    async def _connect_loop(self) -> None:
        while self._client is None:
            try:
                self.urls = await self.servers()
                self._client = await nats.connect(
                    self.urls, name=self.name, connect_timeout=2, allow_reconnect=True,
                    max_reconnect_attempts=-1, reconnect_time_wait=0.25,
                    error_cb=self._on_error, disconnected_cb=self._on_disconnected,
                    reconnected_cb=self._on_reconnected)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.error = str(exc) or type(exc).__name__
                await asyncio.sleep(self.retry)
        self.error = ""
        self._connected.set()

    async def _on_error(self, exc: Exception) -> None:
        self.error = str(exc) or type(exc).__name__
        log.debug("NATS: %s", self.error)

    async def _on_disconnected(self) -> None:
        self.error = self.error or "disconnected"
        log.info("disconnected from NATS at %s", ", ".join(self.urls))

    async def _on_reconnected(self) -> None:
        self.error = ""
        log.info("reconnected to NATS at %s", ", ".join(self.urls))

    async def reset(self) -> None:
        """Close the connection; the next ``connection()`` opens a new one."""
        await self.close()
        self._task = None
        self._client = None
        self._connected = asyncio.Event()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._client is not None:
            with contextlib.suppress(Exception):
                await self._client.close()
