"""Service → Configuration + Route → Revision, through the real registry and controllers.

The Revision's own reconciler (which runs instances) is not part of this test: a Revision
is made Ready by writing its status, the seam where that reconciler plugs in, and the
routing table is a recording fake of the gateway's.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from shoal.api.catalog import default_catalog
from shoal.api.errors import NotFound
from shoal.client.inprocess import InProcessClient
from shoal.controllers.manager import Manager
from shoal.controllers.serving.configuration import ConfigurationReconciler
from shoal.controllers.serving.domainmapping import DomainMappingReconciler
from shoal.controllers.serving.gc import RevisionCollector
from shoal.controllers.serving.revision import RevisionReconciler
from shoal.controllers.serving.route import ResolvedRoute, RouteReconciler
from shoal.controllers.serving.service import ServiceReconciler
from shoal.controllers.tracker import Tracker
from shoal.runtime.base import InstanceState
from shoal.runtime.fake import FakeRuntime

CATALOG = default_catalog()
KSVC = CATALOG.require("ksvc")
CONFIGS = CATALOG.require("configurations")
ROUTES = CATALOG.require("routes")
REVISIONS = CATALOG.require("revisions")
DOMAIN_MAPPINGS = CATALOG.require("domainmappings")
NAMESPACES = CATALOG.require("namespaces")
CONFIGMAPS = CATALOG.require("configmaps")


class Serving:
    def __init__(self, registry: Any, runtime: FakeRuntime | None = None) -> None:
        self.registry = registry
        self.client = InProcessClient(registry)
        self.manager = Manager(self.client, resync_period=None)
        self.table: dict[str, ResolvedRoute] = {}
        self.endpoints: dict[str, list[str]] = {}
        self.mapped: dict[str, tuple[str, str]] = {}  # host -> (namespace, route)
        self.runtime = runtime

    def map_host(self, host: str, namespace: str, route: str | None) -> bool:
        if route is not None:
            self.mapped[host] = (namespace, route)
        elif self.mapped.get(host, ("", ""))[0] == namespace:
            del self.mapped[host]
        return True

    def publish(self, route: ResolvedRoute | None, namespace: str, name: str) -> bool:
        if route is None:
            self.table.pop(f"{namespace}/{name}", None)
        else:
            self.table[f"{namespace}/{name}"] = route
        return True

    async def start(self) -> Serving:
        self.manager.add(ServiceReconciler(self.client))
        self.manager.add(ConfigurationReconciler(self.client, collector=RevisionCollector(
            self.client, lambda: self.registry.config)))
        self.manager.add(RouteReconciler(self.client, Tracker(), domain=lambda: "localhost",
                                         gateway_port=8080, publish=self.publish))
        self.manager.add(DomainMappingReconciler(self.client, Tracker(), gateway_port=8080,
                                                 map_host=self.map_host))
        if self.runtime is not None:
            runtime = self.runtime
            controller = self.manager.add(RevisionReconciler(
                self.client, {runtime.name: runtime}, lambda container: runtime.name,
                lambda: self.registry.config, endpoints=self.endpoints.__setitem__))
            runtime.subscribe(lambda instance: controller.enqueue(instance.revision))
        await self.manager.start(timeout=10)
        return self

    async def until(self, rt: Any, name: str, test: Callable[[dict[str, Any]], bool],
                    timeout: float = 10.0, namespace: str = "default") -> dict[str, Any]:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            try:
                obj = await self.client.get(rt, name, namespace)
                if test(obj):
                    return obj
            except NotFound:
                obj = {}
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{rt.kind} {name} never matched: {obj.get('status')}")
            await asyncio.sleep(0.02)

    async def make_ready(self, revision: str) -> None:
        obj = await self.until(REVISIONS, revision, lambda o: True)
        obj["status"] = {"observedGeneration": obj["metadata"]["generation"],
                         "conditions": [{"type": "Ready", "status": "True"}]}
        await self.client.update_status(REVISIONS, obj)


@pytest.fixture
async def serving(api_server: Any) -> AsyncIterator[Serving]:
    world = await Serving(api_server.registry).start()
    try:
        yield world
    finally:
        await world.manager.stop()


def service(env: str = "world", traffic: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"template": {"spec": {"containers": [
        {"image": "localhost/hello:1", "env": [{"name": "TARGET", "value": env}]}]}}}
    if traffic is not None:
        spec["traffic"] = traffic
    return {"apiVersion": "serving.knative.dev/v1", "kind": "Service",
            "metadata": {"name": "hello", "namespace": "default"}, "spec": spec}


def ready(obj: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True"
               for c in (obj.get("status") or {}).get("conditions") or []) and (
        obj["status"].get("observedGeneration") == obj["metadata"]["generation"])


async def test_service_creates_children_and_becomes_ready(serving: Serving) -> None:
    created = await serving.client.create(KSVC, service())
    config = await serving.until(CONFIGS, "hello", lambda o: True)
    route = await serving.until(ROUTES, "hello", lambda o: True)
    for child in (config, route):
        (owner,) = child["metadata"]["ownerReferences"]
        assert owner["uid"] == created["metadata"]["uid"] and owner["controller"] is True
        assert child["metadata"]["labels"]["serving.knative.dev/service"] == "hello"
    revision = await serving.until(REVISIONS, "hello-00001", lambda o: True)
    labels = revision["metadata"]["labels"]
    assert labels["serving.knative.dev/configuration"] == "hello"
    assert labels["serving.knative.dev/configurationGeneration"] == "1"
    assert labels["serving.knative.dev/service"] == "hello"
    assert revision["spec"]["containers"][0]["env"] == [{"name": "TARGET", "value": "world"}]

    svc = await serving.until(KSVC, "hello", lambda o: any(
        c["type"] == "RoutesReady" for c in (o.get("status") or {}).get("conditions") or [])
        and o["status"].get("latestCreatedRevisionName") is not None)
    assert svc["status"]["latestCreatedRevisionName"] == "hello-00001"
    # deploying is not failing: Ready stays Unknown until the revision is ready
    assert {c["type"]: c["status"] for c in svc["status"]["conditions"]}["Ready"] == "Unknown"
    await serving.make_ready("hello-00001")
    svc = await serving.until(KSVC, "hello", ready)
    assert svc["status"]["url"] == "http://hello.default.localhost:8080"
    assert svc["status"]["latestReadyRevisionName"] == "hello-00001"
    assert svc["status"]["traffic"] == [
        {"revisionName": "hello-00001", "latestRevision": True, "percent": 100}]
    assert serving.table["default/hello"].targets == (("hello-00001", 100),)

    async def versions() -> list[str]:
        objs = [await serving.client.get(rt, name, "default") for rt, name in (
            (KSVC, "hello"), (CONFIGS, "hello"), (ROUTES, "hello"), (REVISIONS, "hello-00001"))]
        return [o["metadata"]["resourceVersion"] for o in objs]

    await asyncio.sleep(0.3)
    settled = await versions()
    await asyncio.sleep(0.5)
    assert await versions() == settled  # nothing rewrites anything once all is Ready


async def test_update_stamps_a_new_revision_and_moves_traffic(serving: Serving) -> None:
    await serving.client.create(KSVC, service())
    await serving.make_ready("hello-00001")
    svc = await serving.until(KSVC, "hello", ready)
    svc["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] = "shoal"
    await serving.client.update(KSVC, svc)
    await serving.until(REVISIONS, "hello-00002", lambda o: True)
    svc = await serving.until(KSVC, "hello", lambda o: o["status"].get(
        "latestCreatedRevisionName") == "hello-00002")
    assert svc["status"]["latestReadyRevisionName"] == "hello-00001"  # still serving
    assert serving.table["default/hello"].targets == (("hello-00001", 100),)
    await serving.make_ready("hello-00002")
    await serving.until(KSVC, "hello", lambda o: ready(o) and o["status"][
        "latestReadyRevisionName"] == "hello-00002")
    assert serving.table["default/hello"].targets == (("hello-00002", 100),)
    first = await serving.client.get(REVISIONS, "hello-00001", "default")
    assert first["spec"]["containers"][0]["env"][0]["value"] == "world"  # immutable


async def test_split_and_tags(serving: Serving) -> None:
    await serving.client.create(KSVC, service())
    await serving.make_ready("hello-00001")
    svc = await serving.until(KSVC, "hello", ready)
    svc["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] = "two"
    svc["spec"]["traffic"] = [{"revisionName": "hello-00001", "percent": 80},
                              {"latestRevision": True, "percent": 20, "tag": "candidate"}]
    await serving.client.update(KSVC, svc)
    await serving.make_ready("hello-00002")
    svc = await serving.until(KSVC, "hello", lambda o: ready(o) and len(
        o["status"].get("traffic") or []) == 2)
    tagged = next(t for t in svc["status"]["traffic"] if t.get("tag") == "candidate")
    assert tagged["url"] == "http://candidate-hello.default.localhost:8080"
    assert tagged["revisionName"] == "hello-00002" and tagged["percent"] == 20
    route = serving.table["default/hello"]
    assert dict(route.targets) == {"hello-00001": 80, "hello-00002": 20}
    assert route.tags == (("candidate", "candidate-hello.default.localhost", "hello-00002"),)


async def test_a_failed_revision_fails_the_configuration(serving: Serving) -> None:
    await serving.client.create(KSVC, service())
    revision = await serving.until(REVISIONS, "hello-00001", lambda o: True)
    revision["status"] = {"observedGeneration": 1, "conditions": [
        {"type": "Ready", "status": "False", "reason": "ExitCode1",
         "message": "Container failed with: boom"}]}
    await serving.client.update_status(REVISIONS, revision)
    svc = await serving.until(KSVC, "hello", lambda o: any(
        c["type"] == "ConfigurationsReady" and c["status"] == "False"
        for c in (o.get("status") or {}).get("conditions") or []))
    cond = next(c for c in svc["status"]["conditions"] if c["type"] == "ConfigurationsReady")
    assert cond["reason"] == "RevisionFailed" and "boom" in cond["message"]


def mapping(namespace: str = "default", ref: str = "hello") -> dict[str, Any]:
    return {"apiVersion": "serving.knative.dev/v1beta1", "kind": "DomainMapping",
            "metadata": {"name": "my.example.com", "namespace": namespace},
            "spec": {"ref": {"apiVersion": "serving.knative.dev/v1", "kind": "Service",
                             "name": ref}}}


def conditions_of(obj: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c.get("reason", ""))
            for c in (obj.get("status") or {}).get("conditions") or []}


async def test_domain_mapping_routes_its_host_to_the_service(serving: Serving) -> None:
    await serving.client.create(DOMAIN_MAPPINGS, mapping())
    waiting = await serving.until(DOMAIN_MAPPINGS, "my.example.com", lambda o: conditions_of(
        o).get("ReferenceResolved", ("",))[0] == "False")
    assert conditions_of(waiting)["ReferenceResolved"] == ("False", "ResolveFailed")
    assert "my.example.com" not in serving.mapped

    await serving.client.create(KSVC, service())
    await serving.make_ready("hello-00001")
    dm = await serving.until(DOMAIN_MAPPINGS, "my.example.com", ready)
    assert dm["status"]["url"] == "http://my.example.com:8080"
    assert dm["status"]["address"] == {"url": "http://my.example.com:8080"}
    assert conditions_of(dm) == {
        "CertificateProvisioned": ("True", "TLSNotEnabled"), "DomainClaimed": ("True", ""),
        "IngressReady": ("True", ""), "Ready": ("True", ""),
        "ReferenceResolved": ("True", "")}
    assert serving.mapped["my.example.com"] == ("default", "hello")

    await serving.client.delete(DOMAIN_MAPPINGS, "my.example.com", "default")
    for _ in range(200):
        if "my.example.com" not in serving.mapped:
            break
        await asyncio.sleep(0.02)
    assert "my.example.com" not in serving.mapped


async def test_a_domain_is_claimed_by_its_first_mapping(serving: Serving) -> None:
    await serving.client.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace",
                                             "metadata": {"name": "other"}})
    await serving.client.create(KSVC, service())
    await serving.make_ready("hello-00001")
    await serving.client.create(DOMAIN_MAPPINGS, mapping())
    await serving.until(DOMAIN_MAPPINGS, "my.example.com", ready)
    await serving.client.create(DOMAIN_MAPPINGS, mapping("other"))
    second = await serving.until(DOMAIN_MAPPINGS, "my.example.com", lambda o: bool(
        conditions_of(o).get("DomainClaimed")), namespace="other")
    assert conditions_of(second)["DomainClaimed"] == ("False", "DomainAlreadyClaimed")
    assert conditions_of(second)["Ready"][0] == "False"
    assert serving.mapped["my.example.com"] == ("default", "hello")

    await serving.client.delete(DOMAIN_MAPPINGS, "my.example.com", "default")
    taken = await serving.until(DOMAIN_MAPPINGS, "my.example.com", lambda o: conditions_of(
        o).get("DomainClaimed", ("",))[0] == "True", namespace="other")
    assert conditions_of(taken)["ReferenceResolved"] == ("False", "ResolveFailed")


def serves(revision: str, svc: dict[str, Any]) -> bool:
    return ready(svc) and svc["status"]["latestReadyRevisionName"] == revision


async def test_old_revisions_are_collected(serving: Serving) -> None:
    gc = await serving.client.get(CONFIGMAPS, "config-gc", "knative-serving")
    gc["data"] = {"retain-since-create-time": "disabled",
                  "retain-since-last-active-time": "disabled",
                  "min-non-active-revisions": "0", "max-non-active-revisions": "3"}
    await serving.client.update(CONFIGMAPS, gc)
    body = service()
    body["spec"]["template"]["metadata"] = {"annotations": {"serving.knative.dev/no-gc": "true"}}
    await serving.client.create(KSVC, body)  # hello-00001 is kept by its annotation
    for generation in range(1, 26):
        name = f"hello-{generation:05d}"
        await serving.make_ready(name)
        svc = await serving.until(KSVC, "hello", functools.partial(serves, name))
        if generation < 25:
            svc["spec"]["template"] = service(env=f"v{generation}")["spec"]["template"]
            await serving.client.update(KSVC, svc)
    latest = await serving.client.get(REVISIONS, "hello-00025", "default")
    assert latest["metadata"]["labels"]["serving.knative.dev/routingState"] == "active"

    async def names() -> list[str]:
        listed = await serving.client.list(REVISIONS, "default")
        return sorted(r["metadata"]["name"] for r in listed.items)

    for _ in range(200):
        if len(await names()) == 5:
            break
        await asyncio.sleep(0.02)
    assert await names() == ["hello-00001", "hello-00022", "hello-00023", "hello-00024",
                             "hello-00025"]
    old = await serving.client.get(REVISIONS, "hello-00024", "default")
    assert old["metadata"]["labels"]["serving.knative.dev/routingState"] == "reserve"
    assert "serving.knative.dev/routingStateModified" in old["metadata"]["annotations"]


async def test_deleting_the_service_removes_everything(serving: Serving) -> None:
    await serving.client.create(KSVC, service())
    await serving.until(REVISIONS, "hello-00001", lambda o: True)
    await serving.client.delete(KSVC, "hello", "default")
    for rt, name in ((CONFIGS, "hello"), (ROUTES, "hello"), (REVISIONS, "hello-00001")):
        with pytest.raises(NotFound):
            await serving.client.get(rt, name, "default")


@pytest.fixture
async def running(api_server: Any) -> AsyncIterator[Serving]:
    world = await Serving(api_server.registry, FakeRuntime(auto_ready=False)).start()
    try:
        yield world
    finally:
        await world.manager.stop()


def condition(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    return next(c for c in (obj.get("status") or {}).get("conditions") or []
                if c["type"] == type_)


async def test_revision_runs_its_initial_scale_and_becomes_ready(running: Serving) -> None:
    assert running.runtime is not None
    await running.client.create(KSVC, service())
    revision = await running.until(REVISIONS, "hello-00001",
                                   lambda o: len(running.runtime.list()) == 1 if
                                   running.runtime else False)
    assert revision["metadata"]["finalizers"] == ["revisions.serving.knative.dev"]
    (spec,) = running.runtime.started
    assert (spec.revision, spec.service, spec.configuration) == (
        "default/hello-00001", "hello", "hello")
    (instance,) = running.runtime.list()
    running.runtime.set_ready(instance.id)
    svc = await running.until(KSVC, "hello", ready)
    assert svc["status"]["latestReadyRevisionName"] == "hello-00001"
    revision = await running.client.get(REVISIONS, "hello-00001", "default")
    assert revision["status"]["actualReplicas"] == 1
    assert revision["status"]["desiredReplicas"] == 1
    assert running.endpoints["default/hello-00001"] == [instance.address]


async def test_a_crashing_app_reports_its_exit_code(running: Serving) -> None:
    assert running.runtime is not None
    await running.client.create(KSVC, service())
    await running.until(REVISIONS, "hello-00001",
                        lambda o: bool(running.runtime and running.runtime.list()))
    (instance,) = running.runtime.list()
    running.runtime.crash(instance.id, exit_code=3)
    revision = await running.until(REVISIONS, "hello-00001", lambda o: any(
        c["type"] == "ContainerHealthy" and c["status"] == "False"
        for c in (o.get("status") or {}).get("conditions") or []))
    assert condition(revision, "ContainerHealthy")["reason"] == "ExitCode3"
    assert condition(revision, "Ready")["status"] == "False"


async def test_progress_deadline_is_reported(running: Serving) -> None:
    body = service()
    body["spec"]["template"]["metadata"] = {
        "annotations": {"serving.knative.dev/progress-deadline": "1s"}}
    await running.client.create(KSVC, body)
    revision = await running.until(REVISIONS, "hello-00001", lambda o: any(
        c["type"] == "ResourcesAvailable" and c["status"] == "False"
        for c in (o.get("status") or {}).get("conditions") or []), timeout=15)
    assert condition(revision, "ResourcesAvailable")["reason"] == "ProgressDeadlineExceeded"


async def test_deleting_the_service_stops_its_instances(running: Serving) -> None:
    assert running.runtime is not None
    await running.client.create(KSVC, service())
    await running.until(REVISIONS, "hello-00001",
                        lambda o: bool(running.runtime and running.runtime.list()))
    (instance,) = running.runtime.list()
    await running.client.delete(KSVC, "hello", "default")
    for _ in range(200):
        if not running.runtime.list():
            break
        await asyncio.sleep(0.02)
    assert [i for i in running.runtime.list() if i.state != InstanceState.STOPPED] == []
    assert [stopped for stopped, _ in running.runtime.stopped] == [instance.id]
    for _ in range(200):  # the finalizer goes once the instances are stopped
        try:
            await running.client.get(REVISIONS, "hello-00001", "default")
        except NotFound:
            break
        await asyncio.sleep(0.02)
    else:
        left = await running.client.get(REVISIONS, "hello-00001", "default")
        raise AssertionError(f"the revision was never deleted: {left['metadata']}")
