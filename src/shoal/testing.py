"""Run a real ``shoal up`` (and a ``nats-server``) in child processes: for end-to-end tests and
benchmarks."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Self

# A revision's program for tests and benchmarks (it listens on $PORT): answers with its pid;
# ?sleep=S waits first; ?stream=N sends N chunks 0.3 s apart; ?pause=S waits S seconds
# after the first chunk.
SAMPLE_APP = """\
import os, signal, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

class App(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
        time.sleep(float(query.get("sleep", 0)))
        if "stream" in query:
            self.send_response(200)
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            for n in range(int(query["stream"])):
                piece = f"{n}\\n".encode()
                self.wfile.write(b"%x\\r\\n%s\\r\\n" % (len(piece), piece))
                self.wfile.flush()
                time.sleep(float(query.get("pause", 0)) if n == 0 else 0.3)
            self.wfile.write(b"0\\r\\n\\r\\n")
            return
        body = str(os.getpid()).encode()
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), App).serve_forever()
"""


def terminate(proc: subprocess.Popen[bytes] | None, grace: float = 10.0) -> None:
    """SIGTERM a child server, and SIGKILL it if it has not ended within ``grace`` seconds."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class ShoalProcess:
    """``shoal up`` on a free loopback port with its own data directory."""

    def __init__(self, data_dir: Path, *extra: str) -> None:
        self.data_dir = data_dir
        self.extra = extra
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.log = data_dir / "shoal.out"

    def start(self, timeout: float = 30.0) -> ShoalProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        server_file = self.data_dir / "server.json"
        server_file.unlink(missing_ok=True)
        out = open(self.log, "ab")  # noqa: SIM115 - closed when the process ends
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "shoal", "up", "--data-dir", str(self.data_dir),
             "--api-port", "0", "--eventing-port", "0", "--gateway-port", "0",
             "--metrics-port", "0", "--image-pull", "never", *self.extra],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        out.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"shoal up exited: {self.log.read_text()[-2000:]}")
            if server_file.exists():
                try:
                    self.url = json.loads(server_file.read_text())["url"]
                    with urllib.request.urlopen(f"{self.url}/readyz", timeout=2) as resp:
                        if resp.status == 200:
                            return self
                except (OSError, ValueError, KeyError):
                    pass
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"shoal up did not become ready: {self.log.read_text()[-2000:]}")

    @property
    def metrics_url(self) -> str:
        """The ``/metrics`` URL that ``shoal up`` printed when it came up."""
        for line in self.log.read_text(errors="replace").splitlines():
            if line.strip().startswith("metrics: "):
                return line.split("metrics: ", 1)[1].strip()
        raise RuntimeError("shoal up printed no metrics URL")

    def stop(self, timeout: float = 15.0) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def nats_server_binary() -> str | None:
    """Where ``nats-server`` is (Debian puts it in /usr/sbin), or None."""
    return shutil.which("nats-server") or (
        "/usr/sbin/nats-server" if Path("/usr/sbin/nats-server").exists() else None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class NatsServer:
    """``nats-server`` with JetStream on a loopback port and a store directory; ``kill`` and
    ``start`` again keep both, as a restarted server would."""

    def __init__(self, store_dir: Path, port: int | None = None) -> None:
        binary = nats_server_binary()
        if binary is None:
            raise RuntimeError("nats-server is not installed")
        self.binary = binary
        self.store_dir = store_dir
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = store_dir.parent / f"nats-{self.port}.log"

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self, timeout: float = 15.0) -> Self:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        out = open(self.log, "ab")  # noqa: SIM115 - closed when the process ends
        self.proc = subprocess.Popen(
            [self.binary, "-js", "-a", "127.0.0.1", "-p", str(self.port),
             "-sd", str(self.store_dir)],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        out.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nats-server exited: {self.log.read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"nats-server did not listen: {self.log.read_text()[-2000:]}")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def stop(self) -> None:
        terminate(self.proc)
        self.proc = None
