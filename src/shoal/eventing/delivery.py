"""Deliver one event to one subscriber with Knative's delivery semantics.

The dispatchers (``dispatcher.py`` for Triggers, later the channel dispatchers) call
``Deliverer.deliver`` for every event they hand on. One delivery is:

1. **Send** the event to the subscriber in binary content mode (structured when the policy's
   ``format`` is ``json``) with ``Prefer: reply``, which Knative adds whether or not a reply
   is wanted, plus the caller's ``extra_headers`` (``Kn-Namespace``, for instance). Each
   attempt has the policy's timeout, measured on the injected clock.
2. **Retry** what ``backoff.should_retry`` allows, up to ``policy.retry`` times, sleeping the
   policy's backoff (or a honoured ``Retry-After``) on the injected clock in between.
3. **Read the reply** of a 2xx response with the HTTP codec. As in Knative's broker filter
   handler, a reply that claims to be an event but is not a valid one fails the attempt, and
   so does (by default, ``strict_reply``) a non-empty body that is not an event at all:
   Knative's contract is that a response is empty or a valid CloudEvent. The filter answers
   such responses with 502 Bad Gateway, which is retried; Shoal records the attempt the
   same way (``status`` 502, the subscriber's body kept for the dead-letter sink). Channel
   subscriptions pass ``strict_reply=False``: Knative's channel dispatcher drops a body that
   is not an event and counts the delivery as done.
4. **Dead-letter** after the last failure, when a sink is given: the original event goes
   there with the same retry policy (as kncloudevents does), without ``Prefer: reply``, with
   the error extensions that Knative's Kafka-based broker sets:

   - ``knativeerrordest``: the subscriber's URL, always;
   - ``knativeerrorcode``: the last status code, only when there was a response (none after
     a connection error or a timeout);
   - ``knativeerrordata``: the last response body, cut to its first 1024 bytes and then
     base64-encoded, only when the body was not empty;
   - one extension per ``kne-<name>`` response header (``<name>`` lower-cased), when the
     name is a valid extension name and not a context attribute.

   (Knative's channel-based broker instead reports a connection error as code 500 with the
   error text as data, and cuts the base64 text rather than the body.) A reply from the
   dead-letter sink is ignored.

``DeliveryResult`` tells the caller what happened; the caller decides what to do with a
reply (the Trigger dispatcher publishes it back to the broker).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import re
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy

from shoal.controllers.clock import Clock
from shoal.eventing import codec
from shoal.eventing.backoff import RetryPolicy, should_retry
from shoal.eventing.event import CloudEvent
from shoal.eventing.httpclient import EncodedHeaders, Exchange, HTTPClient, Result

log = logging.getLogger("shoal.eventing.delivery")

ERROR_DEST = "knativeerrordest"
ERROR_CODE = "knativeerrorcode"
ERROR_DATA = "knativeerrordata"
ERROR_DATA_MAX_BYTES = 1024
ERROR_HEADER_PREFIX = "kne-"
ENCODED_REQUESTS = 1024  # events whose delivery request is kept encoded for the next Trigger
BAD_GATEWAY = 502
NOT_AN_EVENT = (
    "received a non-empty response not recognized as CloudEvent. "
    "The response MUST be either empty or a valid CloudEvent"
)

_EXTENSION_NAME = re.compile(r"[a-z0-9]+")
_NO_HEADERS: CIMultiDictProxy[str] = CIMultiDictProxy(CIMultiDict())
_T = TypeVar("_T")


@dataclass(frozen=True)
class DeliveryResult:
    """What became of one delivery.

    ``status`` and ``error`` describe the last attempt at the subscriber: its status code
    (None when no response came: connection error or timeout; 502 when a 2xx carried a
    reply that is not a valid event) and, unless it was delivered, why it failed.
    ``attempts`` counts the attempts at the subscriber only.
    """

    delivered: bool
    status: int | None
    reply: CloudEvent | None = None
    dead_lettered: bool = False
    attempts: int = 0
    error: str | None = None
    dead_letter_status: int | None = None


@dataclass(frozen=True)
class _Outcome:
    """One attempt: the response (if any) and, when it failed, why."""

    status: int | None
    headers: Mapping[str, str]
    body: bytes
    error: str | None
    reply: CloudEvent | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class _AttemptTimedOut(Exception):
    pass


def error_extensions(
    destination: str, status: int | None, headers: Mapping[str, str], body: bytes
) -> dict[str, Any]:
    """The extensions a dead-lettered event carries about its last failed attempt."""
    extensions: dict[str, Any] = {ERROR_DEST: destination}
    if status is None:
        return extensions
    extensions[ERROR_CODE] = status
    for key, value in headers.items():
        lowered = key.lower()
        if not lowered.startswith(ERROR_HEADER_PREFIX):
            continue
        name = lowered[len(ERROR_HEADER_PREFIX) :]
        if _EXTENSION_NAME.fullmatch(name) and name not in codec.RULES_V1:
            extensions[name] = value
    if body:
        extensions[ERROR_DATA] = base64.b64encode(body[:ERROR_DATA_MAX_BYTES]).decode("ascii")
    return extensions


def _looks_like_event(headers: Mapping[str, str]) -> bool:
    """Whether a response announces an event: a ``ce-specversion`` header or a
    CloudEvents content type (what sdk-go's ``ReadEncoding`` looks at)."""
    if headers.get("ce-specversion") is not None:
        return True
    content_type = headers.get("content-type") or ""
    return content_type.strip().lower().startswith("application/cloudevents")


class Deliverer:
    """Sends events over one shared HTTP client; time comes from ``clock``.

    The client is the lean ``HTTPClient`` on the data plane, or an aiohttp session."""

    def __init__(self, session: aiohttp.ClientSession | HTTPClient, clock: Clock) -> None:
        self.session = session
        self.clock = clock
        self._lean = session if isinstance(session, HTTPClient) else None
        # (id(event), format) -> the event, the extra headers, its request's headers and body
        self._requests: dict[
            tuple[int, str | None],
            tuple[CloudEvent, Mapping[str, str] | None, Mapping[str, str], bytes],
        ] = {}

    async def deliver(
        self,
        event: CloudEvent,
        subscriber: str,
        policy: RetryPolicy,
        *,
        dead_letter: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
        strict_reply: bool = True,
        first: Result | None = None,
    ) -> DeliveryResult:
        """Deliver ``event`` to ``subscriber``, then to ``dead_letter`` if that failed.

        ``first`` is the response to a first attempt already made with ``begin`` (with the
        same event, subscriber, policy and extra headers): the delivery goes on from it."""
        headers, body = self._request(event, policy, extra_headers)
        outcome, attempts = await self._send(
            subscriber, headers, body, policy, reply=True, strict_reply=strict_reply,
            first=first,
        )
        if outcome.error is None:
            if outcome.reply is None and attempts == 1:
                return _delivered(outcome.status)
            return DeliveryResult(
                delivered=True, status=outcome.status, reply=outcome.reply, attempts=attempts
            )
        failure = f"unable to complete request to {subscriber}: {outcome.error}"
        if dead_letter is None:
            log.warning("event %s: %s", event.id, failure)
            return DeliveryResult(
                delivered=False, status=outcome.status, attempts=attempts, error=outcome.error
            )
        dead = event.copy()
        dead.attributes.update(
            error_extensions(subscriber, outcome.status, outcome.headers, outcome.body)
        )
        dead_headers, dead_body = self._encode(dead, policy)
        dls, _ = await self._send(
            dead_letter,
            _headers(dead_headers, extra_headers),
            dead_body,
            policy,
            reply=False,
            strict_reply=False,
        )
        if not dls.ok:
            log.warning(
                "event %s: %s, nor to the dead-letter sink %s: %s",
                event.id,
                failure,
                dead_letter,
                dls.error,
            )
        return DeliveryResult(
            delivered=False,
            status=outcome.status,
            attempts=attempts,
            dead_lettered=dls.ok,
            error=outcome.error,
            dead_letter_status=dls.status,
        )

    def begin(self, event: CloudEvent, subscriber: str, policy: RetryPolicy,
              extra_headers: Mapping[str, str] | None = None) -> Exchange | None:
        """Make the first attempt of a delivery with no coroutine, when it can be (the lean
        client, no per-attempt timeout): at once on an idle pooled connection, else as
        soon as one is free; None otherwise. When its response is ``settled``, the
        delivery is done; otherwise ``deliver(..., first=response)`` goes on from it. An
        exchange that failed was not an attempt: the connection was one the server had
        closed, or none could be opened (``deliver`` starts over, as the client would
        have)."""
        if self._lean is None or policy.timeout is not None:
            return None
        headers, body = self._request(event, policy, extra_headers)
        return self._lean.begin(subscriber, headers, body)

    def _request(self, event: CloudEvent, policy: RetryPolicy,
                 extra_headers: Mapping[str, str] | None) -> tuple[Mapping[str, str], bytes]:
        """The headers and body that deliver ``event``, encoded once for every Trigger that
        delivers the same event object (dispatchers share one decoding of a record) in the
        same format with equal extra headers; the event is kept with them, so its id is not
        reused meanwhile."""
        key = (id(event), policy.format)
        cached = self._requests.get(key)
        extra = extra_headers or None
        if cached is not None and cached[0] is event and cached[1] == extra:
            return cached[2], cached[3]
        encoded, body = self._encode(event, policy)
        headers: Mapping[str, str] = _headers(encoded, extra, prefer_reply=True)
        if self._lean is not None:
            headers = EncodedHeaders(headers)
        if cached is None and len(self._requests) >= ENCODED_REQUESTS:
            del self._requests[next(iter(self._requests))]
        self._requests[key] = (event, None if extra is None else dict(extra), headers, body)
        return headers, body

    @staticmethod
    def _encode(event: CloudEvent, policy: RetryPolicy) -> tuple[dict[str, str], bytes]:
        if policy.format == "json":
            return codec.to_structured(event)
        return codec.to_binary(event)

    async def _send(
        self,
        url: str,
        headers: Mapping[str, str],
        body: bytes,
        policy: RetryPolicy,
        *,
        reply: bool,
        strict_reply: bool,
        first: Result | None = None,
    ) -> tuple[_Outcome, int]:
        """Attempt, and retry what may be retried; the last outcome and the attempt count.

        Each attempt posts straight from here when the lean client has no timeout to keep
        (the common case: one coroutine less for every delivery to resume through).
        ``first`` is the response to a first attempt made before (``begin``)."""
        lean = self._lean if policy.timeout is None else None
        response_headers: Mapping[str, str]
        attempts = 0
        while True:
            attempts += 1
            try:
                if first is not None:
                    (status, response_headers, payload), first = first, None
                elif lean is not None:
                    status, response_headers, payload = await lean.post(url, headers, body)
                else:
                    status, response_headers, payload = await self._timed(
                        self._post(url, headers, body, limited=policy.timeout is not None),
                        policy.timeout,
                    )
            except _AttemptTimedOut:
                error = f"no response within {policy.timeout:g}s"
                outcome = _Outcome(None, _NO_HEADERS, b"", error)
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                outcome = _Outcome(None, _NO_HEADERS, b"", f"{type(exc).__name__}: {exc}")
            else:
                if settled(status, payload):
                    return _ACCEPTED, attempts
                outcome = _read(status, response_headers, payload, reply, strict_reply)
            if outcome.error is None or attempts > policy.retry or not should_retry(outcome.status):
                return outcome, attempts
            wait = policy.delay(
                attempts - 1, outcome.status, outcome.headers.get("Retry-After"), self.clock.now()
            )
            log.debug(
                "POST %s failed (%s); retry %d of %d in %.3gs",
                url,
                outcome.error,
                attempts,
                policy.retry,
                wait,
            )
            await self.clock.sleep(wait)

    async def _post(
        self, url: str, headers: Mapping[str, str], body: bytes, *, limited: bool
    ) -> tuple[int, Mapping[str, str], bytes]:
        if self._lean is not None:
            return await self._lean.post(url, headers, body)
        assert isinstance(self.session, aiohttp.ClientSession)
        options: dict[str, Any] = {}
        if limited:
            # The per-attempt limit runs on the injected clock; lift the session's own.
            options["timeout"] = aiohttp.ClientTimeout()
        async with self.session.post(
            url, data=body, headers=headers, skip_auto_headers=("Content-Type",), **options
        ) as response:
            payload = await response.read()
            return response.status, response.headers, payload

    async def _timed(self, work: Coroutine[Any, Any, _T], timeout: float | None) -> _T:
        """Run ``work``, cancelling it after ``timeout`` seconds of the injected clock.

        The work runs in the calling task, which the timer cancels (as ``asyncio.timeout``
        does, on the injected clock): a cancellation of the task from elsewhere, before or
        after the timer fired, stays a cancellation."""
        if timeout is None:
            return await work
        task = asyncio.current_task()
        if task is None:  # pragma: no cover - deliveries always run in a task
            raise RuntimeError("a delivery with a timeout must run in a task")
        cancelling = task.cancelling()
        expired = False

        def expire() -> None:
            nonlocal expired
            expired = True
            task.cancel()

        timer = self.clock.call_later(timeout, expire)
        try:
            return await work
        except asyncio.CancelledError:
            if expired:
                expired = False
                if task.uncancel() <= cancelling:
                    raise _AttemptTimedOut from None
            raise
        finally:
            timer.cancel()
            if expired:  # the work ended otherwise after all: take the cancellation back
                task.uncancel()


def settled(status: int, payload: bytes) -> bool:
    """Whether a subscriber's response is a delivery with nothing more to do: accepted,
    and empty (a 202 never carries a reply)."""
    return status == 202 and not payload


_DELIVERIES: dict[int, DeliveryResult] = {}  # first-attempt results without a reply, by status
_ACCEPTED = _Outcome(202, _NO_HEADERS, b"", None)


def _delivered(status: int | None) -> DeliveryResult:
    """The (immutable, so shared) result of a delivery done at the first attempt, no reply."""
    result = _DELIVERIES.get(status) if status is not None else None
    if result is None:
        result = DeliveryResult(delivered=True, status=status, attempts=1)
        if status is not None and len(_DELIVERIES) < 64:
            _DELIVERIES[status] = result
    return result


def _read(
    status: int, headers: Mapping[str, str], payload: bytes, reply: bool, strict_reply: bool
) -> _Outcome:
    """What one response means: a failure, a success, and the reply event it carries."""
    if status < 200 or status > 299:
        if not isinstance(headers, CIMultiDictProxy):  # the lean client's: names lower-cased
            headers = CIMultiDictProxy(CIMultiDict(headers))
        return _Outcome(
            status, headers, payload, f"unexpected HTTP response, expected 2xx, got {status}"
        )
    if not reply:
        return _Outcome(status, headers, payload, None)
    try:
        event = codec.parse_response(status, headers, payload)
    except codec.InvalidEvent as exc:
        return _Outcome(BAD_GATEWAY, headers, payload, f"malformed reply: {exc}")
    if event is None and strict_reply and payload and not _looks_like_event(headers):
        return _Outcome(BAD_GATEWAY, headers, payload, NOT_AN_EVENT)
    return _Outcome(status, headers, payload, None, event)


def _headers(
    encoded: Mapping[str, str], extra: Mapping[str, str] | None, *, prefer_reply: bool = False
) -> dict[str, str]:
    """The request headers: the event's (``codec`` names them in lower case), then the
    caller's, which win whatever their case (as in Knative), with the caller's spelling."""
    headers = dict(encoded)
    spelt: dict[str, str] = {}  # lower-cased name -> the caller's spelling of it
    if extra:
        for key, value in extra.items():
            lowered = key.lower()
            headers.pop(spelt.get(lowered, lowered), None)
            spelt[lowered] = key
            headers[key] = value
    if prefer_reply:
        headers.pop(spelt.get("prefer", "prefer"), None)
        headers["Prefer"] = "reply"
    return headers
