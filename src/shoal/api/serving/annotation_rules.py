"""Knative's annotation rules: autoscaling annotations and Serving's duration annotations.

Autoscaling annotations (``autoscaling.knative.dev/*``) belong on a revision: on
``spec.template.metadata`` of a Service or Configuration, or on a Revision itself. Template
and Revision validation call ``check_autoscaling``; Service, Configuration and Route call
``check_no_autoscaling`` on their own metadata. The autoscaler reads the same keys through
``get``, which knows the older camelCase spellings (``minScale``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from shoal.api.config import SERVING_NS, AdmissionContext, parse_go_duration
from shoal.api.errors import FieldErrors
from shoal.api.serving import keys
from shoal.api.serving import messages as m

G = keys.AUTOSCALING_GROUP + "/"
CLASS = G + "class"
KPA = "kpa.autoscaling.knative.dev"
HPA = "hpa.autoscaling.knative.dev"
MIN_SCALE = G + "min-scale"
MAX_SCALE = G + "max-scale"
INITIAL_SCALE = G + "initial-scale"
ACTIVATION_SCALE = G + "activation-scale"
SCALE_DOWN_DELAY = G + "scale-down-delay"
METRIC = G + "metric"
METRIC_AGGREGATION_ALGORITHM = G + "metric-aggregation-algorithm"
TARGET = G + "target"
TARGET_UTILIZATION_PERCENTAGE = G + "target-utilization-percentage"
TARGET_BURST_CAPACITY = G + "target-burst-capacity"
WINDOW = G + "window"
PANIC_WINDOW_PERCENTAGE = G + "panic-window-percentage"
PANIC_THRESHOLD_PERCENTAGE = G + "panic-threshold-percentage"
SCALE_TO_ZERO_POD_RETENTION_PERIOD = G + "scale-to-zero-pod-retention-period"

CONCURRENCY, RPS, CPU, MEMORY = "concurrency", "rps", "cpu", "memory"
ALGORITHMS = ("linear", "weightedExponential", "weighted-exponential")
TARGET_MIN = 0.01
WINDOW_MIN, WINDOW_MAX = 6.0, 3600.0
MAX_INT32 = 2**31 - 1

_INT = re.compile(r"^[+-]?[0-9]+$")
_FLOAT = re.compile(r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$")

# Each key with its older spellings, newest first, as Knative's kmap.KeyPriority.
ALIASES: dict[str, tuple[str, ...]] = {
    MIN_SCALE: (MIN_SCALE, G + "minScale"),
    MAX_SCALE: (MAX_SCALE, G + "maxScale"),
    INITIAL_SCALE: (INITIAL_SCALE, G + "initialScale"),
    SCALE_DOWN_DELAY: (SCALE_DOWN_DELAY, G + "scaleDownDelay"),
    TARGET_UTILIZATION_PERCENTAGE: (
        TARGET_UTILIZATION_PERCENTAGE,
        G + "targetUtilizationPercentage",
    ),
    TARGET_BURST_CAPACITY: (TARGET_BURST_CAPACITY, G + "targetBurstCapacity"),
    PANIC_WINDOW_PERCENTAGE: (PANIC_WINDOW_PERCENTAGE, G + "panicWindowPercentage"),
    PANIC_THRESHOLD_PERCENTAGE: (PANIC_THRESHOLD_PERCENTAGE, G + "panicThresholdPercentage"),
    SCALE_TO_ZERO_POD_RETENTION_PERIOD: (
        SCALE_TO_ZERO_POD_RETENTION_PERIOD,
        G + "scaleToZeroPodRetentionPeriod",
    ),
}


def get(annotations: Mapping[str, str] | None, key: str) -> tuple[str, str] | None:
    """The (spelling, value) of ``key`` or of its first present older spelling."""
    for spelling in ALIASES.get(key, (key,)):
        if annotations and spelling in annotations:
            return spelling, annotations[spelling]
    return None


def check_no_autoscaling(annotations: Mapping[str, str] | None, errs: FieldErrors) -> None:
    """Refuse autoscaling annotations outside a revision (``errs`` at the annotations)."""
    for key in sorted(annotations or {}):
        if key.startswith(keys.AUTOSCALING_GROUP):
            m.invalid_key(
                errs,
                key,
                "autoscaling annotations must be put under "
                '"spec.template.metadata.annotations" to work',
            )


def check_autoscaling(
    annotations: Mapping[str, str] | None, ctx: AdmissionContext, errs: FieldErrors
) -> None:
    """Knative's autoscaling.ValidateAnnotations; ``errs`` at the annotations map."""
    ann = annotations or {}
    cls = get(ann, CLASS)
    if cls and cls[1].endswith(".autoscaling.knative.dev") and cls[1] not in (KPA, HPA):
        m.invalid_value(errs, cls[0], cls[1])
    klass = cls[1] if cls else _autoscaler(ctx, "pod-autoscaler-class")
    _check_scale_bounds(ann, ctx, errs)
    for key, low, high in (
        (PANIC_WINDOW_PERCENTAGE, 1.0, 100.0),
        (PANIC_THRESHOLD_PERCENTAGE, 110.0, 1000.0),
        (TARGET_UTILIZATION_PERCENTAGE, 1.0, 100.0),
    ):
        found = get(ann, key)
        if found:
            number = _float(found[1])
            if number is None:
                m.invalid_value(errs, found[0], found[1])
            elif not low <= number <= high:
                m.out_of_bounds(errs, found[0], found[1], low, high)
    found = get(ann, TARGET)
    if found:
        number = _float(found[1])
        if number is None:
            m.invalid_value(errs, found[0], found[1])
        elif number < TARGET_MIN:
            errs.add(f"target {found[1]} should be at least {TARGET_MIN}", found[0])
    found = get(ann, TARGET_BURST_CAPACITY)
    if found:
        number = _float(found[1])
        if number is None or (number < 0 and number != -1):
            m.invalid_value(errs, found[0], found[1])
    _check_duration(ann, WINDOW, errs, WINDOW_MIN, "6s", whole_seconds=True)
    _check_duration(ann, SCALE_DOWN_DELAY, errs, 0.0, "0s", whole_seconds=True)
    _check_duration(ann, SCALE_TO_ZERO_POD_RETENTION_PERIOD, errs, 0.0, "0s", whole_seconds=False)
    found = get(ann, METRIC)
    if found and not _metric_ok(klass, found[1]):
        m.invalid_value(errs, found[0], found[1])
    found = get(ann, METRIC_AGGREGATION_ALGORITHM)
    if found and klass == KPA and found[1] and found[1] not in ALGORITHMS:
        m.invalid_value(errs, found[0], found[1])
    found = get(ann, INITIAL_SCALE)
    if found:
        value = _int(found[1])
        if value is None:
            m.invalid_value(errs, found[0], found[1])
        elif value < 0:
            m.invalid_value(errs, found[0], found[1], "must be greater than or equal to 0")
        elif value == 0 and _autoscaler(ctx, "allow-zero-initial-scale").lower() != "true":
            m.invalid_value(errs, found[0], found[1], f"{found[0]}=0 not allowed by cluster")


def _check_scale_bounds(ann: Mapping[str, str], ctx: AdmissionContext, errs: FieldErrors) -> None:
    low = _non_negative(ann, MIN_SCALE, errs)
    high = _non_negative(ann, MAX_SCALE, errs)
    max_key = get(ann, MAX_SCALE)
    if high and high < low and max_key:
        errs.add(f"max-scale={high} is less than min-scale={low}", max_key[0])
    limit = _int(_autoscaler(ctx, "max-scale-limit")) or 0
    if max_key and limit:
        if high > limit:
            m.out_of_bounds(errs, max_key[0], high, 1, limit)
        elif high == 0 and _int(max_key[1]) == 0:
            errs.add(f"max-scale=0 (unlimited), must be less than {limit}", max_key[0])
    found = get(ann, ACTIVATION_SCALE)
    if found:
        value = _int(found[1])
        if value is None:
            m.invalid_value(errs, found[0], found[1])
        elif high and value > high:
            errs.add(f"max-scale={high} is less than activation-scale={value}", found[0])
        elif value < 1:
            m.out_of_bounds(errs, found[0], found[1], 1, MAX_INT32)


def _non_negative(ann: Mapping[str, str], key: str, errs: FieldErrors) -> int:
    found = get(ann, key)
    if not found:
        return 0
    value = _int(found[1])
    if value is None:
        m.invalid_value(errs, found[0], found[1])
        return 0
    if not 0 <= value <= MAX_INT32:
        m.out_of_bounds(errs, found[0], found[1], 0, MAX_INT32)
        return 0
    return value


def _check_duration(
    ann: Mapping[str, str],
    key: str,
    errs: FieldErrors,
    low: float,
    low_text: str,
    *,
    whole_seconds: bool,
) -> None:
    found = get(ann, key)
    if not found:
        return
    seconds = parse_go_duration(found[1])
    if seconds is None:
        m.invalid_value(errs, found[0], found[1])
    elif not low <= seconds <= WINDOW_MAX:
        m.out_of_bounds(errs, found[0], found[1], low_text, "1h0m0s")
    elif whole_seconds and not _whole(seconds):
        errs.add("must be specified with at most second precision", found[0])


def _metric_ok(klass: str, metric: str) -> bool:
    if klass == KPA:
        return metric in (CONCURRENCY, RPS)
    if klass == HPA:
        return bool(metric)
    return True


def check_serving(
    annotations: Mapping[str, str] | None, errs: FieldErrors, *, template: bool
) -> None:
    """Serving's own annotations: progress deadline and sidecar share on a revision,
    rollout duration on a Service or Route."""
    ann = annotations or {}
    if template:
        _check_positive_duration(
            ann, keys.PROGRESS_DEADLINE, "progress-deadline", errs, zero_ok=False
        )
        value = ann.get(keys.QUEUE_SIDECAR_RESOURCE_PERCENTAGE)
        if value is not None:
            number = _float(value)
            if number is None:
                m.invalid_value(errs, keys.QUEUE_SIDECAR_RESOURCE_PERCENTAGE, value)
            elif not 0.1 <= number <= 100:
                m.out_of_bounds(errs, keys.QUEUE_SIDECAR_RESOURCE_PERCENTAGE, value, 0.1, 100)
    else:
        _check_positive_duration(ann, keys.ROLLOUT_DURATION, "rollout-duration", errs, zero_ok=True)


def _check_positive_duration(
    ann: Mapping[str, str], key: str, short: str, errs: FieldErrors, *, zero_ok: bool
) -> None:
    value = ann.get(key, "")
    if not value:
        return
    seconds = parse_go_duration(value)
    if seconds is None:
        m.invalid_value(errs, key, value)
    elif not _whole(seconds):
        errs.add(f"{short}={value} is not at second precision", key)
    elif seconds < 0 or (seconds == 0 and not zero_ok):
        errs.add(f"{short}={value} must be positive", key)


def _autoscaler(ctx: AdmissionContext, key: str) -> str:
    return ctx.config.value(SERVING_NS, "config-autoscaler", key).strip()


def _whole(seconds: float) -> bool:
    return math.isclose(seconds, round(seconds), abs_tol=1e-9)


def _int(text: str) -> int | None:
    return int(text) if _INT.match(text) else None


def _float(text: str) -> float | None:
    if not _FLOAT.match(text):
        return None
    return float(text)
