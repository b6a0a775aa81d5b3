"""Quiet hours: the part of a person's night during which reminders and tips wait (concerns never do).

A window is wall-clock times in the person's zone, `start` inclusive and `end` exclusive; it wraps midnight
when `start > end`, and `start == end` means no quiet hours. Quietness follows the clock on the wall, so on a
fall-back night a wall time that happens twice is quiet (or not) both times.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.services.recurrence import load_zone

_DAY = timedelta(days=1)
_TICK = timedelta(microseconds=1)
_PROBE = timedelta(hours=1)  # clock changes are months apart, so an hourly probe cannot step over two
# Full-width colon and the dashes Chinese input methods produce.
_NORMALISE = str.maketrans({"：": ":", "–": "-", "—": "-", "－": "-", "～": "-", "~": "-"})
_WINDOW_RE = re.compile(r"(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})")


@dataclass(frozen=True)
class QuietHours:
    start: time
    end: time

    def __post_init__(self) -> None:
        for name, value in (("start", self.start), ("end", self.end)):
            if not isinstance(value, time):
                raise ValueError(f"{name} must be a datetime.time, got {value!r}")
            if value.tzinfo is not None:
                raise ValueError(f"{name} is a wall-clock time in the person's zone and must not carry tzinfo")
            if value.second or value.microsecond:
                raise ValueError(f"quiet hours are whole minutes, got {name} {value.isoformat()}")
            object.__setattr__(self, name, value.replace(fold=0))

    @property
    def empty(self) -> bool:
        return self.start == self.end

    def contains(self, wall: time) -> bool:
        """Whether the wall-clock time `wall` is inside the window."""
        wall = wall.replace(tzinfo=None, fold=0)
        if self.start < self.end:
            return self.start <= wall < self.end
        if self.start > self.end:
            return wall >= self.start or wall < self.end
        return False

    def __str__(self) -> str:
        """The form `parse` reads back, e.g. `21:30-07:00`."""
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


DEFAULT = QuietHours(time(21, 30), time(7, 0))


def parse(text: str) -> QuietHours:
    """`21:30-07:00` (full-width colon and dashes tolerated; `24:00` allowed as the end)."""
    match = _WINDOW_RE.fullmatch(text.translate(_NORMALISE).strip())
    if not match:
        raise ValueError(f"bad quiet hours {text!r} (expected HH:MM-HH:MM, e.g. 21:30-07:00)")
    h1, m1, h2, m2 = (int(part) for part in match.groups())
    if (h2, m2) == (24, 0):
        h2 = 0
    for hour, minute in ((h1, m1), (h2, m2)):
        if hour > 23 or minute > 59:
            raise ValueError(f"bad time in quiet hours {text!r} (hours 00-23, minutes 00-59)")
    return QuietHours(time(h1, m1), time(h2, m2))


def _local(at: datetime, tz: ZoneInfo) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"at must be an aware datetime, got naive {at.isoformat()}")
    return at.astimezone(tz)


def is_quiet(q: QuietHours, zone: str, at: datetime) -> bool:
    """Whether instant `at` (aware) falls in the quiet window on the person's wall clock."""
    return q.contains(_local(at, load_zone(zone)).time())


def _seconds(t: time) -> timedelta:
    return timedelta(hours=t.hour, minutes=t.minute, seconds=t.second, microseconds=t.microsecond)


def _first_change(tz: ZoneInfo, lo: datetime, hi: datetime) -> datetime | None:
    """The first instant in (lo, hi] whose UTC offset differs from lo's, or None."""
    offset = lo.astimezone(tz).utcoffset()
    probe = lo
    while probe < hi:
        nxt = min(probe + _PROBE, hi)
        if nxt.astimezone(tz).utcoffset() != offset:
            # Bisect to the microsecond: offset(probe) == offset, offset(nxt) != offset.
            while nxt - probe > _TICK:
                mid = probe + (nxt - probe) // 2
                if mid.astimezone(tz).utcoffset() == offset:
                    probe = mid
                else:
                    nxt = mid
            return nxt
        probe = nxt
    return None


def next_allowed(q: QuietHours, zone: str, at: datetime) -> datetime:
    """`at` as UTC if it is not quiet, else the first instant after it that is not (aware UTC).

    Between clock changes the wall clock runs with the UTC one, so the window ends after (end - wall) of real
    time; a clock change on the way restarts the sum from the changed wall time. That also covers an end that
    does not exist on the day (the first instant after the gap) and a fall-back that lands back in the window.
    """
    tz = load_zone(zone)
    point = _local(at, tz).astimezone(UTC)
    for _ in range(10):  # each round ends the window or passes one clock change; two rounds are the most seen
        wall = point.astimezone(tz).time()
        if not q.contains(wall):
            return point
        target = point + (_seconds(q.end) - _seconds(wall)) % _DAY
        change = _first_change(tz, point, target)
        if change is None:
            return target
        point = change
    raise RuntimeError(f"quiet hours {q} in {zone} did not end after {at.isoformat()}")


def overlaps(q: QuietHours, local_start: time, minutes: int) -> bool:
    """Whether a call from wall time `local_start` lasting `minutes` touches the window (a warning when booking).

    Plain clock arithmetic on a 24-hour circle; a clock change on the night of the call is not considered.
    """
    if minutes < 0:
        raise ValueError(f"minutes must not be negative, got {minutes}")
    if local_start.tzinfo is not None:
        raise ValueError("local_start is a wall-clock time and must not carry tzinfo")
    if q.empty:
        return False
    if minutes == 0:
        return q.contains(local_start)
    call_start = _seconds(local_start)
    call_length = timedelta(minutes=minutes)
    quiet_start = _seconds(q.start)
    quiet_length = (_seconds(q.end) - quiet_start) % _DAY
    # Two arcs on the circle meet when either one starts inside the other.
    return (quiet_start - call_start) % _DAY < call_length or (call_start - quiet_start) % _DAY < quiet_length
