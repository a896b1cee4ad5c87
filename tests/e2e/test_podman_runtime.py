"""ContainerRuntime through a real podman, with an image built here from busybox-static.

The image is made without any registry: a root filesystem tar holding Debian's static
``/bin/busybox`` and its links, a CGI script that prints its environment, imported with
``podman import`` and a CMD that runs ``busybox httpd`` on ``$PORT``. Skipped, with the
reason, when podman or a static busybox is not there (``scripts/setup --dev`` installs both
when run as root).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import secrets
import shutil
import struct
import subprocess
import tarfile
import time
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from shoal.runtime import ContainerRuntime, Instance, InstanceSpec, InstanceState
from shoal.runtime.container import LABEL_INSTANCE, LABEL_OWNER, LABEL_REVISION

pytestmark = pytest.mark.e2e

BUSYBOX = Path("/bin/busybox")
APPLETS = ["sh", "httpd", "env", "cat", "echo", "sleep", "test", "touch"]
CGI = "#!/bin/sh\necho 'Content-Type: text/plain'\necho\nenv\n"
CMD = ["/bin/sh", "-c",
       "trap 'exit 0' TERM; echo \"serving on $PORT\"; "
       "/bin/busybox httpd -f -p \"$PORT\" -h /www & wait"]


def is_static(binary: Path) -> bool:
    """Whether an ELF binary has no program interpreter (so runs in an empty rootfs)."""
    data = binary.read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2:  # 64-bit only
        return False
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    return all(struct.unpack_from("<I", data, phoff + n * phentsize)[0] != 3  # PT_INTERP
               for n in range(phnum))


def podman_works() -> str:
    """Why podman cannot be used here, or "" when it can."""
    if shutil.which("podman") is None:
        return "podman is not installed"
    done = subprocess.run(["podman", "info"], capture_output=True, text=True, timeout=60,
                          check=False)
    if done.returncode != 0:
        return f"podman info failed: {done.stderr.strip()[-300:]}"
    return ""


def rootfs_tar() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        def add(name: str, *, data: bytes | None = None, mode: int = 0o755,
                link: str | None = None) -> None:
            info = tarfile.TarInfo(name)
            info.mtime = int(time.time())
            if link is not None:
                info.type, info.linkname = tarfile.SYMTYPE, link
                tar.addfile(info)
            elif data is None:
                info.type, info.mode = tarfile.DIRTYPE, mode
                tar.addfile(info)
            else:
                info.size, info.mode = len(data), mode
                tar.addfile(info, io.BytesIO(data))

        for directory in ("bin", "tmp", "www", "www/cgi-bin"):
            add(directory, mode=0o1777 if directory == "tmp" else 0o755)
        add("bin/busybox", data=BUSYBOX.read_bytes())
        for applet in APPLETS:
            add(f"bin/{applet}", link="busybox")
        add("www/index.html", data=b"hello from shoal\n", mode=0o644)
        add("www/cgi-bin/env", data=CGI.encode())
    return buffer.getvalue()


@contextlib.contextmanager
def busybox_image(name: str) -> Iterator[str]:
    """Import the test image as ``name`` and remove it afterwards; skip the test, with the
    reason, when podman or a static busybox is missing."""
    reason = podman_works()
    if reason:
        pytest.skip(f"{reason} (scripts/setup --dev installs podman as root)")
    if not BUSYBOX.exists() or not is_static(BUSYBOX):
        pytest.skip("no static /bin/busybox (Debian's busybox-static) for the test image")
    subprocess.run(["podman", "import", "--change", f"CMD {json.dumps(CMD)}", "-", name],
                   input=rootfs_tar(), capture_output=True, check=True, timeout=120)
    try:
        yield name
    finally:
        subprocess.run(["podman", "rmi", "-f", name], capture_output=True, check=False,
                       timeout=120)


@pytest.fixture(scope="module")
def image() -> Iterator[str]:
    with busybox_image(f"localhost/shoal-e2e-httpd:{secrets.token_hex(4)}") as name:
        yield name


@pytest.fixture
async def runtime(image: str, tmp_path: Path) -> AsyncIterator[ContainerRuntime]:
    rt = ContainerRuntime("podman", tmp_path / "state", pull="never")
    try:
        yield rt
    finally:
        await rt.close(grace=2.0)
        assert await labelled(f"{LABEL_OWNER}={rt.owner}") == []


async def labelled(label: str) -> list[str]:
    done = await asyncio.to_thread(subprocess.run, [
        "podman", "ps", "-a", "--filter", f"label={label}", "--format", "{{.Names}}"],
        capture_output=True, text=True, check=True, timeout=60)
    return done.stdout.split()


async def podman(*args: str) -> str:
    done = await asyncio.to_thread(subprocess.run, ["podman", *args], capture_output=True,
                                   text=True, check=True, timeout=60)
    return done.stdout


def spec(image: str, **container: Any) -> InstanceSpec:
    return InstanceSpec(revision="default/hello-00001", namespace="default", service="hello",
                        configuration="hello", env={"EXTRA": "from-caller"},
                        container={"image": image, **container})


async def wait_for(runtime: ContainerRuntime, predicate: Callable[[Instance], bool],
                   timeout: float = 60.0) -> Instance:
    changed = asyncio.Event()
    seen: list[Instance] = []

    def on_change(instance: Instance) -> None:
        seen.append(instance)
        changed.set()

    unsubscribe = runtime.subscribe(on_change)
    try:
        async with asyncio.timeout(timeout):
            while True:
                for instance in [*runtime.list(), *seen]:
                    if predicate(instance):
                        return instance
                changed.clear()
                await changed.wait()
    finally:
        unsubscribe()


async def get(address: str, path: str) -> str:
    def fetch() -> str:
        with urllib.request.urlopen(f"http://{address}{path}", timeout=10) as response:
            body: bytes = response.read()
            return body.decode()

    return await asyncio.to_thread(fetch)


async def test_runs_an_image_on_loopback(runtime: ContainerRuntime, image: str) -> None:
    started = time.monotonic()
    instance = await runtime.start(spec(
        image, env=[{"name": "FOO", "value": "bar"}],
        resources={"limits": {"memory": "64Mi", "cpu": "500m"}},
        readinessProbe={"httpGet": {"path": "/index.html"}}))
    assert (instance.state, instance.runtime) == (InstanceState.STARTING, "podman")
    ready = await wait_for(runtime, lambda i: i.ready)
    print(f"podman start to ready: {time.monotonic() - started:.3f}s")
    assert ready.address.startswith("127.0.0.1:")

    env = dict(line.split("=", 1) for line in
               (await get(ready.address, "/cgi-bin/env")).splitlines() if "=" in line)
    assert env["PORT"] == "8080"
    assert (env["K_SERVICE"], env["K_CONFIGURATION"], env["K_REVISION"]) == (
        "hello", "hello", "hello-00001")
    assert (env["FOO"], env["EXTRA"]) == ("bar", "from-caller")

    inspect = json.loads(await podman("inspect", instance.id))[0]
    labels = inspect["Config"]["Labels"]
    assert labels[LABEL_INSTANCE] == instance.id
    assert labels[LABEL_REVISION] == "default/hello-00001"
    assert labels[LABEL_OWNER] == runtime.owner
    assert inspect["HostConfig"]["Memory"] == 64 * 1024 * 1024

    lines = [line async for line in runtime.logs(instance.id)]
    assert lines == ["serving on 8080"]

    stopping = time.monotonic()
    await runtime.stop(instance.id, grace=10.0)
    assert time.monotonic() - stopping < 8.0  # the TERM trap ends it before the grace
    assert runtime.list() == []
    assert await labelled(f"{LABEL_INSTANCE}={instance.id}") == []


async def test_command_args_and_exit_code(runtime: ContainerRuntime, image: str) -> None:
    instance = await runtime.start(spec(image, command=["/bin/sh", "-c"],
                                        args=["echo started $(K_REVISION); exit 3"]))
    failed = await wait_for(runtime, lambda i: i.state is InstanceState.FAILED)
    assert (failed.reason, failed.exit_code) == ("ExitCode3", 3)
    restarted = await wait_for(runtime, lambda i: i.restarts >= 1)
    assert restarted.id == instance.id
    await wait_for(runtime, lambda i: i.state is InstanceState.FAILED and i.restarts >= 1)
    lines = [line async for line in runtime.logs(instance.id)]
    assert lines[:2] == ["started hello-00001", "started hello-00001"]


async def test_exec_readiness_probe(runtime: ContainerRuntime, image: str) -> None:
    instance = await runtime.start(spec(image, readinessProbe={
        "exec": {"command": ["/bin/test", "-f", "/tmp/ready"]}, "periodSeconds": 1}))
    await asyncio.sleep(1.0)
    assert runtime.list()[0].state is InstanceState.STARTING
    await podman("exec", instance.id, "/bin/touch", "/tmp/ready")
    await wait_for(runtime, lambda i: i.ready)


async def test_missing_image_fails_clearly(runtime: ContainerRuntime) -> None:
    await runtime.start(spec("localhost/shoal-no-such-image:none"))
    failed = await wait_for(runtime, lambda i: i.state is InstanceState.FAILED)
    assert failed.reason == "ErrImageNeverPull"
    assert 'image "localhost/shoal-no-such-image:none" is not present' in failed.message


async def test_reap_orphans_removes_containers_of_an_earlier_shoal(
        runtime: ContainerRuntime, image: str) -> None:
    name = f"orphan-{secrets.token_hex(4)}"
    await podman("run", "-d", "--name", name, "--label", f"{LABEL_OWNER}={runtime.owner}",
                 image, "/bin/sleep", "100")
    mine = await runtime.start(spec(image))
    await wait_for(runtime, lambda i: i.ready)
    assert await runtime.reap_orphans() == [name]
    assert await labelled(f"{LABEL_OWNER}={runtime.owner}") == [mine.id]
