"""Autoscaling annotations on a revision template: accepted values and refused ones."""

from __future__ import annotations

import pytest
from tests.unit.api.serving.serving_admission import admit, context, hello

from shoal.api.serving import Service
from shoal.api.serving.annotation_rules import get

AT = "spec.template.metadata.annotations"
A = "autoscaling.knative.dev/"


def admitted_with(annotations: dict[str, str], **maps: dict[str, str]) -> dict[str, list[str]]:
    body = hello()
    body["spec"]["template"]["metadata"] = {"annotations": annotations}
    errors: dict[str, list[str]] = {}
    for error in admit(Service, body, ctx=context(**maps)).errors:
        errors.setdefault(error.field, []).append(error.message)
    return errors


@pytest.mark.parametrize(
    "annotations",
    [
        {A + "min-scale": "1", A + "max-scale": "10", A + "initial-scale": "2"},
        {A + "minScale": "2", A + "maxScale": "2"},
        {A + "class": "kpa.autoscaling.knative.dev", A + "metric": "rps", A + "target": "150"},
        {A + "class": "hpa.autoscaling.knative.dev", A + "metric": "cpu", A + "target": "80"},
        {A + "class": "example.com/custom", A + "metric": "queue-length"},
        {A + "target-utilization-percentage": "70", A + "target-burst-capacity": "-1"},
        {A + "window": "6s", A + "panic-window-percentage": "10.0"},
        {A + "panic-threshold-percentage": "200", A + "scale-down-delay": "15m"},
        {A + "activation-scale": "3", A + "scale-to-zero-pod-retention-period": "1m5s"},
        {A + "metric-aggregation-algorithm": "weightedExponential"},
        {"serving.knative.dev/progress-deadline": "120s"},
    ],
)
def test_valid_annotations_pass(annotations: dict[str, str]) -> None:
    assert admitted_with(annotations) == {}


@pytest.mark.parametrize(
    ("annotations", "key", "message"),
    [
        ({A + "min-scale": "-1"}, "min-scale", "expected 0 <= -1 <= 2147483647"),
        ({A + "minScale": "x"}, "minScale", "invalid value: x"),
        ({A + "max-scale": "1.5"}, "max-scale", "invalid value: 1.5"),
        (
            {A + "min-scale": "5", A + "max-scale": "2"},
            "max-scale",
            "max-scale=2 is less than min-scale=5",
        ),
        ({A + "initial-scale": "-2"}, "initial-scale", "invalid value: -2"),
        ({A + "initial-scale": "0"}, "initial-scale", "initial-scale=0 not allowed by cluster"),
        ({A + "target": "0.001"}, "target", "target 0.001 should be at least 0.01"),
        ({A + "target": "many"}, "target", "invalid value: many"),
        (
            {A + "target-utilization-percentage": "0"},
            "target-utilization-percentage",
            "expected 1 <= 0 <= 100",
        ),
        ({A + "target-burst-capacity": "-2"}, "target-burst-capacity", "invalid value: -2"),
        ({A + "metric": "cpu"}, "metric", "invalid value: cpu"),
        (
            {A + "class": "hpa.autoscaling.knative.dev", A + "metric": ""},
            "metric",
            "invalid value: ",
        ),
        (
            {A + "class": "foo.autoscaling.knative.dev"},
            "class",
            "invalid value: foo.autoscaling.knative.dev",
        ),
        ({A + "window": "5s"}, "window", "expected 6s <= 5s <= 1h0m0s"),
        ({A + "window": "2h"}, "window", "expected 6s <= 2h <= 1h0m0s"),
        ({A + "window": "6500ms"}, "window", "must be specified with at most second precision"),
        ({A + "window": "soon"}, "window", "invalid value: soon"),
        (
            {A + "panic-window-percentage": "0.5"},
            "panic-window-percentage",
            "expected 1 <= 0.5 <= 100",
        ),
        (
            {A + "panic-threshold-percentage": "100"},
            "panic-threshold-percentage",
            "expected 110 <= 100 <= 1000",
        ),
        ({A + "scale-down-delay": "-1s"}, "scale-down-delay", "expected 0s <= -1s <= 1h0m0s"),
        (
            {A + "scale-to-zero-pod-retention-period": "2h"},
            "scale-to-zero-pod-retention-period",
            "expected 0s <= 2h <= 1h0m0s",
        ),
        ({A + "activation-scale": "0"}, "activation-scale", "expected 1 <= 0 <= 2147483647"),
        (
            {A + "activation-scale": "5", A + "max-scale": "3"},
            "activation-scale",
            "max-scale=3 is less than activation-scale=5",
        ),
        (
            {A + "metric-aggregation-algorithm": "median"},
            "metric-aggregation-algorithm",
            "invalid value: median",
        ),
    ],
)
def test_invalid_annotations_are_refused_at_their_key(
    annotations: dict[str, str], key: str, message: str
) -> None:
    errors = admitted_with(annotations)

    assert any(message in text for text in errors.get(f"{AT}.{A}{key}", [])), errors


@pytest.mark.parametrize(
    ("annotations", "maps", "message"),
    [
        (
            {A + "max-scale": "20"},
            {"autoscaler": {"max-scale-limit": "10"}},
            "expected 1 <= 20 <= 10",
        ),
        (
            {A + "max-scale": "0"},
            {"autoscaler": {"max-scale-limit": "10"}},
            "max-scale=0 (unlimited), must be less than 10",
        ),
    ],
)
def test_max_scale_limit_of_the_cluster(
    annotations: dict[str, str], maps: dict[str, dict[str, str]], message: str
) -> None:
    errors = admitted_with(annotations, **maps)

    assert errors == {f"{AT}.{A}max-scale": [message]}


def test_zero_initial_scale_when_the_cluster_allows_it() -> None:
    allowed = {"autoscaler": {"allow-zero-initial-scale": "true"}}

    assert admitted_with({A + "initial-scale": "0"}, **allowed) == {}


def test_older_spellings_are_read_newest_first() -> None:
    annotations = {A + "minScale": "1", A + "min-scale": "2"}

    assert get(annotations, A + "min-scale") == (A + "min-scale", "2")
    assert get({A + "minScale": "1"}, A + "min-scale") == (A + "minScale", "1")
    assert get({}, A + "min-scale") is None
