"""Broker figures: durable ingest rate, and end-to-end latency at a fixed rate.

Run: ``.venv/bin/python bench/eventing_bench.py [--seconds 10] [--rate 1000]``.

A real ``shoal up`` child process runs the broker (class SQLiteBroker: every 202 is on
disk); this process sends the events and runs the subscriber, a server on 127.0.0.1 that
timestamps each arrival (both with Shoal's lean HTTP client and server, so that the load
generator is not the bottleneck). Printed, with baselines from the same run:

- acknowledged events/s into the broker from 32 concurrent senders (``--senders``), with
  1 trigger delivering at the same time (and how far delivery kept up), vs the same
  senders posting straight to the subscriber;
- latency from send to arrival at the subscriber, p50/p99/p99.9, at a fixed rate to 1 and
  to 10 triggers, with the count of acknowledged events never delivered, vs the same
  events posted straight to the subscriber at the same rate.

With ``--classes SQLiteBroker,NatsJetStreamBroker`` it instead runs the same broker
benchmark against each class in one ``shoal up`` (a ``nats-server`` is started for the
NATS class): acknowledged events/s with 1 trigger, and p50/p99 latency at the fixed rate,
each class beside the first one with the ratio.

Every loop is bounded in count and time; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from shoal.eventing.httpclient import HTTPClient
from shoal.eventing.httpserver import LeanHTTPServer, Request, Response
from shoal.testing import NatsServer, ShoalProcess

BROKERS = "/apis/eventing.knative.dev/v1/namespaces/default/brokers"
TRIGGERS = "/apis/eventing.knative.dev/v1/namespaces/default/triggers"
PAYLOAD = json.dumps({"order": 7, "items": ["x" * 40] * 4}).encode()


class Subscriber:
    """Timestamps each arrival; served by Shoal's lean HTTP server so that the subscriber,
    not the load generator's own HTTP stack, is what the broker is compared against."""

    def __init__(self) -> None:
        self.arrivals: dict[str, list[float]] = {}
        self.count = 0
        self.server = LeanHTTPServer(self.handle, "127.0.0.1", 0)
        self.url = ""

    async def handle(self, request: Request) -> Response:
        self.arrivals.setdefault(request.headers.get("ce-id", ""), []).append(
            time.perf_counter())
        self.count += 1
        return Response(202)

    async def start(self) -> None:
        await self.server.start()
        self.url = f"http://127.0.0.1:{self.server.port}/"

    async def stop(self) -> None:
        await self.server.stop()


def headers(event_id: str) -> dict[str, str]:
    return {"ce-specversion": "1.0", "ce-id": event_id, "ce-type": "com.example.order",
            "ce-source": "/bench", "content-type": "application/json"}


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def until(done: Callable[[], bool], timeout: float) -> None:
    """Poll ``done`` every 0.1 s for at most ``timeout`` seconds."""
    for _ in range(int(timeout * 10)):
        if done():
            return
        await asyncio.sleep(0.1)


async def create(http: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> None:
    async with http.post(url, data=json.dumps(body).encode(),
                         headers={"Content-Type": "application/json"}) as resp:
        if resp.status != 201:
            raise RuntimeError(await resp.text())


async def wait_ready(http: aiohttp.ClientSession, url: str) -> dict[str, Any]:
    for _ in range(600):
        async with http.get(url) as resp:
            obj: dict[str, Any] = await resp.json()
        conditions = (obj.get("status") or {}).get("conditions") or []
        if any(c["type"] == "Ready" and c["status"] == "True" for c in conditions):
            return obj
        await asyncio.sleep(0.05)
    raise RuntimeError(f"not ready: {url}")


async def flood(http: HTTPClient, url: str, seconds: float, prefix: str,
                senders: int = 32, limit: int = 200_000) -> int:
    acked = 0
    counter = iter(range(limit))
    deadline = time.perf_counter() + seconds

    async def sender() -> None:
        nonlocal acked
        for i in counter:
            if time.perf_counter() > deadline:
                return
            status, _, _ = await http.post(url, headers(f"{prefix}{i}"), PAYLOAD)
            if status in (200, 202):
                acked += 1

    await asyncio.gather(*(sender() for _ in range(senders)))
    return acked


async def paced(http: HTTPClient, url: str, rate: int, seconds: float,
                prefix: str) -> tuple[dict[str, float], int]:
    """Open-loop sends at a fixed rate; returns send times by id, and acknowledged count."""
    sent: dict[str, float] = {}
    acked = 0
    tasks: set[asyncio.Task[None]] = set()
    ack_times: list[float] = []

    async def one(event_id: str) -> None:
        nonlocal acked
        sent[event_id] = time.perf_counter()
        try:
            status, _, _ = await http.post(url, headers(event_id), PAYLOAD)
            if status in (200, 202):
                acked += 1
                ack_times.append((time.perf_counter() - sent[event_id]) * 1000)
        except OSError:
            del sent[event_id]  # not acknowledged: not counted as sent or lost

    start = time.perf_counter()
    total = int(rate * seconds)
    for i in range(total):
        target = start + i / rate
        delay = target - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(one(f"{prefix}{i}"))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)
    print(f"    (answer latency p50 {pct(ack_times, 50):.2f} ms p99 {pct(ack_times, 99):.2f} ms,"
          f" send took {time.perf_counter() - start:.1f} s)")
    return sent, acked


async def latencies(http: HTTPClient, sub: Subscriber, url: str, rate: int,
                    seconds: float, prefix: str, fanout: int) -> tuple[list[float], int, int]:
    """Send at a fixed rate; latencies in ms, acknowledged count, and how many never
    reached every trigger."""
    sent, acked = await paced(http, url, rate, seconds, prefix)
    await until(lambda: sum(len(sub.arrivals.get(i, [])) >= fanout for i in sent) >= acked,
                30)
    found = [(t - sent[i]) * 1000 for i in sent for t in sub.arrivals.get(i, [])]
    lost = sum(1 for i in sent if len(sub.arrivals.get(i, [])) < fanout)
    return found, acked, lost


async def latency_run(http: HTTPClient, sub: Subscriber, url: str, rate: int,
                      seconds: float, prefix: str, fanout: int) -> str:
    found, acked, lost = await latencies(http, sub, url, rate, seconds, prefix, fanout)
    return (f"p50 {pct(found, 50):6.2f} ms  p99 {pct(found, 99):6.2f} ms  "
            f"p99.9 {pct(found, 99.9):6.2f} ms  acked {acked}  lost {lost}")


async def class_figures(http: aiohttp.ClientSession, lean: HTTPClient, sub: Subscriber,
                        api: str, broker_class: str,
                        args: argparse.Namespace) -> tuple[float, float, float, int]:
    """One class: a broker and a trigger, then acknowledged events/s from the senders and
    p50/p99 latency at the fixed rate; (events/s, p50 ms, p99 ms, lost)."""
    name = broker_class.lower()
    await create(http, api + BROKERS, {
        "apiVersion": "eventing.knative.dev/v1", "kind": "Broker",
        "metadata": {"name": name,
                     "annotations": {"eventing.knative.dev/broker.class": broker_class}}})
    broker = await wait_ready(http, f"{api}{BROKERS}/{name}")
    address = broker["status"]["address"]["url"]
    await create(http, api + TRIGGERS, {
        "apiVersion": "eventing.knative.dev/v1", "kind": "Trigger",
        "metadata": {"name": f"{name}-all"},
        "spec": {"broker": name, "subscriber": {"uri": f"{sub.url}{name}"}}})
    await wait_ready(http, f"{api}{TRIGGERS}/{name}-all")
    await asyncio.sleep(1.0)
    start_count = sub.count
    started = time.perf_counter()
    acked = await flood(lean, address, args.seconds, f"{name}-f", args.senders)
    rate = acked / (time.perf_counter() - started)
    await until(lambda: sub.count - start_count >= acked, 60)
    found, _, lost = await latencies(lean, sub, address, args.rate, args.seconds,
                                     f"{name}-l", 1)
    return rate, pct(found, 50), pct(found, 99), lost


async def compare_classes(args: argparse.Namespace, sub: Subscriber) -> None:
    classes = [c.strip() for c in args.classes.split(",") if c.strip()]
    with tempfile.TemporaryDirectory() as tmp:
        nats_server = NatsServer(Path(tmp) / "nats").start()
        shoal = ShoalProcess(Path(tmp) / "data", "--log-level", "warning").start()
        lean = HTTPClient()
        try:
            async with aiohttp.ClientSession() as http:
                async with http.patch(
                        f"{shoal.url}/api/v1/namespaces/knative-eventing/configmaps/"
                        "config-nats", data=json.dumps({"data": {"url": nats_server.url}}),
                        headers={"Content-Type": "application/merge-patch+json"}) as resp:
                    if resp.status != 200:
                        raise RuntimeError(await resp.text())
                figures = {c: await class_figures(http, lean, sub, shoal.url, c, args)
                           for c in classes}
        finally:
            await lean.close()
            shoal.stop()
            nats_server.stop()
    base_rate, base_p50, base_p99, _ = figures[classes[0]]
    print(f"{args.senders} senders, 1 trigger; latency at {args.rate}/s for "
          f"{args.seconds:g} s; ratios against {classes[0]}")
    for name, (rate, p50, p99, lost) in figures.items():
        print(f"  {name:22} {rate:8.0f} events/s acknowledged ({rate / base_rate:5.2f}x)  "
              f"p50 {p50:7.2f} ms ({p50 / base_p50:5.2f}x)  "
              f"p99 {p99:7.2f} ms ({p99 / base_p99:5.2f}x)  lost {lost}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--senders", type=int, default=32)
    parser.add_argument("--classes", default="",
                        help="compare broker classes, e.g. SQLiteBroker,NatsJetStreamBroker")
    args = parser.parse_args()
    sub = Subscriber()
    await sub.start()
    if args.classes:
        try:
            await compare_classes(args, sub)
        finally:
            await sub.stop()
        return
    with tempfile.TemporaryDirectory() as tmp:
        shoal = ShoalProcess(Path(tmp) / "data", "--log-level", "warning").start()
        lean = HTTPClient()
        try:
            async with aiohttp.ClientSession() as http:
                await create(http, shoal.url + BROKERS, {
                    "apiVersion": "eventing.knative.dev/v1", "kind": "Broker",
                    "metadata": {"name": "default"}})
                broker = await wait_ready(http, shoal.url + BROKERS + "/default")
                address = broker["status"]["address"]["url"]

                async def triggers(count: int, tag: str) -> None:
                    for i in range(count):
                        await create(http, shoal.url + TRIGGERS, {
                            "apiVersion": "eventing.knative.dev/v1", "kind": "Trigger",
                            "metadata": {"name": f"{tag}{i}"},
                            "spec": {"broker": "default",
                                     "filter": {"attributes": {"type": "com.example.order"}},
                                     "subscriber": {"uri": f"{sub.url}{tag}{i}"}}})
                        await wait_ready(http, f"{shoal.url}{TRIGGERS}/{tag}{i}")
                    await asyncio.sleep(1.0)

                direct = await flood(lean, sub.url, args.seconds, "d", args.senders)
                await triggers(1, "one")
                start_count = sub.count
                started = time.perf_counter()
                acked = await flood(lean, address, args.seconds, "f", args.senders)
                elapsed = time.perf_counter() - started
                delivered_during = sub.count - start_count
                await until(lambda: sub.count - start_count >= acked, 60)
                drained = time.perf_counter() - started
                rate = acked / elapsed
                print(f"durable ingest, {args.senders} senders: {rate:8.0f} events/s acknowledged "
                      f"({acked} in {elapsed:.1f} s; delivered meanwhile "
                      f"{delivered_during / elapsed:.0f}/s, all {sub.count - start_count} "
                      f"delivered after {drained:.1f} s)")
                print(f"  baseline straight to the subscriber: {direct / args.seconds:8.0f} "
                      f"requests/s  (broker = {rate / (direct / args.seconds):.2f}x)")

                base = await latency_run(lean, sub, sub.url, args.rate, args.seconds,
                                         "base", 1)
                one = await latency_run(lean, sub, address, args.rate, args.seconds,
                                        "l1-", 1)
                print(f"latency at {args.rate}/s, 1 trigger:   {one}")
                await triggers(9, "ten")
                ten = await latency_run(lean, sub, address, args.rate, args.seconds,
                                        "l10-", 10)
                print(f"latency at {args.rate}/s, 10 triggers: {ten}")
                print(f"  baseline straight to the subscriber: {base}")
        finally:
            await lean.close()
            shoal.stop()
            await sub.stop()


if __name__ == "__main__":
    asyncio.run(main())
