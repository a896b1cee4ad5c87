"""Knative's KPA decisions on fake time: the decider, the windows, and the spec it is given."""

from __future__ import annotations

import pytest

from shoal.api.config import SERVING_NS, Config
from shoal.serving.kpa import (
    INVALID,
    Buckets,
    Decider,
    DeciderSpec,
    DelayWindow,
    decider_spec,
    scale_bounds,
)

SPEC = DeciderSpec(target=10.0, total=100.0, stable_window=60.0, panic_window=6.0)


@pytest.mark.parametrize(("case", "spec", "ready", "stable", "panic", "desired"), [
    ("stable demand over the target", SPEC, 1, 50.0, 50.0, 5),
    ("a fraction of an instance rounds up", SPEC, 1, 0.5, 0.5, 1),
    ("no demand at all", SPEC, 1, 0.0, 0.0, 0),
    ("max-scale-up-rate 2 doubles at most", DeciderSpec(target=10.0, max_scale_up_rate=2.0),
     1, 100.0, 10.0, 2),
    ("scale-up rate still grows by one", DeciderSpec(target=1.0, max_scale_up_rate=1.1),
     2, 3.0, 3.0, 3),
    ("max-scale-down-rate 2 halves at most", SPEC, 10, 0.0, 0.0, 5),
    ("an unreachable revision drops at once",
     DeciderSpec(target=10.0, reachable=False), 10, 0.0, 0.0, 0),
    ("activation-scale is a floor once active",
     DeciderSpec(target=10.0, activation_scale=3), 1, 5.0, 5.0, 3),
    ("activation-scale leaves zero alone",
     DeciderSpec(target=10.0, activation_scale=3), 1, 0.0, 0.0, 0),
])
def test_decisions(case: str, spec: DeciderSpec, ready: int, stable: float, panic: float,
                   desired: int) -> None:
    result = Decider(spec).scale(0.0, ready, stable, panic)
    assert result.valid and result.desired == desired, case


def test_no_data_is_no_decision() -> None:
    assert Decider(SPEC).scale(0.0, 1, None, None) == INVALID


def test_panic_takes_the_larger_demand_and_never_scales_down() -> None:
    decider = Decider(SPEC)
    # panic demand 30 over 1 ready instance: 3x the target, over the 200 % threshold
    first = decider.scale(0.0, 1, 10.0, 30.0)
    assert first.panicking and first.desired == 3
    # still panicking: a lower demand does not scale down
    second = decider.scale(2.0, 3, 10.0, 10.0)
    assert second.panicking and second.desired == 3
    # a higher one scales up
    assert decider.scale(4.0, 3, 10.0, 70.0).desired == 7
    # a stable window after the last tick over the threshold, panic ends
    assert decider.scale(63.0, 7, 10.0, 10.0).panicking  # 59 s after t=4
    calm = decider.scale(65.0, 7, 10.0, 10.0)
    assert not calm.panicking and calm.desired == 3  # 7 halves at most: floor(3.5)


def test_under_the_threshold_no_panic() -> None:
    result = Decider(SPEC).scale(0.0, 2, 10.0, 30.0)  # 3 wanted / 2 ready = 1.5 < 2
    assert not result.panicking and result.desired == 1  # the stable demand


def test_scale_down_delay_keeps_the_maximum_of_its_window() -> None:
    decider = Decider(DeciderSpec(target=10.0, scale_down_delay=10.0, max_scale_down_rate=100))
    assert decider.scale(0.0, 5, 50.0, 50.0).desired == 5
    assert decider.scale(2.0, 5, 10.0, 10.0).desired == 5
    assert decider.scale(9.0, 5, 10.0, 10.0).desired == 5
    assert decider.scale(11.0, 5, 10.0, 10.0).desired == 1


def test_excess_burst_capacity() -> None:
    # 2 ready x 100 per instance - 211 burst - 10 in the panic window
    assert Decider(DeciderSpec(target=70.0, total=100.0)).scale(
        0.0, 2, 10.0, 10.0).excess_burst_capacity == -21
    assert Decider(DeciderSpec(target=70.0, total=100.0)).scale(
        0.0, 4, 10.0, 10.0).excess_burst_capacity == 179
    assert Decider(DeciderSpec(target_burst_capacity=0)).scale(
        0.0, 1, 1.0, 1.0).excess_burst_capacity == 0
    assert Decider(DeciderSpec(target_burst_capacity=-1)).scale(
        0.0, 9, 1.0, 1.0).excess_burst_capacity == -1


def test_buckets_average_over_the_seconds_seen() -> None:
    buckets = Buckets(6)
    assert buckets.empty and buckets.average(0.0) == 0.0
    buckets.record(100.2, 10.0)
    buckets.record(101.7, 20.0)
    assert buckets.average(101.9) == 15.0  # two seconds seen so far
    buckets.record(101.9, 6.0)  # the same second adds up
    assert buckets.average(101.9) == 18.0
    assert buckets.average(105.0) == pytest.approx(36.0 / 6)  # six seconds since the first
    assert buckets.average(106.5) == pytest.approx(26.0 / 6)  # 100 left the window
    assert buckets.average(107.5) == 0.0
    assert buckets.average(200.0) == 0.0


def test_delay_window_is_a_moving_maximum() -> None:
    window = DelayWindow(5.0)
    window.record(0.0, 3)
    window.record(1.0, 1)
    assert window.current() == 3
    window.record(5.5, 2)
    assert window.current() == 2


def config(**autoscaler: str) -> Config:
    return Config({(SERVING_NS, "config-autoscaler"): autoscaler})


def test_spec_with_knatives_defaults() -> None:
    spec = decider_spec({}, Config(), 0)
    assert (spec.metric, spec.target, spec.total) == ("concurrency", 70.0, 100.0)
    assert (spec.stable_window, spec.panic_window, spec.panic_threshold) == (60.0, 6.0, 2.0)
    assert (spec.target_burst_capacity, spec.max_scale_up_rate,
            spec.max_scale_down_rate) == (211.0, 1000.0, 2.0)


@pytest.mark.parametrize(("annotations", "cc", "target", "total"), [
    ({}, 10, 7.0, 10.0),  # containerConcurrency is the total
    ({"autoscaling.knative.dev/target": "50"}, 10, 7.0, 10.0),  # never above cc
    ({"autoscaling.knative.dev/target": "5"}, 10, 3.5, 5.0),
    ({"autoscaling.knative.dev/target-utilization-percentage": "100"}, 1, 1.0, 1.0),
    ({"autoscaling.knative.dev/targetUtilizationPercentage": "50"}, 4, 2.0, 4.0),
    ({"autoscaling.knative.dev/metric": "rps"}, 0, 140.0, 200.0),
    ({"autoscaling.knative.dev/metric": "rps", "autoscaling.knative.dev/target": "10"}, 1,
     7.0, 10.0),
])
def test_spec_target_and_total(annotations: dict[str, str], cc: int, target: float,
                               total: float) -> None:
    spec = decider_spec(annotations, Config(), cc)
    assert spec.target == pytest.approx(target) and spec.total == total


def test_spec_from_annotations_over_config() -> None:
    spec = decider_spec({"autoscaling.knative.dev/window": "10s",
                         "autoscaling.knative.dev/panic-window-percentage": "20",
                         "autoscaling.knative.dev/panic-threshold-percentage": "300",
                         "autoscaling.knative.dev/target-burst-capacity": "-1",
                         "autoscaling.knative.dev/scale-down-delay": "15s",
                         "autoscaling.knative.dev/activation-scale": "2"},
                        config(**{"stable-window": "2m", "max-scale-down-rate": "4"}), 0)
    assert (spec.stable_window, spec.panic_window, spec.panic_threshold) == (10.0, 2.0, 3.0)
    assert (spec.target_burst_capacity, spec.scale_down_delay) == (-1.0, 15.0)
    assert (spec.activation_scale, spec.max_scale_down_rate) == (2, 4.0)


def test_bounds() -> None:
    bounds = scale_bounds({"autoscaling.knative.dev/min-scale": "2",
                           "autoscaling.knative.dev/maxScale": "5"}, Config())
    assert (bounds.min_scale, bounds.max_scale, bounds.initial_scale) == (2, 5, 1)
    assert [bounds.apply(n) for n in (0, 3, 9)] == [2, 3, 5]
    unrouted = scale_bounds({"autoscaling.knative.dev/min-scale": "2"}, Config(),
                            reachable=False)
    assert unrouted.min_scale == 0
    assert scale_bounds({"autoscaling.knative.dev/initial-scale": "0"},
                        Config()).initial_scale == 1  # zero only when the cluster allows it
    allowed = config(**{"allow-zero-initial-scale": "true"})
    assert scale_bounds({"autoscaling.knative.dev/initial-scale": "0"},
                        allowed).initial_scale == 0
    defaults = scale_bounds({}, Config())
    assert (defaults.scale_to_zero, defaults.grace_period, defaults.retention) == (
        True, 30.0, 0.0)
