"""The sources' reconcilers, one scenario each: objects in a fake API, one reconcile, the
status, the children and what the adapters run."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

from tests.unit.controllers.fakeclient import FakeClient

from shoal.api.catalog import default_catalog
from shoal.api.sources.apiserver import ApiServerSource
from shoal.api.sources.container import ContainerSource
from shoal.api.sources.ping import PingSource
from shoal.api.sources.sinkbinding import SinkBinding
from shoal.controllers.clock import FakeClock
from shoal.controllers.factory import InformerFactory
from shoal.controllers.resolver import tracked_resolver
from shoal.eventing.event import CloudEvent
from shoal.runtime.base import PROCESS
from shoal.runtime.fake import FakeRuntime
from shoal.sources.apiserver import (
    ApiServerAdapter,
    ApiServerAdapters,
    ApiServerPlan,
    ApiServerSourceReconciler,
    Watched,
)
from shoal.sources.container import ContainerSourceReconciler, instance_key
from shoal.sources.ping import PingScheduler, PingSourceReconciler
from shoal.sources.sinkbinding import SinkBindingReconciler

CATALOG = default_catalog()
SERVICES = CATALOG.require("services")
URI_SINK = {"uri": "http://127.0.0.1:9/"}
BROKER_SINK = {"ref": {"apiVersion": "eventing.knative.dev/v1", "kind": "Broker",
                       "name": "default", "namespace": "default"}}


def source(kind: type[Any], spec: dict[str, Any]) -> Any:
    return kind.model_validate({"apiVersion": "sources.knative.dev/v1", "kind": kind.__name__,
                                "metadata": {"name": "s", "namespace": "default",
                                             "generation": 1},
                                "spec": spec})


def conditions(obj: Any) -> dict[str, tuple[str, str]]:
    return {c.type: (c.status, c.reason or "") for c in obj.status.conditions}


async def nothing(event: CloudEvent, sink: str) -> None:
    return None


def ping_reconciler(client: FakeClient) -> tuple[PingSourceReconciler, PingScheduler]:
    clock = FakeClock(datetime(2024, 1, 1, tzinfo=UTC))
    scheduler = PingScheduler(clock, nothing)
    tracker, resolver = tracked_resolver(client, CATALOG, clock)
    return PingSourceReconciler(scheduler, resolver, tracker), scheduler


async def test_ping_with_a_sink_is_scheduled_and_ready() -> None:
    reconciler, scheduler = ping_reconciler(FakeClient())
    obj = source(PingSource, {"schedule": "*/5 * * * *", "sink": URI_SINK})
    await reconciler.reconcile(obj)
    assert conditions(obj) == {"Deployed": ("True", ""), "Ready": ("True", ""),
                               "SinkProvided": ("True", "")}
    assert obj.status.sink_uri == "http://127.0.0.1:9/"
    assert scheduler.next_fire("default/s") == datetime(2024, 1, 1, 0, 5, tzinfo=UTC)
    await reconciler.deleted("default/s")
    assert "default/s" not in scheduler


async def test_ping_without_its_broker_is_not_scheduled() -> None:
    reconciler, scheduler = ping_reconciler(FakeClient())
    obj = source(PingSource, {"sink": BROKER_SINK})
    await reconciler.reconcile(obj)
    assert conditions(obj)["SinkProvided"] == ("False", "NotFound")
    assert conditions(obj)["Ready"][0] == "False"
    assert obj.status.sink_uri is None
    assert "default/s" not in scheduler


def container_reconciler() -> tuple[ContainerSourceReconciler, FakeRuntime]:
    runtime = FakeRuntime(auto_ready=False)
    tracker, resolver = tracked_resolver(FakeClient(), CATALOG)
    return ContainerSourceReconciler({PROCESS: runtime}, lambda c: PROCESS, resolver,
                                     tracker), runtime


CONTAINER = {"template": {"spec": {"containers": [{"name": "gen", "command": ["gen"]}]}},
             "sink": URI_SINK, "ceOverrides": {"extensions": {"team": "blue"}}}


async def test_container_source_runs_its_program_with_the_sink() -> None:
    reconciler, runtime = container_reconciler()
    obj = source(ContainerSource, CONTAINER)
    await reconciler.reconcile(obj)
    (spec,) = runtime.started
    assert (spec.revision, spec.serves, spec.container["command"]) == (
        instance_key("default", "s"), False, ["gen"])
    assert spec.env == {"K_SINK": "http://127.0.0.1:9/",
                        "K_CE_OVERRIDES": '{"extensions":{"team":"blue"}}'}
    assert conditions(obj)["ReceiveAdapterReady"] == ("Unknown", "Starting")

    (instance,) = runtime.list()
    runtime.set_ready(instance.id)
    await reconciler.reconcile(obj)
    assert conditions(obj)["Ready"] == ("True", "")
    runtime.crash(instance.id)
    await reconciler.reconcile(obj)
    assert conditions(obj)["ReceiveAdapterReady"] == ("False", "ExitCode1")
    assert len(runtime.started) == 1  # the runtime restarts it, not the reconciler


async def test_container_source_replaces_its_program_when_the_sink_changes() -> None:
    reconciler, runtime = container_reconciler()
    await reconciler.reconcile(source(ContainerSource, CONTAINER))
    (first,) = runtime.list()
    await reconciler.reconcile(source(ContainerSource, {**CONTAINER,
                                                        "sink": {"uri": "http://127.0.0.1:8/"}}))
    assert [stopped for stopped, _ in runtime.stopped] == [first.id]
    assert runtime.started[-1].env["K_SINK"] == "http://127.0.0.1:8/"
    await reconciler.finalize(source(ContainerSource, CONTAINER))
    assert runtime.list() == []


def service(name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"apiVersion": "serving.knative.dev/v1", "kind": "Service",
            "metadata": {"name": name, "namespace": "default", "labels": labels or {}},
            "spec": {"template": {"spec": {"containers": [
                {"image": "app", "env": [{"name": "A", "value": "1"}]}]}}}}


def binding_reconciler(client: FakeClient) -> SinkBindingReconciler:
    tracker, resolver = tracked_resolver(client, CATALOG)
    return SinkBindingReconciler(client, InformerFactory(client), resolver, tracker)


async def env_of(client: FakeClient, name: str) -> list[dict[str, str]]:
    svc = await client.get(SERVICES, name, "default")
    env: list[dict[str, str]] = svc["spec"]["template"]["spec"]["containers"][0]["env"]
    return env


async def test_sink_binding_sets_and_removes_k_sink_on_matching_services() -> None:
    client = FakeClient()
    for name, labels in (("a", {"app": "shop"}), ("b", {"app": "shop"}), ("c", {})):
        await client.create(SERVICES, service(name, labels))
    reconciler = binding_reconciler(client)
    obj = source(SinkBinding, {"sink": URI_SINK, "subject": {
        "apiVersion": "serving.knative.dev/v1", "kind": "Service", "namespace": "default",
        "selector": {"matchLabels": {"app": "shop"}}}})
    await reconciler.reconcile(obj)
    assert conditions(obj) == {"BindingAvailable": ("True", ""), "Ready": ("True", ""),
                               "SinkProvided": ("True", "")}
    bound_env = [{"name": "A", "value": "1"}, {"name": "K_SINK", "value": "http://127.0.0.1:9/"},
                 {"name": "K_CE_OVERRIDES", "value": ""}]
    assert [await env_of(client, n) for n in "abc"] == [bound_env, bound_env,
                                                        [{"name": "A", "value": "1"}]]
    await reconciler.finalize(obj)
    assert [await env_of(client, n) for n in "ab"] == [[{"name": "A", "value": "1"}]] * 2


async def test_sink_binding_without_its_subject_or_with_another_kind() -> None:
    reconciler = binding_reconciler(FakeClient())
    missing = source(SinkBinding, {"sink": URI_SINK, "subject": {
        "apiVersion": "serving.knative.dev/v1", "kind": "Service", "namespace": "default",
        "name": "nobody"}})
    await reconciler.reconcile(missing)
    assert conditions(missing)["BindingAvailable"] == ("False", "SubjectMissing")
    deployment = source(SinkBinding, {"sink": URI_SINK, "subject": {
        "apiVersion": "apps/v1", "kind": "Deployment", "namespace": "default", "name": "d"}})
    await reconciler.reconcile(deployment)
    assert conditions(deployment)["BindingAvailable"] == ("False", "SubjectUnsupported")


def configmap(name: str, owner_kind: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "default"}
    if owner_kind:
        meta["ownerReferences"] = [{"apiVersion": "serving.knative.dev/v1", "kind": owner_kind,
                                    "name": "o", "uid": "u1"}]
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta}


async def test_apiserver_adapter_skips_the_first_list_and_filters() -> None:
    client, clock = FakeClient(), FakeClock()
    configmaps = CATALOG.require("configmaps")
    await client.create(configmaps, configmap("existing", "Configuration"))
    sent: list[CloudEvent] = []

    async def send(event: CloudEvent, sink: str) -> None:
        sent.append(event)

    plan = ApiServerPlan(namespace="default", resources=(Watched(configmaps, ""),),
                         owner=("serving.knative.dev/v1", "Configuration"), mode="Reference",
                         sink="http://127.0.0.1:9/", overrides=(),
                         filters=json.dumps([{"not": {"exact": {"name": "skipped"}}}]))
    adapter = ApiServerAdapter("default/w", plan, client, "http://api", clock, send)
    adapter.start()
    try:
        await asyncio.wait_for(adapter.synced(), 5)
        await client.create(configmaps, configmap("stray", "Route"))
        await client.create(configmaps, configmap("skipped", "Configuration"))
        await client.create(configmaps, configmap("owned", "Configuration"))
        await client.delete(configmaps, "owned", "default")
        for _ in range(200):
            if len(sent) >= 2:
                break
            await asyncio.sleep(0.01)
    finally:
        await adapter.stop()
    assert [(e.type, e.attributes["name"]) for e in sent] == [
        ("dev.knative.apiserver.ref.add", "owned"), ("dev.knative.apiserver.ref.delete", "owned")]


async def test_apiserver_source_with_a_namespace_selector_watches_the_matching_ones() -> None:
    client, clock = FakeClient(), FakeClock()
    namespaces, configmaps = CATALOG.require("namespaces"), CATALOG.require("configmaps")
    for name, team in (("a", "blue"), ("b", "red")):
        await client.create(namespaces, {"apiVersion": "v1", "kind": "Namespace",
                                         "metadata": {"name": name, "labels": {"team": team}}})
    sent: list[CloudEvent] = []

    async def send(event: CloudEvent, sink: str) -> None:
        sent.append(event)

    adapters = ApiServerAdapters(client, "http://api", clock, send)
    tracker, resolver = tracked_resolver(client, CATALOG, clock)
    reconciler = ApiServerSourceReconciler(adapters, InformerFactory(client), resolver, tracker)
    obj = source(ApiServerSource, {"sink": URI_SINK, "namespaceSelector": {
        "matchLabels": {"team": "blue"}}, "resources": [{"apiVersion": "v1",
                                                          "kind": "ConfigMap"}]})
    await reconciler.reconcile(obj)
    assert obj.status.namespaces == ["a"]
    adapter = adapters.get("default/s")
    assert adapter is not None
    try:
        await asyncio.wait_for(adapter.synced(), 5)
        for namespace in ("b", "a"):
            await client.create(configmaps, {**configmap("cm"), "metadata": {
                "name": "cm", "namespace": namespace}})
        for _ in range(200):
            if sent:
                break
            await asyncio.sleep(0.01)
    finally:
        await adapters.close()
    assert [e.attributes["namespace"] for e in sent] == ["a"]
