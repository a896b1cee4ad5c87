"""API server figures: create rate, list latency, watch latency, `kubectl get` wall time.

Run: ``.venv/bin/python bench/api_bench.py [--objects 10000] [--services 1000]``.

Each figure is printed beside a baseline measured in the same run, on the same machine:

- create rate through REST (Knative Services, 8 connections) vs the registry called
  in-process (no HTTP) and vs bare SQLite inserts of the same JSON;
- list latency of 10,000 ConfigMaps over HTTP (JSON and kubectl's Table) vs reading the
  same rows from the store directly;
- watch latency from a write's acknowledgement to each of 10 watchers vs one HTTP round
  trip (a GET of one object);
- `kubectl get ksvc` with 1,000 Services vs `kubectl get ns` on a nearly empty resource
  (kubectl's own start-up and discovery cost).

The server is a real ``shoal up`` child process, so the load generator never shares its
event loop. Every loop is bounded in count. Nothing is asserted: the figures are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sqlite3
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from shoal.api.catalog import default_catalog
from shoal.apiserver.registry import Registry
from shoal.store import Store
from shoal.testing import ShoalProcess

KSVC = "/apis/serving.knative.dev/v1/namespaces/default/services"
CM = "/api/v1/namespaces/default/configmaps"


def service(name: str) -> dict[str, Any]:
    # initial scale 0: the controllers stamp Configuration, Route and Revision for each
    # Service, as they would, but start no instances (this measures the API, not podman)
    return {"apiVersion": "serving.knative.dev/v1", "kind": "Service",
            "metadata": {"name": name},
            "spec": {"template": {
                "metadata": {"annotations": {"autoscaling.knative.dev/initial-scale": "0"}},
                "spec": {"containers": [
                {"image": "example.com/hello:1", "env": [{"name": "TARGET", "value": "x"}]}]}}}}


ZERO_SCALE = {"data": {"allow-zero-initial-scale": "true"}}
AUTOSCALER = "/api/v1/namespaces/knative-serving/configmaps/config-autoscaler"


async def allow_zero_scale(url: str) -> None:
    async with aiohttp.ClientSession() as http, http.patch(
            url + AUTOSCALER, data=json.dumps(ZERO_SCALE).encode(),
            headers={"Content-Type": "application/merge-patch+json"}) as resp:
        if resp.status != 200:
            raise RuntimeError(await resp.text())


def configmap(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
            "data": {"key": "value" * 10}}


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def create_rate(url: str, prefix: str, count: int, factory: Any,
                      path: str, conns: int = 8) -> float:
    names = iter(range(count))

    async def worker(http: aiohttp.ClientSession) -> None:
        for i in names:
            body = json.dumps(factory(f"{prefix}{i}")).encode()
            async with http.post(url + path, data=body,
                                 headers={"Content-Type": "application/json"}) as resp:
                if resp.status != 201:
                    raise RuntimeError(f"create failed: {resp.status} {await resp.text()}")

    start = time.perf_counter()
    async with aiohttp.ClientSession() as http:
        await asyncio.gather(*(worker(http) for _ in range(conns)))
    return count / (time.perf_counter() - start)


def inprocess_rate(count: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "b.db")
        registry = Registry(store, default_catalog())
        registry.bootstrap()
        cm = default_catalog().require("configmaps")
        registry.patch(cm, "knative-serving", "config-autoscaler", ZERO_SCALE, "merge")
        rt = default_catalog().resolve("ksvc")
        assert rt is not None
        start = time.perf_counter()
        for i in range(count):
            registry.create(rt, "default", service(f"p{i}"))
        registry_rate = count / (time.perf_counter() - start)
        data = json.dumps(service("x"))
        db = sqlite3.connect(Path(tmp) / "raw.db", isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT)")
        start = time.perf_counter()
        for i in range(count):
            db.execute("BEGIN IMMEDIATE")
            db.execute("INSERT INTO t VALUES (?, ?)", (f"k{i}", data))
            db.execute("COMMIT")
        sqlite_rate = count / (time.perf_counter() - start)
        db.close()
        store.close()
    return registry_rate, sqlite_rate


async def timed_get(http: aiohttp.ClientSession, url: str, headers: dict[str, str],
                    rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        async with http.get(url, headers=headers) as resp:
            await resp.read()
        times.append((time.perf_counter() - start) * 1000)
    return times


async def watch_latency(url: str, watchers: int, writes: int) -> tuple[list[float], list[float]]:
    received: dict[str, list[float]] = {}
    async with aiohttp.ClientSession() as http:
        async with http.post(url + CM, data=json.dumps(configmap("wl-seed")).encode(),
                             headers={"Content-Type": "application/json"}) as resp:
            rv = (await resp.json())["metadata"]["resourceVersion"]

        async def watcher() -> None:
            async with http.get(f"{url}{CM}?watch=true&resourceVersion={rv}",
                                timeout=aiohttp.ClientTimeout(total=120)) as resp:
                seen = 0
                async for line in resp.content:
                    event = json.loads(line)
                    name = event["object"]["metadata"]["name"]
                    if name.startswith("wl-"):
                        received.setdefault(name, []).append(time.perf_counter())
                        seen += 1
                        if seen == writes:
                            return

        tasks = [asyncio.create_task(watcher()) for _ in range(watchers)]
        await asyncio.sleep(0.5)
        sent: dict[str, float] = {}
        for i in range(writes):
            name = f"wl-{i}"
            body = json.dumps(configmap(name)).encode()
            async with http.post(url + CM, data=body,
                                 headers={"Content-Type": "application/json"}) as resp:
                await resp.read()
                sent[name] = time.perf_counter()
            await asyncio.sleep(0.005)
        await asyncio.wait_for(asyncio.gather(*tasks), 60)
        latencies = [(t - sent[n]) * 1000 for n, ts in received.items() for t in ts]
        rtt = await timed_get(http, url + CM + "/wl-seed", {}, writes)
    return latencies, rtt


def wall(cmd: list[str], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=True, timeout=120)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--services", type=int, default=1_000)
    parser.add_argument("--creates", type=int, default=1_000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        shoal = ShoalProcess(Path(tmp) / "data", "--log-level", "warning").start()
        try:
            url = shoal.url
            await allow_zero_scale(url)
            rest = await create_rate(url, "c", args.creates, service, KSVC)
            registry_rate, sqlite_rate = inprocess_rate(args.creates)
            print(f"create (Knative Service) through REST, 8 conns: {rest:8.0f} objects/s")
            print(f"  baseline registry in-process:                {registry_rate:8.0f} "
                  f"objects/s  (REST = {rest / registry_rate:.2f}x)")
            print(f"  baseline bare SQLite insert+commit:          {sqlite_rate:8.0f} "
                  f"objects/s  (REST = {rest / sqlite_rate:.2f}x)")

            await create_rate(url, "o", args.objects, configmap, CM)
            async with aiohttp.ClientSession() as http:
                plain = await timed_get(http, url + CM, {}, 10)
                table = await timed_get(
                    http, url + CM, {"Accept": "application/json;as=Table;v=v1;"
                                               "g=meta.k8s.io"}, 10)
            reader = Store(Path(tmp) / "data" / "shoal.db")
            direct = []
            for _ in range(10):
                start = time.perf_counter()
                reader.list_raw("/configmaps", "default")
                direct.append((time.perf_counter() - start) * 1000)
            reader.close()
            print(f"list {args.objects} ConfigMaps, JSON:  p50 {statistics.median(plain):7.1f} ms"
                  f"   (store read {statistics.median(direct):.1f} ms, "
                  f"{statistics.median(plain) / statistics.median(direct):.1f}x)")
            print(f"list {args.objects} ConfigMaps, Table: p50 {statistics.median(table):7.1f} ms")

            latencies, rtt = await watch_latency(url, 10, 200)
            print(f"watch latency, write ack -> each of 10 watchers: p50 "
                  f"{pct(latencies, 50):.2f} ms  p99 {pct(latencies, 99):.2f} ms "
                  f"({len(latencies)} deliveries)")
            print(f"  baseline one GET round trip:                     p50 "
                  f"{pct(rtt, 50):.2f} ms  p99 {pct(rtt, 99):.2f} ms")

            kubectl = shutil.which("kubectl")
            if kubectl is None:
                print("kubectl not found: skipping the kubectl figure")
                return
            await create_rate(url, "k", max(0, args.services - args.creates), service, KSVC)
            flags = ["--server", url, "--cache-dir", str(Path(tmp) / "kcache")]
            wall([kubectl, *flags, "get", "ns"], 1)  # warm the discovery cache
            services = wall([kubectl, *flags, "get", "ksvc"], 5)
            baseline = wall([kubectl, *flags, "get", "ns"], 5)
            count = max(args.services, args.creates)
            print(f"kubectl get ksvc with {count} Services: {services:.3f} s "
                  f"(goal <= 0.5 s)   baseline kubectl get ns: {baseline:.3f} s "
                  f"({services / baseline:.2f}x)")
        finally:
            shoal.stop()


if __name__ == "__main__":
    asyncio.run(main())
