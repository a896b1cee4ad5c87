"""``GET /logs/NS/REVISION`` over real processes: the process runtime plugged into the API
server as its log source."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from shoal.api.catalog import default_catalog
from shoal.apiserver.server import ApiServer
from shoal.client.inprocess import InProcessClient
from shoal.runtime import Instance, InstanceSpec, InstanceState, ProcessRuntime
from shoal.runtime.logsource import RuntimeLogs

REVISIONS = default_catalog().require("revisions")
APP = """\
import os, signal, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
for n in range(3):
    print(f"line {n} of {os.environ['K_REVISION']}", flush=True)

class Echo(BaseHTTPRequestHandler):
    def do_GET(self):
        print(f"asked for {self.path}", flush=True)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass

HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Echo).serve_forever()
"""


class World:
    def __init__(self, server: ApiServer, runtime: ProcessRuntime, app: Path) -> None:
        self.server = server
        self.runtime = runtime
        self.app = app

    async def start(self) -> Instance:
        instance = await self.runtime.start(InstanceSpec(
            revision="default/hello-00001", namespace="default", service="hello",
            configuration="hello", container={"command": [sys.executable, str(self.app)]},
            env={}))
        for _ in range(500):
            if self.runtime.list(instance.revision)[-1].state is InstanceState.READY:
                return instance
            await asyncio.sleep(0.02)
        raise AssertionError("the instance never got ready")


@pytest.fixture
async def world(api_server: Any, tmp_path: Path) -> AsyncIterator[World]:
    app = tmp_path / "app.py"
    app.write_text(APP)
    await InProcessClient(api_server.registry).create(REVISIONS, {
        "apiVersion": "serving.knative.dev/v1", "kind": "Revision",
        "metadata": {"name": "hello-00001", "namespace": "default"},
        "spec": {"containers": [{"command": [sys.executable, str(app)]}]}})
    runtime = ProcessRuntime(tmp_path / "state")
    server = ApiServer(api_server.registry, "127.0.0.1", 0)
    server.logs.register(RuntimeLogs({runtime.name: runtime}))
    await server.start()
    try:
        yield World(server, runtime, app)
    finally:
        await runtime.close(grace=2)
        await server.stop()


async def get_text(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        return resp.status, await resp.text()


async def test_logs_of_one_and_of_several_instances(world: World) -> None:
    url = f"{world.server.url}/logs/default/hello-00001"
    assert await get_text(url) == (200, "")  # no instance yet
    first = await world.start()
    status, text = await get_text(url)
    assert status == 200
    assert text == "line 0 of hello-00001\nline 1 of hello-00001\nline 2 of hello-00001\n"
    assert await get_text(url + "?tailLines=1") == (200, "line 2 of hello-00001\n")
    second = await world.start()
    status, text = await get_text(url + "?tailLines=1")
    assert status == 200
    assert text.splitlines() == [f"[{first.id}] line 2 of hello-00001",
                                 f"[{second.id}] line 2 of hello-00001"]
    status, text = await get_text(url + "?tailLines=many")
    assert status == 400 and "tailLines" in text


async def test_follow_streams_new_lines_until_the_client_goes(world: World) -> None:
    instance = await world.start()
    url = f"{world.server.url}/logs/default/hello-00001?follow=true&tailLines=0"
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        async with http.get(f"http://{instance.address}/ping") as app:
            assert app.status == 204
        line = await asyncio.wait_for(resp.content.readline(), 10)
        assert line == b"asked for /ping\n"


async def test_follow_ends_when_the_instances_stop(world: World) -> None:
    instance = await world.start()
    url = f"{world.server.url}/logs/default/hello-00001?follow=true"
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        assert (await resp.content.readline()) == b"line 0 of hello-00001\n"
        await world.runtime.stop(instance.id, grace=2)
        rest = await asyncio.wait_for(resp.text(), 10)
        assert rest.startswith("line 1 of hello-00001\n")


async def test_a_missing_revision_is_a_404_naming_it(world: World) -> None:
    async with aiohttp.ClientSession() as http, http.get(
            f"{world.server.url}/logs/default/nobody") as resp:
        body = await resp.json()
    assert resp.status == 404
    assert body["kind"] == "Status" and body["details"]["name"] == "nobody"
