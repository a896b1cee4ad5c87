"""Broker ingress: the HTTP endpoint at every Broker's ``status.address.url``.

``POST /{namespace}/{broker}`` (on the lean server of ``httpserver.py``) takes CloudEvents
in binary, structured or batched mode and answers as Knative's broker ingress does: 202
only once the events are durably in the broker's log, 400 for an invalid event, 404 for
an unknown broker, 405 for other methods, 413 over the size limit, 503 when the log fails.
``OPTIONS`` answers the CloudEvents webhook validation handshake. Each event gets
``knativearrivaltime`` and, when it has none, ``knativebrokerttl`` (255); an event whose
TTL is spent is dropped, as Knative does to stop loops. The data plane (``plane.py``)
tells the ingress which brokers exist.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import unquote

from shoal.eventing import codec
from shoal.eventing.event import CloudEvent
from shoal.eventing.httpserver import Request, Response
from shoal.eventing.log import EventLog

log = logging.getLogger("shoal.eventing.ingress")

DEFAULT_TTL = 255
TTL = "knativebrokerttl"
ARRIVAL = "knativearrivaltime"
DEFAULT_MAX_EVENT_BYTES = 4 * 1024 * 1024


class Target(Protocol):
    """Where one broker's events are kept, whatever keeps them (an event log, JetStream).

    Targets compare equal when they name the same storage; the dispatcher keeps a Trigger's
    consumer for as long as its target stays equal."""

    async def append(self, records: list[bytes]) -> None:
        """Store records durably (as far as the class promises); raises when it cannot."""

    async def compact(self, older_than: float) -> None:
        """Let go of records every consumer has passed, older than ``older_than`` seconds."""

    async def drop(self) -> None:
        """The broker was deleted: its records and consumers go."""


@dataclass(frozen=True)
class BrokerTarget:
    """Where a broker's events go: its log and the stream in it."""

    log: EventLog
    stream: str

    async def append(self, records: list[bytes]) -> None:
        await self.log.append(self.stream, records)

    async def compact(self, older_than: float) -> None:
        await self.log.compact(self.stream, older_than=older_than)

    async def drop(self) -> None:
        await self.log.drop_stream(self.stream)


Lookup = Callable[[str, str], Target | None]
Observer = Callable[[str, str, CloudEvent], None]


_second: list[tuple[int, str]] = [(-1, "")]  # the last second formatted, and its text


def arrival_time() -> str:
    """Now in UTC as ``2006-01-02T15:04:05.000000Z``: the date and time of day are formatted
    once a second, the microseconds (cut, not rounded, as ``datetime.now`` has them) added."""
    seconds, nanoseconds = divmod(time.time_ns(), 1_000_000_000)
    formatted, text = _second[0]
    if seconds != formatted:
        text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
        _second[0] = (seconds, text)
    return f"{text}.{nanoseconds // 1000:06d}Z"


def ttl_of(event: CloudEvent) -> int | None:
    value = event.attributes.get(TTL)
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


async def receive(request: Request, what: str, exists: bool, max_event_bytes: int,
                  publish: Callable[[list[CloudEvent]], Awaitable[int]]) -> Response:
    """Knative's answers to a request for an event destination (a broker or a channel)."""
    if request.method == "OPTIONS":
        return Response(200, {
            "allow": "POST, OPTIONS",
            "webhook-allowed-origin": request.headers.get("webhook-request-origin", "*"),
            "webhook-allowed-rate": "*",
        })
    if request.method != "POST":
        return Response(405, {"allow": "POST, OPTIONS"})
    if not exists:
        return Response.text(404, f"{what} not found\n")
    if len(request.body) > max_event_bytes:
        return Response.text(413, "event too large\n")
    try:
        events = codec.parse_request(request.headers, request.body)
    except codec.InvalidEvent as exc:
        return Response.text(400, f"invalid CloudEvent: {exc}\n")
    return Response(await publish(events))


@functools.lru_cache(maxsize=1024)
def _split_path(path: str) -> tuple[str, ...]:
    return tuple(unquote(p) for p in path.strip("/").split("/"))


def path_parts(request: Request) -> list[str]:
    """The percent-decoded segments of the request's path (parsed once per distinct path:
    every event to a broker or channel has the same)."""
    return list(_split_path(request.path))


@functools.lru_cache(maxsize=1024)
def _broker_path(path: str) -> tuple[str, str, str] | None:
    """Namespace, broker and how a 404 names it, for a ``/{namespace}/{broker}`` path."""
    parts = _split_path(path)
    if len(parts) != 2 or not all(parts):
        return None
    namespace, broker = parts
    return namespace, broker, f"broker {namespace}/{broker}"


class Ingress:
    def __init__(self, lookup: Lookup, *, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
                 observe: Observer | None = None) -> None:
        self.lookup = lookup
        self.max_event_bytes = max_event_bytes
        self.observe = observe

    async def publish(self, namespace: str, broker: str, events: list[CloudEvent],
                      ) -> int:
        """Stamp and durably append events to a broker; the HTTP status to answer."""
        return await self._append(self.lookup(namespace, broker), namespace, broker, events,
                                  fresh=False)

    async def _append(self, target: Target | None, namespace: str, broker: str,
                      events: list[CloudEvent], *, fresh: bool) -> int:
        """Stamp and append ``events`` (404 when there is no ``target``), copied first unless
        ``fresh``: just decoded from a request, so nobody else holds them."""
        if target is None:
            return 404
        records = []
        for event in events:
            if not fresh:
                event = event.copy()
            ttl = ttl_of(event)
            if ttl is None:
                event.attributes[TTL] = DEFAULT_TTL
            elif ttl <= 0:
                log.debug("dropping event %s: TTL spent", event.id)
                continue
            event.attributes[ARRIVAL] = arrival_time()
            records.append(event.to_record())
            if self.observe is not None:
                self.observe(namespace, broker, event)
        if records:
            try:
                await target.append(records)
            except Exception:
                log.exception("storing events for broker %s/%s failed", namespace, broker)
                return 503
        return 202

    async def serve(self, request: Request) -> Response:
        """``/{namespace}/{broker}``: the ingress of one broker."""
        parsed = _broker_path(request.path)
        if parsed is None:
            return Response.text(404, f"no broker at {request.path}\n")
        namespace, broker, what = parsed
        target = self.lookup(namespace, broker)  # looked up once, for the 404 and the append
        return await receive(request, what, target is not None, self.max_event_bytes,
                             lambda events: self._append(target, namespace, broker, events,
                                                         fresh=True))
