"""Serving with images through ``shoal up`` and podman: routed, deleted, restarted, with no
container left behind. The image is built as ``test_podman_runtime`` builds it (busybox
httpd on ``$PORT``); skipped with the reason when podman or a static busybox is missing."""

from __future__ import annotations

import asyncio
import json
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from tests.e2e.test_podman_runtime import CMD, busybox_image
from tests.e2e.test_serving import ready, until
from tests.e2e.test_serving_gaps import SERVING, gateway_get, port_of, send

from shoal.runtime.container import LABEL_REVISION
from shoal.testing import ShoalProcess

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def boxed_image() -> Iterator[str]:
    yield from busybox_image("shoal-e2e-serving", change=(f"CMD {json.dumps(CMD)}",))


def unique(prefix: str) -> str:
    """A Service name no other podman user on the machine has: containers are listed by
    their revision's label, and podman is shared."""
    return f"{prefix}-{secrets.token_hex(3)}"


def service(name: str, image: str) -> dict[str, Any]:
    return {"apiVersion": "serving.knative.dev/v1", "kind": "Service",
            "metadata": {"name": name},
            "spec": {"template": {"spec": {"containers": [{"image": image}]}}}}


async def containers(revision: str) -> list[str]:
    done = await asyncio.to_thread(subprocess.run, [
        "podman", "ps", "-a", "--filter", f"label={LABEL_REVISION}={revision}",
        "--format", "{{.Names}}"], capture_output=True, text=True, check=True, timeout=60)
    return done.stdout.split()


async def until_no_container(revision: str) -> list[str]:
    for _ in range(300):
        left = await containers(revision)
        if not left:
            return left
        await asyncio.sleep(0.1)
    return await containers(revision)


async def serve(http: aiohttp.ClientSession, svc: dict[str, Any], host: str) -> tuple[int, str]:
    port = port_of(svc["status"]["url"])
    status, body = 0, ""
    for _ in range(100):
        status, body = await gateway_get(http, port, host)
        if status == 200:
            break
        await asyncio.sleep(0.1)
    return status, body


async def test_an_image_serves_and_delete_leaves_no_container(boxed_image: str,
                                                              tmp_path: Path) -> None:
    name = unique("boxed")
    shoal = ShoalProcess(tmp_path / "data").start()
    try:
        async with aiohttp.ClientSession() as http:
            await send(http, "POST", f"{shoal.url}{SERVING}/services",
                       service(name, boxed_image))
            svc = await until(http, f"{shoal.url}{SERVING}/services/{name}", ready, timeout=120)
            assert await serve(http, svc, f"{name}.default.localhost") == (
                200, "hello from shoal\n")
            assert len(await containers(f"default/{name}-00001")) == 1
            pods = await until(http, f"{shoal.url}/api/v1/namespaces/default/pods", lambda o: [
                p["status"].get("phase") for p in o["items"]] == ["Running"])
            (pod,) = pods["items"]  # published a moment after the instance got ready
            assert pod["metadata"]["labels"]["serving.knative.dev/revision"] == f"{name}-00001"
            async with http.get(f"{shoal.url}/logs/default/{name}-00001") as resp:
                assert (resp.status, await resp.text()) == (200, "serving on 8080\n")
            async with http.delete(f"{shoal.url}{SERVING}/services/{name}") as resp:
                assert resp.status in (200, 202)
            await until(http, f"{shoal.url}{SERVING}/revisions", lambda o: not o["items"],
                        timeout=120)
        assert await until_no_container(f"default/{name}-00001") == []
    finally:
        shoal.stop(timeout=60)


async def test_a_restart_serves_the_image_again_with_no_leak(boxed_image: str,
                                                             tmp_path: Path) -> None:
    name = unique("again")
    data = tmp_path / "data"
    first = ShoalProcess(data).start()
    try:
        async with aiohttp.ClientSession() as http:
            await send(http, "POST", f"{first.url}{SERVING}/services",
                       service(name, boxed_image))
            svc = await until(http, f"{first.url}{SERVING}/services/{name}", ready, timeout=120)
            old_port = port_of(svc["status"]["url"])
    finally:
        first.stop(timeout=60)
    assert await until_no_container(f"default/{name}-00001") == []
    second = ShoalProcess(data).start()
    try:
        async with aiohttp.ClientSession() as http:
            svc = await until(http, f"{second.url}{SERVING}/services/{name}", lambda o: ready(
                o) and port_of(o["status"]["url"]) != old_port, timeout=120)
            assert await serve(http, svc, f"{name}.default.localhost") == (
                200, "hello from shoal\n")
            assert len(await containers(f"default/{name}-00001")) == 1
    finally:
        second.stop(timeout=60)
    assert await until_no_container(f"default/{name}-00001") == []
