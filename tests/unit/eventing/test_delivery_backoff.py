"""RetryPolicy and should_retry: Knative's DeliverySpec turned into waits, limits and verdicts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from shoal.eventing.backoff import RetryPolicy, parse_retry_after, should_retry

NOW = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)


def waits(policy: RetryPolicy) -> list[float]:
    """The backoff before each retry the policy allows, in order."""
    return [policy.backoff(done) for done in range(policy.retry)]


def test_no_spec_means_one_attempt_without_limits() -> None:
    specs: list[dict[str, object] | None] = [None, {}]
    for spec in specs:
        policy = RetryPolicy.from_spec(spec)
        assert policy == RetryPolicy()
        assert (policy.retry, policy.attempts, policy.timeout) == (0, 1, None)
        assert policy.retry_after_max is None


def test_from_spec_reads_the_stored_camel_case_fields() -> None:
    policy = RetryPolicy.from_spec(
        {
            "retry": 5,
            "backoffPolicy": "linear",
            "backoffDelay": "PT2.5S",
            "timeout": "PT10S",
            "retryAfterMax": "PT1M",
            "format": "json",
            "deadLetterSink": {"uri": "http://dls.example.com"},
        }
    )
    assert policy == RetryPolicy(
        retry=5,
        backoff_policy="linear",
        backoff_delay=2.5,
        timeout=10.0,
        retry_after_max=60.0,
        format="json",
    )
    assert policy.attempts == 6


def test_exponential_backoff_starts_at_the_delay_and_doubles() -> None:
    policy = RetryPolicy.from_spec(
        {"retry": 3, "backoffPolicy": "exponential", "backoffDelay": "PT0.2S"}
    )
    assert waits(policy) == pytest.approx([0.2, 0.4, 0.8])
    five = RetryPolicy.from_spec(
        {"retry": 5, "backoffPolicy": "exponential", "backoffDelay": "PT0.5S"}
    )
    assert waits(five) == pytest.approx([0.5, 1.0, 2.0, 4.0, 8.0])


def test_linear_backoff_retries_at_once_then_adds_the_delay() -> None:
    policy = RetryPolicy.from_spec(
        {"retry": 3, "backoffPolicy": "linear", "backoffDelay": "PT0.2S"}
    )
    assert waits(policy) == pytest.approx([0.0, 0.2, 0.4])


@pytest.mark.parametrize(
    "spec",
    [
        {"retry": 3},
        {"retry": 3, "backoffDelay": "PT1S"},
        {"retry": 3, "backoffPolicy": "exponential"},
        {"retry": 3, "backoffPolicy": "fibonacci", "backoffDelay": "PT1S"},
    ],
)
def test_without_both_policy_and_delay_retries_are_immediate(spec: dict[str, object]) -> None:
    assert waits(RetryPolicy.from_spec(spec)) == [0.0, 0.0, 0.0]


def test_a_huge_retry_count_does_not_overflow() -> None:
    policy = RetryPolicy.from_spec(
        {"retry": 5000, "backoffPolicy": "exponential", "backoffDelay": "PT1S"}
    )
    assert policy.backoff(4999) == policy.backoff(62) == 2.0**62


@pytest.mark.parametrize(
    "spec",
    [
        {"retry": -1, "timeout": "PT0S", "backoffDelay": "-PT1S", "backoffPolicy": "linear"},
        {"retry": "3", "timeout": "ten seconds", "backoffDelay": 5, "retryAfterMax": "soon"},
        {"retry": True, "timeout": None, "format": 1},
    ],
)
def test_values_that_do_not_parse_count_as_absent(spec: dict[str, object]) -> None:
    policy = RetryPolicy.from_spec(spec)
    assert policy.retry == 0
    assert policy.timeout is None
    assert policy.backoff(3) == 0.0
    assert policy.retry_after_max is None
    assert policy.format is None


@pytest.mark.parametrize(
    ("status", "retry"),
    [
        (None, True),
        (100, False),
        (200, False),
        (201, False),
        (202, False),
        (204, False),
        (300, False),
        (301, False),
        (304, False),
        (307, False),
        (400, False),
        (401, False),
        (403, False),
        (405, False),
        (410, False),
        (413, False),
        (415, False),
        (422, False),
        (431, False),
        (404, True),
        (408, True),
        (409, True),
        (429, True),
        (500, True),
        (501, True),
        (502, True),
        (503, True),
        (504, True),
        (599, True),
    ],
)
def test_selective_retry(status: int | None, retry: bool) -> None:
    assert should_retry(status) is retry


def test_retry_after_holds_seconds_or_an_http_date() -> None:
    assert parse_retry_after("120", NOW) == 120.0
    assert parse_retry_after(" +7 ", NOW) == 7.0
    assert parse_retry_after("-3", NOW) == -3.0
    later = format_datetime(NOW + timedelta(seconds=42), usegmt=True)
    assert parse_retry_after(later, NOW) == 42.0
    assert parse_retry_after("Monday, 01-Jan-24 12:00:09 GMT", NOW) == 9.0
    for value in (None, "", "1.5", "soon", "Mon, 99 Foo 2024 00:00:00 GMT"):
        assert parse_retry_after(value, NOW) is None


def test_retry_after_is_honoured_only_when_retry_after_max_is_set() -> None:
    spec = {"retry": 3, "backoffPolicy": "exponential", "backoffDelay": "PT0.2S"}
    off = RetryPolicy.from_spec(spec)
    on = RetryPolicy.from_spec({**spec, "retryAfterMax": "PT10S"})
    opted_out = RetryPolicy.from_spec({**spec, "retryAfterMax": "PT0S"})
    assert off.delay(0, 429, "3", NOW) == pytest.approx(0.2)
    assert on.delay(0, 429, "3", NOW) == 3.0
    assert on.delay(0, 503, "3", NOW) == 3.0
    assert opted_out.delay(0, 503, "3", NOW) == pytest.approx(0.2)


def test_retry_after_applies_to_429_and_503_only() -> None:
    policy = RetryPolicy(retry=3, retry_after_max=10.0)
    for status in (None, 404, 500, 502, 504):
        assert policy.delay(0, status, "3", NOW) == 0.0
    assert policy.delay(0, 429, "3", NOW) == 3.0


def test_retry_after_is_capped_and_the_longer_wait_wins() -> None:
    policy = RetryPolicy(
        retry=5, backoff_policy="exponential", backoff_delay=2.0, retry_after_max=10.0
    )
    assert policy.delay(0, 429, "60", NOW) == 10.0
    assert policy.delay(0, 429, "1", NOW) == 2.0
    assert policy.delay(3, 429, "1", NOW) == 16.0
    assert policy.delay(0, 429, "-30", NOW) == 2.0
    assert policy.delay(0, 429, "garbage", NOW) == 2.0
    in_five = format_datetime(NOW + timedelta(seconds=5), usegmt=True)
    assert policy.delay(0, 503, in_five, NOW) == 5.0
