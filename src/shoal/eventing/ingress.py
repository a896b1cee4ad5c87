"""Broker ingress: the HTTP endpoint at every Broker's ``status.address.url``.

``POST /{namespace}/{broker}`` takes CloudEvents in binary, structured or batched mode and
answers as Knative's broker ingress does: 202 only once the events are durably in the
broker's log, 400 for an invalid event, 404 for an unknown broker, 405 for other methods,
413 over the size limit, 503 when the log fails. ``OPTIONS`` answers the CloudEvents
webhook validation handshake. Each event gets ``knativearrivaltime`` and, when it has none,
``knativebrokerttl`` (255); an event whose TTL is spent is dropped, as Knative does to stop
loops. The data plane (``plane.py``) tells the ingress which brokers exist.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from aiohttp import web

from shoal.eventing import codec
from shoal.eventing.event import CloudEvent
from shoal.eventing.log import EventLog

log = logging.getLogger("shoal.eventing.ingress")

DEFAULT_TTL = 255
TTL = "knativebrokerttl"
ARRIVAL = "knativearrivaltime"
DEFAULT_MAX_EVENT_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class BrokerTarget:
    """Where a broker's events go: its log and the stream in it."""

    log: EventLog
    stream: str


Lookup = Callable[[str, str], BrokerTarget | None]
Observer = Callable[[str, str, CloudEvent], None]


def arrival_time() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def ttl_of(event: CloudEvent) -> int | None:
    value = event.attributes.get(TTL)
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


async def receive(request: web.Request, what: str, exists: bool, max_event_bytes: int,
                  publish: Callable[[list[CloudEvent]], Awaitable[int]]) -> web.Response:
    """Knative's answers to a request for an event destination (a broker or a channel)."""
    if request.method == "OPTIONS":
        return web.Response(status=200, headers={
            "Allow": "POST, OPTIONS",
            "WebHook-Allowed-Origin": request.headers.get("WebHook-Request-Origin", "*"),
            "WebHook-Allowed-Rate": "*",
        })
    if request.method != "POST":
        return web.Response(status=405, headers={"Allow": "POST, OPTIONS"})
    if not exists:
        return web.Response(status=404, text=f"{what} not found\n")
    if request.content_length is not None and request.content_length > max_event_bytes:
        return web.Response(status=413, text="event too large\n")
    body = await request.content.read(max_event_bytes + 1)
    if len(body) > max_event_bytes:
        return web.Response(status=413, text="event too large\n")
    try:
        events = codec.parse_request(request.headers, body)
    except codec.InvalidEvent as exc:
        return web.Response(status=400, text=f"invalid CloudEvent: {exc}\n")
    return web.Response(status=await publish(events))


class Ingress:
    def __init__(self, lookup: Lookup, *, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
                 observe: Observer | None = None) -> None:
        self.lookup = lookup
        self.max_event_bytes = max_event_bytes
        self.observe = observe

    async def publish(self, namespace: str, broker: str, events: list[CloudEvent],
                      ) -> int:
        """Stamp and durably append events to a broker; the HTTP status to answer."""
        target = self.lookup(namespace, broker)
        if target is None:
            return 404
        records = []
        for event in events:
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
                await target.log.append(target.stream, records)
            except Exception:
                log.exception("storing events for broker %s/%s failed", namespace, broker)
                return 503
        return 202

    async def handle(self, request: web.Request) -> web.Response:
        namespace = request.match_info["namespace"]
        broker = request.match_info["broker"]
        return await receive(request, f"broker {namespace}/{broker}",
                             self.lookup(namespace, broker) is not None,
                             self.max_event_bytes,
                             lambda events: self.publish(namespace, broker, events))

    def routes(self) -> list[web.RouteDef]:
        return [web.route("*", "/{namespace}/{broker}", self.handle)]
