"""Serving figures through a real ``shoal up``: apply-to-Ready overhead and dataplane p95.

Run: ``.venv/bin/python bench/serving_bench.py [--duration 30] [--rate 1000] [--deploys 5]``.

(a) **Apply → Ready.** The time from creating a Service to its ``Ready`` (seen on a watch)
minus the app's own start: the same app is started ``--deploys`` times with the process
runtime directly (start → ``READY``, probing included), alternating with ``--deploys``
Services of it applied through ``shoal up``. Both medians and their difference (the control plane's
share) are printed; the goal is a difference of at most 200 ms.

(b) **Dataplane probe**, the shape of Knative's ``dataplane-probe`` benchmark: an app that
answers after sleeping 100 ms, loaded at ``--rate`` requests/s for ``--duration`` seconds
by an open-loop client on uvloop (each request sent at its fixed time, whatever the
earlier ones are doing; ``rate × duration`` requests in all, each bounded by a timeout;
failures are counted by kind), first straight
to the instance, then through the gateway. p50/p95/p99 of both and the gateway's extra
p95 are printed; the goal is at most +1 ms. The client shares the machine's cores with
Shoal and the app, printed with the figures. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import uvloop

from shoal.runtime import Instance, InstanceSpec, InstanceState, ProcessRuntime
from shoal.testing import ShoalProcess

KSVC = "/apis/serving.knative.dev/v1/namespaces/default/services"
PODS = "/api/v1/namespaces/default/pods"
REQUEST_TIMEOUT = 10.0

APP = """\
import asyncio, os
from aiohttp import web

PAUSE = float(os.environ.get("PAUSE", "0"))

async def sleep(request):
    if PAUSE:
        await asyncio.sleep(PAUSE)
    return web.Response(text="ok")

app = web.Application()
app.router.add_get("/", sleep)
web.run_app(app, host="127.0.0.1", port=int(os.environ["PORT"]), print=None,
            access_log=None)
"""


def container(app: Path, pause: float = 0.0) -> dict[str, Any]:
    return {"command": [sys.executable, str(app)],
            "env": [{"name": "PAUSE", "value": str(pause)}]}


def service(name: str, app: Path, pause: float = 0.0) -> dict[str, Any]:
    return {"apiVersion": "serving.knative.dev/v1", "kind": "Service",
            "metadata": {"name": name},
            "spec": {"template": {"spec": {"containers": [container(app, pause)]}}}}


def is_ready(obj: dict[str, Any]) -> bool:
    status = obj.get("status") or {}
    return status.get("observedGeneration") == obj["metadata"].get("generation") and any(
        c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions") or [])


# -- (a) apply → Ready ---------------------------------------------------------------------


def _set_when_ready(event: asyncio.Event, instance: Instance) -> None:
    if instance.state is InstanceState.READY:
        event.set()


async def runtime_start_time(runtime: ProcessRuntime, app: Path, n: int) -> float:
    """Seconds from ``start`` to ``READY`` of the app in the process runtime."""
    ready = asyncio.Event()
    unsubscribe = runtime.subscribe(functools.partial(_set_when_ready, ready))
    try:
        began = time.perf_counter()
        instance = await runtime.start(InstanceSpec(
            revision=f"default/direct-{n}", namespace="default", service="direct",
            configuration="direct", container=container(app), env={}))
        await asyncio.wait_for(ready.wait(), 60)
        elapsed = time.perf_counter() - began
    finally:
        unsubscribe()
    await runtime.stop(instance.id, grace=5)
    return elapsed


async def apply_to_ready(http: aiohttp.ClientSession, url: str, name: str,
                         app: Path, pause: float = 0.0) -> float:
    """Seconds from the create request to the watch event that shows the Service Ready."""
    watch = (f"{url}{KSVC}?watch=1&fieldSelector=metadata.name%3D{name}"
             f"&timeoutSeconds=60")
    async with http.get(watch) as stream:
        began = time.perf_counter()
        async with http.post(url + KSVC, json=service(name, app, pause)) as resp:
            assert resp.status == 201, await resp.text()
        async for line in stream.content:
            event = json.loads(line)
            if event["type"] in ("ADDED", "MODIFIED") and is_ready(event["object"]):
                return time.perf_counter() - began
    raise RuntimeError(f"service {name} never became Ready")


# -- (b) dataplane probe -------------------------------------------------------------------


async def open_loop(http: aiohttp.ClientSession, url: str, host: str | None, rate: float,
                    duration: float) -> tuple[list[float], Counter[str]]:
    """Latencies (s) of ``rate × duration`` GETs sent at fixed times, and the failures by
    kind (a status code, or the error's type)."""
    total = int(rate * duration)
    headers = {"Host": host} if host else {}
    latencies: list[float] = []
    failures: Counter[str] = Counter()

    async def one() -> None:
        began = time.perf_counter()
        try:
            async with http.get(url, headers=headers) as resp:
                await resp.read()
                failure = "" if resp.status == 200 else str(resp.status)
        except (aiohttp.ClientError, TimeoutError) as err:
            failure = type(err).__name__
        if failure:
            failures[failure] += 1
        else:
            latencies.append(time.perf_counter() - began)

    loop = asyncio.get_running_loop()
    start = loop.time()
    tasks = []
    for n in range(total):
        delay = start + n / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one()))
    await asyncio.wait(tasks, timeout=REQUEST_TIMEOUT + 5)
    return latencies, failures


def quantiles(latencies: list[float]) -> tuple[float, float, float]:
    """p50, p95, p99 in milliseconds."""
    if len(latencies) < 2:
        return (float("nan"),) * 3
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return cuts[49] * 1e3, cuts[94] * 1e3, cuts[98] * 1e3


async def instance_address(http: aiohttp.ClientSession, url: str, revision: str) -> str:
    """Where the revision's instance listens, from its Pod."""
    for _ in range(200):
        async with http.get(f"{url}{PODS}?labelSelector=serving.knative.dev/revision%3D"
                            f"{revision}") as resp:
            pods = (await resp.json())["items"]
        if pods and pods[0]["status"].get("phase") == "Running":
            port = pods[0]["spec"]["containers"][0]["ports"][0]["hostPort"]
            return f"{pods[0]['status']['podIP']}:{port}"
        await asyncio.sleep(0.05)
    raise RuntimeError(f"no running pod of {revision}")


# -- main ------------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="shoal-serving-bench-"))
    app = work / "app.py"
    app.write_text(APP)
    print(f"cores: {os.cpu_count()}; deploys: {args.deploys}; dataplane: {args.rate:g} "
          f"req/s for {args.duration:g} s", flush=True)

    shoal = ShoalProcess(work / "data").start()
    try:
        connector = aiohttp.TCPConnector(limit=0)
        timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
            runtime = ProcessRuntime(work / "runtime")
            direct, applied = [], []
            try:
                for n in range(args.deploys):  # alternated, so both see the same load
                    direct.append(await runtime_start_time(runtime, app, n))
                    applied.append(await apply_to_ready(http, shoal.url, f"hello{n}", app))
            finally:
                await runtime.close(grace=5)
            app_ms = statistics.median(direct) * 1e3
            ready_ms = statistics.median(applied) * 1e3
            print("\n(a) apply -> Ready (medians)")
            print(f"  app start to ready, runtime alone: {app_ms:8.1f} ms")
            print(f"  apply to Ready through shoal up:   {ready_ms:8.1f} ms")
            print(f"  control plane's share:             {ready_ms - app_ms:8.1f} ms "
                  f"(goal <= 200 ms; ratio {ready_ms / app_ms:.2f}x the app's start)",
                  flush=True)

            await apply_to_ready(http, shoal.url, "sleeper", app, pause=0.1)
            async with http.get(f"{shoal.url}{KSVC}/sleeper") as resp:
                gateway_url = (await resp.json())["status"]["url"]
            port = gateway_url.rsplit(":", 1)[1]
            address = await instance_address(http, shoal.url, "sleeper-00001")
            figures = {}
            for name, url, host in (
                    ("direct", f"http://{address}/", None),
                    ("gateway", f"http://127.0.0.1:{port}/", "sleeper.default.localhost")):
                await open_loop(http, url, host, min(args.rate, 100), 1.0)  # warm-up
                latencies, failures = await open_loop(http, url, host, args.rate,
                                                      args.duration)
                figures[name] = quantiles(latencies)
                print(f"  {name}: {len(latencies)} ok, {sum(failures.values())} failed "
                      f"{dict(failures) if failures else ''}", flush=True)
            print(f"\n(b) dataplane probe: 100 ms app, {args.rate:g} req/s, "
                  f"{args.duration:g} s, open loop")
            print(f"  {'target':<8} {'p50 ms':>9} {'p95 ms':>9} {'p99 ms':>9}")
            for name, (p50, p95, p99) in figures.items():
                print(f"  {name:<8} {p50:9.2f} {p95:9.2f} {p99:9.2f}")
            extra = figures["gateway"][1] - figures["direct"][1]
            print(f"  gateway p95 - direct p95: {extra:+.2f} ms (goal <= +1 ms; ratio "
                  f"{figures['gateway'][1] / figures['direct'][1]:.3f}x)")
    finally:
        shoal.stop(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=30.0,
                        help="seconds of load per target (default 30)")
    parser.add_argument("--rate", type=float, default=1000.0,
                        help="requests per second (default 1000)")
    parser.add_argument("--deploys", type=int, default=5,
                        help="services applied for the apply-to-Ready figure (default 5)")
    uvloop.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
