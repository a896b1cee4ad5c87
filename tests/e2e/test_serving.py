"""Serving end to end: ``shoal up``, a Knative Service running as a process, the gateway."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from shoal.testing import ShoalProcess

pytestmark = pytest.mark.e2e

KSVC = "/apis/serving.knative.dev/v1/namespaces/default/services"
REVISIONS = "/apis/serving.knative.dev/v1/namespaces/default/revisions"

APP = """\
import os, signal, sys
from http.server import BaseHTTPRequestHandler, HTTPServer

class Hello(BaseHTTPRequestHandler):
    def do_GET(self):
        body = (f"Hello {os.environ.get('TARGET', 'World')} from "
                f"{os.environ['K_REVISION']} of {os.environ['K_SERVICE']}").encode()
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Hello).serve_forever()
"""


def service(app: Path, target: str) -> dict[str, Any]:
    return {"apiVersion": "serving.knative.dev/v1", "kind": "Service",
            "metadata": {"name": "greeter"},
            "spec": {"template": {"spec": {"containers": [{
                "command": [sys.executable, str(app)],
                "env": [{"name": "TARGET", "value": target}]}]}}}}


async def until(http: aiohttp.ClientSession, url: str, test: Any,
                timeout: float = 30) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout
    obj: dict[str, Any] = {}
    while asyncio.get_running_loop().time() < deadline:
        async with http.get(url) as resp:
            obj = await resp.json()
        if resp.status == 200 and test(obj):
            return obj
        await asyncio.sleep(0.05)
    raise AssertionError(f"never matched: {obj.get('status')}")


def ready(obj: dict[str, Any]) -> bool:
    status = obj.get("status") or {}
    return status.get("observedGeneration") == obj.get("metadata", {}).get("generation") and any(
        c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions") or [])


async def get_through_gateway(http: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    # the URL's host is NAME.NAMESPACE.localhost: send it to loopback with that Host header
    host_port = url.split("://", 1)[1]
    host, _, port = host_port.partition(":")
    async with http.get(f"http://127.0.0.1:{port}/", headers={"Host": host}) as resp:
        return resp.status, await resp.text()


async def test_service_runs_routes_updates_and_goes(tmp_path: Path) -> None:
    app = tmp_path / "app.py"
    app.write_text(APP)
    shoal = ShoalProcess(tmp_path / "data").start()
    try:
        async with aiohttp.ClientSession() as http:
            async with http.post(shoal.url + KSVC, data=json.dumps(service(app, "world")),
                                 headers={"Content-Type": "application/json"}) as resp:
                assert resp.status == 201, await resp.text()
            svc = await until(http, f"{shoal.url}{KSVC}/greeter", ready)
            url = svc["status"]["url"]
            assert url.startswith("http://greeter.default.localhost:")
            assert await get_through_gateway(http, url) == (
                200, "Hello world from greeter-00001 of greeter")
            revision = await until(http, f"{shoal.url}{REVISIONS}/greeter-00001", ready)
            assert revision["status"]["actualReplicas"] == 1

            async with http.patch(f"{shoal.url}{KSVC}/greeter", data=json.dumps(
                    {"spec": service(app, "shoal")["spec"]}),
                    headers={"Content-Type": "application/merge-patch+json"}) as resp:
                assert resp.status == 200
            await until(http, f"{shoal.url}{KSVC}/greeter", lambda o: ready(o) and o[
                "status"]["latestReadyRevisionName"] == "greeter-00002")
            status, body = await get_through_gateway(http, url)
            assert (status, body) == (200, "Hello shoal from greeter-00002 of greeter")

            status, _ = await get_through_gateway(
                http, url.replace("greeter.default", "nobody.default"))
            assert status == 404

            async with http.delete(f"{shoal.url}{KSVC}/greeter") as resp:
                assert resp.status in (200, 202)
            await until(http, f"{shoal.url}{REVISIONS}", lambda o: not o["items"])
            status, _ = await get_through_gateway(http, url)
            assert status == 404
    finally:
        shoal.stop()
    assert "Traceback" not in (tmp_path / "data" / "shoal.out").read_text()


async def test_a_crashing_app_reports_its_exit_code(tmp_path: Path) -> None:
    app = tmp_path / "crash.py"
    app.write_text("import sys\nsys.exit(3)\n")
    shoal = ShoalProcess(tmp_path / "data").start()
    try:
        async with aiohttp.ClientSession() as http:
            body = service(app, "x")
            async with http.post(shoal.url + KSVC, data=json.dumps(body),
                                 headers={"Content-Type": "application/json"}) as resp:
                assert resp.status == 201
            revision = await until(http, f"{shoal.url}{REVISIONS}/greeter-00001", lambda o: any(
                c["type"] == "ContainerHealthy" and c["status"] == "False"
                for c in (o.get("status") or {}).get("conditions") or []))
            cond = next(c for c in revision["status"]["conditions"]
                        if c["type"] == "ContainerHealthy")
            assert cond["reason"] == "ExitCode3"
    finally:
        shoal.stop()
