"""The next occurrence of a weekly video call, at a wall-clock time in the family's zone.

APScheduler's `CronTrigger` proposes the time; it works on wall-clock fields and has blind spots around
daylight saving changes, which this module evens out so that every chosen weekday has exactly one call:

* the time it returns can equal the `now` it is given, so we ask from one microsecond later;
* a wall time inside a spring-forward gap comes back as that non-existent wall time; converted to UTC it lands
  after the gap, shifted by the gap's length (02:30 in Berlin on 2026-03-29 is 03:30 CEST), which we keep;
* it steps from day to day by adding the wall-clock difference in UTC, so across a 23-hour day it lands an hour
  late and can skip a valid day: Monday 00:00 in Berlin asked from 2026-03-23 gives 2026-04-06, not 03-30
  (agronholm/apscheduler#529, #606); likewise a gap that swallows midnight (America/Santiago, Sunday 00:30
  on 2026-09-06) or asking from after the gap but before the shifted time (03:10 CEST on 2026-03-29);
  so the days between the question and its answer are checked for an earlier valid occurrence;
* a wall time that happens twice on a fall-back day is returned twice; the caller passes `not_on` with the
  local date of the previous call so that it happens once.

Days are always names: APScheduler's numeric day_of_week is 0=Monday while cron's is 0=Sunday.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # index = datetime.weekday()
_TICK = timedelta(microseconds=1)


def load_zone(zone: str) -> ZoneInfo:
    """The zone, or ValueError naming it (ZoneInfo itself raises a KeyError subclass, ValueError or OSError)."""
    if not isinstance(zone, str) or not zone:
        raise ValueError(f"time zone must be an IANA name such as 'Asia/Shanghai', got {zone!r}")
    # `localtime` loads from the host's files: it is the server's zone, never the person's.
    if zone == "localtime":
        raise ValueError(f"unknown time zone {zone!r}")
    try:
        return ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise ValueError(f"unknown time zone {zone[:60]!r}") from exc


def _require_aware(at: datetime, name: str) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime, got naive {at.isoformat()}")


@dataclass(frozen=True)
class Weekly:
    """A call on each of `weekdays` at wall-clock `at` in IANA zone `zone`."""

    weekdays: tuple[str, ...]
    at: time
    zone: str

    def __post_init__(self) -> None:
        # A bare string would be taken apart letter by letter.
        if isinstance(self.weekdays, str):
            raise ValueError(f"weekdays must be a tuple of names like ('mon', 'wed'), not the string {self.weekdays!r}")
        days = tuple(self.weekdays)
        if not days:
            raise ValueError("a weekly call needs at least one weekday")
        unknown = [day for day in days if day not in WEEKDAYS]
        if unknown:
            raise ValueError(f"unknown weekday(s) {unknown!r}; use names from {', '.join(WEEKDAYS)} (never numbers)")
        if len(set(days)) != len(days):
            raise ValueError(f"duplicate weekday in {days!r}")
        if not isinstance(self.at, time):
            raise ValueError(f"at must be a datetime.time, got {self.at!r}")
        if self.at.tzinfo is not None:
            raise ValueError("at is a wall-clock time in `zone` and must not carry its own tzinfo")
        if self.at.second or self.at.microsecond:
            raise ValueError(f"calls start on a whole minute, got {self.at.isoformat()}")
        load_zone(self.zone)
        object.__setattr__(self, "weekdays", tuple(sorted(days, key=WEEKDAYS.index)))
        # fold means nothing for a rule (it is decided per date), and would make equal rules compare unequal.
        object.__setattr__(self, "at", self.at.replace(fold=0))


def local_wall(at: datetime, zone: str) -> datetime:
    """`at` as an aware datetime in `zone` (fold set, so it converts back to the same instant)."""
    _require_aware(at, "at")
    return at.astimezone(load_zone(zone))


def local_date(at: datetime, zone: str) -> date:
    """The calendar date in `zone` at instant `at`."""
    return local_wall(at, zone).date()


def _wall_exists(day: date, at: time, tz: ZoneInfo) -> bool:
    """Whether the clocks in `tz` show `at` on `day` (False inside a spring-forward gap)."""
    wall = datetime.combine(day, at)
    return wall.replace(tzinfo=tz).astimezone(UTC).astimezone(tz).replace(tzinfo=None) == wall


def _occurrences_on(rule: Weekly, day: date, tz: ZoneInfo) -> list[datetime]:
    """Every instant (UTC) the call may be held on local `day`: none, one, or both passes of a repeated time.

    A wall time in a spring-forward gap is read with fold=0, which moves it forward by the gap, as APScheduler
    does (02:30 in Berlin on 2026-03-29 becomes 03:30 CEST).
    """
    if WEEKDAYS[day.weekday()] not in rule.weekdays:
        return []
    local = datetime.combine(day, rule.at, tzinfo=tz)
    if not _wall_exists(day, rule.at, tz):
        return [local.astimezone(UTC)]
    return sorted({local.astimezone(UTC), local.replace(fold=1).astimezone(UTC)})


def _trigger(rule: Weekly) -> CronTrigger:
    return CronTrigger(
        day_of_week=",".join(rule.weekdays),
        hour=rule.at.hour,
        minute=rule.at.minute,
        second=0,
        timezone=load_zone(rule.zone),
    )


def _next_any(rule: Weekly, trigger: CronTrigger, after: datetime) -> datetime:
    """The first occurrence strictly after `after` (UTC), counting both passes of a repeated wall time."""
    tz = load_zone(rule.zone)
    # APScheduler rounds `now` up to the second and may return it unchanged; a microsecond later makes it strict.
    fired = trigger.get_next_fire_time(None, after + _TICK)
    if fired is None:  # only with an end date, which we never set
        raise RuntimeError(f"no next occurrence for {rule!r} after {after.isoformat()}")
    # `fired` holds the intended local date in its wall-clock fields even when that wall time does not exist
    # (then its own fold may read it either side of the gap), so the instant is taken from that date.
    found = fired.astimezone(UTC)
    if not _wall_exists(fired.date(), rule.at, tz):
        found = _occurrences_on(rule, fired.date(), tz)[0]
    # APScheduler can step over a valid day near a clock change (see the module docstring), so the days up to
    # its answer are checked for an earlier occurrence; almost always there is none and its answer stands.
    day = after.astimezone(tz).date()
    while day <= fired.date():
        for candidate in _occurrences_on(rule, day, tz):
            if after < candidate < found:
                return candidate
        day += timedelta(days=1)
    return found


def next_occurrence(rule: Weekly, after: datetime, *, not_on: date | None = None) -> datetime:
    """The first call strictly after `after`, as aware UTC, on a local date other than `not_on`.

    Pass the local date of the previous call as `not_on`: on a fall-back day the wall time happens twice and
    the call should happen once. On a spring-forward day a wall time in the gap moves forward past it.
    """
    _require_aware(after, "after")
    trigger = _trigger(rule)
    tz = load_zone(rule.zone)
    cursor = after.astimezone(UTC)
    while True:
        found = _next_any(rule, trigger, cursor)
        if found.astimezone(tz).date() != not_on:
            return found
        cursor = found
