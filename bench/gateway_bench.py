"""Gateway figures: requests/s at 32 connections and latency at 1, against nginx and direct.

Run: ``.venv/bin/python bench/gateway_bench.py [--seconds 5] [--connections 32] [--runs 3]``,
or with ``--probe [--duration 30]`` for Knative's dataplane-probe shape (below).

Three targets, all on 127.0.0.1, in front of the same trivial backend (a raw asyncio
protocol on uvloop answering ``200 ok`` to every request, in its own process):

- direct: the backend itself;
- gateway: Shoal's gateway in its own process (uvloop), routing ``bench.default.localhost``
  to the backend over pooled keep-alive connections;
- nginx: Debian's nginx as a reverse proxy (one worker, keep-alive upstream, the same
  forwarding headers), configured from a temporary directory; skipped with a message
  when ``nginx`` is not installed.

The load comes from ``wrk`` when it is installed (one thread, keep-alive), else from
several Python processes with raw keep-alive sockets (then the load generator may be the
bottleneck; the output says which was used). Each figure is one run of ``--seconds``
after a one-second warm-up; the processes share the machine's cores, printed with the
figures. Beside requests/s, each target's server process (the gateway's, nginx's
master and worker, the backend's for direct) reports the CPU time it spent per request
at 32 connections, which a busy machine disturbs far less than the rates. With
``--runs N`` the targets are measured in turn N times and the medians are shown. Nothing
is asserted.

``--probe`` measures what Knative's dataplane-probe measures: an open-loop sender (its
own process, uvloop, keep-alive connections, at most ``--probe-connections`` of them)
sends ``--rate`` requests/s for ``--duration`` seconds to an app that answers each after
``--sleep`` seconds, directly and through the gateway (and nginx), and reports latency
percentiles from the moment each request is written to the end of its response; p95
through the gateway minus p95 direct is the figure to watch. The targets take turns in
segments of ``--segment`` seconds, so that a busy machine disturbs each alike. The sender
also reports how late it sent (its own lag) and how many requests waited for a connection.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import httptools
import uvloop

from shoal.serving.activator import Activator, Timeouts
from shoal.serving.gateway import Gateway
from shoal.serving.routing import Backend, Route, RoutingTable

HOST = "bench.default.localhost"
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nok\n"
REQUEST = f"GET / HTTP/1.1\r\nHost: {HOST}\r\nUser-Agent: bench\r\n\r\n".encode()


# -- roles run in child processes ---------------------------------------------------------


class _BackendProtocol(asyncio.Protocol):
    """Answers every request head (GETs without bodies) with a fixed response, after
    ``delay`` seconds if it is not 0 (the dataplane-probe's app sleeps)."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.transport: asyncio.Transport | None = None
        self.tail = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        data = self.tail + data
        count = data.count(b"\r\n\r\n")
        self.tail = data[data.rfind(b"\r\n\r\n") + 4:] if count else data
        if not count or self.transport is None:
            return
        if not self.delay:
            self.transport.write(RESPONSE * count)
            return
        loop = asyncio.get_running_loop()
        for _ in range(count):
            loop.call_later(self.delay, self._answer)

    def _answer(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(RESPONSE)


async def _until_terminated() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    await stop.wait()


async def serve_backend(delay: float = 0.0) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _BackendProtocol(delay), "127.0.0.1", 0,
                                      backlog=1024)
    print(server.sockets[0].getsockname()[1], flush=True)
    await _until_terminated()
    server.close()


async def serve_gateway(backend_port: int, in_path: bool = False,
                        concurrency: int = 0) -> None:
    table = RoutingTable()
    table.update(Route("default", "bench", (HOST,), False,
                       (Backend("default/bench-00001", 100),), {}))
    activator = Activator(time.monotonic)
    backend = activator.backend("default/bench-00001")
    backend.configure(concurrency, Timeouts())
    backend.set_endpoints([f"127.0.0.1:{backend_port}"])
    backend.set_in_path(in_path)
    gateway = Gateway(table, "127.0.0.1", 0, activator=activator)
    await gateway.start()
    print(gateway.port, flush=True)
    await _until_terminated()
    await gateway.stop(timeout=1.0)
    print(json.dumps({"opened": gateway.pool.opened, "reused": gateway.pool.reused}),
          flush=True)


class _LoadProtocol(asyncio.Protocol):
    """One keep-alive connection sending ``REQUEST`` after each complete response."""

    def __init__(self, deadline: float, latencies: list[float] | None) -> None:
        self.deadline = deadline
        self.latencies = latencies
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.done = asyncio.get_running_loop().create_future()
        self.count = 0
        self.sent = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self._send()

    def _send(self) -> None:
        assert self.transport is not None
        self.sent = time.perf_counter()
        self.transport.write(REQUEST)

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_message_complete(self) -> None:
        now = time.perf_counter()
        self.count += 1
        if self.latencies is not None:
            self.latencies.append(now - self.sent)
        if now < self.deadline:
            self._send()
        elif not self.done.done():
            self.done.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(None)


async def generate_load(port: int, connections: int, seconds: float, latency: bool) -> None:
    loop = asyncio.get_running_loop()
    deadline = time.perf_counter() + seconds
    latencies: list[float] | None = [] if latency else None
    protocols = []
    for _ in range(connections):
        _, protocol = await loop.create_connection(
            lambda: _LoadProtocol(deadline, latencies), "127.0.0.1", port)
        protocols.append(protocol)
    began = time.perf_counter()
    async with asyncio.timeout(seconds + 10):
        await asyncio.gather(*(p.done for p in protocols))
    elapsed = time.perf_counter() - began
    for protocol in protocols:
        if protocol.transport is not None:
            protocol.transport.close()
    print(json.dumps({"count": sum(p.count for p in protocols), "seconds": elapsed,
                      "latencies": latencies or []}), flush=True)


class _ProbeConnection(asyncio.Protocol):
    """One keep-alive connection of the probe sender: one request at a time."""

    def __init__(self, sender: _ProbeSender) -> None:
        self.sender = sender
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.sent = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.sender.ready(self)

    def send(self) -> None:
        assert self.transport is not None
        self.sent = time.perf_counter()
        self.transport.write(REQUEST)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.sender.failed(self)
            if self.transport is not None:
                self.transport.close()

    def on_message_complete(self) -> None:
        status = self.parser.get_status_code()
        self.sender.answered(self, time.perf_counter() - self.sent, status)

    def connection_lost(self, exc: Exception | None) -> None:
        self.sender.lost(self)


class _ProbeSender:
    """Sends ``total`` requests at ``rate`` per second whatever the answers do (open loop),
    over at most ``limit`` connections; a request that finds none free waits for one."""

    def __init__(self, port: int, rate: float, total: int, limit: int) -> None:
        self.port = port
        self.rate = rate
        self.total = total
        self.limit = limit
        self.idle: list[_ProbeConnection] = []
        self.busy: set[_ProbeConnection] = set()
        self.connecting = 0
        self.backlog: deque[float] = deque()  # when each waiting request was due
        self.latencies: list[float] = []
        self.lags: list[float] = []
        self.errors = 0
        self.waited = 0
        self.opened = 0
        self.finished = asyncio.get_running_loop().create_future()
        self.outstanding = 0

    async def run(self) -> None:
        start = time.perf_counter() + 0.05
        sent = 0
        while sent < self.total:
            now = time.perf_counter()
            due = min(self.total, int((now - start) * self.rate) + 1)
            while sent < due:
                self._dispatch(start + sent / self.rate)
                sent += 1
            wait = start + sent / self.rate - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
        if self.outstanding:
            async with asyncio.timeout(30):
                await self.finished
        for connection in [*self.idle, *self.busy]:
            if connection.transport is not None:
                connection.transport.close()

    def _dispatch(self, due: float) -> None:
        self.outstanding += 1
        if self.idle:
            self._send(self.idle.pop(), due)
            return
        self.backlog.append(due)
        if len(self.busy) + len(self.idle) + self.connecting < self.limit:
            self.connecting += 1
            self.opened += 1
            loop = asyncio.get_running_loop()
            task = loop.create_task(loop.create_connection(lambda: _ProbeConnection(self),
                                                           "127.0.0.1", self.port))
            task.add_done_callback(self._connected)
        else:
            self.waited += 1

    def _connected(self, task: asyncio.Task[tuple[asyncio.BaseTransport,
                                                   asyncio.BaseProtocol]]) -> None:
        if task.exception() is not None:
            self.connecting -= 1
            if self.backlog:
                self.backlog.popleft()
                self._done(error=True)

    def _send(self, connection: _ProbeConnection, due: float) -> None:
        self.lags.append(time.perf_counter() - due)
        self.busy.add(connection)
        connection.send()

    def ready(self, connection: _ProbeConnection) -> None:
        self.connecting -= 1
        self._free(connection)

    def _free(self, connection: _ProbeConnection) -> None:
        if self.backlog:
            self._send(connection, self.backlog.popleft())
        else:
            self.idle.append(connection)

    def answered(self, connection: _ProbeConnection, latency: float, status: int) -> None:
        self.busy.discard(connection)
        self.latencies.append(latency)
        self._done(error=status != 200)
        self._free(connection)

    def failed(self, connection: _ProbeConnection) -> None:
        if connection in self.busy:
            self.busy.discard(connection)
            self._done(error=True)

    def lost(self, connection: _ProbeConnection) -> None:
        self.failed(connection)
        if connection in self.idle:
            self.idle.remove(connection)

    def _done(self, *, error: bool) -> None:
        self.errors += error
        self.outstanding -= 1
        if self.outstanding <= 0 and not self.finished.done():
            self.finished.set_result(None)


async def send_probe(port: int, rate: float, seconds: float, limit: int) -> None:
    sender = _ProbeSender(port, rate, int(rate * seconds), limit)
    await sender.run()
    print(json.dumps({"latencies": sender.latencies, "lags": sender.lags,
                      "errors": sender.errors, "waited": sender.waited,
                      "connections": sender.opened}), flush=True)


# -- the parent ---------------------------------------------------------------------------


@dataclass
class Figures:
    rps: float
    p50_ms: float
    p99_ms: float
    cpu_us: float = float("nan")  # CPU time of the server process(es) per request @N
    errors: str = ""


class Child:
    """A child process of this script in one role; its first line of output is a port."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen([sys.executable, __file__, *args],
                                        stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        self.port = int(self.process.stdout.readline())
        self.pids = [self.process.pid]

    def stop(self) -> str:
        """Stop the child; what else it printed."""
        stop_process(self.process)
        assert self.process.stdout is not None
        return self.process.stdout.read()


def cpu_seconds(pids: list[int]) -> float:
    """User plus system CPU time of ``pids`` so far (0 for one that is gone)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def stop_process(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_listening(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


NGINX_CONF = """\
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    upstream backend {{ server 127.0.0.1:{backend}; keepalive 64; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Host $http_host;
            proxy_set_header Forwarded "for=$remote_addr;host=\\"$http_host\\";proto=$scheme";
        }}
    }}
}}
"""


class Nginx:
    def __init__(self, binary: str, backend_port: int, tmp: Path) -> None:
        self.port = free_port()
        conf = tmp / "nginx.conf"
        conf.write_text(NGINX_CONF.format(tmp=tmp, backend=backend_port, port=self.port))
        self.process = subprocess.Popen([binary, "-c", str(conf), "-p", str(tmp),
                                         "-e", str(tmp / "error.log")],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                        text=True)
        wait_listening(self.port)
        self.pids = [self.process.pid, *children_of(self.process.pid)]

    def stop(self) -> None:
        stop_process(self.process)


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _wrk_ms(text: str, label: str) -> float:
    match = re.search(rf"^\s*{label}\s+([\d.]+)(us|ms|s)\s*$", text, re.MULTILINE)
    return float(match.group(1)) * _UNITS[match.group(2)] if match else float("nan")


def run_wrk(wrk: str, port: int, connections: int, seconds: float) -> tuple[float, str]:
    """(requests/s, wrk's output) of one run."""
    result = subprocess.run(
        [wrk, "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency", "-H", f"Host: {HOST}",
         f"http://127.0.0.1:{port}/"], capture_output=True, text=True, timeout=seconds + 30,
        check=True)
    match = re.search(r"Requests/sec:\s+([\d.]+)", result.stdout)
    return (float(match.group(1)) if match else float("nan")), result.stdout


def run_python_load(port: int, connections: int, seconds: float,
                    latency: bool) -> tuple[float, list[float]]:
    processes = 1 if connections == 1 else max(2, os.cpu_count() or 2)
    shares = [connections // processes + (1 if i < connections % processes else 0)
              for i in range(processes)]
    children = [subprocess.Popen([sys.executable, __file__, "load", str(port), str(share),
                                  str(seconds), "1" if latency else "0"],
                                 stdout=subprocess.PIPE, text=True) for share in shares if share]
    rps = 0.0
    latencies: list[float] = []
    for child in children:
        out, _ = child.communicate(timeout=seconds + 30)
        result = json.loads(out)
        rps += result["count"] / result["seconds"]
        latencies.extend(result["latencies"])
    return rps, latencies


def measure(port: int, pids: list[int], connections: int, seconds: float,
            wrk: str | None) -> Figures:
    if wrk is not None:
        run_wrk(wrk, port, connections, 1)  # warm-up
        cpu = cpu_seconds(pids)
        rps, out = run_wrk(wrk, port, connections, seconds)
        cpu = cpu_seconds(pids) - cpu
        match = re.search(r"(\d+) requests in", out)
        cpu_us = cpu / int(match.group(1)) * 1e6 if match else float("nan")
        _, out = run_wrk(wrk, port, 1, seconds)
        errors = "; ".join(line.strip() for line in out.splitlines()
                           if "Non-2xx" in line or "Socket errors" in line)
        return Figures(rps, _wrk_ms(out, "50%"), _wrk_ms(out, "99%"), cpu_us, errors)
    run_python_load(port, connections, 1, False)
    cpu = cpu_seconds(pids)
    rps, _ = run_python_load(port, connections, seconds, False)
    cpu_us = (cpu_seconds(pids) - cpu) / (rps * seconds) * 1e6 if rps else float("nan")
    _, latencies = run_python_load(port, 1, seconds, True)
    return Figures(rps, percentile(latencies, 0.5) * 1e3, percentile(latencies, 0.99) * 1e3,
                   cpu_us)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values) or [float("nan")]
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def median_figures(runs: list[Figures]) -> Figures:
    return Figures(statistics.median(f.rps for f in runs),
                   statistics.median(f.p50_ms for f in runs),
                   statistics.median(f.p99_ms for f in runs),
                   statistics.median(f.cpu_us for f in runs),
                   "; ".join(sorted({f.errors for f in runs if f.errors})))


def print_table(results: dict[str, Figures], connections: int) -> None:
    print(f"\n{'target':<10} {'req/s @' + str(connections):>12} {'p50 @1 (ms)':>12} "
          f"{'p99 @1 (ms)':>12} {'CPU us/req':>11}")
    for name, figures in results.items():
        print(f"{name:<10} {figures.rps:>12,.0f} {figures.p50_ms:>12.3f} "
              f"{figures.p99_ms:>12.3f} {figures.cpu_us:>11.1f}  {figures.errors}")


def report(rounds: list[dict[str, Figures]], connections: int) -> None:
    results = {name: median_figures([r[name] for r in rounds]) for name in rounds[0]}
    if len(rounds) > 1:
        print(f"\nmedians of {len(rounds)} runs (each run measures every target in turn)")
    print_table(results, connections)
    gateway = results.get("gateway")
    if gateway is None:
        return
    for other in ("nginx", "direct"):
        base = results.get(other)
        if base is not None:
            per_run = ", ".join(f"{r['gateway'].rps / r[other].rps:.2f}" for r in rounds)
            print(f"gateway vs {other}: throughput x{gateway.rps / base.rps:.2f} "
                  f"(per run: {per_run}), p50 {gateway.p50_ms - base.p50_ms:+.3f} ms "
                  f"(x{gateway.p50_ms / base.p50_ms:.2f}), p99 x{gateway.p99_ms / base.p99_ms:.2f}"
                  f", CPU per request x{gateway.cpu_us / base.cpu_us:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--no-nginx", action="store_true")
    parser.add_argument("--no-wrk", action="store_true", help="use the Python load generator")
    parser.add_argument("--runs", type=int, default=1,
                        help="measure every target this many times, in turn (medians)")
    parser.add_argument("--activator", action="store_true",
                        help="compare the gateway with the activator in the path "
                             "(target-burst-capacity -1) and out of it (0), at "
                             "containerConcurrency 100, instead of against nginx")
    parser.add_argument("--probe", action="store_true",
                        help="Knative's dataplane-probe shape instead: fixed-rate load on "
                             "an app that sleeps, p95 through the gateway vs direct")
    parser.add_argument("--duration", type=float, default=30.0,
                        help="seconds of load per target with --probe")
    parser.add_argument("--rate", type=float, default=1000.0,
                        help="requests/s with --probe")
    parser.add_argument("--sleep", type=float, default=0.1,
                        help="seconds the app sleeps per request with --probe")
    parser.add_argument("--segment", type=float, default=5.0,
                        help="with --probe, the targets take turns every this many seconds "
                             "(so that the machine's other load falls on each alike)")
    parser.add_argument("--probe-connections", type=int, default=1000,
                        help="most connections the --probe sender opens")
    args = parser.parse_args()
    seconds = min(max(args.seconds, 1.0), 60.0)
    runs = min(max(args.runs, 1), 20)
    wrk = None if args.no_wrk else shutil.which("wrk")
    nginx_binary = None if args.no_nginx else (shutil.which("nginx")
                                               or shutil.which("nginx", path="/usr/sbin"))
    if nginx_binary is None and not args.no_nginx:
        print("nginx is not installed (apt-get install nginx-light): skipping it")
    if args.probe:
        print(f"cores: {os.cpu_count()}; load average: {os.getloadavg()[0]:.1f}")
        probe_bench(args, nginx_binary)
        return
    print(f"cores: {os.cpu_count()}; load average: {os.getloadavg()[0]:.1f}; load: "
          f"{'wrk (1 thread)' if wrk else 'Python raw-socket processes'}; "
          f"{seconds:g} s per figure")
    backend = Child("backend")
    if args.activator:
        activator_bench(backend, args.connections, seconds, wrk)
        return
    gateway = Child("gateway", str(backend.port))
    nginx: Nginx | None = None
    with tempfile.TemporaryDirectory(prefix="gateway-bench-") as tmp:
        try:
            if nginx_binary is not None:
                nginx = Nginx(nginx_binary, backend.port, Path(tmp))
            targets = [("direct", backend.port, backend.pids),
                       ("gateway", gateway.port, gateway.pids)]
            if nginx is not None:
                targets.append(("nginx", nginx.port, nginx.pids))
            rounds: list[dict[str, Figures]] = []
            for run in range(runs):
                results: dict[str, Figures] = {}
                for name, port, pids in targets:
                    results[name] = measure(port, pids, args.connections, seconds, wrk)
                    print(f"  {name}: done" + (f" (run {run + 1})" if runs > 1 else ""),
                          flush=True)
                rounds.append(results)
            report(rounds, args.connections)
        finally:
            if nginx is not None:
                nginx.stop()
            gateway.stop()
            backend.stop()


def activator_bench(backend: Child, connections: int, seconds: float,
                    wrk: str | None) -> None:
    out_of_path = Child("gateway", str(backend.port), "0", "100")
    in_path = Child("gateway", str(backend.port), "1", "100")
    try:
        results = {
            "direct": measure(backend.port, backend.pids, connections, seconds, wrk),
            "tbc 0": measure(out_of_path.port, out_of_path.pids, connections, seconds, wrk),
            "tbc -1": measure(in_path.port, in_path.pids, connections, seconds, wrk)}
        print_table(results, connections)
        base, held = results["tbc 0"], results["tbc -1"]
        print(f"activator in the path vs out of it: throughput x{held.rps / base.rps:.2f}, "
              f"p50 x{held.p50_ms / base.p50_ms:.2f}, p99 x{held.p99_ms / base.p99_ms:.2f}")
    finally:
        in_path.stop()
        out_of_path.stop()
        backend.stop()


def run_probe(port: int, args: argparse.Namespace, seconds: float) -> dict[str, Any]:
    """One run of the probe sender against ``port`` for ``seconds``: what it saw."""
    result = subprocess.run(
        [sys.executable, __file__, "probe", str(port), str(args.rate), str(seconds),
         str(max(1, args.probe_connections))],
        capture_output=True, text=True, timeout=seconds + 60, check=True)
    out: dict[str, Any] = json.loads(result.stdout)
    return out


def probe_bench(args: argparse.Namespace, nginx_binary: str | None) -> None:
    duration = min(max(args.duration, 1.0), 600.0)
    segments = max(1, math.ceil(duration / max(args.segment, 1.0)))
    print(f"probe: {args.rate:g} requests/s for {duration:g} s per target, in {segments} "
          f"segments taken in turn, to an app that sleeps {args.sleep * 1e3:g} ms")
    app = Child("sleeper", str(args.sleep))
    gateway = Child("gateway", str(app.port))
    nginx: Nginx | None = None
    seen: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="gateway-bench-") as tmp:
        try:
            if nginx_binary is not None:
                nginx = Nginx(nginx_binary, app.port, Path(tmp))
            targets = [("direct", app.port), ("gateway", gateway.port)]
            if nginx is not None:
                targets.append(("nginx", nginx.port))
            for segment in range(segments):
                for name, port in targets:
                    out = run_probe(port, args, duration / segments)
                    total = seen.setdefault(name, {"latencies": [], "lags": [], "errors": 0,
                                                   "waited": 0, "connections": 0})
                    for key, value in out.items():
                        total[key] += value
                print(f"  segment {segment + 1}/{segments}: done", flush=True)
        finally:
            if nginx is not None:
                nginx.stop()
            pool = json.loads(gateway.stop() or "{}")
            app.stop()
    print(f"\n{'target':<10} {'p50 (ms)':>9} {'p95 (ms)':>9} {'p99 (ms)':>9} {'max (ms)':>9} "
          f"{'answered':>9} {'errors':>7} {'waited':>7} {'conns':>6} {'send lag p99':>13}")
    p95 = {}
    for name, r in seen.items():
        latencies = r["latencies"]
        p95[name] = percentile(latencies, 0.95) * 1e3
        print(f"{name:<10} {percentile(latencies, 0.5) * 1e3:>9.2f} {p95[name]:>9.2f} "
              f"{percentile(latencies, 0.99) * 1e3:>9.2f} {max(latencies or [0]) * 1e3:>9.2f} "
              f"{len(latencies):>9} {r['errors']:>7} {r['waited']:>7} {r['connections']:>6} "
              f"{percentile(r['lags'], 0.99) * 1e3:>10.2f} ms")
    if pool:
        print(f"gateway: {pool['opened']} connections opened to the app, "
              f"{pool['reused']} reuses")
    for name in ("gateway", "nginx"):
        if name in p95:
            print(f"{name} vs direct: p95 {p95[name] - p95['direct']:+.2f} ms")


def child(role: str, args: list[str]) -> None:
    if role == "backend":
        uvloop.run(serve_backend())
    elif role == "sleeper":
        uvloop.run(serve_backend(float(args[0])))
    elif role == "probe":
        uvloop.run(send_probe(int(args[0]), float(args[1]), float(args[2]), int(args[3])))
    elif role == "gateway":
        in_path = len(args) > 1 and args[1] == "1"
        concurrency = int(args[2]) if len(args) > 2 else 0
        uvloop.run(serve_gateway(int(args[0]), in_path, concurrency))
    elif role == "load":
        uvloop.run(generate_load(int(args[0]), int(args[1]), float(args[2]), args[3] == "1"))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] in ("backend", "sleeper", "gateway", "load", "probe"):
        child(sys.argv[1], sys.argv[2:])
    else:
        main()
