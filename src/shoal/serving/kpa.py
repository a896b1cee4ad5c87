"""Knative's KPA, decision for decision: windowed metrics, the decider, and its spec.

Pure code on explicit time (seconds, any origin): nothing here reads a clock, so unit tests
drive it on fake time and reproduce Knative's decisions.

- ``Buckets`` keeps one value per whole second and answers Knative's window average: the
  sum of the buckets in ``(now - window, now]`` over the number of seconds from the first
  recorded one (at most the window's length). A revision that has seen nothing has no data.
- ``Decider.scale(now, ready, stable, panic)`` is the autoscaler's ``Scale``: desired
  instances from the stable and panic averages over ``target``, bounded per tick by the
  max scale-up and scale-down rates, panic mode entered when the panic-window demand
  reaches the threshold times the ready instances and left one stable window after the
  last tick over it (never scaling down while panicking), ``scale-down-delay`` as the
  maximum over its window, ``activation-scale`` as a floor once active, and the excess
  burst capacity that decides whether the activator stays in the request path.
- ``decider_spec`` resolves config-autoscaler, the revision's annotations and its
  ``containerConcurrency`` into a ``DeciderSpec`` as Knative's ``MakeDecider`` does.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

from shoal.api.config import SERVING_NS, Config, parse_go_duration
from shoal.api.serving import annotation_rules as ann

CONCURRENCY = ann.CONCURRENCY
RPS = ann.RPS
TARGET_MIN = 0.01
RPS_TARGET_UTILIZATION = 0.7  # Knative fixes the RPS utilisation at 70 %


class Buckets:
    """Per-second values over a window, averaged as Knative's TimedFloat64Buckets."""

    def __init__(self, window: float) -> None:
        self.window = max(1, round(window))
        self._values: deque[tuple[int, float]] = deque()
        self._first: int | None = None

    def record(self, now: float, value: float) -> None:
        second = math.floor(now)
        if self._first is None:
            self._first = second
        if self._values and self._values[-1][0] == second:
            self._values[-1] = (second, self._values[-1][1] + value)
        else:
            self._values.append((second, value))
        self._trim(second)

    def _trim(self, second: int) -> None:
        oldest = second - self.window
        while self._values and self._values[0][0] <= oldest:
            self._values.popleft()

    def resize(self, window: float) -> None:
        self.window = max(1, round(window))

    @property
    def empty(self) -> bool:
        return self._first is None

    def average(self, now: float) -> float:
        """The window average at ``now`` (0 once nothing was recorded for a window)."""
        if self._first is None:
            return 0.0
        second = math.floor(now)
        self._trim(second)
        oldest = second - self.window
        total = sum(v for s, v in self._values if oldest < s <= second)
        seconds = min(self.window, second - self._first + 1)
        return total / seconds if seconds > 0 else 0.0


class DelayWindow:
    """The maximum of the values recorded within the last ``window`` seconds."""

    def __init__(self, window: float) -> None:
        self.window = window
        self._values: deque[tuple[float, int]] = deque()

    def record(self, now: float, value: int) -> None:
        while self._values and self._values[-1][1] <= value:
            self._values.pop()  # a newer value at least as large hides it
        self._values.append((now, value))
        while self._values and self._values[0][0] <= now - self.window:
            self._values.popleft()

    def current(self) -> int:
        return self._values[0][1] if self._values else 0


@dataclass(frozen=True)
class DeciderSpec:
    """What one revision's decider works with (Knative's ``DeciderSpec``)."""

    metric: str = CONCURRENCY
    target: float = 70.0  # per instance, after utilisation
    total: float = 100.0  # per instance, what one instance may take
    target_burst_capacity: float = 211.0
    activator_capacity: float = 100.0
    panic_threshold: float = 2.0  # a ratio, 200 % = 2.0
    max_scale_up_rate: float = 1000.0
    max_scale_down_rate: float = 2.0
    stable_window: float = 60.0
    panic_window: float = 6.0
    scale_down_delay: float = 0.0
    activation_scale: int = 1
    reachable: bool = True


@dataclass(frozen=True)
class ScaleResult:
    desired: int  # -1: no data to scale on yet
    excess_burst_capacity: int
    valid: bool
    panicking: bool = False


INVALID = ScaleResult(desired=-1, excess_burst_capacity=0, valid=False)


class Decider:
    """One revision's KPA decider; keeps the panic state and the scale-down delay window."""

    def __init__(self, spec: DeciderSpec) -> None:
        self.spec = spec
        self.panic_since: float | None = None  # the last tick over the panic threshold
        self.max_panic = 0
        self.delay = DelayWindow(spec.scale_down_delay) if spec.scale_down_delay > 0 else None

    def update(self, spec: DeciderSpec) -> None:
        if spec.scale_down_delay != self.spec.scale_down_delay:
            self.delay = DelayWindow(spec.scale_down_delay) if spec.scale_down_delay else None
        self.spec = spec

    @property
    def panicking(self) -> bool:
        return self.panic_since is not None

    def scale(self, now: float, ready: int, stable: float | None,
              panic: float | None) -> ScaleResult:
        """Knative's ``Scale``: ``stable``/``panic`` are the window averages of the metric
        over all instances (None: no data yet); ``ready`` the ready instances."""
        spec = self.spec
        if stable is None or panic is None:
            return INVALID
        ready_pods = max(1.0, float(ready))
        max_up = math.ceil(spec.max_scale_up_rate * ready_pods)
        max_down = math.floor(ready_pods / spec.max_scale_down_rate) if spec.reachable else 0.0
        dspc = math.ceil(stable / spec.target)
        dppc = math.ceil(panic / spec.target)
        desired_stable = int(min(max(dspc, max_down), max_up))
        desired_panic = int(min(max(dppc, max_down), max_up))
        if spec.activation_scale > 1:
            if 0 < desired_stable < spec.activation_scale:
                desired_stable = spec.activation_scale
            if 0 < desired_panic < spec.activation_scale:
                desired_panic = spec.activation_scale

        over = dppc / ready_pods >= spec.panic_threshold
        if over:
            self.panic_since = now  # enter panic mode, or extend it
        elif self.panic_since is not None and self.panic_since + spec.stable_window < now:
            self.panic_since = None  # the surge made its way into the stable window
            self.max_panic = 0

        desired = desired_stable
        if self.panic_since is not None:
            desired = max(desired, desired_panic)
            # never scale down while panicking
            self.max_panic = max(self.max_panic, desired)
            desired = self.max_panic
        if self.delay is not None:
            self.delay.record(now, desired)
            desired = self.delay.current()

        if spec.target_burst_capacity == 0:
            excess = 0.0
        elif spec.target_burst_capacity > 0:
            capacity = float(ready) * spec.total
            excess = math.floor(capacity - spec.target_burst_capacity - panic)
        else:
            excess = -1.0
        return ScaleResult(desired=desired, excess_burst_capacity=int(excess), valid=True,
                           panicking=self.panic_since is not None)


# -- the spec from config-autoscaler and the revision's annotations -----------------------

def _ann_float(annotations: Mapping[str, str], key: str) -> float | None:
    found = ann.get(annotations, key)
    if found is None:
        return None
    try:
        return float(found[1])
    except ValueError:
        return None


def _ann_int(annotations: Mapping[str, str], key: str) -> int | None:
    value = _ann_float(annotations, key)
    return int(value) if value is not None else None


def _ann_seconds(annotations: Mapping[str, str], key: str) -> float | None:
    found = ann.get(annotations, key)
    return parse_go_duration(found[1]) if found is not None else None


def _cfg(config: Config, key: str) -> float:
    return config.get_float(SERVING_NS, "config-autoscaler", key)


def metric(annotations: Mapping[str, str]) -> str:
    found = ann.get(annotations, ann.METRIC)
    return RPS if found is not None and found[1] == RPS else CONCURRENCY


def target_and_total(annotations: Mapping[str, str], config: Config,
                     container_concurrency: int) -> tuple[float, float]:
    """Knative's ``ResolveMetricTarget``: the per-instance target the autoscaler aims for
    and the most one instance may take."""
    if metric(annotations) == RPS:
        total = _cfg(config, "requests-per-second-target-default")
        utilization = RPS_TARGET_UTILIZATION
    else:
        total = float(container_concurrency) or _cfg(
            config, "container-concurrency-target-default")
        utilization = _cfg(config, "container-concurrency-target-percentage") / 100.0
    target = _ann_float(annotations, ann.TARGET)
    if target is not None:
        total = target
        if metric(annotations) == CONCURRENCY and container_concurrency:
            total = min(target, float(container_concurrency))
    percentage = _ann_float(annotations, ann.TARGET_UTILIZATION_PERCENTAGE)
    if percentage is not None:
        utilization = percentage / 100.0
    return max(TARGET_MIN, total * utilization), total


def stable_window(annotations: Mapping[str, str], config: Config) -> float:
    window = _ann_seconds(annotations, ann.WINDOW)
    if window is None:
        window = config.get_seconds(SERVING_NS, "config-autoscaler", "stable-window")
    return window


def decider_spec(annotations: Mapping[str, str], config: Config, container_concurrency: int,
                 *, reachable: bool = True) -> DeciderSpec:
    target, total = target_and_total(annotations, config, container_concurrency)
    window = stable_window(annotations, config)
    panic_pct = _ann_float(annotations, ann.PANIC_WINDOW_PERCENTAGE)
    if panic_pct is None:
        panic_pct = _cfg(config, "panic-window-percentage")
    threshold = _ann_float(annotations, ann.PANIC_THRESHOLD_PERCENTAGE)
    if threshold is None:
        threshold = _cfg(config, "panic-threshold-percentage")
    tbc = _ann_float(annotations, ann.TARGET_BURST_CAPACITY)
    if tbc is None:
        tbc = _cfg(config, "target-burst-capacity")
    delay = _ann_seconds(annotations, ann.SCALE_DOWN_DELAY)
    if delay is None:
        delay = config.get_seconds(SERVING_NS, "config-autoscaler", "scale-down-delay")
    return DeciderSpec(
        metric=metric(annotations), target=target, total=total,
        target_burst_capacity=tbc,
        activator_capacity=_cfg(config, "activator-capacity"),
        panic_threshold=threshold / 100.0,
        max_scale_up_rate=_cfg(config, "max-scale-up-rate"),
        max_scale_down_rate=_cfg(config, "max-scale-down-rate"),
        stable_window=window,
        panic_window=max(1.0, window * panic_pct / 100.0),
        scale_down_delay=delay,
        activation_scale=max(1, _ann_int(annotations, ann.ACTIVATION_SCALE) or 1),
        reachable=reachable,
    )


@dataclass(frozen=True)
class ScaleBounds:
    """min/max/initial scale of a revision and the scale-to-zero settings."""

    min_scale: int = 0
    max_scale: int = 0  # 0: unlimited
    initial_scale: int = 1
    scale_to_zero: bool = True
    grace_period: float = 30.0
    retention: float = 0.0

    def apply(self, desired: int) -> int:
        if self.max_scale and desired > self.max_scale:
            desired = self.max_scale
        return max(desired, self.min_scale)


def scale_bounds(annotations: Mapping[str, str], config: Config, *,
                 reachable: bool = True) -> ScaleBounds:
    """Knative's ``ScaleBounds`` and ``GetInitialScale``: min-scale counts only while the
    revision is routed; max-scale 0 means unlimited."""
    def cfg_int(key: str) -> int:
        return config.get_int(SERVING_NS, "config-autoscaler", key)
    low = _ann_int(annotations, ann.MIN_SCALE)
    if low is None:
        low = cfg_int("min-scale")
    high = _ann_int(annotations, ann.MAX_SCALE)
    if high is None:
        high = cfg_int("max-scale")
    initial = _ann_int(annotations, ann.INITIAL_SCALE)
    if initial is None:
        initial = cfg_int("initial-scale")
    if initial == 0 and not config.get_bool(SERVING_NS, "config-autoscaler",
                                            "allow-zero-initial-scale"):
        initial = 1
    retention = _ann_seconds(annotations, ann.SCALE_TO_ZERO_POD_RETENTION_PERIOD)
    if retention is None:
        retention = config.get_seconds(SERVING_NS, "config-autoscaler",
                                       "scale-to-zero-pod-retention-period")
    return ScaleBounds(
        min_scale=max(0, low) if reachable else 0, max_scale=max(0, high),
        initial_scale=max(0, initial),
        scale_to_zero=config.get_bool(SERVING_NS, "config-autoscaler", "enable-scale-to-zero"),
        grace_period=config.get_seconds(SERVING_NS, "config-autoscaler",
                                        "scale-to-zero-grace-period"),
        retention=retention)
