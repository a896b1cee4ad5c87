"""The engine end to end over a client: latest state wins, status bookkeeping, outcomes."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import Counter
from collections.abc import AsyncIterator, Callable

import pytest
from tests.unit.controllers.engine_support import (
    GADGETS,
    WIDGETS,
    Widget,
    WidgetStatus,
    eventually,
    gadget,
    widget,
)
from tests.unit.controllers.fakeclient import FakeClient

from shoal.api.errors import Conflict
from shoal.client.base import Client
from shoal.controllers.cache import object_key
from shoal.controllers.clock import FakeClock, SystemClock
from shoal.controllers.conditions import ConditionSet
from shoal.controllers.engine import Controller
from shoal.controllers.errors import PermanentError, TemporaryError
from shoal.controllers.factory import InformerFactory
from shoal.controllers.reconciler import ModelReconciler, ReconcileResult, Watch

CONDITIONS = ConditionSet("Ready", ["SizeOK"])


class SizeReconciler(ModelReconciler[Widget]):
    """Copies spec.size to status.seenSize; SizeOK is True when a size is set."""

    rt = WIDGETS

    def __init__(self) -> None:
        self.seen: dict[str, int | None] = {}
        self.calls: Counter[str] = Counter()
        self.deleted_keys: list[str] = []
        self.fail: Callable[[Widget], None] | None = None

    async def reconcile(self, obj: Widget) -> ReconcileResult | None:
        key = f"{obj.namespace}/{obj.name}"
        self.calls[key] += 1
        size = obj.spec.size if obj.spec else None
        self.seen[key] = size
        obj.status = obj.status or WidgetStatus()
        obj.status.seen_size = size
        conds = CONDITIONS.manage(obj.status)
        conds.initialize()
        if size:
            conds.mark_true("SizeOK")
        else:
            conds.mark_false("SizeOK", "NoSize", "spec.size is not set")
        if self.fail is not None:
            self.fail(obj)
        return None

    async def deleted(self, key: str) -> None:
        self.deleted_keys.append(key)


async def start(
    client: Client,
    reconciler: SizeReconciler | ModelReconciler[Widget],
    clock: FakeClock | SystemClock,
    workers: int = 2,
    resync_period: float | None = None,
) -> Controller:
    informers = InformerFactory(client, clock=clock, resync_period=resync_period)
    controller = Controller(client, reconciler, informers=informers, workers=workers)
    await controller.start(timeout=5)
    return controller


async def stop(controller: Controller) -> None:
    await controller.stop(timeout=1)
    await controller.informers.stop()


@pytest.fixture
def reconciler() -> SizeReconciler:
    return SizeReconciler()


@pytest.fixture
async def controller(
    client: Client,
    reconciler: SizeReconciler,
    clock: FakeClock,
) -> AsyncIterator[Controller]:
    c = await start(client, reconciler, clock)
    yield c
    await stop(c)


def quiet(controller: Controller) -> Callable[[], bool]:
    return lambda: controller.queue.idle


async def test_reconciler_eventually_sees_the_latest_state_of_every_object(
    client: Client, reconciler: SizeReconciler
) -> None:
    controller = await start(client, reconciler, SystemClock(), workers=4)
    names = [f"w{i:02}" for i in range(30)]
    for name in names:
        await client.create(WIDGETS, widget(name, size=0))
    for size in range(1, 21):
        for name in names:
            await client.patch(WIDGETS, name, "default", {"spec": {"size": size}})
        await asyncio.sleep(0)
    keys = [f"default/{n}" for n in names]
    await eventually(lambda: all(reconciler.seen.get(k) == 20 for k in keys), timeout=20)

    async def statuses() -> list[int | None]:
        return [
            (await client.get(WIDGETS, n, "default")).get("status", {}).get("seenSize")
            for n in names
        ]

    for _ in range(2000):
        if await statuses() == [20] * len(names):
            break
        await asyncio.sleep(0.005)
    assert await statuses() == [20] * len(names)
    assert all(reconciler.calls[k] < 22 * 2 for k in keys)  # far fewer than one per event
    await stop(controller)


async def test_failing_reconcile_backs_off_with_growing_delays_and_recovers(
    fake: FakeClient, reconciler: SizeReconciler, clock: FakeClock
) -> None:
    created = await fake.create(WIDGETS, widget("w", size=1))
    # Status already as the reconciler will leave it, so failures write nothing and only
    # the backoff brings the key back.
    created["status"] = {"observedGeneration": 1, "seenSize": 1}
    await fake.update_status(WIDGETS, created)
    times: list[float] = []
    failures = 6

    def fail(obj: Widget) -> None:
        obj.status = WidgetStatus(observed_generation=1, seen_size=1)
        times.append(clock.monotonic())
        if len(times) <= failures:
            raise RuntimeError("backend unavailable")

    reconciler.fail = fail
    controller = await start(fake, reconciler, clock)
    await eventually(lambda: len(times) == 1)
    await clock.advance(10)
    assert len(times) == failures + 1
    gaps = [round(b - a, 6) for a, b in itertools.pairwise(times)]
    assert gaps == [0.005, 0.01, 0.02, 0.04, 0.08, 0.16]
    assert controller.queue.num_requeues("default/w") == 0  # forgotten on success
    assert clock.pending() == []
    assert fake.calls["update_status"] == 1  # only the test's own write
    await stop(controller)


async def test_no_status_write_when_nothing_changed(
    fake: FakeClient, reconciler: SizeReconciler, clock: FakeClock
) -> None:
    controller = await start(fake, reconciler, clock, resync_period=600)
    await fake.create(WIDGETS, widget("w", size=3))
    await eventually(lambda: reconciler.calls["default/w"] >= 2 and controller.queue.idle)
    assert fake.calls["update_status"] == 1
    for _ in range(5):
        controller.enqueue("default/w")
        await eventually(quiet(controller))
    await clock.advance(3600)  # resyncs
    await eventually(quiet(controller))
    assert reconciler.calls["default/w"] >= 8
    assert fake.calls["update_status"] == 1
    await stop(controller)


async def test_observed_generation_follows_the_spec(
    client: Client, reconciler: SizeReconciler, controller: Controller
) -> None:
    await client.create(WIDGETS, widget("w", size=1))

    async def status() -> dict[str, object]:
        obj = await client.get(WIDGETS, "w", "default")
        return dict(obj.get("status") or {})

    for _ in range(1000):
        if (await status()).get("observedGeneration") == 1:
            break
        await asyncio.sleep(0.001)
    assert (await status())["observedGeneration"] == 1
    await client.patch(WIDGETS, "w", "default", {"spec": {"size": 2}})
    for _ in range(1000):
        if (await status()).get("observedGeneration") == 2:
            break
        await asyncio.sleep(0.001)
    final = await status()
    assert final["observedGeneration"] == 2
    assert final["seenSize"] == 2


def conditions_of(obj: dict[str, object] | None) -> dict[str, dict[str, str]]:
    assert obj is not None
    status = obj.get("status")
    assert isinstance(status, dict)
    return {c["type"]: c for c in status.get("conditions") or []}


async def test_last_transition_time_moves_only_for_changed_conditions(
    fake: FakeClient, reconciler: SizeReconciler, controller: Controller, clock: FakeClock
) -> None:
    await fake.create(WIDGETS, widget("w", size=1))
    await eventually(lambda: fake.calls["update_status"] == 1 and controller.queue.idle)
    first = conditions_of(fake.stored(WIDGETS, "w", "default"))
    assert first["Ready"]["status"] == "True"
    assert first["Ready"]["lastTransitionTime"] == "2024-01-01T00:00:00Z"
    assert first["SizeOK"]["lastTransitionTime"] == "2024-01-01T00:00:00Z"

    await clock.advance(60)
    # A spec change that leaves every condition as it was: new observedGeneration only.
    await fake.patch(WIDGETS, "w", "default", {"spec": {"color": "red"}})
    await eventually(lambda: fake.calls["update_status"] == 2 and controller.queue.idle)
    second = conditions_of(fake.stored(WIDGETS, "w", "default"))
    assert second == first

    await clock.advance(60)
    await fake.patch(WIDGETS, "w", "default", {"spec": {"size": None}})
    await eventually(lambda: fake.calls["update_status"] == 3 and controller.queue.idle)
    third = conditions_of(fake.stored(WIDGETS, "w", "default"))
    assert third["SizeOK"]["status"] == "False"
    assert third["SizeOK"]["lastTransitionTime"] == "2024-01-01T00:02:00Z"
    assert third["Ready"]["reason"] == "NoSize"
    assert third["Ready"]["lastTransitionTime"] == "2024-01-01T00:02:00Z"


async def test_conflict_on_status_write_requeues_without_logging_an_error(
    fake: FakeClient,
    reconciler: SizeReconciler,
    controller: Controller,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.fail("update_status", Conflict("the object has been modified"))
    await fake.create(WIDGETS, widget("w", size=4))
    await eventually(lambda: fake.calls["update_status"] == 1)
    await clock.advance(0.005)
    await eventually(lambda: fake.calls["update_status"] == 2 and controller.queue.idle)
    stored = fake.stored(WIDGETS, "w", "default")
    assert stored is not None and stored["status"]["seenSize"] == 4
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_key_added_100_times_while_busy_is_reconciled_at_most_twice(
    client: Client, clock: FakeClock
) -> None:
    release = asyncio.Event()
    running = 0
    overlap = False
    calls = 0

    class Slow(SizeReconciler):
        async def reconcile(self, obj: Widget) -> ReconcileResult | None:
            nonlocal running, overlap, calls
            calls += 1
            running += 1
            overlap = overlap or running > 1
            await release.wait()
            running -= 1
            return None

    created = await client.create(WIDGETS, widget("w"))
    created["status"] = {"observedGeneration": 1}  # nothing for the engine to write
    await client.update_status(WIDGETS, created)
    controller = await start(client, Slow(), clock, workers=4)
    await eventually(lambda: calls == 1)
    for _ in range(100):
        controller.enqueue("default/w")
        await asyncio.sleep(0)
    release.set()
    await eventually(quiet(controller))
    assert calls == 2
    assert not overlap
    await stop(controller)


class Finalizing(SizeReconciler):
    finalizer = "widgets.test.shoal.dev"

    def __init__(self) -> None:
        super().__init__()
        self.finalized: list[str] = []
        self.finalize_failures = 0

    async def finalize(self, obj: Widget) -> None:
        if self.finalize_failures:
            self.finalize_failures -= 1
            raise TemporaryError("children still terminating", delay=2)
        self.finalized.append(obj.name)


async def test_finalizer_added_before_reconcile_and_removed_after_finalize(
    fake: FakeClient, clock: FakeClock
) -> None:
    reconciler = Finalizing()
    reconciler.finalize_failures = 1
    controller = await start(fake, reconciler, clock)
    await fake.create(WIDGETS, widget("w", size=1))
    await eventually(lambda: reconciler.calls["default/w"] >= 1)
    stored = fake.stored(WIDGETS, "w", "default")
    assert stored is not None
    assert stored["metadata"]["finalizers"] == ["widgets.test.shoal.dev"]
    await eventually(quiet(controller))

    await fake.delete(WIDGETS, "w", "default")
    stored = fake.stored(WIDGETS, "w", "default")
    assert stored is not None and stored["metadata"]["deletionTimestamp"]
    await eventually(lambda: clock.pending() == [2])  # first finalize failed: retry in 2 s
    assert fake.stored(WIDGETS, "w", "default") is not None
    await clock.advance(2)
    await eventually(lambda: reconciler.deleted_keys == ["default/w"])
    assert reconciler.finalized == ["w"]
    assert fake.stored(WIDGETS, "w", "default") is None
    await stop(controller)


async def test_temporary_error_requeues_after_its_delay(
    client: Client, reconciler: SizeReconciler, clock: FakeClock
) -> None:
    attempts: list[float] = []

    def fail(obj: Widget) -> None:
        attempts.append(clock.monotonic())
        if len(attempts) == 1:
            raise TemporaryError("not yet", delay=30)

    reconciler.fail = fail
    await client.create(WIDGETS, widget("w", size=1))
    controller = await start(client, reconciler, clock)
    await eventually(lambda: len(attempts) >= 2 and controller.queue.idle)
    # The status write after the failed attempt brought the key back once at once; the
    # 30 s requeue is still due.
    assert clock.pending() == [30]
    await clock.advance(30)
    await eventually(quiet(controller))
    assert attempts[-1] == 30
    await stop(controller)


async def test_permanent_error_writes_the_status_and_does_not_requeue(
    fake: FakeClient, reconciler: SizeReconciler, clock: FakeClock
) -> None:
    def fail(obj: Widget) -> None:
        raise PermanentError("size is not supported")

    reconciler.fail = fail
    await fake.create(WIDGETS, widget("w"))
    controller = await start(fake, reconciler, clock)
    await eventually(lambda: fake.calls["update_status"] == 1 and controller.queue.idle)
    assert clock.pending() == []
    conds = conditions_of(fake.stored(WIDGETS, "w", "default"))
    assert conds["Ready"]["status"] == "False"
    assert conds["Ready"]["reason"] == "NoSize"
    await stop(controller)


async def test_requeue_after(client: Client, clock: FakeClock) -> None:
    calls: list[float] = []

    class Polling(SizeReconciler):
        async def reconcile(self, obj: Widget) -> ReconcileResult | None:
            calls.append(clock.monotonic())
            return ReconcileResult(requeue_after=15)

    await client.create(WIDGETS, widget("w"))
    controller = await start(client, Polling(), clock)
    await eventually(lambda: len(calls) >= 1 and controller.queue.idle)
    start_count = len(calls)
    await clock.advance(45)
    await eventually(quiet(controller))
    assert calls[start_count:] == [15, 30, 45]
    await stop(controller)


async def test_owned_children_enqueue_their_owner(client: Client, clock: FakeClock) -> None:
    class WithChildren(SizeReconciler):
        watches = (Watch.owned(GADGETS, WIDGETS),)

    reconciler = WithChildren()
    owner = await client.create(WIDGETS, widget("w"))
    controller = await start(client, reconciler, clock)
    await eventually(lambda: reconciler.calls["default/w"] >= 1)
    await eventually(quiet(controller))
    before = reconciler.calls["default/w"]
    await client.create(GADGETS, gadget("child", owner))
    await eventually(lambda: reconciler.calls["default/w"] == before + 1)
    await client.create(GADGETS, gadget("stranger"))
    await client.delete(GADGETS, "child", "default")
    await eventually(lambda: reconciler.calls["default/w"] == before + 2)
    await eventually(quiet(controller))
    assert reconciler.calls["default/w"] == before + 2
    assert set(reconciler.calls) == {"default/w"}
    assert object_key(owner) == "default/w"
    await stop(controller)
