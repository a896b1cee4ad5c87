"""Nothing acknowledged is lost: across a clean restart, and across kill -9 mid-burst."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from shoal.testing import ShoalProcess

pytestmark = pytest.mark.e2e

CM = "/api/v1/namespaces/default/configmaps"


def configmap(name: str) -> bytes:
    return json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
                       "data": {"payload": name * 20}}).encode()


async def list_names(url: str) -> dict[str, str]:
    async with aiohttp.ClientSession() as http, http.get(url + CM) as resp:
        body: Any = await resp.json()
    return {i["metadata"]["name"]: i["metadata"]["resourceVersion"] for i in body["items"]}


async def test_restart_keeps_every_object_and_version(tmp_path: Path) -> None:
    shoal = ShoalProcess(tmp_path / "data").start()
    try:
        async with aiohttp.ClientSession() as http:
            for i in range(50):
                async with http.post(shoal.url + CM, data=configmap(f"keep{i}"),
                                     headers={"Content-Type": "application/json"}) as resp:
                    assert resp.status == 201
        before = await list_names(shoal.url)
    finally:
        assert shoal.stop() == 0
    shoal.start()
    try:
        after = await list_names(shoal.url)
        assert after == before
    finally:
        shoal.stop()


async def test_kill_9_during_a_burst_loses_no_acknowledged_write(tmp_path: Path) -> None:
    shoal = ShoalProcess(tmp_path / "data").start()
    acked: list[str] = []
    enough = asyncio.Event()

    async def writer(worker: int, http: aiohttp.ClientSession) -> None:
        for i in range(5000):  # bounded; the kill ends it much sooner
            name = f"w{worker}-{i}"
            try:
                async with http.post(shoal.url + CM, data=configmap(name),
                                     headers={"Content-Type": "application/json"}) as resp:
                    if resp.status == 201:
                        acked.append(name)
                        if len(acked) >= 300:
                            enough.set()
            except (aiohttp.ClientError, OSError):
                return

    async with aiohttp.ClientSession() as http:
        tasks = [asyncio.create_task(writer(w, http)) for w in range(4)]
        await asyncio.wait_for(enough.wait(), 60)
        shoal.kill()  # SIGKILL, mid-burst
        await asyncio.wait_for(asyncio.gather(*tasks), 30)
    assert len(acked) >= 300

    db = sqlite3.connect(tmp_path / "data" / "shoal.db")
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    db.close()
    shoal.start()
    try:
        stored = await list_names(shoal.url)
        missing = [n for n in acked if n not in stored]
        assert missing == []
    finally:
        shoal.stop()
