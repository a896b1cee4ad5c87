"""The API server over real HTTP on loopback: CRUD, concurrency, watches, bad input, GC."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

CM = "/api/v1/namespaces/default/configmaps"


@pytest.fixture
async def http(api_server: Any) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=api_server.url) as session:
        yield session


async def call(http: aiohttp.ClientSession, method: str, path: str, body: Any = None, *,
               content_type: str = "application/json", raw: bytes | None = None,
               headers: dict[str, str] | None = None) -> tuple[int, Any]:
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    hdrs = {"Content-Type": content_type, **(headers or {})}
    async with http.request(method, path, data=data, headers=hdrs) as resp:
        text = await resp.text()
        return resp.status, json.loads(text) if text else None


def configmap(name: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


async def test_discovery_lists_knative_groups_and_aggregated_form(http: Any) -> None:
    status, groups = await call(http, "GET", "/apis")
    assert status == 200
    assert {g["name"] for g in groups["groups"]} >= {"serving.knative.dev",
                                                     "eventing.knative.dev"}
    accept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    async with http.get("/apis", headers={"Accept": accept}) as resp:
        assert "as=APIGroupDiscoveryList" in resp.headers["Content-Type"]
        body = await resp.json(content_type=None)
    resources = {r["resource"] for item in body["items"] for v in item["versions"]
                 for r in v["resources"]}
    assert {"services", "brokers", "triggers"} <= resources
    status, core = await call(http, "GET", "/api/v1")
    assert {"configmaps", "namespaces", "namespaces/status"} <= {
        r["name"] for r in core["resources"]}


async def test_create_get_update_and_stale_update_conflicts(http: Any) -> None:
    status, created = await call(http, "POST", CM, configmap("a", k="1"))
    assert status == 201
    meta = created["metadata"]
    assert meta["uid"] and meta["creationTimestamp"] and meta["namespace"] == "default"
    status, again = await call(http, "POST", CM, configmap("a"))
    assert status == 409 and again["reason"] == "AlreadyExists"
    created["data"] = {"k": "2"}
    status, updated = await call(http, "PUT", f"{CM}/a", created)
    assert status == 200 and updated["data"] == {"k": "2"}
    status, conflict = await call(http, "PUT", f"{CM}/a", created)  # stale resourceVersion
    assert status == 409 and conflict["reason"] == "Conflict"
    status, got = await call(http, "GET", f"{CM}/a")
    assert got["data"] == {"k": "2"}


async def test_patches_merge_json_and_strategic(http: Any) -> None:
    await call(http, "POST", CM, configmap("p", a="1", b="2"))
    status, merged = await call(http, "PATCH", f"{CM}/p", {"data": {"a": None, "c": "3"}},
                                content_type="application/merge-patch+json")
    assert status == 200 and merged["data"] == {"b": "2", "c": "3"}
    status, patched = await call(http, "PATCH", f"{CM}/p",
                                 [{"op": "replace", "path": "/data/b", "value": "9"}],
                                 content_type="application/json-patch+json")
    assert patched["data"]["b"] == "9"
    status, smp = await call(http, "PATCH", f"{CM}/p", {"data": {"d": "4"}},
                             content_type="application/strategic-merge-patch+json")
    assert status == 200 and smp["data"]["d"] == "4"


async def test_strategic_merge_patch_on_a_custom_resource_is_415(http: Any) -> None:
    path = "/apis/eventing.knative.dev/v1/namespaces/default/brokers"
    status, _ = await call(http, "POST", path, {
        "apiVersion": "eventing.knative.dev/v1", "kind": "Broker",
        "metadata": {"name": "b"}})
    assert status == 201
    status, body = await call(http, "PATCH", f"{path}/b", {"metadata": {"labels": {"x": "y"}}},
                              content_type="application/strategic-merge-patch+json")
    assert status == 415 and body["reason"] == "UnsupportedMediaType"


async def test_list_with_label_and_field_selectors(http: Any) -> None:
    for name, tier in (("x1", "web"), ("x2", "db"), ("x3", "web")):
        cm = configmap(name)
        cm["metadata"]["labels"] = {"tier": tier}
        await call(http, "POST", CM, cm)
    _, listed = await call(http, "GET", f"{CM}?labelSelector=tier%3Dweb")
    assert [i["metadata"]["name"] for i in listed["items"]] == ["x1", "x3"]
    _, listed = await call(http, "GET", f"{CM}?labelSelector=tier+in+(db)")
    assert [i["metadata"]["name"] for i in listed["items"]] == ["x2"]
    _, listed = await call(http, "GET", f"{CM}?fieldSelector=metadata.name%3Dx3")
    assert [i["metadata"]["name"] for i in listed["items"]] == ["x3"]
    _, listed = await call(http, "GET", "/api/v1/configmaps")  # all namespaces
    assert {"knative-serving", "default"} <= {i["metadata"]["namespace"]
                                              for i in listed["items"]}


async def read_events(resp: aiohttp.ClientResponse, count: int) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    while len(events) < count:
        line = await asyncio.wait_for(resp.content.readline(), 5)
        if not line:
            break
        event = json.loads(line)
        if event["type"] != "BOOKMARK":
            events.append(event)
    return events


async def test_watch_resumes_from_a_resource_version(http: Any) -> None:
    _, first = await call(http, "POST", CM, configmap("w1"))
    rv = first["metadata"]["resourceVersion"]
    await call(http, "POST", CM, configmap("w2"))
    await call(http, "DELETE", f"{CM}/w1")
    async with http.get(f"{CM}?watch=true&resourceVersion={rv}") as resp:
        events = await read_events(resp, 2)
        assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
            ("ADDED", "w2"), ("DELETED", "w1")]
        await call(http, "POST", CM, configmap("w3"))
        (live,) = await read_events(resp, 1)
        assert (live["type"], live["object"]["metadata"]["name"]) == ("ADDED", "w3")


async def test_watch_past_the_change_log_gets_410(http: Any, api_server: Any) -> None:
    for i in range(1200):  # retention is 1000 in the fixture
        api_server.store.create("/configmaps", "default", f"bulk{i}", configmap(f"bulk{i}"))
    api_server.store.compact()
    async with http.get(f"{CM}?watch=true&resourceVersion=1") as resp:
        event = json.loads(await resp.content.readline())
    assert event["type"] == "ERROR" and event["object"]["code"] == 410


async def test_dry_run_stores_nothing(http: Any) -> None:
    status, body = await call(http, "POST", f"{CM}?dryRun=All", configmap("dry"))
    assert status == 201 and body["metadata"]["name"] == "dry"
    status, _ = await call(http, "GET", f"{CM}/dry")
    assert status == 404


@pytest.mark.parametrize(("raw", "content_type", "code"), [
    (b"{not json", "application/json", 400),
    (b"kind: [unclosed", "application/yaml", 400),
    (b"<xml/>", "application/xml", 415),
    (b'{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}}',
     "application/json", 400),
    (b'{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "Not_A_Name"}}',
     "application/json", 422),
    (b'{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": 3}',
     "application/json", 422),
])
async def test_bad_input_is_a_clear_4xx_and_nothing_is_stored(
        http: Any, api_server: Any, raw: bytes, content_type: str, code: int) -> None:
    before = api_server.store.revision
    status, body = await call(http, "POST", CM, raw=raw, content_type=content_type)
    assert status == code
    assert body["kind"] == "Status" and body["code"] == code and body["message"]
    assert api_server.store.revision == before
    status, _ = await call(http, "GET", "/healthz".replace("/healthz", CM))
    assert status == 200


async def test_unknown_fields_under_strict_are_named(http: Any) -> None:
    cm = configmap("strict")
    cm["spec"] = {"x": 1}
    status, body = await call(http, "POST", f"{CM}?fieldValidation=Strict", cm)
    assert status == 400 and 'unknown field "spec"' in body["message"]
    async with http.post(f"{CM}?fieldValidation=Warn", data=json.dumps(cm).encode(),
                         headers={"Content-Type": "application/json"}) as resp:
        assert resp.status == 201
        assert 'unknown field \\"spec\\"' in resp.headers["Warning"]
        assert "spec" not in await resp.json()


async def test_unknown_kind_version_and_large_body(http: Any) -> None:
    status, body = await call(http, "GET", "/apis/serving.knative.dev/v9/services")
    assert status == 404 and body["kind"] == "Status"
    status, body = await call(http, "GET", "/apis/nope.dev/v1/namespaces/default/things")
    assert status == 404
    big = io.BytesIO(b"{" + b" " * (4 * 1024 * 1024) + b"}")
    async with http.post(CM, data=big, headers={"Content-Type": "application/json"}) as resp:
        assert resp.status == 413
        assert (await resp.json())["reason"] == "RequestEntityTooLarge"


async def test_invalid_object_reports_every_field(http: Any) -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap",
          "metadata": {"name": "bad", "labels": {"bad key!": "v"}},
          "data": {"bad key": "x"}}
    status, body = await call(http, "POST", CM, cm)
    assert status == 422 and body["reason"] == "Invalid"
    fields = {c["field"] for c in body["details"]["causes"]}
    assert {"metadata.labels", "data"} <= fields


def owned(name: str, owner: dict[str, Any], block: bool = False) -> dict[str, Any]:
    cm = configmap(name)
    cm["metadata"]["ownerReferences"] = [{
        "apiVersion": "v1", "kind": "ConfigMap", "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"], "blockOwnerDeletion": block}]
    return cm


async def names(http: Any) -> set[str]:
    _, listed = await call(http, "GET", CM)
    return {i["metadata"]["name"] for i in listed["items"]}


async def test_background_cascade_deletes_the_tree(http: Any) -> None:
    _, root = await call(http, "POST", CM, configmap("root"))
    _, mid = await call(http, "POST", CM, owned("mid", root))
    await call(http, "POST", CM, owned("leaf", mid))
    status, _ = await call(http, "DELETE", f"{CM}/root", {"propagationPolicy": "Background"})
    assert status == 200
    assert not {"root", "mid", "leaf"} & await names(http)


async def test_orphan_keeps_dependents_without_the_reference(http: Any) -> None:
    _, root = await call(http, "POST", CM, configmap("root"))
    await call(http, "POST", CM, owned("kid", root))
    await call(http, "DELETE", f"{CM}/root", {"propagationPolicy": "Orphan"})
    _, kid = await call(http, "GET", f"{CM}/kid")
    assert "ownerReferences" not in kid["metadata"]


async def test_finalizers_hold_deletion_until_removed(http: Any) -> None:
    cm = configmap("held")
    cm["metadata"]["finalizers"] = ["example.com/hold"]
    await call(http, "POST", CM, cm)
    status, marked = await call(http, "DELETE", f"{CM}/held")
    assert status == 202 and marked["metadata"]["deletionTimestamp"]
    status, _ = await call(http, "GET", f"{CM}/held")
    assert status == 200
    status, _ = await call(http, "PATCH", f"{CM}/held", {"metadata": {"finalizers": None}},
                           content_type="application/merge-patch+json")
    assert status == 200
    status, _ = await call(http, "GET", f"{CM}/held")
    assert status == 404


async def test_foreground_deletes_dependents_first(http: Any) -> None:
    _, root = await call(http, "POST", CM, configmap("fg"))
    kid = owned("fgkid", root, block=True)
    kid["metadata"]["finalizers"] = ["example.com/hold"]
    await call(http, "POST", CM, kid)
    _, owner = await call(http, "DELETE", f"{CM}/fg", {"propagationPolicy": "Foreground"})
    assert "foregroundDeletion" in owner["metadata"]["finalizers"]
    assert {"fg", "fgkid"} <= await names(http)  # the dependent's finalizer blocks both
    await call(http, "PATCH", f"{CM}/fgkid", {"metadata": {"finalizers": None}},
               content_type="application/merge-patch+json")
    assert not {"fg", "fgkid"} & await names(http)


async def test_table_format_for_kubectl(http: Any) -> None:
    await call(http, "POST", CM, configmap("t", a="1", b="2"))
    accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
    async with http.get(f"{CM}/t", headers={"Accept": accept}) as resp:
        table = await resp.json()
    assert table["kind"] == "Table"
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Data", "Age"]
    assert table["rows"][0]["cells"][:2] == ["t", 2]


async def test_status_subresource_is_separate_from_spec(http: Any) -> None:
    path = "/apis/eventing.knative.dev/v1/namespaces/default/brokers"
    body = {"apiVersion": "eventing.knative.dev/v1", "kind": "Broker",
            "metadata": {"name": "s"}, "status": {"observedGeneration": 7}}
    _, created = await call(http, "POST", path, body)
    assert "status" not in created  # status is not taken on create
    created["status"] = {"observedGeneration": 1}
    _, updated = await call(http, "PUT", f"{path}/s/status", created)
    assert updated["status"] == {"observedGeneration": 1}
    assert updated["metadata"]["generation"] == created["metadata"]["generation"]
    updated["status"] = {"observedGeneration": 99}
    _, again = await call(http, "PUT", f"{path}/s", updated)  # main resource ignores status
    assert again["status"] == {"observedGeneration": 1}


async def test_a_dependent_created_after_its_owner_went_is_collected(http: Any) -> None:
    _, owner = await call(http, "POST", CM, configmap("gone-owner"))
    await call(http, "DELETE", f"{CM}/gone-owner")
    status, _ = await call(http, "POST", CM, owned("late-child", owner))
    assert status == 201
    assert "late-child" not in await names(http)
