"""The kubelet-style crash backoff."""

from __future__ import annotations

from shoal.runtime.backoff import CrashBackoff


def test_doubles_to_the_maximum() -> None:
    backoff = CrashBackoff()
    assert [backoff.next_delay(1.0) for _ in range(8)] == [1, 2, 4, 8, 16, 30, 30, 30]


def test_resets_after_a_long_run() -> None:
    backoff = CrashBackoff(initial=0.5, maximum=4.0, reset_after=60.0)
    assert [backoff.next_delay(1.0) for _ in range(3)] == [0.5, 1.0, 2.0]
    assert backoff.next_delay(60.0) == 0.5
    assert backoff.next_delay(59.0) == 1.0
    backoff.reset()
    assert backoff.next_delay(0.0) == 0.5
