"""Cron schedules as PingSource reads them: parse, validate, and compute the next fire time.

The dialect is the one Knative's PingSource accepts:

- five fields ``minute hour day-of-month month day-of-week``, or six with a leading
  ``second`` field; each field a comma list of ``*``, ``?``, ``N``, ``N-M``, with an
  optional ``/step``; months ``JAN``-``DEC`` and weekdays ``SUN``-``SAT`` by name (Sunday is
  0, 0-6);
- the descriptors ``@yearly`` (``@annually``), ``@monthly``, ``@weekly``, ``@daily``
  (``@midnight``) and ``@hourly``; ``@every`` is refused, as Knative refuses it;
- an optional ``CRON_TZ=Zone`` or ``TZ=Zone`` prefix naming an IANA time zone.

Day of month and day of week combine as in cron: if either field is ``*`` or ``?`` both
must match, otherwise either may. Times are walked in the schedule's zone as Knative's cron
library walks them: a wall time skipped by a spring-forward change does not fire that day,
and a wall time repeated by a fall-back change fires at each occurrence.

Pure (no I/O); PingSource admission validates with ``parse``, and the ping source adapter
calls ``Schedule.next`` to know when to send.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# Gives up looking for a matching time this many years ahead (e.g. ``0 0 30 2 *``).
YEAR_LIMIT = 5

_STAR = 1 << 63  # set on a field written as ``*``/``?``: day fields then combine with AND
_INT = re.compile(r"^[+-]?\d+$")


class CronError(ValueError):
    """The schedule cannot be parsed; the message says why."""


class CronLocationError(CronError):
    """The schedule names a time zone that does not exist."""


@dataclass(frozen=True)
class _Bounds:
    low: int
    high: int
    names: dict[str, int] | None = None


_MONTH_NAMES = {
    name: i + 1
    for i, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
    )
}
_DOW_NAMES = {name: i for i, name in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}

SECONDS = _Bounds(0, 59)
MINUTES = _Bounds(0, 59)
HOURS = _Bounds(0, 23)
DOM = _Bounds(1, 31)
MONTHS = _Bounds(1, 12, _MONTH_NAMES)
DOW = _Bounds(0, 6, _DOW_NAMES)
_FIELDS = (SECONDS, MINUTES, HOURS, DOM, MONTHS, DOW)


def _all(bounds: _Bounds) -> int:
    return _bits(bounds.low, bounds.high, 1) | _STAR


def _bits(low: int, high: int, step: int) -> int:
    out = 0
    for i in range(low, high + 1, step):
        out |= 1 << i
    return out


# Descriptor → (second, minute, hour, dom, month, dow) masks.
_DESCRIPTORS: dict[str, tuple[int, int, int, int, int, int]] = {
    "@yearly": (1, 1, 1, 1 << 1, 1 << 1, _all(DOW)),
    "@monthly": (1, 1, 1, 1 << 1, _all(MONTHS), _all(DOW)),
    "@weekly": (1, 1, 1, _all(DOM), _all(MONTHS), 1),
    "@daily": (1, 1, 1, _all(DOM), _all(MONTHS), _all(DOW)),
    "@hourly": (1, 1, _all(HOURS), _all(DOM), _all(MONTHS), _all(DOW)),
}
_DESCRIPTORS["@annually"] = _DESCRIPTORS["@yearly"]
_DESCRIPTORS["@midnight"] = _DESCRIPTORS["@daily"]


def load_zone(name: str) -> tzinfo:
    """An IANA time zone by name; ``UTC`` and the empty name give UTC."""
    if name in ("", "UTC"):
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise CronLocationError(f"provided bad location {name}: unknown time zone {name}") from None


def _number(text: str, expr: str) -> int:
    if not _INT.match(text):
        raise CronError(f"failed to parse int from {text}: invalid syntax")
    value = int(text)
    if value < 0:
        raise CronError(f"negative number ({value}) not allowed: {expr}")
    return value


def _number_or_name(text: str, bounds: _Bounds, expr: str) -> int:
    if bounds.names is not None and text.lower() in bounds.names:
        return bounds.names[text.lower()]
    return _number(text, expr)


def _range(expr: str, bounds: _Bounds) -> int:
    range_and_step = expr.split("/")
    low_and_high = range_and_step[0].split("-")
    extra = 0
    if low_and_high[0] in ("*", "?"):
        if len(low_and_high) > 1:
            raise CronError(f"a range cannot start with {low_and_high[0]}: {expr}")
        start, end, extra = bounds.low, bounds.high, _STAR
    else:
        start = _number_or_name(low_and_high[0], bounds, expr)
        if len(low_and_high) == 1:
            end = start
        elif len(low_and_high) == 2:
            end = _number_or_name(low_and_high[1], bounds, expr)
        else:
            raise CronError(f"too many hyphens: {expr}")
    if len(range_and_step) == 1:
        step = 1
    elif len(range_and_step) == 2:
        step = _number(range_and_step[1], expr)
        if len(low_and_high) == 1:
            end = bounds.high  # ``N/step`` means from N to the end of the range
        if step > 1:
            extra = 0
    else:
        raise CronError(f"too many slashes: {expr}")
    if start < bounds.low:
        raise CronError(f"beginning of range ({start}) below minimum ({bounds.low}): {expr}")
    if end > bounds.high:
        raise CronError(f"end of range ({end}) above maximum ({bounds.high}): {expr}")
    if start > end:
        raise CronError(f"beginning of range ({start}) beyond end of range ({end}): {expr}")
    if step == 0:
        raise CronError(f"step of range should be a positive number: {expr}")
    return _bits(start, end, step) | extra


def _field(text: str, bounds: _Bounds) -> int:
    bits = 0
    for expr in text.split(","):
        bits |= _range(expr, bounds)
    return bits


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule: a bit mask per field, and the zone its wall times are in."""

    second: int
    minute: int
    hour: int
    dom: int
    month: int
    dow: int
    zone: tzinfo = UTC

    def _day_matches(self, t: datetime) -> bool:
        dom_match = bool(1 << t.day & self.dom)
        dow_match = bool(1 << ((t.weekday() + 1) % 7) & self.dow)
        if self.dom & _STAR or self.dow & _STAR:
            return dom_match and dow_match
        return dom_match or dow_match

    def _local(self, y: int, m: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> datetime:
        """A wall time in the zone; one inside a spring-forward gap moves past the gap."""
        wall = datetime(y, m, d, h, mi, s, tzinfo=self.zone)
        return wall.astimezone(UTC).astimezone(self.zone)

    def _add(self, t: datetime, delta: timedelta) -> datetime:
        """``t`` plus ``delta`` of elapsed time (not of wall-clock time)."""
        return (t.astimezone(UTC) + delta).astimezone(self.zone)

    def next(self, after: datetime) -> datetime | None:
        """The first fire time strictly after ``after`` (an aware datetime), in the zone.

        None if nothing matches within ``YEAR_LIMIT`` years (e.g. February 30th).
        """
        if after.tzinfo is None:
            raise ValueError("after must be an aware datetime")
        t = self._add(after.replace(microsecond=0), timedelta(seconds=1))
        limit = t.year + YEAR_LIMIT
        added = False
        while t.year <= limit:
            t, added, wrapped = self._advance(t, added)
            if not wrapped:
                return t
        return None

    def _advance(self, t: datetime, added: bool) -> tuple[datetime, bool, bool]:
        """Move ``t`` to the next match; the flag says a field wrapped and to start over."""
        while not 1 << t.month & self.month:
            if not added:
                added, t = True, self._local(t.year, t.month, 1)
            year, month = (t.year + 1, 1) if t.month == 12 else (t.year, t.month + 1)
            t = self._local(year, month, 1)
            if t.month == 1:
                return t, added, True
        while not self._day_matches(t):
            if not added:
                added, t = True, self._local(t.year, t.month, t.day)
            day = date(t.year, t.month, t.day) + timedelta(days=1)
            t = self._local(day.year, day.month, day.day, t.hour, t.minute, t.second)
            if t.hour != 0:  # midnight fell in a time change; get back to it
                back = t.hour - 24 if t.hour > 12 else t.hour
                t = self._add(t, timedelta(hours=-back))
            if t.day == 1:
                return t, added, True
        while not 1 << t.hour & self.hour:
            if not added:
                added, t = True, self._local(t.year, t.month, t.day, t.hour)
            t = self._add(t, timedelta(hours=1))
            if t.hour == 0:
                return t, added, True
        while not 1 << t.minute & self.minute:
            if not added:
                added, t = True, t.replace(second=0)
            t = self._add(t, timedelta(minutes=1))
            if t.minute == 0:
                return t, added, True
        while not 1 << t.second & self.second:
            added = True
            t = self._add(t, timedelta(seconds=1))
            if t.second == 0:
                return t, added, True
        return t, added, False


def parse(spec: str) -> Schedule:
    """Parse a schedule, with an optional ``CRON_TZ=``/``TZ=`` prefix; raise ``CronError``."""
    spec = spec.strip()
    if not spec:
        raise CronError("empty spec string")
    zone: tzinfo = UTC
    if spec.startswith(("TZ=", "CRON_TZ=")):
        prefix, _, rest = spec.partition(" ")
        zone = load_zone(prefix.partition("=")[2])
        spec = rest.strip()
        if not spec:
            raise CronError("missing schedule after the time zone")
    if spec.startswith("@"):
        if spec.startswith("@every"):
            raise CronError("unsupported descriptor @every")
        masks = _DESCRIPTORS.get(spec)
        if masks is None:
            raise CronError(f"unrecognized descriptor: {spec}")
        return Schedule(*masks, zone=zone)
    fields = spec.split()
    if len(fields) not in (5, 6):
        raise CronError(f"expected 5 to 6 fields, found {len(fields)}: [{' '.join(fields)}]")
    if len(fields) == 5:
        fields.insert(0, "0")
    sec, minute, hour, dom, month, dow = (
        _field(text, bounds) for text, bounds in zip(fields, _FIELDS, strict=True)
    )
    return Schedule(sec, minute, hour, dom, month, dow, zone=zone)
