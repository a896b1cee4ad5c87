"""The cron parser: accepted and refused schedules, and next fire times across DST."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from shoal.api.sources import cron

BERLIN = ZoneInfo("Europe/Berlin")


def fires(spec: str, after: datetime, count: int) -> list[str]:
    schedule = cron.parse(spec)
    out: list[str] = []
    t: datetime | None = after
    for _ in range(count):
        assert t is not None
        t = schedule.next(t)
        out.append(t.isoformat() if t is not None else "never")
    return out


@pytest.mark.parametrize(
    ("spec", "after", "expected"),
    [
        (
            "*/2 * * * *",
            "2024-01-01T00:00:00+00:00",
            ["2024-01-01T00:02:00+00:00", "2024-01-01T00:04:00+00:00"],
        ),
        (
            "* * * * *",
            "2024-01-01T00:00:30.5+00:00",
            ["2024-01-01T00:01:00+00:00", "2024-01-01T00:02:00+00:00"],
        ),
        (
            "10 0/5 * * * ?",
            "2024-01-01T00:00:00+00:00",
            ["2024-01-01T00:00:10+00:00", "2024-01-01T00:05:10+00:00"],
        ),
        (
            "*/15 * * * * *",
            "2024-01-01T00:00:00+00:00",
            ["2024-01-01T00:00:15+00:00", "2024-01-01T00:00:30+00:00"],
        ),
        (
            "0 9 * * MON-FRI",
            "2024-01-05T10:00:00+00:00",
            ["2024-01-08T09:00:00+00:00", "2024-01-09T09:00:00+00:00"],
        ),
        (
            "0 0 1,15 * *",
            "2024-01-01T00:00:00+00:00",
            ["2024-01-15T00:00:00+00:00", "2024-02-01T00:00:00+00:00"],
        ),
        (
            "0 0 * Feb,mar *",
            "2024-01-10T00:00:00+00:00",
            ["2024-02-01T00:00:00+00:00", "2024-02-02T00:00:00+00:00"],
        ),
        (
            "30 23 31 * *",
            "2024-04-01T00:00:00+00:00",
            ["2024-05-31T23:30:00+00:00", "2024-07-31T23:30:00+00:00"],
        ),
        (
            "0 12 29 2 *",
            "2024-03-01T00:00:00+00:00",
            ["2028-02-29T12:00:00+00:00", "2032-02-29T12:00:00+00:00"],
        ),
        ("0 0 30 2 *", "2024-01-01T00:00:00+00:00", ["never"]),
        (
            "5-10/5 1 * * *",
            "2024-01-01T00:00:00+00:00",
            ["2024-01-01T01:05:00+00:00", "2024-01-01T01:10:00+00:00"],
        ),
        (
            "0 */6 * * *",
            "2024-01-01T07:00:00+00:00",
            ["2024-01-01T12:00:00+00:00", "2024-01-01T18:00:00+00:00"],
        ),
    ],
)
def test_next_fire_times_in_utc(spec: str, after: str, expected: list[str]) -> None:
    assert fires(spec, datetime.fromisoformat(after), len(expected)) == expected


def test_day_of_month_and_day_of_week_combine_with_or_unless_one_is_a_star() -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    # The 13th, or any Friday.
    assert fires("0 0 13 * 5", start, 3) == [
        "2024-01-05T00:00:00+00:00",
        "2024-01-12T00:00:00+00:00",
        "2024-01-13T00:00:00+00:00",
    ]
    # ``?`` is a star: every Friday only.
    assert fires("0 0 ? * FRI", start, 2) == [
        "2024-01-05T00:00:00+00:00",
        "2024-01-12T00:00:00+00:00",
    ]


@pytest.mark.parametrize(
    ("descriptor", "expected"),
    [
        ("@yearly", "2025-01-01T00:00:00+00:00"),
        ("@annually", "2025-01-01T00:00:00+00:00"),
        ("@monthly", "2024-06-01T00:00:00+00:00"),
        ("@weekly", "2024-05-19T00:00:00+00:00"),
        ("@daily", "2024-05-16T00:00:00+00:00"),
        ("@midnight", "2024-05-16T00:00:00+00:00"),
        ("@hourly", "2024-05-15T11:00:00+00:00"),
    ],
)
def test_descriptors(descriptor: str, expected: str) -> None:
    after = datetime(2024, 5, 15, 10, 20, tzinfo=UTC)  # a Wednesday
    assert fires(descriptor, after, 1) == [expected]


def test_after_is_exclusive_and_the_result_is_in_the_schedule_zone() -> None:
    schedule = cron.parse("CRON_TZ=Europe/Berlin 0 9 * * *")
    first = schedule.next(datetime(2024, 1, 10, 7, 0, tzinfo=UTC))
    assert first is not None
    assert first == datetime(2024, 1, 10, 9, 0, tzinfo=BERLIN)
    assert first.tzinfo is BERLIN
    assert schedule.next(first) == datetime(2024, 1, 11, 9, 0, tzinfo=BERLIN)


def test_tz_prefix_and_no_prefix_means_utc() -> None:
    after = datetime(2024, 1, 1, tzinfo=UTC)
    assert fires("TZ=America/New_York 0 0 * * *", after, 1) == ["2024-01-01T00:00:00-05:00"]
    assert fires("0 0 * * *", after, 1) == ["2024-01-02T00:00:00+00:00"]


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        cron.parse("* * * * *").next(datetime(2024, 1, 1))


class TestDaylightSavingInBerlin:
    """Europe/Berlin in 2024: 02:00 → 03:00 on March 31st, 03:00 → 02:00 on October 27th."""

    def test_a_time_skipped_by_spring_forward_does_not_fire_that_day(self) -> None:
        after = datetime(2024, 3, 30, 12, 0, tzinfo=BERLIN)
        assert fires("CRON_TZ=Europe/Berlin 30 2 * * *", after, 3) == [
            "2024-04-01T02:30:00+02:00",
            "2024-04-02T02:30:00+02:00",
            "2024-04-03T02:30:00+02:00",
        ]

    def test_hourly_jumps_the_missing_hour(self) -> None:
        after = datetime(2024, 3, 31, 0, 30, tzinfo=BERLIN)
        result = fires("CRON_TZ=Europe/Berlin 0 * * * *", after, 3)
        assert result == [
            "2024-03-31T01:00:00+01:00",
            "2024-03-31T03:00:00+02:00",
            "2024-03-31T04:00:00+02:00",
        ]
        times = [datetime.fromisoformat(r) for r in result]
        assert times[1] - times[0] == timedelta(hours=1)

    def test_a_time_repeated_by_fall_back_fires_at_each_occurrence(self) -> None:
        after = datetime(2024, 10, 26, 12, 0, tzinfo=BERLIN)
        assert fires("CRON_TZ=Europe/Berlin 30 2 * * *", after, 3) == [
            "2024-10-27T02:30:00+02:00",
            "2024-10-27T02:30:00+01:00",
            "2024-10-28T02:30:00+01:00",
        ]

    def test_hourly_fires_every_elapsed_hour_through_fall_back(self) -> None:
        after = datetime(2024, 10, 27, 0, 30, tzinfo=BERLIN)
        result = fires("CRON_TZ=Europe/Berlin 0 * * * *", after, 4)
        assert result == [
            "2024-10-27T01:00:00+02:00",
            "2024-10-27T02:00:00+02:00",
            "2024-10-27T02:00:00+01:00",
            "2024-10-27T03:00:00+01:00",
        ]
        times = [datetime.fromisoformat(r) for r in result]
        assert {b - a for a, b in pairwise(times)} == {timedelta(hours=1)}

    def test_daily_nine_oclock_stays_at_nine_across_both_changes(self) -> None:
        spring = fires(
            "CRON_TZ=Europe/Berlin 0 9 * * *", datetime(2024, 3, 30, 10, 0, tzinfo=BERLIN), 2
        )
        assert spring == ["2024-03-31T09:00:00+02:00", "2024-04-01T09:00:00+02:00"]
        autumn = fires(
            "CRON_TZ=Europe/Berlin 0 9 * * *", datetime(2024, 10, 26, 10, 0, tzinfo=BERLIN), 2
        )
        assert autumn == ["2024-10-27T09:00:00+01:00", "2024-10-28T09:00:00+01:00"]

    def test_a_utc_instant_is_read_in_the_schedule_zone(self) -> None:
        # 00:30 UTC on October 27th is 02:30 CEST, the first of the two 02:30s.
        after = datetime(2024, 10, 27, 0, 29, tzinfo=UTC)
        assert fires("CRON_TZ=Europe/Berlin 30 2 * * *", after, 1) == ["2024-10-27T02:30:00+02:00"]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "empty spec string"),
        ("2", "expected 5 to 6 fields, found 1: [2]"),
        ("* * * * * * *", "expected 5 to 6 fields, found 7: [* * * * * * *]"),
        ("@every 2h", "unsupported descriptor @every"),
        ("@fortnightly", "unrecognized descriptor: @fortnightly"),
        ("60 * * * *", "end of range (60) above maximum (59): 60"),
        ("* 24 * * *", "end of range (24) above maximum (23): 24"),
        ("* * 0 * *", "beginning of range (0) below minimum (1): 0"),
        ("* * * 13 *", "end of range (13) above maximum (12): 13"),
        ("* * * * 7", "end of range (7) above maximum (6): 7"),
        ("5-1 * * * *", "beginning of range (5) beyond end of range (1): 5-1"),
        ("*/0 * * * *", "step of range should be a positive number: */0"),
        ("1-2-3 * * * *", "too many hyphens: 1-2-3"),
        ("*/2/3 * * * *", "too many slashes: */2/3"),
        ("x * * * *", "failed to parse int from x: invalid syntax"),
        ("-1 * * * *", "failed to parse int from : invalid syntax"),
        ("* * * JANUARY *", "failed to parse int from JANUARY: invalid syntax"),
        ("CRON_TZ=Europe/Berlin", "missing schedule after the time zone"),
    ],
)
def test_refused_schedules(spec: str, message: str) -> None:
    with pytest.raises(cron.CronError) as caught:
        cron.parse(spec)
    assert str(caught.value) == message
    assert not isinstance(caught.value, cron.CronLocationError)


@pytest.mark.parametrize(
    "spec",
    [
        "CRON_TZ=Knative/Land * * * * *",
        "TZ=Not/AZone 0 0 * * *",
        "CRON_TZ=../../etc/passwd * * * * *",
    ],
)
def test_unknown_time_zones(spec: str) -> None:
    with pytest.raises(cron.CronLocationError, match="provided bad location"):
        cron.parse(spec)


def test_known_zone_names() -> None:
    assert cron.load_zone("UTC") is UTC
    assert cron.load_zone("") is UTC
    assert cron.load_zone("Asia/Tokyo") == ZoneInfo("Asia/Tokyo")
