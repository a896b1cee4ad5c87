"""Revision garbage collection: the decision on fake time, and the labeller's patches."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from shoal.api.config import SERVING_NS, Config
from shoal.controllers.serving.gc import GCConfig, stale_revisions
from shoal.controllers.serving.labeler import routing_patch

HOUR = 3600.0
NOW = datetime(2024, 6, 1, tzinfo=UTC).timestamp()


def stamp(seconds_ago: float) -> str:
    return datetime.fromtimestamp(NOW - seconds_ago, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def rev(name: str, *, created: float, active: float | None = None, state: str = "reserve",
        no_gc: str | None = None) -> dict[str, Any]:
    """A revision created ``created`` hours ago, last active ``active`` hours ago."""
    annotations = {}
    if active is not None:
        annotations["serving.knative.dev/routingStateModified"] = stamp(active * HOUR)
    if no_gc is not None:
        annotations["serving.knative.dev/no-gc"] = no_gc
    return {"metadata": {"name": name, "creationTimestamp": stamp(created * HOUR),
                         "labels": {"serving.knative.dev/routingState": state},
                         "annotations": annotations}}


TINY = GCConfig(retain_since_create=HOUR, retain_since_last_active=HOUR, min_non_active=1,
                max_non_active=None)

CASES = [
    ("all disabled: nothing goes",
     GCConfig(None, None, 0, None), [rev("a", created=100), rev("b", created=90)], "x", []),
    ("at most min revisions: nothing goes",
     GCConfig(HOUR, HOUR, 2, None), [rev("a", created=100), rev("b", created=90)], "x", []),
    ("stale ones go, oldest first, down to min",
     TINY, [rev("a", created=10), rev("b", created=9), rev("c", created=8)], "x", ["a", "b"]),
    ("recently created is kept",
     TINY, [rev("a", created=10), rev("b", created=0.5), rev("c", created=8)], "x",
     ["a", "c"]),
    ("recently active is kept",
     TINY, [rev("a", created=10, active=0.5), rev("b", created=9), rev("c", created=8)],
     "x", ["b", "c"]),
    ("the latest ready revision is never collected",
     TINY, [rev("a", created=10), rev("b", created=9), rev("c", created=8)], "a", ["b"]),
    ("active and pending revisions are not collectable",
     TINY, [rev("a", created=10, state="active"), rev("b", created=9, state="pending"),
            rev("c", created=8), rev("d", created=7)], "x", ["c"]),
    ("no-gc keeps a revision",
     TINY, [rev("a", created=10, no_gc="true"), rev("b", created=9), rev("c", created=8)],
     "x", ["b"]),
    ("over max: the oldest non-active go even when not stale",
     GCConfig(None, None, 0, 2), [rev(f"r{i}", created=10 - i) for i in range(5)], "x",
     ["r0", "r1", "r2"]),
    ("max applies after the stale ones went",
     GCConfig(48 * HOUR, 15 * HOUR, 1, 2),
     [rev("a", created=100), rev("b", created=3), rev("c", created=2), rev("d", created=1)],
     "x", ["a", "b"]),
]


@pytest.mark.parametrize(("gc", "revisions", "latest", "doomed"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_stale_revisions(gc: GCConfig, revisions: list[dict[str, Any]], latest: str,
                         doomed: list[str]) -> None:
    assert stale_revisions(revisions, latest, gc, NOW)[0] == doomed


def test_the_next_look_is_when_a_revision_turns_stale() -> None:
    revisions = [rev("a", created=10), rev("b", created=0.25), rev("c", created=0.5)]
    doomed, wait = stale_revisions(revisions, "x", TINY, NOW)
    assert doomed == ["a"]
    assert wait == pytest.approx(0.5 * HOUR)


def test_config_gc_is_read_with_knatives_defaults() -> None:
    assert GCConfig.of(Config()) == GCConfig(48 * HOUR, 15 * HOUR, 20, 1000)
    config = Config({(SERVING_NS, "config-gc"): {
        "retain-since-create-time": "disabled", "retain-since-last-active-time": "1m",
        "min-non-active-revisions": "0", "max-non-active-revisions": "disabled"}})
    assert GCConfig.of(config) == GCConfig(None, 60.0, 0, None)
    broken = Config({(SERVING_NS, "config-gc"): {
        "retain-since-create-time": "soon", "min-non-active-revisions": "-1",
        "max-non-active-revisions": "many"}})
    assert GCConfig.of(broken) == GCConfig()


def test_the_labeller_marks_routed_and_reserve() -> None:
    pending = {"metadata": {"name": "a", "labels": {
        "serving.knative.dev/routingState": "pending"}}}
    assert routing_patch(pending, "hello", True, "T1") == {"metadata": {
        "labels": {"serving.knative.dev/routingState": "active"},
        "annotations": {"serving.knative.dev/routes": "hello",
                        "serving.knative.dev/routingStateModified": "T1"}}}
    assert routing_patch(pending, "hello", False, "T1") is None  # never routed: left alone
    routed = {"metadata": {"name": "a", "labels": {
        "serving.knative.dev/routingState": "active"},
        "annotations": {"serving.knative.dev/routes": "hello,other"}}}
    assert routing_patch(routed, "hello", True, "T2") is None
    assert routing_patch(routed, "hello", False, "T2") == {"metadata": {
        "annotations": {"serving.knative.dev/routes": "other"}}}
    only = {"metadata": {"name": "a", "labels": {
        "serving.knative.dev/routingState": "active"},
        "annotations": {"serving.knative.dev/routes": "hello"}}}
    assert routing_patch(only, "hello", False, "T3") == {"metadata": {
        "labels": {"serving.knative.dev/routingState": "reserve"},
        "annotations": {"serving.knative.dev/routes": None,
                        "serving.knative.dev/routingStateModified": "T3"}}}
