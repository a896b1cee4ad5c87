"""Autoscaling end to end: ``shoal up`` scaling Knative Services on load, to zero and back.

The windows are Knative's shortest (a 6 s stable window by annotation, a 1 s scale-to-zero
grace period in config-autoscaler) and the autoscaler decides every 0.5 s, so each test
takes seconds, not minutes. Every load loop is bounded in count and time.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from tests.e2e.test_podman_runtime import image  # noqa: F401 - the podman image fixture
from tests.e2e.test_serving import KSVC, REVISIONS, ready, until

from shoal.testing import SAMPLE_APP, ShoalProcess

pytestmark = pytest.mark.e2e

CONFIG_AUTOSCALER = "/api/v1/namespaces/knative-serving/configmaps/config-autoscaler"


def ksvc(name: str, container: dict[str, Any], annotations: dict[str, str],
         **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "serving.knative.dev/v1", "kind": "Service",
            "metadata": {"name": name},
            "spec": {"template": {
                "metadata": {"annotations": {"autoscaling.knative.dev/window": "6s",
                                             **annotations}},
                "spec": {"containers": [container], **spec}}}}


class Cluster:
    def __init__(self, shoal: ShoalProcess, http: aiohttp.ClientSession, app: Path) -> None:
        self.shoal = shoal
        self.http = http
        self.app = app

    def process(self) -> dict[str, Any]:
        return {"command": [sys.executable, str(self.app)]}

    async def create(self, obj: dict[str, Any]) -> str:
        """Create a Service, wait until it is Ready; its URL."""
        async with self.http.post(self.shoal.url + KSVC, data=json.dumps(obj),
                                  headers={"Content-Type": "application/json"}) as resp:
            assert resp.status == 201, await resp.text()
        name = obj["metadata"]["name"]
        svc = await until(self.http, f"{self.shoal.url}{KSVC}/{name}", ready, timeout=90)
        return str(svc["status"]["url"])

    async def revision(self, name: str) -> dict[str, Any]:
        async with self.http.get(f"{self.shoal.url}{REVISIONS}/{name}") as resp:
            return dict(await resp.json())

    async def wait_revision(self, name: str, test: Any, timeout: float = 60) -> dict[str, Any]:
        return await until(self.http, f"{self.shoal.url}{REVISIONS}/{name}", test,
                           timeout=timeout)

    async def get(self, url: str, path: str = "/",
                  timeout: float = 30) -> tuple[int, str]:
        host_port = url.split("://", 1)[1]
        host, _, port = host_port.partition(":")
        async with self.http.get(f"http://127.0.0.1:{port}{path}", headers={"Host": host},
                                 timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
            return resp.status, await resp.text()


def active(revision: dict[str, Any]) -> dict[str, Any]:
    return next((c for c in revision.get("status", {}).get("conditions") or []
                 if c["type"] == "Active"), {})


def replicas(revision: dict[str, Any]) -> int:
    return int(revision.get("status", {}).get("actualReplicas") or 0)


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    app = tmp_path / "app.py"
    app.write_text(SAMPLE_APP)
    shoal = ShoalProcess(tmp_path / "data", "--autoscaler-tick", "0.5").start()
    try:
        async with aiohttp.ClientSession() as http:
            async with http.patch(
                    shoal.url + CONFIG_AUTOSCALER,
                    data=json.dumps({"data": {"scale-to-zero-grace-period": "1s"}}),
                    headers={"Content-Type": "application/merge-patch+json"}) as resp:
                assert resp.status == 200, await resp.text()
            yield Cluster(shoal, http, app)
    finally:
        shoal.stop()
    log = (tmp_path / "data" / "shoal.out").read_text()
    assert "Traceback" not in log, log[-3000:]


async def scale_to_zero_and_back(cluster: Cluster, url: str, revision: str) -> None:
    status, _ = await cluster.get(url)
    assert status == 200
    idle = await cluster.wait_revision(revision, lambda r: replicas(r) == 0 and active(
        r).get("status") == "False", timeout=60)
    assert active(idle)["reason"] == "NoTraffic"
    assert idle["status"]["desiredReplicas"] == 0

    # the next request is held by the activator while an instance starts
    status, _ = await cluster.get(url)
    assert status == 200
    back = await cluster.wait_revision(revision, lambda r: active(r).get("status") == "True")
    assert replicas(back) == 1


def describe(cluster: Cluster, name: str) -> str:
    done = subprocess.run([sys.executable, "-m", "shoal", "--data-dir",
                           str(cluster.shoal.data_dir), "service", "describe", name],
                          capture_output=True, text=True, timeout=60, check=True)
    return done.stdout


async def test_scale_to_zero_and_cold_start_with_processes(cluster: Cluster) -> None:
    url = await cluster.create(ksvc("idle", cluster.process(), {}))
    status, _ = await cluster.get(url)
    assert status == 200
    await cluster.wait_revision("idle-00001", lambda r: replicas(r) == 0)
    text = await asyncio.to_thread(describe, cluster, "idle")
    assert re.search(r"Replicas:\s+0/0", text), text
    assert re.search(r"Active:\s+False \(NoTraffic\)", text), text
    assert "Scaled from 1 to 0 instances after no traffic" in text, text
    await scale_to_zero_and_back(cluster, url, "idle-00001")
    text = await asyncio.to_thread(describe, cluster, "idle")
    assert re.search(r"Replicas:\s+1/1", text), text
    assert "Scaled from 0 to 1 instances to answer a request" in text, text
    async with cluster.http.get(cluster.shoal.metrics_url) as resp:
        text = await resp.text()
    assert 'autoscaler_actual_pods{namespace_name="default",revision_name="idle-00001"} 1' in text
    assert ('revision_request_count{namespace_name="default",revision_name="idle-00001",'
            'response_code="200",response_code_class="2xx"} 3') in text


async def test_scale_to_zero_and_cold_start_with_podman(cluster: Cluster,
                                                        image: str) -> None:  # noqa: F811
    url = await cluster.create(ksvc("boxed", {"image": image}, {}))
    await scale_to_zero_and_back(cluster, url, "boxed-00001")


async def load(cluster: Cluster, url: str, clients: int, stop: asyncio.Event,
               path: str = "/?sleep=0.3", limit: int = 2000) -> Counter[str]:
    """``clients`` loops of requests until ``stop`` (or ``limit`` requests in all);
    counts answers by status and pid."""
    seen: Counter[str] = Counter()

    async def client() -> None:
        while not stop.is_set() and sum(seen.values()) < limit:
            status, body = await cluster.get(url, path)
            seen[f"{status}:{body}" if status == 200 else str(status)] += 1

    await asyncio.gather(*(client() for _ in range(clients)))
    return seen


async def test_concurrency_limit_scales_out_to_the_load_and_back(cluster: Cluster) -> None:
    url = await cluster.create(ksvc("busy", cluster.process(), {
        "autoscaling.knative.dev/target-utilization-percentage": "100",
        "autoscaling.knative.dev/min-scale": "1",
        "autoscaling.knative.dev/max-scale": "3"}, containerConcurrency=1))
    stop = asyncio.Event()
    heavy = asyncio.create_task(load(cluster, url, 5, stop))
    peak = await cluster.wait_revision("busy-00001", lambda r: replicas(r) >= 3, timeout=60)
    assert peak["status"]["desiredReplicas"] == 3  # max-scale caps the wish for 5
    stop.set()
    answers = await heavy
    assert set(a.split(":")[0] for a in answers) == {"200"}, answers
    assert len({a for a in answers if a.startswith("200:")}) <= 3  # never more than 3 pids

    # a steady trickle while it scales in: scaling in drops no request
    stop = asyncio.Event()
    trickle = asyncio.create_task(load(cluster, url, 1, stop, path="/?sleep=0.05"))
    settled = await cluster.wait_revision("busy-00001", lambda r: replicas(r) == 1 and r[
        "status"]["desiredReplicas"] == 1, timeout=60)
    assert replicas(settled) == 1
    stop.set()
    calm = await trickle
    assert set(a.split(":")[0] for a in calm) == {"200"}, calm


async def test_a_full_queue_is_503(cluster: Cluster) -> None:
    # one instance that takes one request at a time, the activator out of the path:
    # one request in flight and ten queued at the instance, the twelfth refused
    url = await cluster.create(ksvc("narrow", cluster.process(), {
        "autoscaling.knative.dev/min-scale": "1",
        "autoscaling.knative.dev/max-scale": "1",
        "autoscaling.knative.dev/target-burst-capacity": "0"}, containerConcurrency=1))
    results = await asyncio.gather(*(cluster.get(url, "/?sleep=0.4") for _ in range(12)))
    statuses = Counter(status for status, _ in results)
    assert statuses == {200: 11, 503: 1}, statuses
    assert ("503", "pending request queue full\n") in {(str(s), b) for s, b in results}


async def test_each_timeout_is_504_or_cuts_the_stream(cluster: Cluster) -> None:
    whole = await cluster.create(ksvc("whole", cluster.process(), {}, timeoutSeconds=1))
    assert await cluster.get(whole, "/?sleep=2") == (504, "request timeout\n")
    assert (await cluster.get(whole, "/?sleep=0.1"))[0] == 200

    first = await cluster.create(ksvc("first", cluster.process(), {}, timeoutSeconds=10,
                                      responseStartTimeoutSeconds=1))
    assert await cluster.get(first, "/?sleep=2") == (504, "request timeout\n")
    status, body = await cluster.get(first, "/?stream=5")  # starts at once, lasts 1.2 s
    assert (status, body) == (200, "0\n1\n2\n3\n4\n")

    idle = await cluster.create(ksvc("idle", cluster.process(), {}, timeoutSeconds=10,
                                     idleTimeoutSeconds=1))
    assert (await cluster.get(idle, "/?stream=5"))[0] == 200  # a write every 0.3 s
    with pytest.raises(aiohttp.ClientPayloadError):  # headers went out: the stream is cut
        await cluster.get(idle, "/?stream=3&pause=2")


async def test_an_edit_of_config_autoscaler_reaches_running_revisions(cluster: Cluster) -> None:
    await cluster.create(ksvc("edited", cluster.process(), {}))
    async with cluster.http.patch(
            cluster.shoal.url + CONFIG_AUTOSCALER, data=json.dumps({"data": {"min-scale": "2"}}),
            headers={"Content-Type": "application/merge-patch+json"}) as resp:
        assert resp.status == 200
    grown = await cluster.wait_revision("edited-00001", lambda r: replicas(r) == 2)
    assert grown["status"]["desiredReplicas"] == 2
