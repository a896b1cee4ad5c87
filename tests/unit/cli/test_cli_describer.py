"""``shoal describe``'s layout, from objects and events, with no server."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from shoal.cli.describer import age_of, conditions, describe, event_lines, fields, header, title

NOW = datetime(2024, 1, 1, 12, 0, 0, tzinfo=UTC)


def service() -> dict[str, Any]:
    return {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": {
            "name": "hello",
            "namespace": "default",
            "uid": "u-1",
            "labels": {"app": "web"},
            "annotations": {"serving.knative.dev/creator": "admin", "note": "x"},
            "creationTimestamp": "2024-01-01T11:55:00Z",
            "generation": 2,
            "resourceVersion": "7",
            "managedFields": [{"manager": "x"}],
        },
        "spec": {
            "template": {
                "metadata": {"annotations": {"autoscaling.knative.dev/min-scale": "1"}},
                "spec": {
                    "containerConcurrency": 0,
                    "containers": [
                        {"image": "ghcr.io/x/hello", "env": [{"name": "TARGET", "value": "World"}]}
                    ],
                },
            }
        },
        "status": {
            "url": "http://hello.default.localhost",
            "observedGeneration": 2,
            "conditions": [
                {
                    "type": "ConfigurationsReady",
                    "status": "True",
                    "lastTransitionTime": "2024-01-01T11:58:00Z",
                },
                {
                    "type": "Ready",
                    "status": "False",
                    "reason": "RevisionFailed",
                    "message": "image pull failed",
                    "lastTransitionTime": "2024-01-01T11:59:30Z",
                },
            ],
        },
    }


def test_title_case_of_field_names() -> None:
    assert title("containerConcurrency") == "Container Concurrency"
    assert title("latestReadyRevisionName") == "Latest Ready Revision Name"
    assert title("url") == "URL"
    assert title("apiVersion") == "API Version"
    assert title("sinkUri") == "Sink URI"
    assert title("autoscaling.knative.dev/min-scale") == "autoscaling.knative.dev/min-scale"


def test_header_block() -> None:
    lines = header(service())
    assert lines == [
        "Name:         hello",
        "Namespace:    default",
        "Labels:       app=web",
        "Annotations:  note: x",
        "              serving.knative.dev/creator: admin",
        "API Version:  serving.knative.dev/v1",
        "Kind:         Service",
    ]


def test_fields_align_scalars_and_nest_maps_and_lists() -> None:
    lines = fields(
        {
            "timeoutSeconds": 300,
            "enableServiceLinks": False,
            "resources": {},
            "containers": [{"image": "x", "name": "user-container"}],
            "args": ["a", "b"],
            "script": "one\ntwo",
        },
        2,
    )
    assert lines == [
        "  Args:",
        "    a",
        "    b",
        "  Containers:",
        "    - Image:  x",
        "      Name:   user-container",
        "  Enable Service Links:  false",
        "  Resources:             <none>",
        "  Script:",
        "    one",
        "    two",
        "  Timeout Seconds:       300",
    ]


def test_free_form_maps_keep_their_keys() -> None:
    lines = fields(
        {
            "metadata": {"annotations": {"autoscaling.knative.dev/min-scale": "1"}},
            "data": {"someKey": "v"},
        },
        0,
    )
    assert "    autoscaling.knative.dev/min-scale:  1" in lines
    assert "  someKey:  v" in lines


def test_ages() -> None:
    assert age_of("2024-01-01T11:55:00Z", NOW) == "5m"
    assert age_of("2024-01-01T11:59:59.500000Z", NOW) == "0s"
    assert age_of("not a time", NOW) == "<unknown>"
    assert age_of(None, NOW) == "<unknown>"


def test_conditions_table() -> None:
    lines = conditions(service()["status"], NOW)
    assert lines[0] == "Conditions:"
    assert lines[1].split() == ["Type", "Status", "Reason", "Last", "Transition", "Message"]
    assert set(lines[2].split()) == {"----", "------", "---------------", "-------"}
    assert lines[3].split() == ["ConfigurationsReady", "True", "2m"]
    assert lines[4].split()[:4] == ["Ready", "False", "RevisionFailed", "30s"]
    assert lines[4].endswith("image pull failed")
    assert conditions({}, NOW) == []


def test_events_table() -> None:
    assert event_lines([], NOW) == ["Events:  <none>"]
    events: list[dict[str, Any]] = [
        {
            "type": "Warning",
            "reason": "Failed",
            "message": "pull\nfailed",
            "count": 3,
            "firstTimestamp": "2024-01-01T11:50:00Z",
            "lastTimestamp": "2024-01-01T11:59:00Z",
            "source": {"component": "revision-controller"},
        },
        {
            "type": "Normal",
            "reason": "Created",
            "message": "Created Configuration",
            "lastTimestamp": "2024-01-01T11:55:00Z",
            "reportingComponent": "service-controller",
        },
    ]
    lines = event_lines(events, NOW)
    assert lines[1].split() == ["Type", "Reason", "Age", "From", "Message"]
    assert lines[3].split() == [
        "Normal",
        "Created",
        "5m",
        "service-controller",
        "Created",
        "Configuration",
    ]
    assert "60s (x3 over 10m)" in lines[4] and lines[4].endswith("pull failed")


def test_describe_whole_object() -> None:
    text = describe(service(), [], NOW)
    lines = text.splitlines()
    assert lines[0] == "Name:         hello"
    assert "Metadata:" in lines and "  Generation:          2" in lines
    assert not any("Managed Fields" in line for line in lines)
    assert "Spec:" in lines and "Status:" in lines
    assert "  URL:                  http://hello.default.localhost" in lines
    assert not any(
        line.strip().startswith("Conditions:") and line.startswith(" ") for line in lines
    )
    assert lines[-1] == "Events:  <none>"
    assert text.endswith("\n")
