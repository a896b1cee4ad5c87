"""The log record form of an event: attributes line, then the payload bytes untouched."""

from __future__ import annotations

import pytest

from shoal.eventing.dispatcher import decode
from shoal.eventing.event import CloudEvent


@pytest.mark.parametrize("data", [None, b"", b'{"a":\n 1}', b"\xff\x00\n\n", b"plain text"])
def test_record_round_trip_keeps_payload_bytes_exactly(data: bytes | None) -> None:
    event = CloudEvent({"specversion": "1.0", "id": "1", "type": "t", "source": "/s",
                        "note": "line one\nline two", "count": 3, "flag": True}, data)
    record = event.to_record()
    assert record.count(b"\n") == (0 if data is None else 1 + data.count(b"\n"))
    assert CloudEvent.from_record(record) == event


def test_the_consumers_of_a_broker_share_one_decoding_of_a_record() -> None:
    event = CloudEvent({"specversion": "1.0", "id": "1", "source": "/s", "type": "t"}, b"{}")
    record = event.to_record()
    first = decode(record)
    assert first == event
    assert decode(bytes(bytearray(record))) is first
