"""Run a real ``shoal up`` in a child process: for end-to-end tests and benchmarks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


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
