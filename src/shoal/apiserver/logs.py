"""``GET /logs/{namespace}/{revision}``: what a revision's instances print, as plain text.

The API server does not know where instances run. Whoever runs them (``shoal up``
registers its runtimes) plugs a ``LogSource`` into ``LogSources``; the endpoint asks it for
the revision's instances and their lines. The answer is ``text/plain``: every instance's
lines (each prefixed ``[INSTANCE] `` when there is more than one), ``?tailLines=N`` keeps
each instance's last N, and ``?follow=true`` keeps the answer open, streaming new lines
until every instance has stopped or the client goes. A revision that does not exist is a
404 ``Status`` naming it; with no source plugged in the path is not served at all (a bare
404, which ``shoal logs`` reads as "no log endpoint").
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Protocol

from aiohttp import web

from shoal.api.catalog import default_catalog
from shoal.api.errors import BadRequest, NotFound
from shoal.apiserver.registry import Registry

REVISIONS = default_catalog().require("revisions")
FOLLOW_QUEUE = 1024  # lines buffered between the instances' readers and a slow client
CLIENT_CHECK = 1.0  # seconds between checks that a quiet follower is still connected
log = logging.getLogger("shoal.apiserver.logs")


class LogSource(Protocol):
    def instances(self, revision: str) -> list[str]:
        """The ids of the running instances of ``revision`` ("namespace/name")."""
        ...

    def logs(self, instance_id: str, *, follow: bool = False,
             tail: int | None = None) -> AsyncIterator[str]:
        """The instance's lines without newlines; ``follow`` waits for more until it
        stops. Raises ``KeyError`` for an instance that is gone."""
        ...


class LogSources:
    """The log sources plugged into one API server."""

    def __init__(self) -> None:
        self._sources: list[LogSource] = []

    def register(self, source: LogSource) -> None:
        self._sources.append(source)

    def __bool__(self) -> bool:
        return bool(self._sources)

    def instances(self, revision: str) -> list[tuple[LogSource, str]]:
        return [(source, instance) for source in self._sources
                for instance in source.instances(revision)]


def _tail(request: web.Request) -> int | None:
    raw = request.query.get("tailLines")
    if raw is None:
        return None
    try:
        tail = int(raw)
    except ValueError:
        tail = -1
    if tail < 0:
        raise BadRequest(f"tailLines must be a non-negative integer, not {raw!r}")
    return tail


async def _lines(source: LogSource, instance: str, prefix: str, follow: bool,
                 tail: int | None) -> AsyncIterator[bytes]:
    lines = source.logs(instance, follow=follow, tail=tail)
    try:
        async for line in lines:
            yield f"{prefix}{line}\n".encode()
    except KeyError:
        return  # the instance stopped before its log was read
    finally:
        close = getattr(lines, "aclose", None)
        if close is not None:
            await close()


def log_handler(registry: Registry, sources: LogSources,
                ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        if not sources:
            raise NotFound("the server could not find the requested resource")
        namespace = request.match_info["namespace"]
        name = request.match_info["revision"]
        registry.get(REVISIONS, namespace, name)  # NotFound names the revision
        follow = request.query.get("follow", "").lower() in ("true", "1")
        tail = _tail(request)
        instances = sources.instances(f"{namespace}/{name}")
        response = web.StreamResponse(headers={"Content-Type": "text/plain; charset=utf-8"})
        await response.prepare(request)
        streams = [_lines(source, instance, f"[{instance}] " if len(instances) > 1 else "",
                          follow, tail) for source, instance in instances]
        try:
            if not follow:
                for stream in streams:
                    async for chunk in stream:
                        await response.write(chunk)
            else:
                await _merge(streams, request, response)
            await response.write_eof()
        except ConnectionResetError:
            pass  # the client went
        return response

    return handle


async def _merge(streams: list[AsyncIterator[bytes]], request: web.Request,
                 response: web.StreamResponse) -> None:
    """Write the lines of every stream as they come, until all end or the client goes."""
    queue: asyncio.Queue[bytes | None] = asyncio.Queue(FOLLOW_QUEUE)

    async def pump(stream: AsyncIterator[bytes]) -> None:
        try:
            async for chunk in stream:
                await queue.put(chunk)
        except OSError as err:
            log.warning("reading a log for %s failed: %s", request.path, err)
        await queue.put(None)

    pumps = [asyncio.create_task(pump(stream)) for stream in streams]
    try:
        running = len(pumps)
        while running:
            try:
                async with asyncio.timeout(CLIENT_CHECK):
                    chunk = await queue.get()
            except TimeoutError:
                if request.transport is None or request.transport.is_closing():
                    return  # the client went while nothing was printed
                continue
            if chunk is None:
                running -= 1
            else:
                await response.write(chunk)
    finally:
        for task in pumps:
            task.cancel()
        await asyncio.gather(*pumps, return_exceptions=True)
