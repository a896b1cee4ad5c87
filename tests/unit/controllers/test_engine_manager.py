"""The manager: controllers over shared informers, failure events, dict reconcilers,
key mappers and the tracker."""

from __future__ import annotations

from collections import Counter

from tests.unit.controllers.engine_support import GADGETS, WIDGETS, eventually, gadget, widget
from tests.unit.controllers.fakeclient import FakeClient

from shoal.client.base import Client, Obj
from shoal.controllers.cache import object_key
from shoal.controllers.clock import FakeClock
from shoal.controllers.errors import PermanentError
from shoal.controllers.events import events_resource
from shoal.controllers.manager import Manager
from shoal.controllers.reconciler import (
    DictReconciler,
    ReconcileResult,
    Watch,
    label_keys,
    owner_keys,
)
from shoal.controllers.tracker import Reference, Tracker


class CountingWidgets(DictReconciler):
    rt = WIDGETS
    finalizer = "widgets.test.shoal.dev"

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    async def reconcile(self, obj: Obj) -> ReconcileResult | None:
        self.calls[object_key(obj)] += 1
        obj["status"] = {"seenSize": obj["spec"].get("size")}
        if obj["spec"].get("size") == 13:
            raise PermanentError("13 is unlucky", reason="UnluckySize")
        return None


class GadgetsFollowingWidgets(DictReconciler):
    """Gadgets that name a widget in spec.widget are reconciled when that widget changes."""

    rt = GADGETS

    def __init__(self, tracker: Tracker) -> None:
        self.tracker = tracker
        self.watches = (Watch(WIDGETS, tracker.mapper(WIDGETS)),)
        self.calls: Counter[str] = Counter()

    async def reconcile(self, obj: Obj) -> ReconcileResult | None:
        key = object_key(obj)
        self.calls[key] += 1
        name = (obj.get("spec") or {}).get("widget")
        if name:
            self.tracker.track(Reference.to(WIDGETS, obj["metadata"]["namespace"], name), key)
        return None


async def test_manager_runs_controllers_over_shared_informers(
    fake: FakeClient, clock: FakeClock
) -> None:
    tracker = Tracker(clock=clock)
    widgets = CountingWidgets()
    gadgets = GadgetsFollowingWidgets(tracker)
    manager = Manager(fake, clock=clock, resync_period=None)
    manager.add(widgets)
    manager.add(gadgets)
    assert len(manager.informers.informers()) == 2  # the Widget informer is shared
    await fake.create(WIDGETS, widget("w", size=1))
    g = gadget("follower")
    g["spec"] = {"widget": "w"}
    await fake.create(GADGETS, g)
    await fake.create(GADGETS, gadget("loner"))

    async with manager:
        await eventually(
            lambda: widgets.calls["default/w"] >= 1 and gadgets.calls["default/follower"] >= 1
        )
        await eventually(lambda: all(c.queue.idle for c in manager.controllers))
        loner_calls = gadgets.calls["default/loner"]
        follower_calls = gadgets.calls["default/follower"]
        await fake.patch(WIDGETS, "w", "default", {"spec": {"size": 13}})
        await eventually(lambda: gadgets.calls["default/follower"] > follower_calls)
        await eventually(lambda: all(c.queue.idle for c in manager.controllers))
        assert gadgets.calls["default/loner"] == loner_calls

    stored = fake.stored(WIDGETS, "w", "default")
    assert stored is not None
    assert stored["metadata"]["finalizers"] == ["widgets.test.shoal.dev"]
    assert stored["status"] == {"seenSize": 13, "observedGeneration": 2}
    reasons = Counter(e["reason"] for e in (await fake.list(events_resource())).items)
    assert reasons["FinalizerUpdate"] == 1
    assert reasons["UnluckySize"] == 1
    assert fake.open_watches == 0


def test_owner_keys_follow_the_controller_reference() -> None:
    child = {
        "metadata": {
            "namespace": "ns",
            "ownerReferences": [
                {
                    "apiVersion": "test.shoal.dev/v1",
                    "kind": "Widget",
                    "name": "a",
                    "uid": "1",
                    "controller": True,
                },
                {"apiVersion": "test.shoal.dev/v1", "kind": "Widget", "name": "b", "uid": "2"},
                {
                    "apiVersion": "other.dev/v1",
                    "kind": "Widget",
                    "name": "c",
                    "uid": "3",
                    "controller": True,
                },
            ],
        }
    }
    assert list(owner_keys(WIDGETS)(child)) == ["ns/a"]
    assert list(owner_keys(WIDGETS, controller_only=False)(child)) == ["ns/a", "ns/b"]


def test_label_keys() -> None:
    rev = {
        "metadata": {
            "namespace": "ns",
            "labels": {"serving.knative.dev/configuration": "hello", "other-ns": "elsewhere"},
        }
    }
    assert list(label_keys("serving.knative.dev/configuration")(rev)) == ["ns/hello"]
    assert list(label_keys("serving.knative.dev/configuration", "other-ns")(rev)) == [
        "elsewhere/hello"
    ]
    assert list(label_keys("missing")(rev)) == []


async def test_tracker_leases_expire_and_forget(clock: FakeClock) -> None:
    tracker = Tracker(lease=100, clock=clock)
    ref = Reference.to(WIDGETS, "ns", "w")
    tracker.track(ref, "ns/route")
    tracker.track(ref, "ns/other")
    mapper = tracker.mapper(WIDGETS)
    target = {"metadata": {"namespace": "ns", "name": "w"}}
    assert list(mapper(target)) == ["ns/other", "ns/route"]
    tracker.forget("ns/other")
    assert tracker.keys_for(ref) == ["ns/route"]
    await clock.advance(101)
    assert tracker.keys_for(ref) == []
    assert (
        Reference.of(
            {
                "apiVersion": "test.shoal.dev/v1",
                "kind": "Widget",
                "metadata": {"namespace": "ns", "name": "w"},
            }
        )
        == ref
    )


async def test_client_fixture_is_a_client(client: Client) -> None:
    # The engine tests take ``client`` where only the protocol is used, so the same tests
    # can run over other implementations by overriding the fixture.
    created = await client.create(WIDGETS, widget("x"))
    assert (await client.get(WIDGETS, "x", "default"))["metadata"]["uid"] == created["metadata"][
        "uid"
    ]
