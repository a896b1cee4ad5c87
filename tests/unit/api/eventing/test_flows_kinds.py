"""Sequence and Parallel admission."""

from __future__ import annotations

from typing import Any

import pytest
from tests.unit.api.eventing.eventing_admission import admit

from shoal.api.flows.parallel import Parallel
from shoal.api.flows.sequence import Sequence

IMC = {"apiVersion": "messaging.knative.dev/v1", "kind": "InMemoryChannel"}


def ksvc(name: str) -> dict[str, Any]:
    return {"ref": {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": name}}


SEQUENCE = """
apiVersion: flows.knative.dev/v1
kind: Sequence
metadata:
  name: sequence
spec:
  channelTemplate:
    apiVersion: messaging.knative.dev/v1
    kind: InMemoryChannel
  steps:
    - ref:
        apiVersion: serving.knative.dev/v1
        kind: Service
        name: first
    - ref:
        apiVersion: serving.knative.dev/v1
        kind: Service
        name: second
      delivery:
        retry: 2
  reply:
    ref:
      kind: Service
      apiVersion: serving.knative.dev/v1
      name: event-display
"""


def test_the_docs_sequence_gets_namespaces_on_every_reference() -> None:
    result = admit(Sequence, SEQUENCE, namespace="shop")
    assert result.errors == []
    spec = result.stored["spec"]
    assert [s["ref"]["namespace"] for s in spec["steps"]] == ["shop", "shop"]
    assert spec["steps"][1]["delivery"] == {"retry": 2}
    assert spec["reply"]["ref"]["namespace"] == "shop"
    assert spec["channelTemplate"] == IMC


def test_a_sequence_without_template_gets_the_default_channel() -> None:
    result = admit(Sequence, {"metadata": {"name": "s"}, "spec": {"steps": [ksvc("a")]}})
    assert result.errors == []
    assert result.stored["spec"]["channelTemplate"] == IMC


@pytest.mark.parametrize(
    ("spec", "fields"),
    [
        ({}, ["spec.steps"]),
        ({"steps": []}, ["spec.steps"]),
        ({"steps": [ksvc("a"), {}]}, ["spec.steps[1]"]),
        ({"steps": [{"uri": "/relative"}]}, ["spec.steps[0].uri"]),
        ({"steps": [{**ksvc("a"), "delivery": {"retry": -1}}]}, ["spec.steps[0].delivery.retry"]),
        ({"steps": [ksvc("a")], "reply": {}}, ["spec.reply"]),
        (
            {"steps": [ksvc("a")], "channelTemplate": {}},
            ["spec.channelTemplate.apiVersion", "spec.channelTemplate.kind"],
        ),
    ],
)
def test_invalid_sequences(spec: dict[str, Any], fields: list[str]) -> None:
    assert admit(Sequence, {"metadata": {"name": "s"}, "spec": spec}).fields == fields


PARALLEL = """
apiVersion: flows.knative.dev/v1
kind: Parallel
metadata:
  name: odd-even-parallel
spec:
  channelTemplate:
    apiVersion: messaging.knative.dev/v1
    kind: InMemoryChannel
  branches:
    - filter:
        ref:
          apiVersion: serving.knative.dev/v1
          kind: Service
          name: even-filter
      subscriber:
        ref:
          apiVersion: serving.knative.dev/v1
          kind: Service
          name: even-transformer
    - filter:
        ref:
          apiVersion: serving.knative.dev/v1
          kind: Service
          name: odd-filter
      subscriber:
        ref:
          apiVersion: serving.knative.dev/v1
          kind: Service
          name: odd-transformer
  reply:
    ref:
      apiVersion: serving.knative.dev/v1
      kind: Service
      name: event-display
"""


def test_the_docs_parallel_gets_namespaces_on_every_reference() -> None:
    result = admit(Parallel, PARALLEL, namespace="shop")
    assert result.errors == []
    branches = result.stored["spec"]["branches"]
    assert [b["filter"]["ref"]["namespace"] for b in branches] == ["shop", "shop"]
    assert [b["subscriber"]["ref"]["namespace"] for b in branches] == ["shop", "shop"]


@pytest.mark.parametrize(
    ("spec", "fields"),
    [
        ({}, ["spec.branches"]),
        ({"branches": [{"filter": ksvc("f")}]}, ["spec.branches[0].subscriber"]),
        (
            {"branches": [{"subscriber": ksvc("s"), "filter": {"uri": "x"}}]},
            ["spec.branches[0].filter.uri"],
        ),
        ({"branches": [{"subscriber": ksvc("s"), "reply": {}}]}, ["spec.branches[0].reply"]),
        (
            {"branches": [{"subscriber": ksvc("s"), "delivery": {"backoffDelay": "1s"}}]},
            ["spec.branches[0].delivery.backoffDelay"],
        ),
        ({"branches": [{"subscriber": ksvc("s")}], "reply": {"uri": "/r"}}, ["spec.reply.uri"]),
    ],
)
def test_invalid_parallels(spec: dict[str, Any], fields: list[str]) -> None:
    assert admit(Parallel, {"metadata": {"name": "p"}, "spec": spec}).fields == fields
