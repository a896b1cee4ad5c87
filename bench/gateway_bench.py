"""Gateway figures: requests/s at 32 connections and latency at 1, against nginx and direct.

Run: ``.venv/bin/python bench/gateway_bench.py [--seconds 5] [--connections 32]``.

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
figures. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import cast

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
    """Answers every request head (GETs without bodies) with a fixed response."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.tail = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        data = self.tail + data
        count = data.count(b"\r\n\r\n")
        self.tail = data[data.rfind(b"\r\n\r\n") + 4:] if count else data
        if count and self.transport is not None:
            self.transport.write(RESPONSE * count)


async def _until_terminated() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    await stop.wait()


async def serve_backend() -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_BackendProtocol, "127.0.0.1", 0, backlog=1024)
    print(server.sockets[0].getsockname()[1], flush=True)
    await _until_terminated()
    server.close()


async def serve_gateway(backend_port: int, in_path: bool = False,
                        concurrency: int = 0) -> None:
    table = RoutingTable()
    table.update(Route("default", "bench", (HOST,), False,
                       (Backend("default/bench-00001", 100),), {}, None))
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


# -- the parent ---------------------------------------------------------------------------


@dataclass
class Figures:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: str = ""


class Child:
    """A child process of this script in one role; its first line of output is a port."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen([sys.executable, __file__, *args],
                                        stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        self.port = int(self.process.stdout.readline())

    def stop(self) -> None:
        stop_process(self.process)


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


def measure(port: int, connections: int, seconds: float, wrk: str | None) -> Figures:
    if wrk is not None:
        run_wrk(wrk, port, connections, 1)  # warm-up
        rps, _ = run_wrk(wrk, port, connections, seconds)
        _, out = run_wrk(wrk, port, 1, seconds)
        errors = "; ".join(line.strip() for line in out.splitlines()
                           if "Non-2xx" in line or "Socket errors" in line)
        return Figures(rps, _wrk_ms(out, "50%"), _wrk_ms(out, "99%"), errors)
    run_python_load(port, connections, 1, False)
    rps, _ = run_python_load(port, connections, seconds, False)
    _, latencies = run_python_load(port, 1, seconds, True)
    ordered = sorted(latencies) or [float("nan")]
    return Figures(rps, ordered[len(ordered) // 2] * 1e3,
                   ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1e3)


def report(results: dict[str, Figures], connections: int) -> None:
    print(f"\n{'target':<10} {'req/s @' + str(connections):>12} {'p50 @1 (ms)':>12} "
          f"{'p99 @1 (ms)':>12}")
    for name, figures in results.items():
        print(f"{name:<10} {figures.rps:>12,.0f} {figures.p50_ms:>12.3f} "
              f"{figures.p99_ms:>12.3f}  {figures.errors}")
    gateway = results.get("gateway")
    if gateway is None:
        return
    for other in ("nginx", "direct"):
        base = results.get(other)
        if base is not None:
            print(f"gateway vs {other}: throughput x{gateway.rps / base.rps:.2f}, "
                  f"p50 x{gateway.p50_ms / base.p50_ms:.2f}, "
                  f"p99 x{gateway.p99_ms / base.p99_ms:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--no-nginx", action="store_true")
    parser.add_argument("--no-wrk", action="store_true", help="use the Python load generator")
    parser.add_argument("--activator", action="store_true",
                        help="compare the gateway with the activator in the path "
                             "(target-burst-capacity -1) and out of it (0), at "
                             "containerConcurrency 100, instead of against nginx")
    args = parser.parse_args()
    seconds = min(max(args.seconds, 1.0), 60.0)
    wrk = None if args.no_wrk else shutil.which("wrk")
    nginx_binary = None if args.no_nginx else (shutil.which("nginx")
                                               or shutil.which("nginx", path="/usr/sbin"))
    print(f"cores: {os.cpu_count()}; load: "
          f"{'wrk (1 thread)' if wrk else 'Python raw-socket processes'}; "
          f"{seconds:g} s per figure")
    if nginx_binary is None and not args.no_nginx:
        print("nginx is not installed (apt-get install nginx-light): skipping it")

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
            results: dict[str, Figures] = {}
            targets = [("direct", backend.port), ("gateway", gateway.port)]
            if nginx is not None:
                targets.append(("nginx", nginx.port))
            for name, port in targets:
                results[name] = measure(port, args.connections, seconds, wrk)
                print(f"  {name}: done", flush=True)
            report(results, args.connections)
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
        results = {"direct": measure(backend.port, connections, seconds, wrk),
                   "tbc 0": measure(out_of_path.port, connections, seconds, wrk),
                   "tbc -1": measure(in_path.port, connections, seconds, wrk)}
        print(f"\n{'target':<10} {'req/s @' + str(connections):>12} {'p50 @1 (ms)':>12} "
              f"{'p99 @1 (ms)':>12}")
        for name, figures in results.items():
            print(f"{name:<10} {figures.rps:>12,.0f} {figures.p50_ms:>12.3f} "
                  f"{figures.p99_ms:>12.3f}  {figures.errors}")
        base, held = results["tbc 0"], results["tbc -1"]
        print(f"activator in the path vs out of it: throughput x{held.rps / base.rps:.2f}, "
              f"p50 x{held.p50_ms / base.p50_ms:.2f}, p99 x{held.p99_ms / base.p99_ms:.2f}")
    finally:
        in_path.stop()
        out_of_path.stop()
        backend.stop()


def child(role: str, args: list[str]) -> None:
    if role == "backend":
        uvloop.run(serve_backend())
    elif role == "gateway":
        in_path = len(args) > 1 and args[1] == "1"
        concurrency = int(args[2]) if len(args) > 2 else 0
        uvloop.run(serve_gateway(int(args[0]), in_path, concurrency))
    elif role == "load":
        uvloop.run(generate_load(int(args[0]), int(args[1]), float(args[2]), args[3] == "1"))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] in ("backend", "gateway", "load"):
        child(sys.argv[1], sys.argv[2:])
    else:
        main()
