"""Deliverer on fake time: retries, backoff, per-attempt timeout, Retry-After, replies, DLS.

The subscriber is a scripted aiohttp server on loopback; every wait the deliverer makes
goes through a FakeClock, so the tests assert exact times without sleeping. Each test runs
over an aiohttp session and over the lean client of the data plane.
"""

from __future__ import annotations

import asyncio
import base64
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import timedelta
from email.utils import format_datetime
from typing import Any, TypeVar

import aiohttp
import pytest
from aiohttp import web

from shoal.controllers.clock import FakeClock
from shoal.eventing import codec
from shoal.eventing.backoff import RetryPolicy
from shoal.eventing.delivery import (
    ERROR_CODE,
    ERROR_DATA,
    ERROR_DEST,
    Deliverer,
    DeliveryResult,
    error_extensions,
)
from shoal.eventing.event import CloudEvent
from shoal.eventing.httpclient import HTTPClient

T = TypeVar("T")
HANG = -1  # a scripted "status" that never answers


class RecordingClock(FakeClock):
    """A FakeClock that remembers every sleep and knows when someone is sleeping."""

    def __init__(self) -> None:
        super().__init__()
        self.sleeps: list[float] = []
        self.sleeping = 0
        self.fell_asleep = asyncio.Event()

    async def sleep(self, delay: float) -> None:
        self.sleeps.append(delay)
        self.sleeping += 1
        self.fell_asleep.set()
        try:
            await super().sleep(delay)
        finally:
            self.sleeping -= 1


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass
class Seen:
    at: float
    headers: dict[str, str]
    body: bytes


class Scripted:
    """A server answering its n-th request with ``script[n]`` (the last one repeats)."""

    def __init__(self, clock: FakeClock, script: list[Reply]) -> None:
        self.clock = clock
        self.script = script
        self.seen: list[Seen] = []
        self.arrived = asyncio.Condition()
        self.release = asyncio.Event()
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.seen.append(Seen(self.clock.monotonic(), dict(request.headers), body))
        async with self.arrived:
            self.arrived.notify_all()
        reply = self.script[min(len(self.seen), len(self.script)) - 1]
        if reply.status == HANG:
            await self.release.wait()
            reply = Reply(200)
        return web.Response(status=reply.status, headers=reply.headers, body=reply.body)

    async def start(self) -> Scripted:
        app = web.Application()
        app.router.add_route("POST", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/hook"
        return self

    async def wait_seen(self, count: int) -> None:
        async with self.arrived:
            await asyncio.wait_for(self.arrived.wait_for(lambda: len(self.seen) >= count), 5)

    async def stop(self) -> None:
        self.release.set()
        if self._runner is not None:
            await self._runner.cleanup()


Start = Callable[..., Awaitable[Scripted]]


@pytest.fixture
def clock() -> RecordingClock:
    return RecordingClock()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as made:
        yield made


@pytest.fixture(params=["aiohttp", "lean"])
async def deliverer(
    request: pytest.FixtureRequest, session: aiohttp.ClientSession, clock: RecordingClock
) -> AsyncIterator[Deliverer]:
    """A deliverer over an aiohttp session, and over the data plane's lean client."""
    if request.param == "aiohttp":
        yield Deliverer(session, clock)
        return
    client = HTTPClient()
    yield Deliverer(client, clock)
    await client.close()


@pytest.fixture
async def serve(clock: RecordingClock) -> AsyncIterator[Start]:
    servers: list[Scripted] = []

    async def start(*script: Reply) -> Scripted:
        server = await Scripted(clock, list(script) or [Reply()]).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.stop()


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


async def on_fake_time(clock: RecordingClock, work: Coroutine[Any, Any, T]) -> T:
    """Run ``work``, moving fake time on whenever it waits in a backoff sleep."""
    task = asyncio.create_task(work)
    while not task.done():
        await asyncio.sleep(0.001)
        pending = clock.pending()
        if clock.sleeping and pending:
            await clock.advance(pending[0])
    return task.result()


def make_event(**extra: Any) -> CloudEvent:
    attributes = {
        "specversion": "1.0",
        "id": "e-1",
        "source": "/test",
        "type": "test.event",
        **extra,
    }
    return CloudEvent(attributes, b'{"n":1}' if "datacontenttype" in extra else None)


def policy(**spec: Any) -> RetryPolicy:
    return RetryPolicy.from_spec(spec)


def reply_event_headers(**extra: str) -> dict[str, str]:
    return {
        "ce-specversion": "1.0",
        "ce-id": "r-1",
        "ce-source": "/subscriber",
        "ce-type": "test.reply",
        **extra,
    }


# --- retries and backoff ------------------------------------------------------------------


async def test_exponential_backoff_sequence(
    deliverer: Deliverer, clock: RecordingClock, serve: Start
) -> None:
    sub = await serve(Reply(503))
    result = await on_fake_time(
        clock,
        deliverer.deliver(
            make_event(),
            sub.url,
            policy(retry=3, backoffPolicy="exponential", backoffDelay="PT0.2S"),
        ),
    )
    assert clock.sleeps == pytest.approx([0.2, 0.4, 0.8])
    assert [s.at for s in sub.seen] == pytest.approx([0.0, 0.2, 0.6, 1.4])
    assert result == DeliveryResult(
        delivered=False,
        status=503,
        attempts=4,
        error="unexpected HTTP response, expected 2xx, got 503",
    )


async def test_linear_backoff_sequence(
    deliverer: Deliverer, clock: RecordingClock, serve: Start
) -> None:
    sub = await serve(Reply(500))
    result = await on_fake_time(
        clock,
        deliverer.deliver(
            make_event(), sub.url, policy(retry=3, backoffPolicy="linear", backoffDelay="PT0.2S")
        ),
    )
    assert clock.sleeps == pytest.approx([0.0, 0.2, 0.4])
    assert [s.at for s in sub.seen] == pytest.approx([0.0, 0.0, 0.2, 0.6])
    assert (result.delivered, result.attempts, result.status) == (False, 4, 500)


async def test_success_after_failures_stops_retrying(
    deliverer: Deliverer, clock: RecordingClock, serve: Start
) -> None:
    sub = await serve(Reply(503), Reply(503), Reply(200))
    result = await on_fake_time(
        clock,
        deliverer.deliver(
            make_event(), sub.url, policy(retry=5, backoffPolicy="exponential", backoffDelay="PT1S")
        ),
    )
    assert result == DeliveryResult(delivered=True, status=200, attempts=3)
    assert clock.sleeps == [1.0, 2.0]
    assert len(sub.seen) == 3


async def test_no_retries_without_a_retry_count(
    deliverer: Deliverer, clock: RecordingClock, serve: Start
) -> None:
    sub = await serve(Reply(503))
    result = await on_fake_time(clock, deliverer.deliver(make_event(), sub.url, policy()))
    assert (result.attempts, len(sub.seen), clock.sleeps) == (1, 1, [])


@pytest.mark.parametrize("status", [400, 401, 403, 405, 410, 413, 422])
async def test_no_retry_on_other_client_errors(
    deliverer: Deliverer, clock: RecordingClock, serve: Start, status: int
) -> None:
    sub = await serve(Reply(status), Reply(200))
    result = await on_fake_time(
        clock,
        deliverer.deliver(
            make_event(), sub.url, policy(retry=3, backoffPolicy="linear", backoffDelay="PT1S")
        ),
    )
    assert (result.delivered, result.status, result.attempts) == (False, status, 1)
    assert (len(sub.seen), clock.sleeps) == (1, [])


@pytest.mark.parametrize("status", [404, 408, 409, 429, 500, 502, 503, 504])
async def test_retry_on_retryable_statuses(
    deliverer: Deliverer, clock: RecordingClock, serve: Start, status: int
) -> None:
    sub = await serve(Reply(status), Reply(200))
    result = await on_fake_time(
        clock,
        deliverer.deliver(
            make_event(), sub.url, policy(retry=3, backoffPolicy="linear", backoffDelay="PT1S")
        ),
    )
    assert (result.delivered, result.status, result.attempts) == (True, 200, 2)
    assert clock.sleeps == [0.0]


async def test_retry_on_connection_refused(deliverer: Deliverer, clock: RecordingClock) -> None:
    result = await on_fake_time(
        clock,
        deliverer.deliver(
            make_event(),
            closed_port_url(),
            policy(retry=2, backoffPolicy="exponential", backoffDelay="PT0.5S"),
        ),
    )
    assert (result.delivered, result.status, result.attempts) == (False, None, 3)
    refused = "ClientConnectorError" if isinstance(deliverer.session, aiohttp.ClientSession) \
        else "ConnectionRefusedError"
    assert result.error is not None and refused in result.error
    assert clock.sleeps == [0.5, 1.0]


# --- per-attempt timeout ------------------------------------------------------------------


async def test_each_attempt_times_out_on_the_clock(
    deliverer: Deliverer, clock: RecordingClock, serve: Start
) -> None:
    sub = await serve(Reply(HANG))
    task = asyncio.create_task(
        deliverer.deliver(make_event(), sub.url, policy(retry=1, timeout="PT5S"))
    )
    await sub.wait_seen(1)
    await clock.advance(4.9)
    assert not task.done()
    await clock.advance(0.1)
    await sub.wait_seen(2)
    await clock.advance(5)
    result = await asyncio.wait_for(task, 5)
    assert [s.at for s in sub.seen] == pytest.approx([0.0, 5.0])
    assert result == DeliveryResult(
        delivered=False, status=None, attempts=2, error="no response within 5s"
    )


async def test_a_timed_out_attempt_leaves_the_delivering_task_uncancelled(
    deliverer: Deliverer, clock: RecordingClock, serve: Start
) -> None:
    sub = await serve(Reply(HANG))

    async def deliver() -> tuple[DeliveryResult, int]:
        result = await deliverer.deliver(make_event(), sub.url, policy(timeout="PT5S"))
        task = asyncio.current_task()
        assert task is not None
        return result, task.cancelling()

    task = asyncio.create_task(deliver())
    await sub.wait_seen(1)
    await clock.advance(5)
    result, cancelling = await asyncio.wait_for(task, 5)
    assert (result.error, cancelling) == ("no response within 5s", 0)


async def test_an_answer_within_the_timeout_is_delivered(
    deliverer: Deliverer, clock: RecordingClock, serve: Start
) -> None:
    sub = await serve(Reply(HANG))
    task = asyncio.create_task(
        deliverer.deliver(make_event(), sub.url, policy(retry=1, timeout="PT5S"))
    )
    await sub.wait_seen(1)
    await clock.advance(4.9)
    sub.release.set()
    result = await asyncio.wait_for(task, 5)
    assert (result.delivered, result.attempts) == (True, 1)
    assert clock.pending() == []


async def test_a_timed_out_delivery_goes_to_the_dead_letter_sink_without_a_code(
    deliverer: Deliverer, clock: RecordingClock, serve: Start
) -> None:
    sub, dls = await serve(Reply(HANG)), await serve(Reply(202))
    task = asyncio.create_task(
        deliverer.deliver(make_event(), sub.url, policy(timeout="PT1S"), dead_letter=dls.url)
    )
    await sub.wait_seen(1)
    await clock.advance(1)
    result = await asyncio.wait_for(task, 5)
    assert (result.dead_lettered, result.dead_letter_status) == (True, 202)
    (dead,) = codec.parse_request(dls.seen[0].headers, dls.seen[0].body)
    assert dead.attributes[ERROR_DEST] == sub.url
    assert ERROR_CODE not in dead.attributes and ERROR_DATA not in dead.attributes


# --- Retry-After --------------------------------------------------------------------------


RETRY_AFTER = {
    "retry": 2,
    "backoffPolicy": "exponential",
    "backoffDelay": "PT0.2S",
    "retryAfterMax": "PT10S",
}


@pytest.mark.parametrize(
    ("status", "header", "spec", "wait"),
    [
        (429, "3", RETRY_AFTER, 3.0),
        (503, "3", RETRY_AFTER, 3.0),
        (429, "60", RETRY_AFTER, 10.0),
        (429, "3", {**RETRY_AFTER, "retryAfterMax": "PT0S"}, 0.2),
        (429, "3", {k: v for k, v in RETRY_AFTER.items() if k != "retryAfterMax"}, 0.2),
        (500, "3", RETRY_AFTER, 0.2),
        (429, "0", RETRY_AFTER, 0.2),
    ],
)
async def test_retry_after(
    deliverer: Deliverer,
    clock: RecordingClock,
    serve: Start,
    status: int,
    header: str,
    spec: dict[str, Any],
    wait: float,
) -> None:
    sub = await serve(Reply(status, {"Retry-After": header}), Reply(200))
    result = await on_fake_time(clock, deliverer.deliver(make_event(), sub.url, policy(**spec)))
    assert result.delivered
    assert clock.sleeps == [pytest.approx(wait)]
    assert sub.seen[1].at == pytest.approx(wait)


async def test_retry_after_as_an_http_date_counts_from_the_clock(
    deliverer: Deliverer, clock: RecordingClock, serve: Start
) -> None:
    when = format_datetime(clock.now() + timedelta(seconds=7), usegmt=True)
    sub = await serve(Reply(503, {"Retry-After": when}), Reply(200))
    result = await on_fake_time(
        clock, deliverer.deliver(make_event(), sub.url, policy(**RETRY_AFTER))
    )
    assert result.delivered
    assert clock.sleeps == [7.0]


# --- what is sent -------------------------------------------------------------------------


async def test_sends_binary_mode_with_prefer_reply_and_extra_headers(
    deliverer: Deliverer, serve: Start
) -> None:
    sub = await serve()
    event = make_event(datacontenttype="application/json", knativebrokerttl=255)
    await deliverer.deliver(
        event, sub.url, policy(), extra_headers={"Kn-Namespace": "default", "prefer": "nothing"}
    )
    headers = {k.lower(): v for k, v in sub.seen[0].headers.items()}
    assert headers["prefer"] == "reply"
    assert headers["kn-namespace"] == "default"
    assert headers["content-type"] == "application/json"
    assert headers["ce-id"] == "e-1" and headers["ce-knativebrokerttl"] == "255"
    assert sub.seen[0].body == b'{"n":1}'
    assert (
        event.attributes
        == make_event(datacontenttype="application/json", knativebrokerttl=255).attributes
    )


async def test_an_event_without_a_content_type_is_sent_without_one(
    deliverer: Deliverer, serve: Start
) -> None:
    sub = await serve()
    await deliverer.deliver(make_event(), sub.url, policy())
    assert "content-type" not in {k.lower() for k in sub.seen[0].headers}
    assert sub.seen[0].body == b""


async def test_format_json_sends_structured_mode(deliverer: Deliverer, serve: Start) -> None:
    sub = await serve()
    await deliverer.deliver(
        make_event(datacontenttype="application/json"), sub.url, policy(format="json")
    )
    seen = sub.seen[0]
    assert seen.headers["Content-Type"].startswith(codec.STRUCTURED)
    (received,) = codec.parse_request(seen.headers, seen.body)
    assert received.attributes["id"] == "e-1" and received.data == b'{"n":1}'


# --- replies ------------------------------------------------------------------------------


async def test_a_binary_reply_is_returned(deliverer: Deliverer, serve: Start) -> None:
    sub = await serve(Reply(200, reply_event_headers(**{"content-type": "text/plain"}), b"hi"))
    result = await deliverer.deliver(make_event(), sub.url, policy())
    assert result.delivered and result.reply is not None
    assert result.reply.attributes["type"] == "test.reply"
    assert result.reply.data == b"hi"


@pytest.mark.parametrize(
    "reply",
    [
        Reply(200),
        Reply(204),
        Reply(202, {"Content-Type": "text/plain"}, b"accepted"),
        Reply(202, reply_event_headers(**{"content-type": "text/plain"}), b"ignored"),
    ],
)
async def test_responses_without_a_reply(deliverer: Deliverer, serve: Start, reply: Reply) -> None:
    sub = await serve(reply)
    result = await deliverer.deliver(make_event(), sub.url, policy(), strict_reply=False)
    assert (result.delivered, result.reply) == (True, None)


async def test_an_empty_2xx_is_delivered_without_a_reply(
    deliverer: Deliverer, serve: Start
) -> None:
    sub = await serve(Reply(200))
    result = await deliverer.deliver(make_event(), sub.url, policy())
    assert result == DeliveryResult(delivered=True, status=200, attempts=1)


async def test_a_malformed_reply_fails_the_attempt_and_is_retried(
    deliverer: Deliverer, clock: RecordingClock, serve: Start
) -> None:
    broken = {k: v for k, v in reply_event_headers().items() if k != "ce-id"}
    sub = await serve(Reply(200, broken, b"x"), Reply(200))
    result = await on_fake_time(clock, deliverer.deliver(make_event(), sub.url, policy(retry=1)))
    assert (result.delivered, result.attempts, result.status) == (True, 2, 200)


async def test_a_malformed_reply_is_dead_lettered_as_bad_gateway(
    deliverer: Deliverer, serve: Start
) -> None:
    broken = {k: v for k, v in reply_event_headers().items() if k != "ce-id"}
    sub, dls = await serve(Reply(200, broken, b"oops")), await serve()
    result = await deliverer.deliver(make_event(), sub.url, policy(), dead_letter=dls.url)
    assert (result.delivered, result.dead_lettered, result.status) == (False, True, 502)
    assert result.error is not None and result.error.startswith("malformed reply:")
    assert "'id'" in result.error
    (dead,) = codec.parse_request(dls.seen[0].headers, dls.seen[0].body)
    assert dead.attributes[ERROR_CODE] == "502"
    assert dead.attributes[ERROR_DATA] == base64.b64encode(b"oops").decode()


async def test_a_body_that_is_not_an_event_fails_unless_replies_are_lax(
    deliverer: Deliverer, serve: Start
) -> None:
    sub = await serve(Reply(200, {"Content-Type": "text/plain"}, b"OK"))
    strict = await deliverer.deliver(make_event(), sub.url, policy())
    assert (strict.delivered, strict.status) == (False, 502)
    assert strict.error is not None and "not recognized as CloudEvent" in strict.error
    lax = await deliverer.deliver(make_event(), sub.url, policy(), strict_reply=False)
    assert (lax.delivered, lax.status, lax.reply) == (True, 200, None)


# --- dead-letter sink ---------------------------------------------------------------------


async def test_the_dead_letter_sink_gets_the_same_retries_and_no_prefer_header(
    deliverer: Deliverer, clock: RecordingClock, serve: Start
) -> None:
    sub = await serve(Reply(500, {"Content-Type": "text/plain"}, b"boom"))
    dls = await serve(Reply(503), Reply(200))
    result = await on_fake_time(
        clock,
        deliverer.deliver(
            make_event(),
            sub.url,
            policy(retry=2, backoffPolicy="linear", backoffDelay="PT1S"),
            dead_letter=dls.url,
            extra_headers={"Kn-Namespace": "ns"},
        ),
    )
    assert result == DeliveryResult(
        delivered=False,
        status=500,
        dead_lettered=True,
        attempts=3,
        dead_letter_status=200,
        error="unexpected HTTP response, expected 2xx, got 500",
    )
    assert clock.sleeps == [0.0, 1.0, 0.0]
    assert len(dls.seen) == 2
    headers = {k.lower(): v for k, v in dls.seen[1].headers.items()}
    assert "prefer" not in headers and headers["kn-namespace"] == "ns"


async def test_a_failing_dead_letter_sink_is_reported(deliverer: Deliverer, serve: Start) -> None:
    sub, dls = await serve(Reply(500)), await serve(Reply(400))
    result = await deliverer.deliver(make_event(), sub.url, policy(), dead_letter=dls.url)
    assert (result.delivered, result.dead_lettered, result.dead_letter_status) == (
        False,
        False,
        400,
    )
    assert result.status == 500


async def test_no_dead_letter_sink_after_a_success(deliverer: Deliverer, serve: Start) -> None:
    sub, dls = await serve(Reply(202)), await serve()
    result = await deliverer.deliver(make_event(), sub.url, policy(), dead_letter=dls.url)
    assert (result.delivered, result.dead_lettered, dls.seen) == (True, False, [])


def test_error_extensions_without_a_response_name_only_the_destination() -> None:
    assert error_extensions("http://sub/", None, {"kne-x": "y"}, b"") == {ERROR_DEST: "http://sub/"}


def test_error_extensions_cut_the_body_before_encoding_it() -> None:
    body = bytes(range(256)) * 8
    extensions = error_extensions("http://sub/", 500, {}, body)
    assert extensions[ERROR_CODE] == 500
    assert base64.b64decode(extensions[ERROR_DATA]) == body[:1024]
    assert ERROR_DATA not in error_extensions("http://sub/", 500, {}, b"")


def test_kne_response_headers_become_extensions() -> None:
    headers = {
        "Kne-Reason": "quota",
        "KNE-retryable": "false",
        "kne-Bad_Name": "x",
        "kne-id": "forged",
        "kne-": "empty",
        "X-Other": "y",
    }
    assert error_extensions("http://sub/", 429, headers, b"") == {
        ERROR_DEST: "http://sub/",
        ERROR_CODE: 429,
        "reason": "quota",
        "retryable": "false",
    }


# --- cancellation -------------------------------------------------------------------------


async def test_cancelling_during_a_backoff_stops_the_delivery(
    deliverer: Deliverer, clock: RecordingClock, serve: Start
) -> None:
    sub = await serve(Reply(503))
    task = asyncio.create_task(
        deliverer.deliver(
            make_event(), sub.url, policy(retry=3, backoffPolicy="linear", backoffDelay="PT1S")
        )
    )
    while len(clock.sleeps) < 2:
        clock.fell_asleep.clear()
        await asyncio.wait_for(clock.fell_asleep.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await clock.advance(10)
    assert len(sub.seen) == 2


async def test_cancelling_an_attempt_with_a_timeout_is_not_a_timeout(
    deliverer: Deliverer, clock: RecordingClock, serve: Start
) -> None:
    sub = await serve(Reply(HANG))
    task = asyncio.create_task(
        deliverer.deliver(make_event(), sub.url, policy(retry=3, timeout="PT5S"))
    )
    await sub.wait_seen(1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert clock.pending() == []
    await clock.advance(60)
    assert len(sub.seen) == 1


async def test_the_lean_client_sends_each_event_as_encoded_for_it(
    clock: RecordingClock, serve: Start
) -> None:
    sub = await serve()
    client = HTTPClient()
    deliverer = Deliverer(client, clock)
    event = make_event(datacontenttype="application/json")
    changed = event.copy()
    changed.attributes["type"] = "other"
    for sent in (event, event, changed):
        await deliverer.deliver(sent, sub.url, policy(),
                                extra_headers={"Kn-Namespace": "default"})
    await deliverer.deliver(event, sub.url, policy(), extra_headers={"Kn-Namespace": "ns2"})
    await client.close()
    seen = [{k.lower(): v for k, v in s.headers.items()} for s in sub.seen]
    assert [(h["ce-type"], h["kn-namespace"], h["prefer"]) for h in seen] == [
        (event.type, "default", "reply"), (event.type, "default", "reply"),
        ("other", "default", "reply"), (event.type, "ns2", "reply")]
    assert all(s.body == b'{"n":1}' for s in sub.seen)


# -- a first attempt made at once (Deliverer.begin), then carried on by deliver -----------


async def begun(deliverer: Deliverer, server: Scripted, event: CloudEvent,
                retry: RetryPolicy) -> tuple[int, dict[str, str], bytes] | None:
    """The response to a first attempt begun on the pooled connection a delivery left."""
    assert (await deliverer.deliver(event, server.url, retry)).delivered  # pools a connection
    exchange = deliverer.begin(event, server.url, retry)
    if exchange is None:
        return None
    response = await asyncio.wait_for(exchange.response, 5)
    exchange.finish()
    return response


async def test_a_first_attempt_goes_at_once_on_a_pooled_connection(
        deliverer: Deliverer, serve: Start) -> None:
    server = await serve(Reply(202))
    response = await begun(deliverer, server, make_event(), policy())
    if isinstance(deliverer.session, aiohttp.ClientSession):
        assert response is None  # only the lean client begins
        return
    assert response is not None and response[0] == 202
    assert len(server.seen) == 2
    assert server.seen[1].headers["Prefer"] == "reply"
    assert deliverer.begin(make_event(), server.url, policy(timeout="PT1S")) is None


async def test_a_delivery_goes_on_from_its_first_attempt(
        clock: RecordingClock, serve: Start) -> None:
    client = HTTPClient()
    deliverer = Deliverer(client, clock)
    try:
        server = await serve(Reply(202), Reply(503), Reply(503), Reply(200))
        response = await begun(deliverer, server, make_event(), policy(retry=3))
        assert response is not None and response[0] == 503
        result = await on_fake_time(clock, deliverer.deliver(
            make_event(), server.url, policy(retry=3), first=response))
        # the begun attempt counts: two more reached the subscriber, not three
        assert (result.delivered, result.attempts, len(server.seen)) == (True, 3, 4)

        replying = await serve(Reply(202), Reply(200, reply_event_headers(), b""))
        response = await begun(deliverer, replying, make_event(), policy())
        assert response is not None
        result = await deliverer.deliver(make_event(), replying.url, policy(), first=response)
        assert result.reply is not None and result.reply.id == "r-1"
        assert len(replying.seen) == 2  # read from the first attempt, not sent again
    finally:
        await client.close()
