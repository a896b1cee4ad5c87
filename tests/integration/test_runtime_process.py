"""ProcessRuntime with real processes: a small HTTP app written here, run on loopback.

The app answers ``GET /`` with its environment and working directory, ``/healthz`` with
200 once ``READY_DELAY`` has passed (and the probe sent ``X-Probe: shoal``), and is told
by environment variables to exit on its first run, to ignore SIGTERM, to start a child.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from shoal.runtime import Instance, InstanceSpec, InstanceState, ProcessRuntime
from shoal.runtime.pidfiles import is_running

APP = r'''
import json, os, signal, subprocess, sys, time
from http.server import BaseHTTPRequestHandler, HTTPServer

marker = os.environ.get("RUN_MARKER")
if os.environ.get("EXIT_FIRST") and marker and not os.path.exists(marker):
    open(marker, "w").close()
    print("exiting on the first run", flush=True)
    sys.exit(int(os.environ["EXIT_FIRST"]))
if os.environ.get("PID_FILE"):
    with open(os.environ["PID_FILE"], "w") as f:
        f.write(str(os.getpid()))
if os.environ.get("CHILD_PID_FILE"):
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(100)"])
    with open(os.environ["CHILD_PID_FILE"], "w") as f:
        f.write(str(child.pid))
ready_at = time.monotonic() + float(os.environ.get("READY_DELAY", "0"))


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/healthz":
            ok = time.monotonic() >= ready_at and self.headers.get("X-Probe") == "shoal"
            status, body = (200, b"ok") if ok else (503, b"not yet")
        else:
            status = 200
            body = json.dumps({"env": dict(os.environ), "cwd": os.getcwd()}).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        print("request", self.path, flush=True)


def on_term(signum, frame):
    if os.environ.get("TERM_FILE"):
        with open(os.environ["TERM_FILE"], "w") as f:
            f.write("terminated")
    print("got SIGTERM", flush=True)
    sys.exit(0)


signal.signal(signal.SIGTERM, signal.SIG_IGN if os.environ.get("IGNORE_TERM") else on_term)
server = HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler)
print("listening on", os.environ["PORT"], flush=True)
server.serve_forever()
'''


@pytest.fixture
def app(tmp_path: Path) -> Path:
    path = tmp_path / "app.py"
    path.write_text(APP)
    return path


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[ProcessRuntime]:
    rt = ProcessRuntime(tmp_path / "state", restart_grace=5.0)
    try:
        yield rt
    finally:
        await rt.close(grace=2.0)


def make_spec(app: Path, *, env: dict[str, str] | None = None, extra: dict[str, str] | None = None,
              **container: Any) -> InstanceSpec:
    return InstanceSpec(
        revision="default/hello-00001", namespace="default", service="hello",
        configuration="hello", env=extra or {},
        container={"command": [sys.executable, str(app)],
                   "env": [{"name": k, "value": v} for k, v in (env or {}).items()],
                   **container})


class Recorder:
    """Every change the runtime reports, and a way to wait for one."""

    def __init__(self, runtime: ProcessRuntime) -> None:
        self.changes: list[tuple[float, Instance]] = []
        self._changed = asyncio.Event()
        runtime.subscribe(self._on_change)

    def _on_change(self, instance: Instance) -> None:
        self.changes.append((time.monotonic(), instance))
        self._changed.set()

    async def wait_for(self, predicate: Callable[[Instance], bool],
                       timeout: float = 20.0) -> tuple[float, Instance]:
        async with asyncio.timeout(timeout):
            while True:
                for seen in self.changes:
                    if predicate(seen[1]):
                        return seen
                self._changed.clear()
                await self._changed.wait()


def state_is(state: InstanceState, restarts: int | None = None) -> Callable[[Instance], bool]:
    return lambda i: i.state is state and (restarts is None or i.restarts == restarts)


async def get(address: str, path: str = "/") -> tuple[int, bytes]:
    def fetch() -> tuple[int, bytes]:
        with urllib.request.urlopen(f"http://{address}{path}", timeout=5) as response:
            return response.status, response.read()

    return await asyncio.to_thread(fetch)


async def gone(pid: int, timeout: float = 5.0) -> bool:
    """Whether ``pid`` ends (or is a zombie) within ``timeout`` seconds."""
    for _ in range(int(timeout / 0.05)):
        if not is_running(pid, None):
            return True
        await asyncio.sleep(0.05)
    return False


def read_pid(path: Path) -> int:
    return int(path.read_text())


async def test_runtime_contract_and_default_tcp_readiness(
        runtime: ProcessRuntime, app: Path, tmp_path: Path) -> None:
    recorder = Recorder(runtime)
    started = time.monotonic()
    instance = await runtime.start(make_spec(
        app, env={"FOO": "bar", "OVERRIDDEN": "by-container"},
        extra={"EXTRA": "from-caller", "OVERRIDDEN": "by-caller"}, workingDir=str(tmp_path)))
    assert instance.state is InstanceState.STARTING
    assert instance.runtime == "process"
    ready_at, ready = await recorder.wait_for(state_is(InstanceState.READY))
    print(f"process start to ready: {ready_at - started:.3f}s")
    assert ready.address == instance.address
    assert ready.started_at > 0
    status, body = await get(ready.address)
    assert status == 200
    answer = json.loads(body)
    env = answer["env"]
    assert env["PORT"] == instance.address.rsplit(":", 1)[1]
    assert (env["K_SERVICE"], env["K_CONFIGURATION"], env["K_REVISION"]) == (
        "hello", "hello", "hello-00001")
    assert (env["FOO"], env["EXTRA"], env["OVERRIDDEN"]) == ("bar", "from-caller",
                                                            "by-container")
    assert "PATH" in env
    assert answer["cwd"] == str(tmp_path)
    assert [i.id for i in runtime.list("default/hello-00001")] == [instance.id]
    assert runtime.list("default/other") == []


async def test_http_readiness_probe(runtime: ProcessRuntime, app: Path) -> None:
    recorder = Recorder(runtime)
    started = time.monotonic()
    await runtime.start(make_spec(app, env={"READY_DELAY": "0.5"}, readinessProbe={
        "httpGet": {"path": "/healthz", "httpHeaders": [{"name": "X-Probe", "value": "shoal"}]},
    }))
    _, waiting = await recorder.wait_for(
        lambda i: "HTTP probe failed with statuscode: 503" in i.message)
    assert waiting.state is InstanceState.STARTING
    ready_at, _ = await recorder.wait_for(state_is(InstanceState.READY))
    assert ready_at - started >= 0.5


async def test_exec_readiness_probe_sees_the_instance_env(
        runtime: ProcessRuntime, app: Path, tmp_path: Path) -> None:
    recorder = Recorder(runtime)
    flag = tmp_path / "ready-flag"
    check = "import os, sys; sys.exit(0 if os.path.exists(os.environ['FLAG']) else 1)"
    instance = await runtime.start(make_spec(app, env={"FLAG": str(flag)}, readinessProbe={
        "exec": {"command": [sys.executable, "-c", check]}}))
    await asyncio.sleep(0.5)
    assert runtime.list()[0].state is InstanceState.STARTING
    flag.touch()
    await recorder.wait_for(state_is(InstanceState.READY))
    assert runtime.list()[0].id == instance.id


async def test_exit_code_fails_then_restarts_with_backoff(
        runtime: ProcessRuntime, app: Path, tmp_path: Path) -> None:
    recorder = Recorder(runtime)
    instance = await runtime.start(make_spec(
        app, env={"EXIT_FIRST": "3", "RUN_MARKER": str(tmp_path / "ran")}))
    failed_at, failed = await recorder.wait_for(state_is(InstanceState.FAILED))
    assert (failed.reason, failed.exit_code, failed.restarts) == ("ExitCode3", 3, 0)
    assert "back-off 1s" in failed.message
    restarted_at, _ = await recorder.wait_for(state_is(InstanceState.STARTING, restarts=1))
    assert restarted_at - failed_at >= 0.95
    _, ready = await recorder.wait_for(state_is(InstanceState.READY))
    assert ready.restarts == 1
    lines = [line async for line in runtime.logs(instance.id)]
    assert lines[0] == "exiting on the first run"
    assert lines[1].startswith("listening on")


async def test_liveness_failure_restarts(runtime: ProcessRuntime, app: Path) -> None:
    recorder = Recorder(runtime)
    await runtime.start(make_spec(app, livenessProbe={
        "httpGet": {"path": "/healthz"}, "initialDelaySeconds": 1, "periodSeconds": 1,
        "failureThreshold": 1}))  # /healthz answers 503 without X-Probe
    _, failed = await recorder.wait_for(state_is(InstanceState.FAILED))
    assert failed.reason == "Unhealthy"
    assert "Liveness probe failed: HTTP probe failed with statuscode: 503" in failed.message
    await recorder.wait_for(state_is(InstanceState.STARTING, restarts=1))


async def test_stop_sends_sigterm_to_the_app(
        runtime: ProcessRuntime, app: Path, tmp_path: Path) -> None:
    recorder = Recorder(runtime)
    term_file = tmp_path / "terminated"
    instance = await runtime.start(make_spec(app, env={"TERM_FILE": str(term_file)}))
    await recorder.wait_for(state_is(InstanceState.READY))
    started = time.monotonic()
    await runtime.stop(instance.id, grace=10.0)
    assert time.monotonic() - started < 5.0
    assert term_file.read_text() == "terminated"
    _, stopped = await recorder.wait_for(state_is(InstanceState.STOPPED))
    assert stopped.exit_code == 0
    assert runtime.list() == []
    assert not runtime.log_path(instance.id).exists()


async def test_sigkill_after_grace_for_the_whole_group(
        runtime: ProcessRuntime, app: Path, tmp_path: Path) -> None:
    recorder = Recorder(runtime)
    pid_file, child_file = tmp_path / "pid", tmp_path / "child"
    instance = await runtime.start(make_spec(app, env={
        "IGNORE_TERM": "1", "PID_FILE": str(pid_file), "CHILD_PID_FILE": str(child_file)}))
    await recorder.wait_for(state_is(InstanceState.READY))
    pid, child = read_pid(pid_file), read_pid(child_file)
    assert is_running(child, None)
    started = time.monotonic()
    await runtime.stop(instance.id, grace=0.5)
    assert 0.5 <= time.monotonic() - started < 5.0
    _, stopped = await recorder.wait_for(state_is(InstanceState.STOPPED))
    assert stopped.exit_code == 137
    assert not is_running(pid, None)
    assert await gone(child)


async def test_logs_tail_and_follow(runtime: ProcessRuntime, app: Path) -> None:
    recorder = Recorder(runtime)
    instance = await runtime.start(make_spec(app))
    _, ready = await recorder.wait_for(state_is(InstanceState.READY))
    assert [line async for line in runtime.logs(instance.id, tail=1)] == [
        f"listening on {ready.address.rsplit(':', 1)[1]}"]
    followed: list[str] = []
    got_request = asyncio.Event()

    async def follow() -> None:
        async with contextlib.aclosing(runtime.logs(instance.id, follow=True)) as lines:
            async for line in lines:
                followed.append(line)
                if line == "request /hello":
                    got_request.set()

    task = asyncio.create_task(follow())
    await get(ready.address, "/hello")
    await asyncio.wait_for(got_request.wait(), 5)
    await runtime.stop(instance.id, grace=5)
    await asyncio.wait_for(task, 5)  # follow ends with the instance
    assert followed[0].startswith("listening on")


async def test_missing_executable_fails_to_start(runtime: ProcessRuntime, tmp_path: Path) -> None:
    recorder = Recorder(runtime)
    await runtime.start(InstanceSpec(
        revision="default/broken-00001", namespace="default", service="", configuration="broken",
        container={"command": [str(tmp_path / "no-such-program")]}, env={}))
    _, failed = await recorder.wait_for(state_is(InstanceState.FAILED))
    assert failed.reason == "ContainerCannotRun"
    assert "no-such-program" in failed.message


CRASHING_RUNTIME = r'''
import asyncio, sys
from pathlib import Path
from shoal.runtime import InstanceSpec, ProcessRuntime

async def main(state_dir, app, pid_file):
    runtime = ProcessRuntime(Path(state_dir))
    await runtime.start(InstanceSpec(
        revision="default/orphan-00001", namespace="default", service="orphan",
        configuration="orphan", env={"PID_FILE": pid_file},
        container={"command": [sys.executable, app]}))
    while not any(i.ready for i in runtime.list()):
        await asyncio.sleep(0.01)
    print("ready", flush=True)
    await asyncio.sleep(100)

asyncio.run(main(*sys.argv[1:]))
'''


async def test_reap_orphans_left_by_a_crashed_runtime(app: Path, tmp_path: Path) -> None:
    state_dir, pid_file = tmp_path / "state", tmp_path / "orphan.pid"
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CRASHING_RUNTIME, str(state_dir), str(app), str(pid_file),
        stdout=asyncio.subprocess.PIPE)
    try:
        assert child.stdout is not None
        assert await asyncio.wait_for(child.stdout.readline(), 30) == b"ready\n"
    finally:
        child.kill()
        await child.communicate()
    orphan = read_pid(pid_file)
    assert is_running(orphan, None)

    runtime = ProcessRuntime(state_dir)
    try:
        recorder = Recorder(runtime)
        mine = await runtime.start(make_spec(app))
        await recorder.wait_for(state_is(InstanceState.READY))
        reaped = await runtime.reap_orphans(grace=2.0)
        assert len(reaped) == 1 and reaped[0].startswith("orphan-00001-")
        assert await gone(orphan)
        assert await runtime.reap_orphans() == []
        assert [i.id for i in runtime.list()] == [mine.id]
        assert runtime.list()[0].ready
    finally:
        await runtime.close(grace=2.0)
    assert os.listdir(state_dir / "instances") == []
