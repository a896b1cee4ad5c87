"""Autoscaling figures: cold start from zero, and the reaction to a step of load.

Run: ``.venv/bin/python bench/autoscaling_bench.py [--trials 5] [--clients 6]``.

- Cold start: a Service created at initial scale 0 (``allow-zero-initial-scale``) gets its
  first request; the time to its answer through the gateway (the activator holds it, pokes
  the autoscaler, an instance starts, the request is forwarded) is printed against the
  runtime's own start-to-ready time of the same app measured in the same run (the
  ``ProcessRuntime``/``ContainerRuntime`` starting it directly) and the app's own start
  (spawned by hand, polled every 2 ms). For the process runtime the app is a small Python
  HTTP server; for podman, busybox httpd in an image imported from Debian's busybox-static
  (skipped, with the reason, when podman or the static busybox is missing).
- Scale-up reaction: ``--clients`` concurrent clients start at once against a revision with
  containerConcurrency 1 at one instance; the time until that many instances are ready is
  printed against the app's own start.

Everything runs on 127.0.0.1 through a real ``shoal up``; every wait is bounded. Nothing is
asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from shoal.runtime import ContainerRuntime, InstanceSpec, InstanceState, ProcessRuntime
from shoal.runtime.base import Runtime
from shoal.testing import SAMPLE_APP, ShoalProcess

KSVC = "/apis/serving.knative.dev/v1/namespaces/default/services"
REVISIONS = "/apis/serving.knative.dev/v1/namespaces/default/revisions"
CONFIG_AUTOSCALER = "/api/v1/namespaces/knative-serving/configmaps/config-autoscaler"



def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            return sock.recv(12).startswith(b"HTTP/1.")
    except OSError:
        return False


def own_start(argv: list[str], env: dict[str, str], port: int) -> float:
    """Spawn the app by hand; seconds until it answers an HTTP request."""
    began = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = began + 30
        while time.perf_counter() < deadline:
            if answers(port):
                return time.perf_counter() - began
            time.sleep(0.002)
        raise RuntimeError("the app never answered")
    finally:
        proc.terminate()
        proc.wait(10)


async def runtime_start(runtime: Runtime, container: dict[str, Any]) -> float:
    """The runtime's own start-to-ready time of one instance."""
    ready = asyncio.Event()
    unsubscribe = runtime.subscribe(
        lambda instance: ready.set() if instance.state is InstanceState.READY else None)
    began = time.perf_counter()
    instance = await runtime.start(InstanceSpec(
        revision="bench/app-00001", namespace="bench", service="app", configuration="app",
        container=container, env={}))
    try:
        await asyncio.wait_for(ready.wait(), 60)
        return time.perf_counter() - began
    finally:
        unsubscribe()
        await runtime.stop(instance.id, grace=2)


def service(name: str, container: dict[str, Any], annotations: dict[str, str],
            **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "serving.knative.dev/v1", "kind": "Service",
            "metadata": {"name": name},
            "spec": {"template": {"metadata": {"annotations": annotations},
                                  "spec": {"containers": [container], **spec}}}}


class Shoal:
    def __init__(self, shoal: ShoalProcess, http: aiohttp.ClientSession) -> None:
        self.shoal = shoal
        self.http = http

    async def until(self, path: str, test: Callable[[dict[str, Any]], bool],
                    timeout: float = 120, every: float = 0.02) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        obj: dict[str, Any] = {}
        while time.monotonic() < deadline:
            async with self.http.get(self.shoal.url + path) as resp:
                obj = await resp.json()
            if resp.status == 200 and test(obj):
                return obj
            await asyncio.sleep(every)
        raise RuntimeError(f"{path} never got there: {obj.get('status')}")

    async def create(self, obj: dict[str, Any]) -> str:
        async with self.http.post(self.shoal.url + KSVC, data=json.dumps(obj),
                                  headers={"Content-Type": "application/json"}) as resp:
            if resp.status != 201:
                raise RuntimeError(await resp.text())
        svc = await self.until(f"{KSVC}/{obj['metadata']['name']}", _ready)
        return str(svc["status"]["url"])

    async def delete(self, name: str) -> None:
        async with self.http.delete(f"{self.shoal.url}{KSVC}/{name}"):
            pass

    async def get(self, url: str, path: str = "/") -> str:
        host, _, port = url.split("://", 1)[1].partition(":")
        async with self.http.get(f"http://127.0.0.1:{port}{path}", headers={"Host": host},
                                 timeout=aiohttp.ClientTimeout(total=120)) as resp:
            if resp.status != 200:
                raise RuntimeError(f"{resp.status}: {await resp.text()}")
            return await resp.text()


def _ready(obj: dict[str, Any]) -> bool:
    status = obj.get("status") or {}
    return any(c["type"] == "Ready" and c["status"] == "True"
               for c in status.get("conditions") or [])


async def cold_starts(shoal: Shoal, label: str, container: dict[str, Any],
                      trials: int) -> list[float]:
    """Every Service is created (at zero, so nothing runs) before the first request, and
    deleted after the last: the runtime is not busy with another trial's instance then."""
    names = [f"cold-{label}-{n}" for n in range(trials)]
    urls = [await shoal.create(service(name, container, {
        "autoscaling.knative.dev/initial-scale": "0"})) for name in names]
    times = []
    for url in urls:
        began = time.perf_counter()
        await shoal.get(url)
        times.append(time.perf_counter() - began)
    for name in names:
        await shoal.delete(name)
    for name in names:
        await shoal.until(f"{REVISIONS}?labelSelector=serving.knative.dev/service={name}",
                          lambda listed: not listed.get("items"))
    return times


async def scale_up(shoal: Shoal, container: dict[str, Any], clients: int) -> float:
    # utilisation 80 %: the gaps between a client's requests do not leave it one short
    url = await shoal.create(service("step", container, {
        "autoscaling.knative.dev/target-utilization-percentage": "80",
        "autoscaling.knative.dev/window": "6s",
        "autoscaling.knative.dev/max-scale": str(clients)}, containerConcurrency=1))
    stop = asyncio.Event()

    async def client() -> None:
        for _ in range(1000):
            if stop.is_set():
                return
            await shoal.get(url, "/?sleep=0.5")

    began = time.perf_counter()
    load = [asyncio.create_task(client()) for _ in range(clients)]
    try:
        await shoal.until(f"{REVISIONS}/step-00001", lambda r: int(
            (r.get("status") or {}).get("actualReplicas") or 0) >= clients, timeout=120,
            every=0.01)
        return time.perf_counter() - began
    finally:
        stop.set()
        await asyncio.gather(*load, return_exceptions=True)
        await shoal.delete("step")


def summary(times: list[float]) -> str:
    ms = sorted(t * 1e3 for t in times)
    return f"median {statistics.median(ms):7.1f} ms  (min {ms[0]:.1f}, max {ms[-1]:.1f})"


def podman_image() -> str | None:
    if shutil.which("podman") is None:
        print("podman: not installed, skipped")
        return None
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.e2e.test_podman_runtime import BUSYBOX, CMD, is_static, rootfs_tar
    if not BUSYBOX.exists() or not is_static(BUSYBOX):
        print("podman: no static busybox for the image, skipped")
        return None
    name = "localhost/shoal-bench-httpd:1"
    subprocess.run(["podman", "import", "--change", f"CMD {json.dumps(CMD)}", "-", name],
                   input=rootfs_tar(), capture_output=True, check=True, timeout=120)
    return name


async def measure(args: argparse.Namespace, root: Path, app: Path, image: str | None,
                  own: list[float]) -> None:
    process_container = {"command": [sys.executable, str(app)]}
    baselines: dict[str, list[float]] = {}
    runtime = ProcessRuntime(root / "rt-process")
    baselines["process"] = [await runtime_start(runtime, process_container)
                            for _ in range(args.trials)]
    await runtime.close()
    if image is not None:
        containers = ContainerRuntime("podman", root / "rt-podman", pull="never")
        baselines["podman"] = [await runtime_start(containers, {"image": image})
                               for _ in range(args.trials)]
        await containers.close(grace=2)

    shoal_process = ShoalProcess(root / "data", "--autoscaler-tick", "2").start(60)
    try:
        async with aiohttp.ClientSession() as http:
            async with http.patch(
                    shoal_process.url + CONFIG_AUTOSCALER,
                    data=json.dumps({"data": {"allow-zero-initial-scale": "true"}}),
                    headers={"Content-Type": "application/merge-patch+json"}):
                pass
            shoal = Shoal(shoal_process, http)
            print(f"cores: {os.cpu_count()}; {args.trials} trials each\n")
            print("cold start (first request at zero -> its answer, through the gateway)")
            runs: list[tuple[str, dict[str, Any]]] = [("process", process_container)]
            if image is not None:
                runs.append(("podman", {"image": image}))
            for label, container in runs:
                cold = await cold_starts(shoal, label, container, args.trials)
                started = baselines[label]
                print(f"  {label:<8} cold start    {summary(cold)}")
                print(f"  {label:<8} runtime start {summary(started)}")
                if label == "process":
                    print(f"  {label:<8} app's own     {summary(own)}")
                extra = statistics.median(cold) - statistics.median(started)
                print(f"  {label:<8} cold start - runtime start: {extra * 1e3:+.1f} ms "
                      f"(x{statistics.median(cold) / statistics.median(started):.2f})")
            print(f"\nscale-up reaction ({args.clients} clients at once, "
                  f"containerConcurrency 1, 0.5 s requests)")
            reaction = await scale_up(shoal, process_container, args.clients)
            print(f"  until {args.clients} instances are ready: {reaction * 1e3:.0f} ms "
                  f"(app's own start {statistics.median(own) * 1e3:.0f} ms; "
                  f"goal <= 2 s + that)")
    finally:
        shoal_process.stop()


def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="autoscaling-bench-") as tmp:
        root = Path(tmp)
        app = root / "app.py"
        app.write_text(SAMPLE_APP)
        port = free_port()
        env = {**os.environ, "PORT": str(port)}
        own = [own_start([sys.executable, str(app)], env, port) for _ in range(args.trials)]
        image = podman_image() if not args.no_podman else None
        try:
            asyncio.run(measure(args, root, app, image, own))
        finally:
            if image is not None:
                subprocess.run(["podman", "rmi", "-f", image], capture_output=True,
                               check=False, timeout=120)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--no-podman", action="store_true")
    parsed = parser.parse_args()
    parsed.trials = min(max(parsed.trials, 1), 50)
    parsed.clients = min(max(parsed.clients, 2), 32)
    main(parsed)
