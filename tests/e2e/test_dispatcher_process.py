"""The dispatcher process of ``shoal up``: killed, it is started again and loses nothing;
it never outlives ``shoal up``."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import aiohttp
import pytest
from tests.e2e.test_broker_durability import BROKERS, TRIGGERS, post, ready_address, trigger_ready
from tests.integration.eventing_harness import Sink

from shoal.testing import ShoalProcess

pytestmark = pytest.mark.e2e

TOTAL = 4000


def dispatchers(pid: int) -> list[int]:
    """The dispatcher processes ``shoal up`` (``pid``) runs."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    found = []
    for child in children:
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        if b"shoal.cli.dispatcher" in cmdline:
            found.append(int(child))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


async def wait_for(check: object, timeout: float, what: str) -> None:
    assert callable(check)
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, what
        await asyncio.sleep(0.05)


async def broker_with_trigger(http: aiohttp.ClientSession, api: str, sink: Sink) -> str:
    await post(http, api + BROKERS, {
        "apiVersion": "eventing.knative.dev/v1", "kind": "Broker",
        "metadata": {"name": "default"}})
    await post(http, api + TRIGGERS, {
        "apiVersion": "eventing.knative.dev/v1", "kind": "Trigger",
        "metadata": {"name": "all"},
        "spec": {"broker": "default", "subscriber": {"uri": sink.url}}})
    address = await ready_address(http, api)
    await trigger_ready(http, api)
    return address


async def test_a_killed_dispatcher_is_started_again_and_delivers_every_event(
        tmp_path: Path) -> None:
    sink = await Sink().start()
    shoal = ShoalProcess(tmp_path / "data", "--log-level", "warning").start()
    assert shoal.proc is not None
    pid = shoal.proc.pid
    acked: set[str] = set()
    try:
        await wait_for(lambda: dispatchers(pid), 30, "no dispatcher process")
        first = dispatchers(pid)[0]
        async with aiohttp.ClientSession() as http:
            address = await broker_with_trigger(http, shoal.url, sink)
            ids = iter(range(TOTAL))
            halfway = asyncio.Event()

            async def sender() -> None:
                for i in ids:
                    headers = {"ce-specversion": "1.0", "ce-id": str(i), "ce-type": "t",
                               "ce-source": "/test", "content-type": "application/json"}
                    async with http.post(address, data=b'{"n": 1}', headers=headers) as resp:
                        assert resp.status == 202, await resp.text()
                        acked.add(str(i))
                        if len(acked) >= TOTAL // 2:
                            halfway.set()

            senders = [asyncio.create_task(sender()) for _ in range(8)]
            await asyncio.wait_for(halfway.wait(), 60)
            os.kill(first, signal.SIGKILL)  # the ingress goes on accepting meanwhile
            await asyncio.wait_for(asyncio.gather(*senders), 60)

        await wait_for(lambda: [p for p in dispatchers(pid) if p != first], 30,
                       "the dispatcher was not started again")
        deadline = asyncio.get_running_loop().time() + 60
        while asyncio.get_running_loop().time() < deadline:
            if acked <= {e.id for e in sink.events}:
                break
            await asyncio.sleep(0.1)
        missing = acked - {e.id for e in sink.events}
        assert not missing, f"{len(missing)} acknowledged events never delivered"
        assert len(acked) == TOTAL
    finally:
        shoal.kill()
        await sink.stop()


async def test_the_dispatcher_ends_with_shoal_up(tmp_path: Path) -> None:
    shoal = ShoalProcess(tmp_path / "data", "--log-level", "warning").start()
    assert shoal.proc is not None
    try:
        await wait_for(lambda: dispatchers(shoal.proc.pid), 30, "no dispatcher process")
        (child,) = dispatchers(shoal.proc.pid)
        assert shoal.stop() == 0
        await wait_for(lambda: not alive(child), 5, "the dispatcher outlived a stopped shoal")

        shoal.start()
        await wait_for(lambda: dispatchers(shoal.proc.pid), 30, "no dispatcher process")
        (child,) = dispatchers(shoal.proc.pid)
        shoal.kill()  # SIGKILL: nothing in shoal up stops it; the closed link does
        await wait_for(lambda: not alive(child), 5, "the dispatcher outlived a killed shoal")
    finally:
        shoal.kill()
