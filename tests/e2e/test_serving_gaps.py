"""More of Serving end to end through one ``shoal up``: domain mappings, splits, tags,
cluster-local addresses, pods and logs, what a delete and a restart leave behind.

One ``shoal up`` (process runtime) serves every test of this module; each test uses
Services of its own names. What ``test_serving`` covers already (deploy, update, delete, a
crash's exit code) is not repeated.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from tests.e2e.test_serving import APP, ready, until

from shoal.testing import ShoalProcess

pytestmark = pytest.mark.e2e

SERVING = "/apis/serving.knative.dev/v1/namespaces/default"
DOMAIN_MAPPINGS = "/apis/serving.knative.dev/v1beta1/namespaces/default/domainmappings"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("app") / "app.py"
    path.write_text(APP)
    return path


@pytest.fixture(scope="module")
def shoal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ShoalProcess]:
    proc = ShoalProcess(tmp_path_factory.mktemp("shoal") / "data").start()
    try:
        yield proc
    finally:
        proc.stop()
    assert "Traceback" not in proc.log.read_text()


def ksvc(name: str, app: Path, *, target: str = "world", labels: dict[str, str] | None = None,
         annotations: dict[str, str] | None = None,
         traffic: list[dict[str, Any]] | None = None,
         command: list[str] | None = None) -> dict[str, Any]:
    template: dict[str, Any] = {"spec": {"containers": [{
        "command": command or [sys.executable, str(app)],
        "env": [{"name": "TARGET", "value": target}]}]}}
    if annotations:
        template["metadata"] = {"annotations": annotations}
    body: dict[str, Any] = {"apiVersion": "serving.knative.dev/v1", "kind": "Service",
                            "metadata": {"name": name, "labels": labels or {}},
                            "spec": {"template": template}}
    if traffic is not None:
        body["spec"]["traffic"] = traffic
    return body


async def send(http: aiohttp.ClientSession, method: str, url: str, body: Any = None,
               content_type: str = "application/json") -> dict[str, Any]:
    data = None if body is None else json.dumps(body)
    async with http.request(method, url, data=data,
                            headers={"Content-Type": content_type}) as resp:
        text = await resp.text()
        assert resp.status < 300, f"{method} {url}: {resp.status} {text}"
        result: dict[str, Any] = json.loads(text)
        return result


def port_of(url: str) -> str:
    return url.rsplit(":", 1)[1].rstrip("/")


async def curl(*args: str) -> str:
    done = await asyncio.to_thread(subprocess.run, ["curl", "-sS", "--max-time", "10", *args],
                                   capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


async def test_a_domain_mapping_serves_its_host(shoal: ShoalProcess, app: Path) -> None:
    async with aiohttp.ClientSession() as http:
        await send(http, "POST", f"{shoal.url}{SERVING}/services", ksvc("mapped", app))
        svc = await until(http, f"{shoal.url}{SERVING}/services/mapped", ready)
        await send(http, "POST", shoal.url + DOMAIN_MAPPINGS, {
            "apiVersion": "serving.knative.dev/v1beta1", "kind": "DomainMapping",
            "metadata": {"name": "my.example.com"},
            "spec": {"ref": {"apiVersion": "serving.knative.dev/v1", "kind": "Service",
                             "name": "mapped"}}})
        dm = await until(http, f"{shoal.url}{DOMAIN_MAPPINGS}/my.example.com", ready)
        port = port_of(svc["status"]["url"])
        assert dm["status"]["url"] == f"http://my.example.com:{port}"
        body = await curl("-H", "Host: my.example.com", f"http://127.0.0.1:{port}/")
        assert body == "Hello world from mapped-00001 of mapped"


PRINTER = """\
import os, signal, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
print(f"started {os.environ['K_REVISION']}", flush=True)

class Hello(BaseHTTPRequestHandler):
    def do_GET(self):
        print(f"served {self.path}", flush=True)
        self.send_response(200)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass

HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Hello).serve_forever()
"""


def shoal_cli(shoal: ShoalProcess, *args: str) -> list[str]:
    return [sys.executable, "-m", "shoal", *args, "--server", shoal.url]


async def test_shoal_logs_prints_and_follows(shoal: ShoalProcess, tmp_path: Path) -> None:
    printer = tmp_path / "printer.py"
    printer.write_text(PRINTER)
    async with aiohttp.ClientSession() as http:
        await send(http, "POST", f"{shoal.url}{SERVING}/services",
                   ksvc("printer", printer, command=[sys.executable, str(printer)]))
        svc = await until(http, f"{shoal.url}{SERVING}/services/printer", ready)
    done = await asyncio.to_thread(subprocess.run, shoal_cli(shoal, "logs", "printer"),
                                   capture_output=True, text=True, timeout=60, check=False)
    assert (done.returncode, done.stdout) == (0, "started printer-00001\n"), done.stderr

    follower = await asyncio.create_subprocess_exec(
        *shoal_cli(shoal, "logs", "printer", "-f"), stdout=asyncio.subprocess.PIPE)
    try:
        assert follower.stdout is not None
        first = await asyncio.wait_for(follower.stdout.readline(), 30)
        assert first == b"started printer-00001\n"
        port = port_of(svc["status"]["url"])
        assert await curl("-H", "Host: printer.default.localhost",
                          f"http://127.0.0.1:{port}/hello") == "ok"
        assert await asyncio.wait_for(follower.stdout.readline(), 30) == b"served /hello\n"
    finally:
        follower.terminate()
        await asyncio.wait_for(follower.communicate(), 30)
