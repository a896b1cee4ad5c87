"""ApiServerSource, ContainerSource and SinkBinding admission."""

from __future__ import annotations

from typing import Any

import pytest
from tests.unit.api.eventing.eventing_admission import admit

from shoal.api.sources.apiserver import ApiServerSource
from shoal.api.sources.container import ContainerSource
from shoal.api.sources.sinkbinding import SinkBinding

SINK = {"ref": {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": "event-display"}}

API_SERVER_SOURCE = """
apiVersion: sources.knative.dev/v1
kind: ApiServerSource
metadata:
  name: testevents
spec:
  serviceAccountName: events-sa
  mode: Resource
  resources:
    - apiVersion: v1
      kind: Event
  sink:
    ref:
      apiVersion: v1
      kind: Service
      name: event-display
"""


def test_the_docs_api_server_source_is_accepted() -> None:
    result = admit(ApiServerSource, API_SERVER_SOURCE)
    assert result.errors == []
    assert result.stored["spec"]["mode"] == "Resource"
    assert result.stored["spec"]["serviceAccountName"] == "events-sa"


def test_api_server_source_defaults() -> None:
    body = {
        "metadata": {"name": "s"},
        "spec": {
            "resources": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "selector": {"matchLabels": {"app": "web"}},
                }
            ],
            "sink": SINK,
        },
    }
    result = admit(ApiServerSource, body, namespace="shop")
    assert result.errors == []
    spec = result.stored["spec"]
    assert (spec["mode"], spec["serviceAccountName"]) == ("Reference", "default")
    assert spec["sink"]["ref"]["namespace"] == "shop"


def api_source(**spec: Any) -> dict[str, Any]:
    full = {"resources": [{"apiVersion": "v1", "kind": "Event"}], "sink": SINK, **spec}
    return {"metadata": {"name": "s"}, "spec": {k: v for k, v in full.items() if v is not None}}


@pytest.mark.parametrize(
    ("spec", "fields"),
    [
        ({"mode": "Everything"}, ["spec.mode"]),
        ({"resources": None}, ["spec.resources"]),
        ({"resources": [{"apiVersion": "v1"}]}, ["spec.resources[0].kind"]),
        ({"resources": [{"kind": "Event"}]}, ["spec.resources[0].apiVersion"]),
        (
            {"resources": [{"apiVersion": "a/b/c", "kind": "Event"}]},
            ["spec.resources[0].apiVersion"],
        ),
        (
            {
                "resources": [
                    {
                        "apiVersion": "v1",
                        "kind": "Pod",
                        "selector": {"matchExpressions": [{"key": "app", "operator": "Near"}]},
                    }
                ]
            },
            ["spec.resources[0].selector.matchExpressions[0].operator"],
        ),
        (
            {
                "resources": [
                    {
                        "apiVersion": "v1",
                        "kind": "Pod",
                        "selector": {"matchExpressions": [{"key": "app", "operator": "In"}]},
                    }
                ]
            },
            ["spec.resources[0].selector.matchExpressions[0].values"],
        ),
        (
            {
                "resources": [
                    {
                        "apiVersion": "v1",
                        "kind": "Pod",
                        "selector": {
                            "matchExpressions": [
                                {"key": "app", "operator": "Exists", "values": ["x"]}
                            ]
                        },
                    }
                ]
            },
            ["spec.resources[0].selector.matchExpressions[0].values"],
        ),
        (
            {"namespaceSelector": {"matchLabels": {"bad key!": "x"}}},
            ["spec.namespaceSelector.matchLabels"],
        ),
        ({"owner": {"apiVersion": "apps/v1"}}, ["spec.owner.kind"]),
        ({"sink": None}, ["spec.sink"]),
        ({"filters": [{"exact": {"type": "x"}}]}, ["spec.filters"]),
    ],
)
def test_invalid_api_server_sources(spec: dict[str, Any], fields: list[str]) -> None:
    assert admit(ApiServerSource, api_source(**spec)).fields == fields


def test_api_server_source_filters_with_the_feature_enabled() -> None:
    enabled = {"config-features": {"new-apiserversource-filters": "enabled"}}
    ok = admit(
        ApiServerSource, api_source(filters=[{"prefix": {"type": "dev.knative"}}]), config=enabled
    )
    assert ok.errors == []
    bad = admit(ApiServerSource, api_source(filters=[{"prefix": {"TYPE": "x"}}]), config=enabled)
    assert bad.fields == ["spec.filters[0].prefix[TYPE]"]


CONTAINER_SOURCE = """
apiVersion: sources.knative.dev/v1
kind: ContainerSource
metadata:
  name: test-heartbeats
spec:
  template:
    spec:
      containers:
        - image: gcr.io/knative-releases/knative.dev/eventing/cmd/heartbeats:latest
          name: heartbeats
          args:
            - --period=1
          env:
            - name: POD_NAME
              value: "mypod"
            - name: POD_NAMESPACE
              value: "event-test"
          imagePullPolicy: IfNotPresent
          resources:
            limits:
              cpu: 1
              memory: 128Mi
      serviceAccountName: heartbeats
  sink:
    ref:
      apiVersion: serving.knative.dev/v1
      kind: Service
      name: event-display
"""


def test_the_docs_container_source_keeps_fields_shoal_does_not_read() -> None:
    result = admit(ContainerSource, CONTAINER_SOURCE)
    assert result.errors == []
    pod = result.stored["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "heartbeats"
    assert pod["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    assert pod["containers"][0]["resources"]["limits"] == {"cpu": "1", "memory": "128Mi"}


def test_unnamed_containers_are_named_after_the_source() -> None:
    body = {
        "metadata": {"name": "beats"},
        "spec": {
            "sink": SINK,
            "template": {
                "spec": {
                    "containers": [{"image": "a"}, {"name": "named", "image": "b"}, {"image": "c"}]
                }
            },
        },
    }
    result = admit(ContainerSource, body)
    assert result.errors == []
    names = [c["name"] for c in result.stored["spec"]["template"]["spec"]["containers"]]
    assert names == ["beats-0", "named", "beats-2"]


@pytest.mark.parametrize(
    ("spec", "fields"),
    [
        ({"sink": SINK}, ["spec.template.spec.containers"]),
        (
            {"sink": SINK, "template": {"spec": {"containers": []}}},
            ["spec.template.spec.containers"],
        ),
        (
            {"sink": SINK, "template": {"spec": {"containers": [{"name": "x"}]}}},
            ["spec.template.spec.containers[0].image"],
        ),
        ({"template": {"spec": {"containers": [{"image": "x"}]}}}, ["spec.sink"]),
        ({"template": {"spec": {"containers": [{"command": ["gen"]}]}}}, ["spec.sink"]),
    ],
)
def test_invalid_container_sources(spec: dict[str, Any], fields: list[str]) -> None:
    assert admit(ContainerSource, {"metadata": {"name": "c"}, "spec": spec}).fields == fields


SINK_BINDING = """
apiVersion: sources.knative.dev/v1
kind: SinkBinding
metadata:
  name: bind-heartbeat
spec:
  subject:
    apiVersion: apps/v1
    kind: Deployment
    selector:
      matchLabels:
        app: heartbeat-cron
  sink:
    ref:
      apiVersion: serving.knative.dev/v1
      kind: Service
      name: event-display
  ceOverrides:
    extensions:
      sink: bound
"""


def test_the_docs_sink_binding_gets_its_subject_namespace() -> None:
    result = admit(SinkBinding, SINK_BINDING, namespace="shop")
    assert result.errors == []
    assert result.stored["spec"]["subject"]["namespace"] == "shop"
    assert result.stored["spec"]["sink"]["ref"]["namespace"] == "shop"


def binding(**subject: Any) -> dict[str, Any]:
    full = {"apiVersion": "apps/v1", "kind": "Deployment", **subject}
    return {
        "metadata": {"name": "b"},
        "spec": {"sink": SINK, "subject": {k: v for k, v in full.items() if v is not None}},
    }


@pytest.mark.parametrize(
    ("subject", "fields"),
    [
        ({"name": "web"}, []),
        ({}, ["spec.subject.name"]),
        ({"name": "web", "selector": {"matchLabels": {"app": "web"}}}, ["spec.subject.name"]),
        ({"name": "Not_A_Name"}, ["spec.subject.name"]),
        ({"name": "web", "apiVersion": None}, ["spec.subject.apiVersion"]),
        ({"name": "web", "kind": None}, ["spec.subject.kind"]),
        ({"name": "web", "namespace": "elsewhere"}, ["spec.subject.namespace"]),
    ],
)
def test_sink_binding_subjects(subject: dict[str, Any], fields: list[str]) -> None:
    assert admit(SinkBinding, binding(**subject)).fields == fields


def test_a_sink_binding_needs_a_subject() -> None:
    body = {"metadata": {"name": "b"}, "spec": {"sink": SINK}}
    assert admit(SinkBinding, body).fields == ["spec.subject"]
