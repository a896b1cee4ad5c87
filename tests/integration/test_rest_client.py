"""RestClient against a real API server on loopback: CRUD, patches, watches, errors, tables."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest

from shoal.api.catalog import default_catalog
from shoal.api.errors import (
    AlreadyExists,
    BadRequest,
    Conflict,
    Gone,
    Invalid,
    NotFound,
    Unauthorized,
    UnsupportedMediaType,
)
from shoal.api.types import ResourceType
from shoal.apiserver.server import ApiServer
from shoal.client.base import WatchEvent
from shoal.client.rest import RestClient, ServerUnreachable


def kind(name: str) -> ResourceType:
    rt = default_catalog().resolve(name)
    assert rt is not None
    return rt


CM = kind("cm")
KSVC = kind("ksvc")


def configmap(name: str, namespace: str = "default", **data: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": data,
    }


def ksvc(name: str, image: str | None = "ghcr.io/example/hello:1") -> dict[str, Any]:
    container = {"image": image} if image else {}
    return {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"template": {"spec": {"containers": [container]}}},
    }


@pytest.fixture
async def client(api_server: Any) -> AsyncIterator[RestClient]:
    async with RestClient(api_server.url, api_server.token) as rest:
        yield rest


async def test_create_get_list_update_delete(client: RestClient) -> None:
    created = await client.create(CM, configmap("a", k="1"))
    assert created["metadata"]["uid"] and created["data"] == {"k": "1"}
    got = await client.get(CM, "a", "default")
    assert got["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]

    got["data"]["k"] = "2"
    updated = await client.update(CM, got)
    assert updated["data"] == {"k": "2"}

    listed = await client.list(CM, "default")
    assert "a" in {item["metadata"]["name"] for item in listed.items}
    assert int(listed.resource_version) >= int(updated["metadata"]["resourceVersion"])

    await client.delete(CM, "a", "default")
    with pytest.raises(NotFound) as err:
        await client.get(CM, "a", "default")
    assert err.value.message == 'configmaps "a" not found'


async def test_list_across_namespaces_and_by_label(client: RestClient) -> None:
    labelled = configmap("web")
    labelled["metadata"]["labels"] = {"app": "web"}
    await client.create(CM, labelled)
    await client.create(CM, configmap("other"))
    everywhere = await client.list(CM)
    namespaces = {item["metadata"]["namespace"] for item in everywhere.items}
    assert {"default", "knative-serving"} <= namespaces
    web = await client.list(CM, "default", label_selector="app=web")
    assert [item["metadata"]["name"] for item in web.items] == ["web"]
    named = await client.list(CM, "default", field_selector="metadata.name=other")
    assert [item["metadata"]["name"] for item in named.items] == ["other"]


async def test_patch_types(client: RestClient) -> None:
    await client.create(CM, configmap("p", a="1", b="2"))
    merged = await client.patch(CM, "p", "default", {"data": {"a": None, "c": "3"}})
    assert merged["data"] == {"b": "2", "c": "3"}
    json_patched = await client.patch(
        CM, "p", "default", [{"op": "replace", "path": "/data/b", "value": "20"}], "json"
    )
    assert json_patched["data"]["b"] == "20"
    strategic = await client.patch(CM, "p", "default", {"data": {"d": "4"}}, "strategic")
    assert strategic["data"] == {"b": "20", "c": "3", "d": "4"}

    await client.create(KSVC, ksvc("s"))
    with pytest.raises(UnsupportedMediaType):
        await client.patch(KSVC, "s", "default", {"spec": {}}, "strategic")


async def test_dry_run_does_not_store(client: RestClient) -> None:
    shown = await client.create(CM, configmap("dry", k="v"), dry_run=True)
    assert shown["metadata"]["name"] == "dry"
    with pytest.raises(NotFound):
        await client.get(CM, "dry", "default")
    await client.create(CM, configmap("dry", k="v"))
    patched = await client.patch(CM, "dry", "default", {"data": {"k": "w"}}, dry_run=True)
    assert patched["data"] == {"k": "w"}
    assert (await client.get(CM, "dry", "default"))["data"] == {"k": "v"}
    await client.delete(CM, "dry", "default", dry_run=True)
    assert await client.get(CM, "dry", "default")


async def test_update_status(client: RestClient) -> None:
    svc = await client.create(KSVC, ksvc("st"))
    svc["status"] = {"conditions": [{"type": "Ready", "status": "True"}]}
    written = await client.update_status(KSVC, svc)
    assert written["status"]["conditions"][0]["status"] == "True"
    assert (await client.get(KSVC, "st", "default"))["status"] == written["status"]


async def test_errors_are_mapped(client: RestClient) -> None:
    created = await client.create(CM, configmap("e"))
    with pytest.raises(AlreadyExists):
        await client.create(CM, configmap("e"))
    await client.patch(CM, "e", "default", {"data": {"x": "1"}})
    with pytest.raises(Conflict):
        await client.update(CM, created)  # stale resourceVersion
    with pytest.raises(Invalid) as invalid:
        await client.create(KSVC, ksvc("bad", image=None))
    assert "spec.template.spec.containers[0].image" in {c.field for c in invalid.value.causes}
    unknown = configmap("u")
    unknown["bogus"] = 1
    with pytest.raises(BadRequest):
        await client.create(CM, unknown, field_validation="Strict")


async def test_warnings_reach_the_handler(api_server: Any) -> None:
    seen: list[str] = []
    async with RestClient(api_server.url, on_warning=seen.append) as client:
        unknown = configmap("w")
        unknown["bogus"] = 1
        await client.create(CM, unknown, field_validation="Warn")
    assert seen and "bogus" in seen[0]


async def test_table_has_the_kinds_columns(client: RestClient) -> None:
    await client.create(CM, configmap("t", a="1", b="2"))
    table = await client.table(CM, "default")
    assert table["kind"] == "Table"
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Data", "Age"]
    row = next(r for r in table["rows"] if r["cells"][0] == "t")
    assert row["cells"][1] == 2
    assert row["object"]["metadata"]["namespace"] == "default"
    one = await client.table(CM, "default", "t")
    assert len(one["rows"]) == 1
    with pytest.raises(NotFound):
        await client.table(CM, "default", "missing")


async def next_events(stream: AsyncIterator[WatchEvent], count: int) -> list[WatchEvent]:
    out: list[WatchEvent] = []
    async with asyncio.timeout(10):
        async for event in stream:
            if event.type != "BOOKMARK":
                out.append(event)
            if len(out) == count:
                break
    return out


async def test_watch_from_a_resource_version(client: RestClient) -> None:
    first = await client.create(CM, configmap("w1"))
    rv = first["metadata"]["resourceVersion"]
    await client.create(CM, configmap("w2"))
    await client.patch(CM, "w2", "default", {"data": {"k": "v"}})
    await client.delete(CM, "w2", "default")
    stream = client.watch(CM, "default", resource_version=rv)
    events = await next_events(stream, 3)
    await stream.aclose()  # type: ignore[attr-defined]
    assert [(e.type, e.object["metadata"]["name"]) for e in events] == [
        ("ADDED", "w2"),
        ("MODIFIED", "w2"),
        ("DELETED", "w2"),
    ]


async def test_watch_follows_live_changes_of_any_size(client: RestClient) -> None:
    listed = await client.list(CM, "default")
    stream = client.watch(CM, "default", resource_version=listed.resource_version)
    big = "x" * 1_500_000  # one event line far larger than aiohttp's line limit

    async def write() -> None:
        await asyncio.sleep(0.1)
        await client.create(CM, configmap("big", blob=big))

    writer = asyncio.create_task(write())
    events = await next_events(stream, 1)
    await writer
    await stream.aclose()  # type: ignore[attr-defined]
    assert events[0].type == "ADDED" and events[0].object["data"]["blob"] == big


async def test_watch_with_selector_and_timeout_ends(client: RestClient) -> None:
    await client.create(CM, configmap("sel-a"))
    await client.create(CM, configmap("sel-b"))
    seen = [
        e.object["metadata"]["name"]
        async for e in client.watch(
            CM, "default", field_selector="metadata.name=sel-b", timeout_seconds=1
        )
        if e.type != "BOOKMARK"
    ]
    assert seen == ["sel-b"]


async def test_watch_past_the_log_raises_gone(client: RestClient) -> None:
    with pytest.raises(Gone):
        async for _ in client.watch(CM, "default", resource_version="not-a-version"):
            pass


async def test_bearer_token_is_sent(api_server: Any) -> None:
    server = ApiServer(api_server.registry, "127.0.0.1", 0, token="s3cret")
    await server.start()
    try:
        async with RestClient(server.url, "s3cret") as client:
            assert (await client.list(CM, "default")).items is not None
        async with RestClient(server.url, "wrong") as client:
            with pytest.raises(Unauthorized):
                await client.list(CM, "default")
    finally:
        await server.stop()


async def test_unreachable_server() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with RestClient(f"http://127.0.0.1:{port}") as client:
        with pytest.raises(ServerUnreachable) as err:
            await client.get(CM, "x", "default")
    assert "was refused" in str(err.value)
