"""Broker figures: durable ingest rate, and end-to-end latency at a fixed rate.

Run: ``.venv/bin/python bench/eventing_bench.py [--seconds 10] [--rate 1000]
[--sender auto|wrk|python] [--subscriber auto|c|python]``.

A real ``shoal up`` child process runs the broker (class SQLiteBroker: every 202 is on
disk), and a process of its own runs the subscriber, a server on 127.0.0.1 that timestamps
each arrival. The subscriber is measuring equipment, so it is compiled, as Knative's
benchmarks use Go receivers: ``bench/subscriber.c`` (single-threaded, epoll), built with
``cc`` into a temporary directory at the start of the run, takes about a third of the CPU
per request that a Python server does (most of what is left is the kernel's TCP work), CPU
the system under test can use instead. Without ``cc`` (or with ``--subscriber python``) it
is Shoal's lean HTTP server in a Python process; the first line printed says which.

The flood's senders are ``wrk`` (one thread, ``--senders`` keep-alive connections, a
generated Lua script posting binary-mode CloudEvents with unique ids; whole seconds) when
it is on PATH, as Knative's benchmarks use a C load generator, else (or with
``--sender python``) coroutines in this process on Shoal's lean HTTP client, which take
CPU the broker and the subscriber could use. The latency phases always send from this
process, paced, to know each event's send time. On a shared machine the rates move with
the load; the CPU time ``shoal up`` spends per event (read from ``/proc``, with its event
dispatcher process's) moves much less, and is printed beside them. Printed, with
baselines from the same run:

- acknowledged events/s into the broker from 32 concurrent senders (``--senders``), with
  1 trigger delivering at the same time (and how far delivery kept up: with wrk a few
  more than acknowledged may arrive, the requests in flight when it stopped), vs the same
  senders posting straight to the subscriber; CPU per acknowledged event of ``shoal up``,
  of the senders (wrk's, or this process's) and of the subscriber;
- latency from send to arrival at the subscriber, p50/p99/p99.9, at a fixed rate to 1 and
  to 10 triggers, with the count of acknowledged events never delivered, vs the same
  events posted straight to the subscriber at the same rate; each after half a second at
  the rate that is not measured (connections opened, consumers awake), and with the CPU
  ``shoal up`` and its dispatcher spent per event;
- the same flood into the broker with 10 triggers: deliveries per second until every
  one arrived, how fast the dispatcher drains a backlog, and its CPU per delivery.

Each phase also prints how many connections the subscriber accepted meanwhile.

With ``--classes SQLiteBroker,NatsJetStreamBroker`` it instead runs the same broker
benchmark against each class in one ``shoal up`` (a ``nats-server`` is started for the
NATS class): acknowledged events/s with 1 trigger from the same senders, and p50/p99
latency at the fixed rate, each class beside the first one with the ratio.

Every loop is bounded in count and time; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp
import uvloop

from shoal.eventing.httpclient import HTTPClient
from shoal.eventing.httpserver import LeanHTTPServer, Request, Response
from shoal.testing import NatsServer, ShoalProcess

BROKERS = "/apis/eventing.knative.dev/v1/namespaces/default/brokers"
TRIGGERS = "/apis/eventing.knative.dev/v1/namespaces/default/triggers"
PAYLOAD = json.dumps({"order": 7, "items": ["x" * 40] * 4}).encode()


class Subscriber:
    """Timestamps each arrival; served by Shoal's lean HTTP server in a process of its own
    (``subscriber_main``), so that neither the load generator nor the subscriber takes CPU
    from the event loop that sends, and the broker is compared against the same subscriber.
    arrival times (``time.monotonic``, the same clock in every process) by event id:
    ``POST /_count`` answers how many events arrived, ``POST /_connections`` how many
    connections were accepted, ``POST /_arrivals/P`` the arrival times of the events whose
    id starts with P; any other POST is an event."""

    def __init__(self) -> None:
        self.arrivals: dict[str, list[float]] = {}
        self.count = 0
        self.server = LeanHTTPServer(self.handle, "127.0.0.1", 0)

    async def handle(self, request: Request) -> Response:
        if not request.path.startswith("/_"):
            self.arrivals.setdefault(request.headers.get("ce-id", ""), []).append(
                time.monotonic())
            self.count += 1
            return Response(202)
        if request.path == "/_count":
            return Response(200, body=str(self.count).encode())
        if request.path == "/_connections":
            return Response(200, body=str(self.server.accepted).encode())
        prefix = request.path.removeprefix("/_arrivals/")
        return Response(200, body=json.dumps(
            {k: v for k, v in self.arrivals.items() if k.startswith(prefix)}).encode())


def subscriber_main(port_out: Connection) -> None:
    """The subscriber's process: serve until the parent closes the pipe."""

    async def serve() -> None:
        sub = Subscriber()
        await sub.server.start()
        port_out.send(sub.server.port)
        await asyncio.get_running_loop().run_in_executor(None, port_out.recv_bytes)
        await sub.server.stop()

    with contextlib.suppress(EOFError):
        uvloop.run(serve())


class SubscriberProcess:
    """The parent's handle on a subscriber running in a process of its own (its URL and
    pid): what both subscribers answer, over HTTP. Started by a subclass."""

    name = ""

    def __init__(self, port: int, pid: int | None) -> None:
        self.url = f"http://127.0.0.1:{port}/"
        self.pid = pid
        self._client = HTTPClient()

    async def count(self) -> int:
        _, _, body = await self._client.post(self.url + "_count", {}, b"")
        return int(body)

    async def connections(self) -> int:
        """How many connections the subscriber has accepted so far."""
        _, _, body = await self._client.post(self.url + "_connections", {}, b"")
        return int(body)

    async def arrivals(self, prefix: str) -> dict[str, list[float]]:
        _, _, body = await self._client.post(f"{self.url}_arrivals/{prefix}", {}, b"")
        found: dict[str, list[float]] = json.loads(body)
        return found

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    async def stop(self) -> None:
        await self._client.close()
        self._end()

    def _end(self) -> None:
        """End the process: ask it to (it serves until its input closes), wait at most 10 s,
        then kill it."""
        raise NotImplementedError


class RemoteSubscriber(SubscriberProcess):
    """``Subscriber`` in a Python process (``subscriber_main``), for when there is no C
    compiler."""

    name = "Python (Shoal's lean HTTP server)"

    def __init__(self) -> None:
        parent, child = mp.get_context("spawn").Pipe()
        self._pipe = parent
        self.process = mp.get_context("spawn").Process(target=subscriber_main, args=(child,),
                                                        daemon=True)
        self.process.start()
        child.close()
        if not parent.poll(30):
            raise RuntimeError("the subscriber did not start")
        super().__init__(parent.recv(), self.process.pid)

    def _end(self) -> None:
        self._pipe.close()
        self.process.join(10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


C_SOURCE = Path(__file__).with_name("subscriber.c")


class CSubscriber(SubscriberProcess):
    """``bench/subscriber.c``, compiled with ``cc`` into a temporary directory (removed on
    ``stop``); it prints its port, and serves until its stdin closes. Raises
    ``RuntimeError`` when it cannot be compiled or started."""

    name = f"C (bench/{C_SOURCE.name})"

    def __init__(self, cc: str) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="shoal-subscriber-")
        try:
            exe = Path(self._tmp.name) / "subscriber"
            built = subprocess.run([cc, "-O2", "-Wall", "-Wextra", "-o", str(exe), str(C_SOURCE)],
                                   capture_output=True, text=True, timeout=120, check=False)
            if built.returncode != 0:
                raise RuntimeError(f"{cc} failed ({built.returncode}): "
                                   f"{built.stderr.strip() or built.stdout.strip()}")
            self.proc = subprocess.Popen([str(exe)], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE)
            assert self.proc.stdout is not None
            line = self.proc.stdout.readline()
            if not line.strip().isdigit():
                self._end()
                raise RuntimeError(f"the C subscriber did not start (exit {self.proc.returncode})")
        except BaseException:
            self._tmp.cleanup()
            raise
        super().__init__(int(line), self.proc.pid)

    def _end(self) -> None:
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._tmp.cleanup()


def start_subscriber(choice: str) -> SubscriberProcess:
    """The subscriber ``--subscriber`` asks for: ``c``, ``python``, or ``auto`` (the C one
    when ``cc`` is on PATH and compiles it, else the Python one, its name saying why)."""
    why = ""
    if choice != "python":
        cc = shutil.which("cc")
        try:
            if cc is None:
                raise RuntimeError("cc is not on PATH")
            return CSubscriber(cc)
        except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
            if choice == "c":
                sys.exit(f"--subscriber c: {exc}")
            why = f"; no C subscriber: {exc}"
    sub = RemoteSubscriber()
    sub.name += why
    return sub


def cpu_seconds(pid: int | None) -> float:
    """CPU time (user + system, every thread) a process has used so far."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def shoal_cpu(pid: int | None) -> tuple[float, float]:
    """CPU time so far of ``shoal up`` (``pid``) and of its child processes (the event
    dispatcher); a child that ended is not counted."""
    if pid is None:
        return 0.0, 0.0
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    kids = 0.0
    for child in children:
        with contextlib.suppress(OSError):
            kids += cpu_seconds(int(child))
    return cpu_seconds(pid), kids


def cpu_split(before: tuple[float, float], after: tuple[float, float], events: int) -> str:
    """CPU per event of ``shoal up`` and its dispatcher between two ``shoal_cpu`` readings."""
    own, kids = ((a - b) / max(1, events) * 1e6 for a, b in zip(after, before, strict=True))
    return f"shoal {own + kids:.0f} us (shoal up {own:.0f}, dispatcher {kids:.0f})"


def headers(event_id: str) -> dict[str, str]:
    return {"ce-specversion": "1.0", "ce-id": event_id, "ce-type": "com.example.order",
            "ce-source": "/bench", "content-type": "application/json"}


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def until(done: Callable[[], Awaitable[bool]], timeout: float) -> None:
    """Poll ``done`` every 0.1 s for at most ``timeout`` seconds."""
    for _ in range(int(timeout * 10)):
        if await done():
            return
        await asyncio.sleep(0.1)


async def delivered(sub: SubscriberProcess, start: int, expected: int, timeout: float) -> int:
    """Wait until ``expected`` events arrived since the count was ``start``; how many did."""
    async def enough() -> bool:
        return await sub.count() - start >= expected

    await until(enough, timeout)
    return await sub.count() - start


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


@dataclass
class Flood:
    """What one flood did: acknowledged events, over how many seconds, the CPU seconds its
    senders used, and anything else the senders reported (errors)."""

    acked: int
    seconds: float
    sender_cpu: float
    errors: str = ""

    @property
    def rate(self) -> float:
        return self.acked / self.seconds if self.seconds > 0 else float("nan")


async def flood(lean: HTTPClient, url: str, seconds: float, prefix: str, senders: int,
                wrk: str | None) -> Flood:
    """``senders`` concurrent senders posting events (ids ``prefix`` + a counter; no latency
    phase's prefix starts like a flood's) to ``url`` back to back for ``seconds``: ``wrk``
    when given, else coroutines in this process."""
    if wrk is not None:
        return await wrk_flood(wrk, url, seconds, prefix, senders)
    cpu, started = time.process_time(), time.perf_counter()
    acked = await python_flood(lean, url, seconds, prefix, senders)
    return Flood(acked, time.perf_counter() - started, time.process_time() - cpu)


async def python_flood(http: HTTPClient, url: str, seconds: float, prefix: str,
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


def lua_string(data: bytes) -> str:
    """A Lua string literal holding ``data``."""
    return '"' + "".join(chr(b) if 32 <= b < 127 and b not in b'"\\' else f"\\{b:03d}"
                         for b in data) + '"'


def wrk_script(prefix: str) -> str:
    """wrk's Lua script: POST binary-mode CloudEvents with the ids ``prefix`` + a counter
    (unique with one wrk thread), the request formatted once in ``init`` around the id;
    ``done`` prints the counts on one line that ``wrk_flood`` parses."""
    static = "".join(f"wrk.headers[{lua_string(k.encode())}] = {lua_string(v.encode())}\n"
                     for k, v in headers("").items() if k != "ce-id")
    return f"""wrk.method = "POST"
wrk.body = {lua_string(PAYLOAD)}
{static}local prefix = {lua_string(prefix.encode())}
local marker = "@@ce-id@@"
local head, tail
local counter = 0

function init(args)
   wrk.headers["ce-id"] = marker
   local template = wrk.format()
   local i, j = template:find(marker, 1, true)
   head, tail = template:sub(1, i - 1) .. prefix, template:sub(j + 1)
end

function request()
   local req = head .. counter .. tail
   counter = counter + 1
   return req
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      "flood: requests %d status %d connect %d read %d write %d timeout %d duration %d\\n",
      summary.requests, e.status, e.connect, e.read, e.write, e.timeout, summary.duration))
end
"""


async def wrk_flood(wrk: str, url: str, seconds: float, prefix: str, senders: int) -> Flood:
    """One ``wrk -t1 -c{senders}`` run (wrk counts whole seconds, at least one); the
    acknowledged events are its completed requests less those answered with a status
    above 399, and the CPU wrk used is read from this process's reaped children."""
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "flood.lua"
        script.write_text(wrk_script(prefix))
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(
            wrk, "-t1", f"-c{senders}", f"-d{max(1, round(seconds))}s", "--timeout", "10s",
            "-s", str(script), url, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        try:
            out, err = await asyncio.wait_for(proc.communicate(), seconds + 30)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise RuntimeError("wrk did not finish") from None
        elapsed = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    text = out.decode(errors="replace")
    match = re.search(r"^flood: requests (\d+) status (\d+) connect (\d+) read (\d+) "
                      r"write (\d+) timeout (\d+) duration (\d+)$", text, re.MULTILINE)
    if proc.returncode != 0 or match is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {text}{err.decode(errors='replace')}")
    requests, status, connect, read, write, timeout, duration = map(int, match.groups())
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    errors = ""
    if status or connect or read or write or timeout:
        errors = (f"{status} answered with a status above 399; socket errors: connect "
                  f"{connect}, read {read}, write {write}, timeout {timeout}")
    return Flood(requests - status, duration / 1e6 if duration else elapsed, cpu, errors)


async def paced(http: HTTPClient, url: str, rate: int, seconds: float,
                prefix: str, *, report: bool = True) -> tuple[dict[str, float], int]:
    """Open-loop sends at a fixed rate; returns send times by id, and acknowledged count."""
    sent: dict[str, float] = {}
    acked = 0
    tasks: set[asyncio.Task[None]] = set()
    ack_times: list[float] = []

    async def one(event_id: str) -> None:
        nonlocal acked
        sent[event_id] = time.monotonic()
        try:
            status, _, _ = await http.post(url, headers(event_id), PAYLOAD)
            if status in (200, 202):
                acked += 1
                ack_times.append((time.monotonic() - sent[event_id]) * 1000)
        except OSError:
            del sent[event_id]  # not acknowledged: not counted as sent or lost

    start = time.monotonic()
    total = int(rate * seconds)
    for i in range(total):
        target = start + i / rate
        delay = target - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(one(f"{prefix}{i}"))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)
    if report:
        print(f"    (answer latency p50 {pct(ack_times, 50):.2f} ms "
              f"p99 {pct(ack_times, 99):.2f} ms, send took {time.monotonic() - start:.1f} s)")
    return sent, acked


async def latencies(http: HTTPClient, sub: SubscriberProcess, url: str, rate: int,
                    seconds: float, prefix: str, fanout: int) -> tuple[list[float], int, int]:
    """Send at a fixed rate; latencies in ms, acknowledged count, and how many never
    reached every trigger. Half a second at the rate goes first, unmeasured, so that the
    figures are of a path in use (connections open, consumers awake), not of its start."""
    start = await sub.count()
    _, warm = await paced(http, url, rate, 0.5, prefix + "warm-", report=False)
    await delivered(sub, start, warm * fanout, 30)
    start = await sub.count()
    sent, acked = await paced(http, url, rate, seconds, prefix)
    await delivered(sub, start, acked * fanout, 30)
    arrivals = await sub.arrivals(prefix)
    found = [(t - sent[i]) * 1000 for i in sent for t in arrivals.get(i, [])]
    lost = sum(1 for i in sent if len(arrivals.get(i, [])) < fanout)
    return found, acked, lost


async def latency_run(http: HTTPClient, sub: SubscriberProcess, url: str, rate: int,
                      seconds: float, prefix: str, fanout: int, pid: int | None) -> str:
    cpu, opened = shoal_cpu(pid), await sub.connections()
    found, acked, lost = await latencies(http, sub, url, rate, seconds, prefix, fanout)
    opened = await sub.connections() - opened
    per = f"  CPU per event: {cpu_split(cpu, shoal_cpu(pid), acked)}" if pid else ""
    return (f"p50 {pct(found, 50):6.2f} ms  p99 {pct(found, 99):6.2f} ms  "
            f"p99.9 {pct(found, 99.9):6.2f} ms  acked {acked}  lost {lost}  "
            f"connections opened {opened}{per}")


async def fanout_run(lean: HTTPClient, sub: SubscriberProcess, address: str,
                     args: argparse.Namespace, wrk: str | None, pid: int | None,
                     baseline: float) -> str:
    """The flood into a broker with 10 triggers: how fast deliveries drain a backlog (the
    dispatcher's capacity, which bounds how soon it catches up after falling behind),
    beside ``baseline``, the requests/s the senders posted straight to the subscriber."""
    start_count, opened = await sub.count(), await sub.connections()
    cpu = shoal_cpu(pid)
    started = time.perf_counter()
    flooded = await flood(lean, address, args.seconds, "x", args.senders, wrk)
    total = await delivered(sub, start_count, flooded.acked * 10, 120)
    drained = time.perf_counter() - started
    opened = await sub.connections() - opened
    return (f"{flooded.rate:6.0f} events/s acknowledged, {total} of {flooded.acked * 10} "
            f"deliveries in {drained:.1f} s ({total / drained:.0f}/s, "
            f"{total / drained / baseline:.2f}x straight to the subscriber); "
            f"{opened} connections opened; CPU per delivery: "
            f"{cpu_split(cpu, shoal_cpu(pid), total)}")


def sender_name(wrk: str | None) -> str:
    return "wrk, 1 thread" if wrk is not None else "Python coroutines"


async def class_figures(http: aiohttp.ClientSession, lean: HTTPClient, sub: SubscriberProcess,
                        api: str, broker_class: str, args: argparse.Namespace,
                        wrk: str | None) -> tuple[float, float, float, int]:
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
    start_count = await sub.count()
    flooded = await flood(lean, address, args.seconds, f"{name}-f", args.senders, wrk)
    if flooded.errors:
        print(f"  {broker_class}: the senders also reported {flooded.errors}")
    await delivered(sub, start_count, flooded.acked, 60)
    found, _, lost = await latencies(lean, sub, address, args.rate, args.seconds,
                                     f"{name}-l", 1)
    return flooded.rate, pct(found, 50), pct(found, 99), lost


async def compare_classes(args: argparse.Namespace, sub: SubscriberProcess,
                          wrk: str | None) -> None:
    classes = [c.strip() for c in args.classes.split(",") if c.strip()]
    with tempfile.TemporaryDirectory() as tmp:
        nats_server = NatsServer(Path(tmp) / "nats").start()
        shoal = ShoalProcess(Path(tmp) / "data", "--log-level", "warning",
                             "--event-dispatch", args.event_dispatch).start()
        lean = HTTPClient()
        try:
            async with aiohttp.ClientSession() as http:
                async with http.patch(
                        f"{shoal.url}/api/v1/namespaces/knative-eventing/configmaps/"
                        "config-nats", data=json.dumps({"data": {"url": nats_server.url}}),
                        headers={"Content-Type": "application/merge-patch+json"}) as resp:
                    if resp.status != 200:
                        raise RuntimeError(await resp.text())
                figures = {c: await class_figures(http, lean, sub, shoal.url, c, args, wrk)
                           for c in classes}
        finally:
            await lean.close()
            shoal.stop()
            nats_server.stop()
    base_rate, base_p50, base_p99, _ = figures[classes[0]]
    print(f"{args.senders} senders ({sender_name(wrk)}), 1 trigger; latency at {args.rate}/s for "
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
    parser.add_argument("--event-dispatch", choices=["process", "inline"], default="process",
                        help="where shoal up delivers the durable log's events from")
    parser.add_argument("--classes", default="",
                        help="compare broker classes, e.g. SQLiteBroker,NatsJetStreamBroker")
    parser.add_argument("--sender", choices=("auto", "wrk", "python"), default="auto",
                        help="the flood's senders: wrk, or coroutines in this process "
                             "(auto: wrk when it is on PATH)")
    parser.add_argument("--subscriber", choices=("auto", "c", "python"), default="auto",
                        help="the subscriber: bench/subscriber.c compiled with cc, or Shoal's "
                             "lean HTTP server in a Python process (auto: C when cc is on "
                             "PATH and compiles it)")
    args = parser.parse_args()
    wrk = None if args.sender == "python" else shutil.which("wrk")
    if args.sender == "wrk" and wrk is None:
        parser.error("--sender wrk: wrk is not on PATH")
    sub = start_subscriber(args.subscriber)
    print(f"subscriber: {sub.name}", flush=True)
    if args.classes:
        try:
            await compare_classes(args, sub, wrk)
        finally:
            await sub.stop()
        return
    with tempfile.TemporaryDirectory() as tmp:
        shoal = ShoalProcess(Path(tmp) / "data", "--log-level", "warning",
                             "--event-dispatch", args.event_dispatch).start()
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

                pid = shoal.proc.pid if shoal.proc is not None else None
                direct = await flood(lean, sub.url, args.seconds, "d", args.senders, wrk)
                await triggers(1, "one")
                start_count, opened = await sub.count(), await sub.connections()
                cpu, sub_cpu = shoal_cpu(pid), sub.cpu()
                started = time.perf_counter()
                flooded = await flood(lean, address, args.seconds, "f", args.senders, wrk)
                delivered_during = await sub.count() - start_count
                shoal_used, sub_cpu = cpu_split(cpu, shoal_cpu(pid), flooded.acked), \
                    sub.cpu() - sub_cpu
                acked, elapsed = flooded.acked, flooded.seconds
                total = await delivered(sub, start_count, acked, 60)
                drained = time.perf_counter() - started
                opened = await sub.connections() - opened
                per_event = 1e6 / max(1, acked)
                print(f"durable ingest, {args.senders} senders ({sender_name(wrk)}): "
                      f"{flooded.rate:8.0f} events/s acknowledged "
                      f"({acked} in {elapsed:.1f} s; delivered meanwhile "
                      f"{delivered_during / elapsed:.0f}/s, {total} delivered "
                      f"after {drained:.1f} s; {opened} connections opened to the "
                      f"subscriber)")
                print(f"  CPU per acknowledged event: {shoal_used}, "
                      f"senders {flooded.sender_cpu * per_event:.0f} us, subscriber "
                      f"{sub_cpu * per_event:.0f} us")
                print(f"  baseline straight to the subscriber: {direct.rate:8.0f} requests/s, "
                      f"senders {direct.sender_cpu / max(1, direct.acked) * 1e6:.0f} us/request  "
                      f"(broker = {flooded.rate / direct.rate:.2f}x)")
                for label, result in (("broker", flooded), ("baseline", direct)):
                    if result.errors:
                        print(f"  {label}: the senders also reported {result.errors}")

                base = await latency_run(lean, sub, sub.url, args.rate, args.seconds,
                                         "base", 1, None)
                one = await latency_run(lean, sub, address, args.rate, args.seconds,
                                        "l1-", 1, pid)
                print(f"latency at {args.rate}/s, 1 trigger:   {one}")
                await triggers(9, "ten")
                ten = await latency_run(lean, sub, address, args.rate, args.seconds,
                                        "l10-", 10, pid)
                print(f"latency at {args.rate}/s, 10 triggers: {ten}")
                print(f"  baseline straight to the subscriber: {base}")
                drain = await fanout_run(lean, sub, address, args, wrk, pid, direct.rate)
                print(f"fan-out, 10 triggers: {drain}")
        finally:
            await lean.close()
            shoal.stop()
            await sub.stop()


if __name__ == "__main__":
    uvloop.run(main())
