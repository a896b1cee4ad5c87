"""Sources end to end: a real ``shoal up``, each source into a broker and on to a sink."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.e2e.sources_rig import Rig, conditions

pytestmark = pytest.mark.e2e

SOURCES = "/apis/sources.knative.dev/v1/namespaces/default"
CONFIGMAPS = "/api/v1/namespaces/default/configmaps"
BROKER_SINK = {"ref": {"apiVersion": "eventing.knative.dev/v1", "kind": "Broker",
                       "name": "default"}}


def source(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "sources.knative.dev/v1", "kind": kind, "metadata": {"name": name},
            "spec": {"sink": BROKER_SINK, **spec}}


async def test_ping_source_sends_on_a_seconds_schedule(rig: Rig) -> None:
    broker_url = await rig.broker_to_sink()
    await rig.ok("source", "ping", "create", "beat", "--schedule", "* * * * * *",
                 "--data", '{"message": "hello"}', "--sink", "broker:default",
                 "--ce-override", "team=blue")
    ping = await rig.ready(f"{SOURCES}/pingsources/beat")
    assert ping["status"]["sinkUri"] == broker_url
    assert conditions(ping) == {"Deployed": "True", "Ready": "True", "SinkProvided": "True"}
    assert ping["status"]["ceAttributes"] == [{
        "type": "dev.knative.sources.ping",
        "source": "/apis/v1/namespaces/default/pingsources/beat"}]

    events = await rig.sink.wait_for(2)
    for event in events[:2]:
        assert event.type == "dev.knative.sources.ping"
        assert event.source == "/apis/v1/namespaces/default/pingsources/beat"
        assert event.attributes["team"] == "blue"
        assert json.loads(event.data or b"") == {"message": "hello"}
    assert events[0].id != events[1].id


async def test_apiserver_source_reference_mode_sees_add_update_delete(rig: Rig) -> None:
    await rig.broker_to_sink()
    await rig.ok("source", "apiserver", "create", "watcher", "--resource",
                 "ConfigMap:v1:watched=yes", "--sink", "broker:default",
                 "--ce-override", "team=blue")
    src = await rig.ready(f"{SOURCES}/apiserversources/watcher")
    assert conditions(src) == {"Deployed": "True", "Ready": "True", "SinkProvided": "True",
                               "SufficientPermissions": "True"}
    assert {a["type"] for a in src["status"]["ceAttributes"]} == {
        "dev.knative.apiserver.ref.add", "dev.knative.apiserver.ref.update",
        "dev.knative.apiserver.ref.delete"}

    await rig.post(CONFIGMAPS, {"apiVersion": "v1", "kind": "ConfigMap",
                                "metadata": {"name": "ignored"}, "data": {"a": "1"}})
    cm = {"apiVersion": "v1", "kind": "ConfigMap",
          "metadata": {"name": "settings", "labels": {"watched": "yes"}}, "data": {"a": "1"}}
    await rig.post(CONFIGMAPS, cm)
    async with rig.http.patch(f"{rig.shoal.url}{CONFIGMAPS}/settings",
                              json={"data": {"a": "2"}},
                              headers={"Content-Type": "application/merge-patch+json"}) as resp:
        assert resp.status == 200
    async with rig.http.delete(f"{rig.shoal.url}{CONFIGMAPS}/settings") as resp:
        assert resp.status == 200

    events = await rig.sink.wait_for(3)
    assert [e.type for e in events] == ["dev.knative.apiserver.ref.add",
                                        "dev.knative.apiserver.ref.update",
                                        "dev.knative.apiserver.ref.delete"]
    for event in events:
        assert event.source == rig.shoal.url
        assert event.attributes["subject"] == "/apis/v1/namespaces/default/configmaps/settings"
        assert (event.attributes["kind"], event.attributes["name"],
                event.attributes["namespace"], event.attributes["team"]) == (
            "ConfigMap", "settings", "default", "blue")
        assert json.loads(event.data or b"") == {
            "apiVersion": "v1", "kind": "ConfigMap", "name": "settings",
            "namespace": "default"}


async def test_apiserver_source_resource_mode_sends_the_object(rig: Rig) -> None:
    await rig.post(CONFIGMAPS, {"apiVersion": "v1", "kind": "ConfigMap",
                                "metadata": {"name": "before"}, "data": {"a": "0"}})
    await rig.broker_to_sink()
    await rig.post(f"{SOURCES}/apiserversources", source("ApiServerSource", "objects", {
        "mode": "Resource", "resources": [{"apiVersion": "v1", "kind": "ConfigMap"}]}))
    await rig.ready(f"{SOURCES}/apiserversources/objects")
    await rig.post(CONFIGMAPS, {"apiVersion": "v1", "kind": "ConfigMap",
                                "metadata": {"name": "after"}, "data": {"a": "1"}})
    async with rig.http.delete(f"{rig.shoal.url}{CONFIGMAPS}/after") as resp:
        assert resp.status == 200

    events = await rig.sink.wait_for(2)
    # "before" existed when the source started: as in Knative, the first list is not sent.
    assert [(e.type, e.attributes["name"]) for e in events] == [
        ("dev.knative.apiserver.resource.add", "after"),
        ("dev.knative.apiserver.resource.delete", "after")]
    body = json.loads(events[0].data or b"")
    assert (body["kind"], body["metadata"]["name"], body["data"]) == (
        "ConfigMap", "after", {"a": "1"})
