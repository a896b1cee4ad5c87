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
    listed = await asyncio.to_thread(subprocess.run, shoal_cli(shoal, "domain", "list"),
                                     capture_output=True, text=True, timeout=60, check=True)
    assert listed.stdout.splitlines()[1].split() == [
        "my.example.com", f"http://my.example.com:{port}", "True", "mapped"]
    described = await asyncio.to_thread(
        subprocess.run, shoal_cli(shoal, "domain", "describe", "my.example.com"),
        capture_output=True, text=True, timeout=60, check=True)
    for condition_type in ("DomainClaimed", "ReferenceResolved", "CertificateProvisioned",
                           "IngressReady"):
        assert condition_type in described.stdout


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


async def gateway_get(http: aiohttp.ClientSession, port: str, host: str,
                      headers: dict[str, str] | None = None) -> tuple[int, str]:
    async with http.get(f"http://127.0.0.1:{port}/",
                        headers={"Host": host, **(headers or {})}) as resp:
        return resp.status, await resp.text()


async def test_split_tags_and_the_tag_header(shoal: ShoalProcess, app: Path) -> None:
    async with aiohttp.ClientSession() as http:
        features = "/api/v1/namespaces/knative-serving/configmaps/config-features"
        await send(http, "PATCH", shoal.url + features,
                   {"data": {"tag-header-based-routing": "enabled"}},
                   "application/merge-patch+json")
        services = f"{shoal.url}{SERVING}/services"
        await send(http, "POST", services, ksvc("split", app, target="one"))
        await until(http, f"{services}/split", ready)
        await send(http, "PATCH", f"{services}/split", {"spec": ksvc(
            "split", app, target="two", traffic=[
                {"revisionName": "split-00001", "percent": 80, "tag": "old"},
                {"latestRevision": True, "percent": 20, "tag": "new"}])["spec"]},
            "application/merge-patch+json")
        svc = await until(http, f"{services}/split", lambda o: ready(o) and o["status"][
            "latestReadyRevisionName"] == "split-00002")
        port = port_of(svc["status"]["url"])
        assert {t["tag"]: t["url"] for t in svc["status"]["traffic"]} == {
            "old": f"http://old-split.default.localhost:{port}",
            "new": f"http://new-split.default.localhost:{port}"}

        counts = {"split-00001": 0, "split-00002": 0}
        for _ in range(1000):
            status, body = await gateway_get(http, port, "split.default.localhost")
            assert status == 200
            counts[body.split(" from ")[1].split()[0]] += 1
        assert 750 <= counts["split-00001"] <= 850, counts

        for tag, revision in (("old", "split-00001"), ("new", "split-00002")):
            for _ in range(20):
                status, body = await gateway_get(http, port, f"{tag}-split.default.localhost")
                assert (status, revision in body) == (200, True)
                status, body = await gateway_get(http, port, "split.default.localhost",
                                                 {"Knative-Serving-Tag": tag})
                assert (status, revision in body) == (200, True)


async def test_cluster_local_is_served_only_at_its_local_address(shoal: ShoalProcess,
                                                                 app: Path) -> None:
    async with aiohttp.ClientSession() as http:
        services = f"{shoal.url}{SERVING}/services"
        await send(http, "POST", services, ksvc("private", app, labels={
            "networking.knative.dev/visibility": "cluster-local"}))
        svc = await until(http, f"{services}/private", ready)
        port = port_of(svc["status"]["url"])
        local = f"http://private.default.svc.localhost:{port}"
        assert svc["status"]["url"] == local
        assert svc["status"]["address"]["url"] == local
        assert (await gateway_get(http, port, "private.default.localhost"))[0] == 404
        # curl resolves *.localhost to this machine by itself: no DNS, no Host header
        assert await curl(local + "/") == "Hello world from private-00001 of private"
        assert (await gateway_get(http, port, "private.default.svc.cluster.local"))[0] == 200

        # a public Service has the same local address beside its external URL
        await send(http, "POST", services, ksvc("public", app))
        svc = await until(http, f"{services}/public", ready)
        assert svc["status"]["url"] == f"http://public.default.localhost:{port}"
        assert svc["status"]["address"]["url"] == f"http://public.default.svc.localhost:{port}"
        assert await curl(svc["status"]["address"]["url"] + "/") == (
            "Hello world from public-00001 of public")


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(c for c in (obj.get("status") or {}).get("conditions") or []
                if c["type"] == kind)


def has_condition(kind: str, status: str) -> Any:
    return lambda o: any(c["type"] == kind and c["status"] == status
                         for c in (o.get("status") or {}).get("conditions") or [])


async def test_a_crashing_app_recovers_with_a_fixed_revision(shoal: ShoalProcess, app: Path,
                                                             tmp_path: Path) -> None:
    crash = tmp_path / "crash.py"
    crash.write_text("import sys\nprint('no luck', flush=True)\nsys.exit(7)\n")
    async with aiohttp.ClientSession() as http:
        services = f"{shoal.url}{SERVING}/services"
        await send(http, "POST", services, ksvc("phoenix", crash))
        revision = await until(http, f"{shoal.url}{SERVING}/revisions/phoenix-00001",
                               has_condition("ContainerHealthy", "False"))
        assert condition(revision, "ContainerHealthy")["reason"] == "ExitCode7"
        config = await until(http, f"{shoal.url}{SERVING}/configurations/phoenix",
                             has_condition("Ready", "False"))
        assert condition(config, "Ready")["reason"] == "RevisionFailed"
        await until(http, f"{services}/phoenix", has_condition("Ready", "False"))

        await send(http, "PATCH", f"{services}/phoenix", {"spec": ksvc("phoenix", app)["spec"]},
                   "application/merge-patch+json")
        svc = await until(http, f"{services}/phoenix", lambda o: ready(o) and o["status"][
            "latestReadyRevisionName"] == "phoenix-00002")
        port = port_of(svc["status"]["url"])
        assert await gateway_get(http, port, "phoenix.default.localhost") == (
            200, "Hello world from phoenix-00002 of phoenix")


async def test_a_port_that_never_opens_exceeds_the_progress_deadline(
        shoal: ShoalProcess, tmp_path: Path) -> None:
    mute = tmp_path / "mute.py"
    mute.write_text("import time\nwhile True:\n    time.sleep(1)\n")
    async with aiohttp.ClientSession() as http:
        await send(http, "POST", f"{shoal.url}{SERVING}/services", ksvc(
            "mute", mute, annotations={"serving.knative.dev/progress-deadline": "2s"}))
        revision = await until(http, f"{shoal.url}{SERVING}/revisions/mute-00001",
                               has_condition("ResourcesAvailable", "False"))
        assert condition(revision, "ResourcesAvailable")["reason"] == "ProgressDeadlineExceeded"
        assert condition(revision, "Ready")["status"] == "False"


def processes_running(path: Path) -> list[int]:
    """Pids of the processes whose command line names ``path``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if str(path).encode() in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


async def until_no_process(path: Path) -> list[int]:
    for _ in range(300):
        left = processes_running(path)
        if not left:
            return left
        await asyncio.sleep(0.05)
    return processes_running(path)


async def test_delete_stops_every_instance(shoal: ShoalProcess, tmp_path: Path) -> None:
    app = tmp_path / "doomed.py"
    app.write_text(APP)
    async with aiohttp.ClientSession() as http:
        services = f"{shoal.url}{SERVING}/services"
        await send(http, "POST", services, ksvc("doomed", app, annotations={
            "autoscaling.knative.dev/initial-scale": "2",
            "autoscaling.knative.dev/min-scale": "2"}))
        await until(http, f"{services}/doomed", ready)
        assert len(processes_running(app)) == 2
        async with http.delete(f"{services}/doomed") as resp:
            assert resp.status in (200, 202)
        await until(http, f"{shoal.url}{SERVING}/revisions", lambda o: not any(
            r["metadata"]["name"].startswith("doomed-") for r in o["items"]))
    assert await until_no_process(app) == []


async def test_a_restart_serves_again_with_nothing_leaked(tmp_path: Path) -> None:
    app = tmp_path / "again.py"
    app.write_text(APP)
    data = tmp_path / "data"
    first = ShoalProcess(data).start()
    try:
        async with aiohttp.ClientSession() as http:
            await send(http, "POST", f"{first.url}{SERVING}/services", ksvc("again", app))
            svc = await until(http, f"{first.url}{SERVING}/services/again", ready)
            old_port = port_of(svc["status"]["url"])
    finally:
        first.stop()
    assert await until_no_process(app) == []
    second = ShoalProcess(data).start()
    try:
        async with aiohttp.ClientSession() as http:
            svc = await until(http, f"{second.url}{SERVING}/services/again", lambda o: ready(
                o) and port_of(o["status"]["url"]) != old_port)  # the new gateway's port
            port = port_of(svc["status"]["url"])
            for _ in range(100):
                status, body = await gateway_get(http, port, "again.default.localhost")
                if status == 200:
                    break
                await asyncio.sleep(0.1)
            assert (status, body) == (200, "Hello world from again-00001 of again")
            assert len(processes_running(app)) == 1
    finally:
        second.stop()
    assert await until_no_process(app) == []
    assert "Traceback" not in (data / "shoal.out").read_text()
