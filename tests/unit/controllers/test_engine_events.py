"""The event recorder: core/v1 Events, repeats aggregated into a count, failures dropped."""

from __future__ import annotations

import pytest
from tests.unit.controllers.engine_support import WIDGETS, Widget, widget
from tests.unit.controllers.fakeclient import FakeClient

from shoal.api.errors import InternalError
from shoal.client.base import Client, Obj
from shoal.controllers.clock import FakeClock
from shoal.controllers.events import EventRecorder, events_resource

EVENTS = events_resource()


@pytest.fixture
async def subject(client: Client) -> Obj:
    return await client.create(WIDGETS, widget("hello", size=1))


@pytest.fixture
def recorder(client: Client, clock: FakeClock) -> EventRecorder:
    return EventRecorder(client, "widget-controller", clock=clock)


async def events(client: Client) -> list[Obj]:
    return (await client.list(EVENTS)).items


async def test_records_a_core_v1_event(
    client: Client, recorder: EventRecorder, subject: Obj
) -> None:
    await recorder.normal(subject, "Created", 'Created Gadget "g"')
    [event] = await events(client)
    assert event["metadata"]["namespace"] == "default"
    assert event["metadata"]["name"].startswith("hello.")
    assert event["involvedObject"] == {
        "apiVersion": "test.shoal.dev/v1",
        "kind": "Widget",
        "namespace": "default",
        "name": "hello",
        "uid": subject["metadata"]["uid"],
        "resourceVersion": subject["metadata"]["resourceVersion"],
    }
    assert (event["type"], event["reason"], event["message"]) == (
        "Normal",
        "Created",
        'Created Gadget "g"',
    )
    assert event["source"] == {"component": "widget-controller"}
    assert event["count"] == 1
    assert event["firstTimestamp"] == event["lastTimestamp"] == "2024-01-01T00:00:00Z"


async def test_repeats_bump_the_count(
    client: Client, recorder: EventRecorder, subject: Obj, clock: FakeClock
) -> None:
    for _ in range(3):
        await recorder.warning(subject, "InternalError", "backend unavailable")
        await clock.advance(10)
    await recorder.warning(subject, "InternalError", "another message")
    listed = sorted(await events(client), key=lambda e: e["message"])
    assert [(e["message"], e["count"]) for e in listed] == [
        ("another message", 1),
        ("backend unavailable", 3),
    ]
    repeated = listed[1]
    assert repeated["firstTimestamp"] == "2024-01-01T00:00:00Z"
    assert repeated["lastTimestamp"] == "2024-01-01T00:00:20Z"


async def test_repeats_after_the_window_start_a_new_event(
    client: Client, recorder: EventRecorder, subject: Obj, clock: FakeClock
) -> None:
    await recorder.normal(subject, "Synced", "ok")
    await clock.advance(601)
    await recorder.normal(subject, "Synced", "ok")
    assert [e["count"] for e in await events(client)] == [1, 1]


async def test_models_are_accepted(client: Client, recorder: EventRecorder, subject: Obj) -> None:
    await recorder.normal(Widget.model_validate(subject), "Seen", "as a model")
    [event] = await events(client)
    assert event["involvedObject"]["uid"] == subject["metadata"]["uid"]


async def test_a_deleted_event_is_recreated(
    fake: FakeClient, recorder: EventRecorder, subject: Obj
) -> None:
    await recorder.normal(subject, "Synced", "ok")
    [event] = await events(fake)
    await fake.delete(EVENTS, event["metadata"]["name"], "default")
    await recorder.normal(subject, "Synced", "ok")
    [again] = await events(fake)
    assert again["count"] == 1


async def test_write_failures_never_reach_the_caller(
    fake: FakeClient, recorder: EventRecorder, subject: Obj, caplog: pytest.LogCaptureFixture
) -> None:
    fake.fail("create", InternalError("etcd is down"))
    await recorder.warning(subject, "InternalError", "boom")
    assert await events(fake) == []
    assert "could not record event" in caplog.text
    await recorder.warning(subject, "InternalError", "boom")
    fake.fail("patch", InternalError("etcd is down"))
    await recorder.warning(subject, "InternalError", "boom")
    [event] = await events(fake)
    assert event["count"] == 1
