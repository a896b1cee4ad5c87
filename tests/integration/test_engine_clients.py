"""The controller engine over both real API clients: in-process and REST over loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from shoal.api.catalog import default_catalog
from shoal.api.eventing.broker import Broker, BrokerStatus
from shoal.client.base import Client
from shoal.client.inprocess import InProcessClient
from shoal.client.rest import RestClient
from shoal.controllers.conditions import ConditionSet
from shoal.controllers.errors import TemporaryError
from shoal.controllers.manager import Manager
from shoal.controllers.reconciler import ModelReconciler, ReconcileResult

BROKER = default_catalog().require("brokers")
CONDITIONS = ConditionSet("Ready", ["Addressable"])


class BrokerProbe(ModelReconciler[Broker]):
    """Marks brokers ready and remembers the last label value it saw per key."""

    rt = BROKER

    def __init__(self, failures: dict[str, int] | None = None) -> None:
        self.seen: dict[str, str] = {}
        self.first_success: dict[str, int] = {}
        self.attempts: dict[str, int] = {}
        self.failures = failures or {}

    async def reconcile(self, obj: Broker) -> ReconcileResult | None:
        key = f"{obj.namespace}/{obj.name}"
        self.attempts[key] = self.attempts.get(key, 0) + 1
        if self.attempts[key] <= self.failures.get(key, 0):
            raise TemporaryError("not yet")
        self.seen[key] = (obj.metadata.labels or {}).get("round", "")
        self.first_success.setdefault(key, self.attempts[key])
        obj.status = obj.status or BrokerStatus()
        conditions = CONDITIONS.manage(obj.status)
        conditions.initialize()
        conditions.mark_true("Addressable")
        return None


@pytest.fixture(params=["inprocess", "rest"])
async def client(request: pytest.FixtureRequest, api_server: Any) -> AsyncIterator[Client]:
    if request.param == "inprocess":
        yield InProcessClient(api_server.registry)
    else:
        rest = RestClient(api_server.url)
        yield rest
        await rest.close()


async def until(predicate: Any, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


def broker(name: str, round_: int) -> dict[str, Any]:
    return {"apiVersion": "eventing.knative.dev/v1", "kind": "Broker",
            "metadata": {"name": name, "namespace": "default",
                         "labels": {"round": str(round_)}}}


async def test_reconciler_sees_the_latest_state_and_writes_status_once(client: Client) -> None:
    probe = BrokerProbe()
    manager = Manager(client, resync_period=None)
    controller = manager.add(probe, workers=2)
    await manager.start(timeout=10)
    try:
        names = [f"b{i}" for i in range(15)]
        for name in names:
            await client.create(BROKER, broker(name, 0))
        for round_ in range(1, 5):
            for name in names:
                await client.patch(BROKER, name, "default",
                                   {"metadata": {"labels": {"round": str(round_)}}})
        await until(lambda: all(probe.seen.get(f"default/{n}") == "4" for n in names))
        await until(lambda: all(probe.attempts.get(f"default/{n}", 0) > 0 for n in names))

        async def settled() -> dict[str, str]:
            items = (await client.list(BROKER, "default")).items
            return {o["metadata"]["name"]: o["metadata"]["resourceVersion"] for o in items}

        async def ready_all() -> bool:
            items = (await client.list(BROKER, "default")).items
            return all(o.get("status", {}).get("observedGeneration") ==
                       o["metadata"]["generation"] and
                       any(c["type"] == "Ready" and c["status"] == "True"
                           for c in o["status"].get("conditions", [])) for o in items)

        for _ in range(200):
            if await ready_all():
                break
            await asyncio.sleep(0.05)
        assert await ready_all()
        before = await settled()
        attempts = dict(probe.attempts)
        for name in names:  # reconcile everything again: nothing changed, nothing written
            controller.enqueue(f"default/{name}")
        await until(lambda: all(probe.attempts[k] > attempts[k] for k in attempts))
        await asyncio.sleep(0.2)
        assert await settled() == before
    finally:
        await manager.stop()


async def test_failing_reconcile_backs_off_then_recovers(client: Client) -> None:
    probe = BrokerProbe(failures={"default/flaky": 3})
    manager = Manager(client, resync_period=None)
    manager.add(probe, workers=1)
    await manager.start(timeout=10)
    try:
        await client.create(BROKER, broker("flaky", 1))
        await until(lambda: probe.seen.get("default/flaky") == "1")
        assert probe.first_success["default/flaky"] == 4  # three failures, then retried
    finally:
        await manager.stop()
