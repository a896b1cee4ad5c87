"""Retry policy for event delivery: how often to retry, how long to wait, what to retry.

``RetryPolicy.from_spec`` turns a ``delivery`` object as stored (Knative's DeliverySpec in
camelCase JSON: ``retry``, ``backoffPolicy``, ``backoffDelay``, ``timeout``,
``retryAfterMax``, ``format``; the dead-letter sink is resolved separately by the
reconcilers) into the numbers the deliverer (``delivery.py``) works with. The data plane
(``plane.py``) builds one per Trigger; ``should_retry`` says which outcomes are worth
another attempt.

The rules are those of Knative's ``pkg/kncloudevents`` (``retries.go``, used by the
channel-based broker and the in-memory channel dispatcher):

- **Retries.** At most ``retry`` retries after the first attempt, so ``retry + 1`` attempts in
  all; none when the spec has no ``retry``. A failure that ``should_retry`` rejects ends the
  delivery at once.
- **Backoff counting.** kncloudevents hands its backoff function to hashicorp's
  go-retryablehttp, whose loop passes the number of retries already made as ``attemptNum``:
  0 before the first retry, 1 before the second, and so on. Before retry number ``n``
  (counting from 1) the wait is therefore

  - exponential: ``backoffDelay * 2**(n - 1)``, so PT0.2S gives 0.2 s, 0.4 s, 0.8 s, …
  - linear: ``backoffDelay * (n - 1)``, so PT0.2S gives 0 s, 0.2 s, 0.4 s, …

  This is what Knative does on the wire. (Knative's own ``retries_test.go`` calls the
  function with 1, 2, 3, … and the Kafka broker counts from 1 as well, which would double
  every exponential wait and shift every linear one by one delay; Shoal follows what the
  channel-based broker actually sends.) There is no backoff (an immediate retry) unless both
  ``backoffPolicy`` and ``backoffDelay`` are set, as in kncloudevents; Knative does not
  default either field.
- **What is retried** (``SelectiveRetry``): no response at all (connection refused, reset,
  per-attempt timeout), any 5xx, and 404, 408, 409 and 429. Every other status (1xx, 2xx,
  3xx, the remaining 4xx) is final.
- **Timeout** (``delivery-timeout`` feature): the limit for one attempt, from sending the
  request to reading the whole response; None means no limit of our own.
- **Retry-After** (``delivery-retryafter`` feature, opt-in while Knative has it in alpha):
  only when ``retryAfterMax`` is set, a 429 or 503 response's ``Retry-After`` header (delay
  seconds, or an HTTP date relative to the clock's ``now``) is honoured up to
  ``retryAfterMax``; the wait is the larger of that and the backoff. ``PT0S`` turns it off.

Specs reach this module after admission has validated them; a value that still does not
parse is treated as absent rather than stopping the dispatcher.
"""

from __future__ import annotations

import email.utils
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shoal.api.duck import parse_iso8601_duration

LINEAR = "linear"
EXPONENTIAL = "exponential"
RETRY_AFTER_STATUSES = frozenset({429, 503})
RETRYABLE_4XX = frozenset({404, 408, 409, 429})
# Past 2**62 a Go time.Duration overflows; the exponent stops growing there.
_MAX_EXPONENT = 62
_DELAY_SECONDS = re.compile(r"[+-]?[0-9]+")


def should_retry(status: int | None) -> bool:
    """Whether an attempt that ended this way is worth retrying (Knative's SelectiveRetry).

    ``None`` stands for no response: a connection error or a timeout.
    """
    if status is None:
        return True
    return status >= 500 or status in RETRYABLE_4XX


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds a ``Retry-After`` header asks to wait, or None when it is absent or invalid.

    The header holds delay seconds (``120``) or an HTTP date, which counts from ``now``
    (a date in the past gives a negative number, which never lengthens a wait).
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if _DELAY_SECONDS.fullmatch(text):
        return float(int(text))
    try:
        moment = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - now).total_seconds()


def _duration(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    seconds = parse_iso8601_duration(value)
    return None if seconds is None or seconds < 0 else seconds


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        return 0
    return max(0, value)


@dataclass(frozen=True)
class RetryPolicy:
    """Delivery options in seconds; the default is one attempt with no limits."""

    retry: int = 0
    backoff_policy: str | None = None
    backoff_delay: float | None = None
    timeout: float | None = None
    retry_after_max: float | None = None
    format: str | None = None
    """``json`` (structured mode) or ``binary``; None means binary, as sdk-go sends."""

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any] | None) -> RetryPolicy:
        """The policy of a stored ``delivery`` object (camelCase keys), or of none."""
        if not spec:
            return cls()
        timeout = _duration(spec.get("timeout"))
        policy = spec.get("backoffPolicy")
        fmt = spec.get("format")
        return cls(
            retry=_count(spec.get("retry")),
            backoff_policy=policy if policy in (LINEAR, EXPONENTIAL) else None,
            backoff_delay=_duration(spec.get("backoffDelay")),
            timeout=timeout if timeout else None,
            retry_after_max=_duration(spec.get("retryAfterMax")),
            format=fmt if isinstance(fmt, str) else None,
        )

    @property
    def attempts(self) -> int:
        """The most attempts one delivery makes: the first one plus ``retry``."""
        return self.retry + 1

    def backoff(self, retries_done: int) -> float:
        """The backoff before the next retry, given how many retries were already made.

        ``retries_done`` is kncloudevents' ``attemptNum``: 0 before the first retry.
        """
        delay = self.backoff_delay
        if delay is None or self.backoff_policy is None:
            return 0.0
        if self.backoff_policy == EXPONENTIAL:
            return delay * 2.0 ** min(retries_done, _MAX_EXPONENT)
        return delay * retries_done

    def retry_after(self, status: int | None, header: str | None, now: datetime) -> float:
        """The wait a 429/503 ``Retry-After`` header asks for, capped; 0 when not honoured."""
        if self.retry_after_max is None or status not in RETRY_AFTER_STATUSES:
            return 0.0
        asked = parse_retry_after(header, now)
        if asked is None:
            return 0.0
        return min(asked, self.retry_after_max)

    def delay(
        self, retries_done: int, status: int | None, retry_after: str | None, now: datetime
    ) -> float:
        """How long to wait before the next retry: the backoff or Retry-After, the longer."""
        return max(self.backoff(retries_done), self.retry_after(status, retry_after, now), 0.0)
