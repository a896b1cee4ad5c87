"""The informer: list then watch, resume after a broken watch, relist on Gone, resync."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from tests.unit.controllers.engine_support import GADGETS, WIDGETS, eventually, gadget, widget
from tests.unit.controllers.fakeclient import FakeClient

from shoal.api.errors import Gone
from shoal.client.base import Client, WatchEvent
from shoal.controllers.clock import FakeClock
from shoal.controllers.informer import Informer, InformerEvent


class Recorder:
    def __init__(self) -> None:
        self.events: list[InformerEvent] = []

    def __call__(self, event: InformerEvent) -> None:
        self.events.append(event)

    def seen(self) -> list[tuple[str, str]]:
        return [(e.type, e.key) for e in self.events]

    def clear(self) -> None:
        self.events.clear()


@pytest.fixture
async def informer(client: Client, clock: FakeClock) -> AsyncIterator[Informer]:
    inf = Informer(client, WIDGETS, clock=clock, resync_period=None)
    yield inf
    await inf.stop()


async def test_lists_then_watches(client: Client, informer: Informer) -> None:
    await client.create(WIDGETS, widget("a", size=1))
    events = Recorder()
    informer.add_handler(events)
    informer.start()
    await informer.wait_synced(timeout=5)
    assert informer.has_synced
    assert events.seen() == [("ADDED", "default/a")]

    await client.create(WIDGETS, widget("b"))
    await client.patch(WIDGETS, "a", "default", {"spec": {"size": 2}})
    await client.delete(WIDGETS, "b", "default")
    await eventually(lambda: len(events.events) == 4)
    assert events.seen()[1:] == [
        ("ADDED", "default/b"),
        ("MODIFIED", "default/a"),
        ("DELETED", "default/b"),
    ]
    modified = events.events[2]
    assert modified.old is not None and modified.old["spec"] == {"size": 1}
    assert modified.obj["spec"] == {"size": 2}
    assert informer.get("default/b") is None
    got = informer.get("default/a")
    assert got is not None and got["spec"] == {"size": 2}
    assert [o["metadata"]["name"] for o in informer.list("default")] == ["a"]
    assert informer.lists == 1


async def test_broken_watch_resumes_without_relisting(
    fake: FakeClient, informer: Informer, clock: FakeClock
) -> None:
    await fake.create(WIDGETS, widget("a"))
    events = Recorder()
    informer.add_handler(events)
    informer.start()
    await informer.wait_synced(timeout=5)
    events.clear()

    fake.break_watches()
    await clock.settle()
    await fake.create(WIDGETS, widget("b"))
    await fake.patch(WIDGETS, "a", "default", {"spec": {"size": 3}})
    await clock.advance(60)  # past any reconnect backoff
    await eventually(lambda: len(events.events) == 2)
    assert events.seen() == [("ADDED", "default/b"), ("MODIFIED", "default/a")]
    assert informer.lists == 1


async def test_reconnect_backs_off_while_watches_fail(
    fake: FakeClient, informer: Informer, clock: FakeClock
) -> None:
    informer.start()
    await informer.wait_synced(timeout=5)
    fake.fail("watch", ConnectionError("refused"), times=3)
    fake.break_watches()
    await clock.settle()
    # The stream ended with nothing delivered: 0.2 s; then each failed attempt doubles.
    for delay in (0.2, 0.4, 0.8, 1.6):
        assert clock.pending() == [pytest.approx(delay)]
        await clock.advance(delay)
    await eventually(lambda: fake.open_watches == 1)
    await fake.create(WIDGETS, widget("late"))
    await eventually(lambda: informer.get("default/late") is not None)


async def test_relists_on_gone_and_sees_missed_deletions(
    fake: FakeClient, informer: Informer, clock: FakeClock
) -> None:
    for name in ("a", "b", "c"):
        await fake.create(WIDGETS, widget(name))
    events = Recorder()
    informer.add_handler(events)
    informer.start()
    await informer.wait_synced(timeout=5)
    events.clear()

    fake.fail("watch", ConnectionError("network down"))
    fake.break_watches()
    await clock.settle()
    # While the informer is away: one deleted, one changed, one created; log compacted.
    await fake.delete(WIDGETS, "b", "default")
    await fake.patch(WIDGETS, "a", "default", {"spec": {"size": 9}})
    await fake.create(WIDGETS, widget("d"))
    fake.compact()
    await clock.advance(60)
    await eventually(lambda: informer.lists == 2 and len(events.events) == 3)
    assert sorted(events.seen()) == [
        ("ADDED", "default/d"),
        ("DELETED", "default/b"),
        ("MODIFIED", "default/a"),
    ]
    assert sorted(informer.cache.keys()) == ["default/a", "default/c", "default/d"]
    # And the watch goes on from the relist.
    await fake.delete(WIDGETS, "c", "default")
    await eventually(lambda: informer.get("default/c") is None)


async def test_watch_starting_past_the_horizon_relists(
    fake: FakeClient,
    clock: FakeClock,
) -> None:
    small_log = FakeClient(clock=clock, log_limit=2)
    informer = Informer(small_log, WIDGETS, clock=clock, resync_period=None)
    informer.start()
    await informer.wait_synced(timeout=5)
    small_log.fail("watch", ConnectionError("gone away"))
    small_log.break_watches()
    await clock.settle()
    for i in range(5):
        await small_log.create(WIDGETS, widget(f"w{i}"))
    await clock.advance(60)
    await eventually(lambda: len(informer.cache) == 5)
    assert informer.lists == 2
    await informer.stop()


async def test_bookmarks_move_the_resume_point(fake: FakeClient, informer: Informer) -> None:
    informer.start()
    await informer.wait_synced(timeout=5)
    await fake.create(GADGETS, gadget("not-watched"))  # moves the global resourceVersion
    fake.send_bookmark()
    await eventually(lambda: informer.last_resource_version == str(fake.resource_version))


async def test_an_error_event_of_410_relists(
    fake: FakeClient, informer: Informer, clock: FakeClock
) -> None:
    informer.start()
    await informer.wait_synced(timeout=5)
    fake.send(WatchEvent("ERROR", Gone("too old resource version").status()))
    await clock.settle()
    # Gone with nothing delivered since the list: relist after a backoff, not in a hot loop.
    assert informer.lists == 1
    await clock.advance(0.2)
    await eventually(lambda: informer.lists == 2)
    await fake.create(WIDGETS, widget("after"))
    await eventually(lambda: informer.get("default/after") is not None)


async def test_resync_renotifies_every_cached_object(client: Client, clock: FakeClock) -> None:
    for name in ("a", "b"):
        await client.create(WIDGETS, widget(name))
    informer = Informer(client, WIDGETS, clock=clock, resync_period=30)
    events = Recorder()
    informer.add_handler(events)
    informer.start()
    await informer.wait_synced(timeout=5)
    events.clear()
    await clock.advance(29)
    assert events.events == []
    await clock.advance(1)
    assert sorted(events.seen()) == [("SYNC", "default/a"), ("SYNC", "default/b")]
    await informer.stop()


async def test_late_handler_hears_the_cache_and_bad_handlers_are_contained(
    client: Client, informer: Informer
) -> None:
    await client.create(WIDGETS, widget("a"))
    informer.start()
    await informer.wait_synced(timeout=5)

    def broken(event: InformerEvent) -> None:
        raise ValueError("handler bug")

    informer.add_handler(broken)
    late = Recorder()
    informer.add_handler(late)
    assert late.seen() == [("ADDED", "default/a")]
    await client.create(WIDGETS, widget("b"))
    await eventually(lambda: len(late.events) == 2)


async def test_owner_index_and_namespace_scope(client: Client, clock: FakeClock) -> None:
    owner = await client.create(WIDGETS, widget("owner"))
    await client.create(GADGETS, gadget("g1", owner))
    await client.create(GADGETS, gadget("g2", owner))
    await client.create(GADGETS, gadget("orphan"))
    await client.create(GADGETS, gadget("elsewhere", namespace="other"))
    informer = Informer(client, GADGETS, "default", clock=clock, resync_period=None)
    informer.start()
    await informer.wait_synced(timeout=5)
    children = informer.by_owner(owner["metadata"]["uid"])
    assert [c["metadata"]["name"] for c in children] == ["g1", "g2"]
    assert informer.get("other/elsewhere") is None
    await client.delete(GADGETS, "g1", "default")
    await eventually(lambda: len(informer.by_owner(owner["metadata"]["uid"])) == 1)
    await informer.stop()


async def test_label_selector(client: Client, clock: FakeClock) -> None:
    labelled = widget("x")
    labelled["metadata"]["labels"] = {"team": "blue"}
    await client.create(WIDGETS, labelled)
    await client.create(WIDGETS, widget("y"))
    informer = Informer(
        client, WIDGETS, label_selector="team=blue", clock=clock, resync_period=None
    )
    informer.start()
    await informer.wait_synced(timeout=5)
    assert informer.cache.keys() == ["default/x"]
    await informer.stop()
