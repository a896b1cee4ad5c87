"""Sources end to end: a real ``shoal up``, each source into a broker and on to a sink."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.sources_rig import Rig, conditions, is_ready

pytestmark = pytest.mark.e2e

SOURCES = "/apis/sources.knative.dev/v1/namespaces/default"
CONFIGMAPS = "/api/v1/namespaces/default/configmaps"
BROKER_SINK = {"ref": {"apiVersion": "eventing.knative.dev/v1", "kind": "Broker",
                       "name": "default"}}


def source(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "sources.knative.dev/v1", "kind": kind, "metadata": {"name": name},
            "spec": {"sink": BROKER_SINK, **spec}}


async def change_and_delete(rig: Rig, path: str) -> None:
    """Set ``data.a`` to 2, then delete the object."""
    async with rig.http.patch(f"{rig.shoal.url}{path}", json={"data": {"a": "2"}},
                              headers={"Content-Type": "application/merge-patch+json"}) as resp:
        assert resp.status == 200
    async with rig.http.delete(f"{rig.shoal.url}{path}") as resp:
        assert resp.status == 200


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
    await change_and_delete(rig, f"{CONFIGMAPS}/settings")

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
    await change_and_delete(rig, f"{CONFIGMAPS}/after")

    events = await rig.sink.wait_for(3)
    # "before" existed when the source started: as in Knative, the first list is not sent.
    assert [(e.type, e.attributes["name"]) for e in events] == [
        ("dev.knative.apiserver.resource.add", "after"),
        ("dev.knative.apiserver.resource.update", "after"),
        ("dev.knative.apiserver.resource.delete", "after")]
    bodies = [json.loads(e.data or b"") for e in events]
    assert [(b["kind"], b["metadata"]["name"], b["data"]) for b in bodies] == [
        ("ConfigMap", "after", {"a": "1"}), ("ConfigMap", "after", {"a": "2"}),
        ("ConfigMap", "after", {"a": "2"})]


ENV_APP = """\
import json, os
from wsgiref.simple_server import WSGIRequestHandler, make_server

class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass

def app(environ, start_response):
    body = json.dumps({k: v for k, v in os.environ.items() if k.startswith("K_")}).encode()
    start_response("200 OK", [("content-length", str(len(body)))])
    return [body]

make_server("127.0.0.1", int(os.environ["PORT"]), app, handler_class=Quiet).serve_forever()
"""
KSVC = "/apis/serving.knative.dev/v1/namespaces/default/services"


async def env_of(rig: Rig, url: str) -> dict[str, str]:
    """The K_ variables of the Service at ``url``, asked through the gateway."""
    host, _, port = url.split("://", 1)[1].partition(":")
    async with rig.http.get(f"http://127.0.0.1:{port}/", headers={"Host": host}) as resp:
        assert resp.status == 200
        body: dict[str, str] = await resp.json(content_type=None)
        return body


async def test_sink_binding_rolls_a_revision_that_sees_k_sink(rig: Rig, tmp_path: Path) -> None:
    app = tmp_path / "env.py"
    app.write_text(ENV_APP)
    broker_url = await rig.broker_to_sink()
    await rig.ok("service", "create", "envy", "--cmd", sys.executable, "--arg", str(app))
    svc = await rig.ready(f"{KSVC}/envy")
    assert "K_SINK" not in await env_of(rig, svc["status"]["url"])

    await rig.ok("source", "binding", "create", "bind", "--subject",
                 "Service:serving.knative.dev/v1:envy", "--sink", "broker:default",
                 "--ce-override", "team=blue")
    binding = await rig.ready(f"{SOURCES}/sinkbindings/bind")
    assert conditions(binding) == {"BindingAvailable": "True", "Ready": "True",
                                   "SinkProvided": "True"}
    assert binding["status"]["sinkUri"] == broker_url
    svc = await rig.until(f"{KSVC}/envy", lambda o: is_ready(o) and o["status"].get(
        "latestReadyRevisionName") == "envy-00002")
    env = await env_of(rig, svc["status"]["url"])
    assert env["K_SINK"] == broker_url
    assert json.loads(env["K_CE_OVERRIDES"]) == {"extensions": {"team": "blue"}}
    assert env["K_REVISION"] == "envy-00002"

    await rig.ok("source", "binding", "delete", "bind")
    svc = await rig.until(f"{KSVC}/envy", lambda o: is_ready(o) and o["status"].get(
        "latestReadyRevisionName") == "envy-00003")
    assert "K_SINK" not in await env_of(rig, svc["status"]["url"])
    async with rig.http.get(f"{rig.shoal.url}{SOURCES}/sinkbindings/bind") as resp:
        assert resp.status == 404


GENERATOR = """\
import os, urllib.request, uuid
request = urllib.request.Request(os.environ["K_SINK"], data=os.environ["K_CE_OVERRIDES"].encode(),
    headers={"ce-specversion": "1.0", "ce-id": str(uuid.uuid4()), "ce-type": "dev.example.gen",
             "ce-source": "/generator", "content-type": "application/json"})
urllib.request.urlopen(request, timeout=10).close()
raise SystemExit(1)
"""


async def test_container_source_restarts_a_crashing_generator(rig: Rig) -> None:
    broker_url = await rig.broker_to_sink()
    await rig.ok("source", "container", "create", "gen", "--cmd", sys.executable,
                 "--arg=-c", f"--arg={GENERATOR}", "--sink", "broker:default",
                 "--ce-override", "team=blue")
    events = await rig.sink.wait_for(2, timeout=30)
    assert [e.type for e in events[:2]] == ["dev.example.gen", "dev.example.gen"]
    assert events[0].id != events[1].id
    assert json.loads(events[0].data or b"") == {"extensions": {"team": "blue"}}
    src = await rig.get(f"{SOURCES}/containersources/gen")
    assert src["status"]["sinkUri"] == broker_url
    assert conditions(src)["SinkBindingReady"] == "True"

    out = await rig.ok("source", "list")
    assert "gen" in out and "ContainerSource" in out
    await rig.ok("source", "container", "delete", "gen")
    async with rig.http.get(f"{rig.shoal.url}{SOURCES}/containersources/gen") as resp:
        assert resp.status == 404
