"""The broker ingress's stamps and paths: arrival time, TTL, and broker paths."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from shoal.eventing.event import CloudEvent
from shoal.eventing.httpserver import Request
from shoal.eventing.ingress import ARRIVAL, TTL, Ingress, arrival_time, path_parts


class Stored:
    def __init__(self) -> None:
        self.records: list[bytes] = []

    async def append(self, records: list[bytes]) -> None:
        self.records.extend(records)

    async def compact(self, older_than: float) -> None:
        pass

    async def drop(self) -> None:
        pass


def test_arrival_time_is_now_in_utc_with_microseconds() -> None:
    before = datetime.now(UTC)
    stamps = [arrival_time() for _ in range(3)]
    after = datetime.now(UTC)
    for stamp in stamps:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", stamp)
        moment = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        assert before <= moment <= after
    assert stamps == sorted(stamps)


def test_paths_are_percent_decoded_per_segment() -> None:
    request = Request("POST", "/my%2Dns/a%2Fb/", {}, b"")
    assert path_parts(request) == ["my-ns", "a/b"]
    path_parts(request).append("changed")
    assert path_parts(request) == ["my-ns", "a/b"]


async def test_served_events_are_stamped_and_published_ones_left_as_they_were() -> None:
    stored = Stored()
    seen: list[tuple[str, str, CloudEvent]] = []
    ingress = Ingress(lambda ns, name: stored if (ns, name) == ("ns", "b") else None,
                      observe=lambda ns, name, event: seen.append((ns, name, event)))
    headers = {"ce-specversion": "1.0", "ce-id": "1", "ce-source": "/s", "ce-type": "t"}
    response = await ingress.serve(Request("POST", "/ns/b", headers, b""))
    assert response.status == 202
    assert (await ingress.serve(Request("POST", "/ns/other", headers, b""))).status == 404
    event = CloudEvent({"specversion": "1.0", "id": "2", "source": "/s", "type": "t",
                        TTL: 3})
    assert await ingress.publish("ns", "b", [event]) == 202
    assert event.attributes == {"specversion": "1.0", "id": "2", "source": "/s", "type": "t",
                                TTL: 3}
    first, second = (CloudEvent.from_record(record) for record in stored.records)
    assert first.attributes[TTL] == 255 and second.attributes[TTL] == 3
    assert ARRIVAL in first.attributes and ARRIVAL in second.attributes
    assert [(ns, name, e.id) for ns, name, e in seen] == [("ns", "b", "1"), ("ns", "b", "2")]
