"""Delivery over real HTTP: aiohttp subscribers and dead-letter sinks on 127.0.0.1.

The deliverer runs on the system clock with short backoffs; each server records the events
it receives (decoded with the HTTP codec) and answers as the test says.
"""

from __future__ import annotations

import base64
import json
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from shoal.controllers.clock import SystemClock
from shoal.eventing import codec
from shoal.eventing.backoff import RetryPolicy
from shoal.eventing.delivery import ERROR_CODE, ERROR_DATA, ERROR_DEST, Deliverer
from shoal.eventing.event import CloudEvent

Answer = Callable[[int], web.Response]


@dataclass
class Received:
    event: CloudEvent
    headers: dict[str, str]
    body: bytes


class Endpoint:
    """An HTTP server that decodes each request as a CloudEvent and answers ``answer(n)``."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.received: list[Received] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        (event,) = codec.parse_request(request.headers, body)
        self.received.append(Received(event, dict(request.headers), body))
        return self.answer(len(self.received))

    async def start(self) -> Endpoint:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route("POST", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/events"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


Serve = Callable[[Answer], Awaitable[Endpoint]]


def ok(n: int) -> web.Response:
    return web.Response(status=200)


@pytest.fixture
async def deliverer() -> AsyncIterator[Deliverer]:
    async with aiohttp.ClientSession() as session:
        yield Deliverer(session, SystemClock())


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    endpoints: list[Endpoint] = []

    async def start(answer: Answer) -> Endpoint:
        endpoint = await Endpoint(answer).start()
        endpoints.append(endpoint)
        return endpoint

    yield start
    for endpoint in endpoints:
        await endpoint.stop()


def unreachable_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def event(
    data: bytes | None = b'{"hello":"world"}', content_type: str = "application/json"
) -> CloudEvent:
    attributes: dict[str, Any] = {
        "specversion": "1.0",
        "id": "evt-1",
        "source": "/orders",
        "type": "order.created",
        "knativebrokerttl": 255,
    }
    if data is not None:
        attributes["datacontenttype"] = content_type
    return CloudEvent(attributes, data)


FAST = RetryPolicy.from_spec(
    {"retry": 3, "backoffPolicy": "exponential", "backoffDelay": "PT0.01S"}
)


async def test_a_subscriber_failing_twice_then_succeeding_gets_three_attempts(
    deliverer: Deliverer, serve: Serve
) -> None:
    sub = await serve(lambda n: web.Response(status=503 if n <= 2 else 200))
    result = await deliverer.deliver(event(), sub.url, FAST)
    assert (result.delivered, result.status, result.attempts) == (True, 200, 3)
    assert len(sub.received) == 3
    assert all(r.event.attributes["id"] == "evt-1" for r in sub.received)
    assert all(r.headers.get("Prefer") == "reply" for r in sub.received)


async def test_an_unreachable_subscriber_is_dead_lettered_without_an_error_code(
    deliverer: Deliverer, serve: Serve
) -> None:
    dls = await serve(lambda n: web.Response(status=202))
    target = unreachable_url()
    result = await deliverer.deliver(event(), target, FAST, dead_letter=dls.url)
    assert (result.delivered, result.dead_lettered, result.attempts) == (False, True, 4)
    assert result.status is None
    (received,) = dls.received
    dead = received.event.attributes
    assert dead[ERROR_DEST] == target
    assert ERROR_CODE not in dead and ERROR_DATA not in dead
    assert (dead["id"], dead["type"], received.event.data) == (
        "evt-1",
        "order.created",
        b'{"hello":"world"}',
    )
    assert "Prefer" not in received.headers


async def test_a_500_with_a_body_is_dead_lettered_with_code_and_data(
    deliverer: Deliverer, serve: Serve
) -> None:
    problem = b'{"error":"database is down"}'
    sub = await serve(
        lambda n: web.Response(status=500, body=problem, content_type="application/json")
    )
    dls = await serve(ok)
    result = await deliverer.deliver(event(), sub.url, FAST, dead_letter=dls.url)
    assert (result.delivered, result.dead_lettered, result.status) == (False, True, 500)
    assert len(sub.received) == 4
    dead = dls.received[0].event.attributes
    assert dead[ERROR_DEST] == sub.url
    assert dead[ERROR_CODE] == "500"
    assert dead[ERROR_DATA] == base64.b64encode(problem).decode()


async def test_error_data_holds_the_first_1024_bytes_of_a_long_body(
    deliverer: Deliverer, serve: Serve
) -> None:
    body = os.urandom(3000)
    sub = await serve(lambda n: web.Response(status=400, body=body))
    dls = await serve(ok)
    result = await deliverer.deliver(event(), sub.url, FAST, dead_letter=dls.url)
    assert (result.attempts, result.status, result.dead_lettered) == (1, 400, True)
    data = dls.received[0].event.attributes[ERROR_DATA]
    assert base64.b64decode(data) == body[:1024]


async def test_a_36_kib_payload_is_delivered_once_intact(
    deliverer: Deliverer, serve: Serve
) -> None:
    payload = os.urandom(36_864)
    sub = await serve(ok)
    result = await deliverer.deliver(event(payload, "application/octet-stream"), sub.url, FAST)
    assert (result.delivered, result.attempts) == (True, 1)
    (received,) = sub.received
    assert received.body == payload and received.event.data == payload
    assert received.headers["Content-Type"] == "application/octet-stream"


async def test_a_binary_reply_comes_back(deliverer: Deliverer, serve: Serve) -> None:
    reply = CloudEvent(
        {
            "specversion": "1.0",
            "id": "r-1",
            "source": "/billing",
            "type": "order.billed",
            "datacontenttype": "application/json",
        },
        b'{"total":42}',
    )
    headers, body = codec.to_binary(reply)
    sub = await serve(lambda n: web.Response(status=200, headers=headers, body=body))
    result = await deliverer.deliver(event(), sub.url, FAST)
    assert result.delivered and result.reply is not None
    assert result.reply.attributes == reply.attributes
    assert result.reply.data == b'{"total":42}'


async def test_a_structured_reply_comes_back(deliverer: Deliverer, serve: Serve) -> None:
    structured = {
        "specversion": "1.0",
        "id": "r-2",
        "source": "/billing",
        "type": "order.billed",
        "datacontenttype": "text/plain",
        "data": "paid",
    }
    sub = await serve(
        lambda n: web.Response(
            status=200,
            body=json.dumps(structured).encode(),
            headers={"Content-Type": "application/cloudevents+json"},
        )
    )
    result = await deliverer.deliver(event(), sub.url, FAST)
    assert result.delivered and result.reply is not None
    assert result.reply.attributes["id"] == "r-2"
    assert result.reply.attributes["type"] == "order.billed"
    assert result.reply.data == b"paid"


async def test_a_malformed_reply_fails_the_delivery(deliverer: Deliverer, serve: Serve) -> None:
    broken = b'{"specversion":"1.0","id":"r-3","type":"order.billed"}'  # no source
    sub = await serve(
        lambda n: web.Response(
            status=200, body=broken, headers={"Content-Type": "application/cloudevents+json"}
        )
    )
    dls = await serve(ok)
    result = await deliverer.deliver(event(), sub.url, FAST, dead_letter=dls.url)
    assert (result.delivered, result.reply, result.status) == (False, None, 502)
    assert result.error is not None and "malformed reply" in result.error
    assert len(sub.received) == 4
    dead = dls.received[0].event.attributes
    assert dead[ERROR_CODE] == "502"
    assert base64.b64decode(dead[ERROR_DATA]) == broken


async def test_a_plain_text_answer_fails_a_trigger_delivery_but_not_a_lax_one(
    deliverer: Deliverer, serve: Serve
) -> None:
    sub = await serve(lambda n: web.Response(status=200, text="thanks"))
    strict = await deliverer.deliver(event(), sub.url, RetryPolicy())
    assert (strict.delivered, strict.status) == (False, 502)
    lax = await deliverer.deliver(event(), sub.url, RetryPolicy(), strict_reply=False)
    assert (lax.delivered, lax.status, lax.reply) == (True, 200, None)
