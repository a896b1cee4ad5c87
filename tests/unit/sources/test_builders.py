"""The sources' pure builders: ApiServerSource events, selectors, SinkBinding's env edit,
ContainerSource instance keys."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from shoal.api.catalog import default_catalog
from shoal.api.sources.base import LabelSelector
from shoal.api.sources.sinkbinding import Reference
from shoal.controllers.clock import FakeClock
from shoal.runtime.base import Instance
from shoal.sources.apiserver import make_event
from shoal.sources.container import instance_key, source_key
from shoal.sources.selectors import selector_string
from shoal.sources.sinkbinding import bound, subject_matches

SERVICES = default_catalog().require("services")
CONFIGMAPS = default_catalog().require("configmaps")
CLOCK = FakeClock(datetime(2024, 5, 1, tzinfo=UTC))
SERVICE = {"metadata": {"name": "hello", "namespace": "shop", "labels": {"app": "shop"},
                        "ownerReferences": []},
           "spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}}


def test_reference_event_of_a_knative_service() -> None:
    event = make_event(SERVICE, SERVICES, "add", "Reference", "http://127.0.0.1:8090", CLOCK,
                       {"team": "blue"})
    assert {k: v for k, v in event.attributes.items() if k != "id"} == {
        "specversion": "1.0", "type": "dev.knative.apiserver.ref.add",
        "source": "http://127.0.0.1:8090", "time": "2024-05-01T00:00:00.000000Z",
        "subject": "/apis/serving.knative.dev/v1/namespaces/shop/services/hello",
        "datacontenttype": "application/json", "kind": "Service", "name": "hello",
        "namespace": "shop", "team": "blue"}
    assert json.loads(event.data or b"") == {
        "apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": "hello",
        "namespace": "shop"}


def test_resource_event_carries_the_object_with_its_kind() -> None:
    cm = {"metadata": {"name": "settings", "namespace": "default"}, "data": {"a": "1"}}
    event = make_event(cm, CONFIGMAPS, "delete", "Resource", "http://api", CLOCK)
    assert event.type == "dev.knative.apiserver.resource.delete"
    assert event.attributes["subject"] == "/apis/v1/namespaces/default/configmaps/settings"
    assert json.loads(event.data or b"") == {"apiVersion": "v1", "kind": "ConfigMap", **cm}


@pytest.mark.parametrize(("selector", "text"), [
    (None, ""),
    ({"matchLabels": {"b": "2", "a": "1"}}, "a=1,b=2"),
    ({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["web", "api"]},
                           {"key": "env", "operator": "NotIn", "values": ["dev"]},
                           {"key": "owned", "operator": "Exists"},
                           {"key": "legacy", "operator": "DoesNotExist"}]},
     "tier in (web,api),env notin (dev),owned,!legacy"),
])
def test_selector_string(selector: dict[str, object] | None, text: str) -> None:
    parsed = LabelSelector.model_validate(selector) if selector is not None else None
    assert selector_string(parsed) == text


def test_binding_replaces_its_variables_and_keeps_the_others() -> None:
    template = {"spec": {"containers": [
        {"image": "x", "env": [{"name": "A", "value": "1"}, {"name": "K_SINK", "value": "old"},
                               {"name": "K_CE_OVERRIDES", "value": ""}]},
        {"image": "y"}]}}
    env = [{"name": "K_SINK", "value": "http://new"}, {"name": "K_CE_OVERRIDES", "value": ""}]
    out = bound(template, env)
    assert [c["env"] for c in out["spec"]["containers"]] == [
        [{"name": "A", "value": "1"}, *env], env]
    assert bound(out, None) == {"spec": {"containers": [
        {"image": "x", "env": [{"name": "A", "value": "1"}]}, {"image": "y"}]}}
    assert template["spec"]["containers"][1] == {"image": "y"}  # the input is untouched


def test_subject_by_name_or_selector() -> None:
    by_name = Reference(api_version="serving.knative.dev/v1", kind="Service", name="hello")
    by_labels = Reference.model_validate({"apiVersion": "serving.knative.dev/v1",
                                          "kind": "Service",
                                          "selector": {"matchLabels": {"app": "shop"}}})
    other = Reference.model_validate({"apiVersion": "serving.knative.dev/v1", "kind": "Service",
                                      "selector": {"matchLabels": {"app": "bank"}}})
    assert subject_matches(by_name, SERVICE)
    assert subject_matches(by_labels, SERVICE)
    assert not subject_matches(other, SERVICE)


def test_container_source_instances_never_share_a_revision_key() -> None:
    key = instance_key("shop", "gen")
    assert key == "shop/containersource_gen"
    assert source_key(Instance(id="i", revision=key, runtime="process", address="")) == "shop/gen"
    assert source_key(Instance(id="i", revision="shop/gen-00001", runtime="process",
                               address="")) is None
