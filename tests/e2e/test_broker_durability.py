"""kill -9 in the middle of a 10,000-event stream: every acknowledged event is delivered."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from tests.integration.eventing_harness import Sink

from shoal.testing import ShoalProcess

pytestmark = pytest.mark.e2e

BROKERS = "/apis/eventing.knative.dev/v1/namespaces/default/brokers"
TRIGGERS = "/apis/eventing.knative.dev/v1/namespaces/default/triggers"
TOTAL = 10_000


async def post(http: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> None:
    async with http.post(url, data=json.dumps(body).encode(),
                         headers={"Content-Type": "application/json"}) as resp:
        assert resp.status == 201, await resp.text()


async def ready_address(http: aiohttp.ClientSession, api: str, timeout: float = 30) -> str:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        async with http.get(f"{api}{BROKERS}/default") as resp:
            broker = await resp.json()
        conditions = (broker.get("status") or {}).get("conditions") or []
        url = ((broker.get("status") or {}).get("address") or {}).get("url")
        if url and any(c["type"] == "Ready" and c["status"] == "True" for c in conditions):
            return str(url)
        await asyncio.sleep(0.05)
    raise AssertionError("broker not ready")


async def trigger_ready(http: aiohttp.ClientSession, api: str, timeout: float = 30) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        async with http.get(f"{api}{TRIGGERS}/all") as resp:
            trigger = await resp.json()
        conditions = (trigger.get("status") or {}).get("conditions") or []
        if any(c["type"] == "Ready" and c["status"] == "True" for c in conditions):
            await asyncio.sleep(0.5)  # the data plane picks the trigger up from its watch
            return
        await asyncio.sleep(0.05)
    raise AssertionError("trigger not ready")


async def test_kill_9_mid_stream_loses_no_acknowledged_event(tmp_path: Path) -> None:
    sink = await Sink().start()
    shoal = ShoalProcess(tmp_path / "data", "--log-level", "warning").start()
    acked: set[str] = set()
    enough = asyncio.Event()
    try:
        async with aiohttp.ClientSession() as http:
            await post(http, shoal.url + BROKERS, {
                "apiVersion": "eventing.knative.dev/v1", "kind": "Broker",
                "metadata": {"name": "default"}})
            await post(http, shoal.url + TRIGGERS, {
                "apiVersion": "eventing.knative.dev/v1", "kind": "Trigger",
                "metadata": {"name": "all"},
                "spec": {"broker": "default", "subscriber": {"uri": sink.url}}})
            address = await ready_address(http, shoal.url)
            await trigger_ready(http, shoal.url)
            ids = iter(range(TOTAL))

            async def sender() -> None:
                for i in ids:
                    headers = {"ce-specversion": "1.0", "ce-id": str(i), "ce-type": "t",
                               "ce-source": "/bench", "content-type": "application/json"}
                    try:
                        async with http.post(address, data=b'{"n": 1}',
                                             headers=headers) as resp:
                            if resp.status == 202:
                                acked.add(str(i))
                                if len(acked) >= 3000:
                                    enough.set()
                    except (aiohttp.ClientError, OSError):
                        return

            senders = [asyncio.create_task(sender()) for _ in range(16)]
            await asyncio.wait_for(enough.wait(), 120)
            shoal.kill()
            await asyncio.wait_for(asyncio.gather(*senders), 60)

        shoal.start()
        deadline = asyncio.get_running_loop().time() + 120
        while asyncio.get_running_loop().time() < deadline:
            delivered = {e.id for e in sink.events}
            if acked <= delivered:
                break
            await asyncio.sleep(0.2)
        missing = acked - {e.id for e in sink.events}
        assert not missing, f"{len(missing)} acknowledged events never delivered"
        assert len(acked) >= 3000
    finally:
        shoal.kill()
        await sink.stop()
