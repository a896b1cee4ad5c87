"""A real ``shoal up`` with a broker, a trigger to a recording sink, and the ``shoal`` CLI.

The sources' end-to-end tests create their source with the CLI, pointing it at the broker,
and read what reaches the sink through the trigger.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import Any

import aiohttp
from tests.integration.eventing_harness import Sink

from shoal.testing import ShoalProcess

DEADLINE = 30.0


class Rig:
    def __init__(self, shoal: ShoalProcess, http: aiohttp.ClientSession, sink: Sink) -> None:
        self.shoal = shoal
        self.http = http
        self.sink = sink

    async def cli(self, *argv: str) -> tuple[int, str, str]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "shoal", *argv, "--server", self.shoal.url,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), DEADLINE)
        assert proc.returncode is not None
        return proc.returncode, out.decode(), err.decode()

    async def ok(self, *argv: str) -> str:
        code, out, err = await self.cli(*argv)
        assert code == 0, err
        return out

    async def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        async with self.http.post(self.shoal.url + path, json=body) as resp:
            created: dict[str, Any] = await resp.json()
            assert resp.status == 201, created
            return created

    async def get(self, path: str) -> dict[str, Any]:
        async with self.http.get(self.shoal.url + path) as resp:
            body: dict[str, Any] = await resp.json()
            return body

    async def until(self, path: str, test: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        deadline = asyncio.get_running_loop().time() + DEADLINE
        obj: dict[str, Any] = {}
        while asyncio.get_running_loop().time() < deadline:
            obj = await self.get(path)
            if test(obj):
                return obj
            await asyncio.sleep(0.05)
        raise AssertionError(f"{path} never matched: {obj.get('status')}")

    async def ready(self, path: str) -> dict[str, Any]:
        return await self.until(path, is_ready)

    async def broker_to_sink(self) -> str:
        """Broker ``default`` with a trigger ``all`` to the sink; the broker's address."""
        await self.ok("broker", "create", "default")
        await self.ok("trigger", "create", "all", "--broker", "default", "--sink", self.sink.url)
        broker = await self.ready("/apis/eventing.knative.dev/v1/namespaces/default/brokers/"
                                  "default")
        await self.ready("/apis/eventing.knative.dev/v1/namespaces/default/triggers/all")
        await asyncio.sleep(0.5)  # the data plane picks the trigger up from its watch
        return str(broker["status"]["address"]["url"])


def is_ready(obj: dict[str, Any]) -> bool:
    status = obj.get("status") or {}
    generation = (obj.get("metadata") or {}).get("generation")
    return status.get("observedGeneration") == generation and any(
        c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions") or [])


def conditions(obj: dict[str, Any]) -> dict[str, str]:
    return {c["type"]: c["status"] for c in (obj.get("status") or {}).get("conditions") or []}
