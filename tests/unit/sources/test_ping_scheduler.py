"""The ping scheduler on fake time: fire times in a time zone across DST, no catch-up,
replacing and removing schedules, and the events it sends."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

from shoal.api.sources.cron import parse
from shoal.api.sources.ping import PingSource
from shoal.controllers.clock import FakeClock
from shoal.eventing.event import CloudEvent
from shoal.sources.ping import PingJob, PingScheduler, make_event


class Recorder:
    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.sent: list[tuple[datetime, CloudEvent, str]] = []

    async def __call__(self, event: CloudEvent, sink: str) -> None:
        self.sent.append((self.clock.now(), event, sink))

    def times(self) -> list[str]:
        return [t.strftime("%Y-%m-%dT%H:%M:%SZ") for t, _, _ in self.sent]


def ping(**spec: object) -> PingSource:
    return PingSource.model_validate({
        "apiVersion": "sources.knative.dev/v1", "kind": "PingSource",
        "metadata": {"name": "beat", "namespace": "team"},
        "spec": {"sink": {"uri": "http://127.0.0.1:1/"}, **spec}})


def job(text: str, obj: PingSource | None = None) -> PingJob:
    return PingJob.of(parse(text), make_event(obj or ping()), "http://127.0.0.1:1/")


async def run(start: datetime, text: str, seconds: float) -> Recorder:
    clock = FakeClock(start)
    sent = Recorder(clock)
    scheduler = PingScheduler(clock, sent)
    scheduler.set("team/beat", job(text))
    await clock.advance(seconds)
    await scheduler.close()
    return sent


async def test_daily_schedule_in_berlin_across_spring_forward() -> None:
    # 09:00 in Berlin is 08:00 UTC in winter time and 07:00 UTC from Sunday 31 March 2024.
    sent = await run(datetime(2024, 3, 29, 12, tzinfo=UTC), "CRON_TZ=Europe/Berlin 0 9 * * *",
                     3 * 86400)
    assert sent.times() == ["2024-03-30T08:00:00Z", "2024-03-31T07:00:00Z",
                            "2024-04-01T07:00:00Z"]


async def test_a_skipped_wall_time_does_not_fire_that_day() -> None:
    # 02:30 does not exist in Berlin on 31 March 2024 (02:00 jumps to 03:00).
    sent = await run(datetime(2024, 3, 30, 12, tzinfo=UTC), "CRON_TZ=Europe/Berlin 30 2 * * *",
                     2 * 86400)
    assert sent.times() == ["2024-04-01T00:30:00Z"]


async def test_a_repeated_wall_time_fires_at_each_occurrence() -> None:
    # 02:30 happens twice in Berlin on 27 October 2024 (03:00 summer time goes back to 02:00).
    sent = await run(datetime(2024, 10, 26, 12, tzinfo=UTC), "CRON_TZ=Europe/Berlin 30 2 * * *",
                     2 * 86400)
    assert sent.times() == ["2024-10-27T00:30:00Z", "2024-10-27T01:30:00Z",
                            "2024-10-28T01:30:00Z"]


async def test_seconds_field_and_a_new_id_each_tick() -> None:
    sent = await run(datetime(2024, 1, 1, tzinfo=UTC), "*/2 * * * * *", 6.5)
    assert sent.times() == ["2024-01-01T00:00:02Z", "2024-01-01T00:00:04Z",
                            "2024-01-01T00:00:06Z"]
    ids = {event.id for _, event, _ in sent.sent}
    assert len(ids) == 3
    assert all(sink == "http://127.0.0.1:1/" for _, _, sink in sent.sent)


async def test_no_catch_up_after_a_start_and_removal_stops_ticks() -> None:
    clock = FakeClock(datetime(2024, 1, 1, 0, 0, 30, tzinfo=UTC))
    sent = Recorder(clock)
    scheduler = PingScheduler(clock, sent)
    scheduler.set("team/beat", job("* * * * *"))  # every minute: the 00:00 tick is past
    assert scheduler.next_fire("team/beat") == datetime(2024, 1, 1, 0, 1, tzinfo=UTC)
    await clock.advance(61)
    assert sent.times() == ["2024-01-01T00:01:00Z"]
    scheduler.remove("team/beat")
    await clock.advance(600)
    assert len(sent.sent) == 1
    await scheduler.close()


async def test_an_unchanged_job_keeps_its_timer_and_a_changed_one_replaces_it() -> None:
    clock = FakeClock(datetime(2024, 1, 1, tzinfo=UTC))
    sent = Recorder(clock)
    scheduler = PingScheduler(clock, sent)
    scheduler.set("team/beat", job("*/10 * * * * *"))
    await clock.advance(5)
    scheduler.set("team/beat", job("*/10 * * * * *"))
    assert len(clock.pending()) == 1
    scheduler.set("team/beat", job("0 * * * * *"))
    await clock.advance(60)
    assert sent.times() == ["2024-01-01T00:01:00Z"]
    await scheduler.close()


def test_event_shape_json_data_and_overrides() -> None:
    event = make_event(ping(data='{"hello": "world"}', contentType="application/json",
                            ceOverrides={"extensions": {"team": "blue"}}))
    assert event.attributes == {
        "specversion": "1.0", "type": "dev.knative.sources.ping",
        "source": "/apis/v1/namespaces/team/pingsources/beat",
        "datacontenttype": "application/json", "team": "blue"}
    assert json.loads(event.data or b"") == {"hello": "world"}


def test_event_shape_base64_data_is_sent_decoded() -> None:
    raw = b"\x00\x01binary"
    event = make_event(ping(dataBase64=base64.b64encode(raw).decode(),
                            contentType="application/octet-stream"))
    assert event.data == raw
    assert event.attributes["datacontenttype"] == "application/octet-stream"


def test_event_without_data() -> None:
    event = make_event(ping())
    assert event.data is None
    assert "datacontenttype" not in event.attributes
