"""Weekly calls: the next occurrence in the family's zone, across daylight saving changes in both hemispheres."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.services.recurrence import WEEKDAYS, Weekly, local_date, local_wall, next_occurrence

BERLIN = "Europe/Berlin"
NEW_YORK = "America/New_York"
SYDNEY = "Australia/Sydney"
LORD_HOWE = "Australia/Lord_Howe"
SHANGHAI = "Asia/Shanghai"


def utc(*fields: int) -> datetime:
    return datetime(*fields, tzinfo=UTC)


def wall(zone: str, *fields: int, fold: int = 0) -> datetime:
    return datetime(*fields, tzinfo=ZoneInfo(zone), fold=fold)


def run(rule: Weekly, after: datetime, count: int) -> list[datetime]:
    """`count` calls in a row, each asked for the way the scheduler does: after the last, not on its date."""
    out: list[datetime] = []
    not_on: date | None = None
    for _ in range(count):
        after = next_occurrence(rule, after, not_on=not_on)
        not_on = local_date(after, rule.zone)
        out.append(after)
    return out


# --- examples ---------------------------------------------------------------------------------------------


def test_sunday_evening_in_shanghai_from_a_wednesday() -> None:
    rule = Weekly(("sun",), time(20, 0), SHANGHAI)
    got = next_occurrence(rule, wall(SHANGHAI, 2026, 3, 4, 10, 0))
    assert got == utc(2026, 3, 8, 12, 0)
    assert got.tzinfo is UTC
    assert local_wall(got, SHANGHAI) == wall(SHANGHAI, 2026, 3, 8, 20, 0)


def test_after_may_be_in_any_zone() -> None:
    rule = Weekly(("sun",), time(20, 0), SHANGHAI)
    after = wall(NEW_YORK, 2026, 3, 8, 7, 59)  # 19:59 in Shanghai, the same Sunday
    assert next_occurrence(rule, after) == utc(2026, 3, 8, 12, 0)


def test_mon_wed_fri_in_order() -> None:
    rule = Weekly(("fri", "mon", "wed"), time(19, 30), SHANGHAI)
    assert rule.weekdays == ("mon", "wed", "fri")
    assert rule == Weekly(("mon", "wed", "fri"), time(19, 30), SHANGHAI)
    got = run(rule, wall(SHANGHAI, 2026, 3, 2, 12, 0), 4)  # a Monday noon
    assert [local_wall(t, SHANGHAI).replace(tzinfo=None) for t in got] == [
        datetime(2026, 3, 2, 19, 30),
        datetime(2026, 3, 4, 19, 30),
        datetime(2026, 3, 6, 19, 30),
        datetime(2026, 3, 9, 19, 30),
    ]


def test_exactly_at_an_occurrence_gives_the_next_one() -> None:
    rule = Weekly(("sun",), time(20, 0), SHANGHAI)
    at = utc(2026, 3, 8, 12, 0)
    assert next_occurrence(rule, at) == utc(2026, 3, 15, 12, 0)
    assert next_occurrence(rule, at - timedelta(microseconds=1)) == at
    assert next_occurrence(rule, at + timedelta(microseconds=1)) == utc(2026, 3, 15, 12, 0)


def test_berlin_spring_forward_wall_time_in_the_gap_moves_past_it() -> None:
    rule = Weekly(("sun",), time(2, 30), BERLIN)  # 02:00 CET -> 03:00 CEST on 2026-03-29
    got = run(rule, utc(2026, 3, 21), 3)
    assert got == [utc(2026, 3, 22, 1, 30), utc(2026, 3, 29, 1, 30), utc(2026, 4, 5, 0, 30)]
    assert local_wall(got[1], BERLIN) == wall(BERLIN, 2026, 3, 29, 3, 30)
    assert [local_date(t, BERLIN) for t in got] == [date(2026, 3, 22), date(2026, 3, 29), date(2026, 4, 5)]


def test_berlin_spring_forward_asked_from_after_the_gap_keeps_that_days_call() -> None:
    # APScheduler alone answers 2026-04-05 here: the wall clock (03:10) is already past 02:30.
    rule = Weekly(("sun",), time(2, 30), BERLIN)
    assert next_occurrence(rule, wall(BERLIN, 2026, 3, 29, 3, 10)) == utc(2026, 3, 29, 1, 30)
    assert next_occurrence(rule, wall(BERLIN, 2026, 3, 29, 3, 30)) == utc(2026, 4, 5, 0, 30)


def test_berlin_spring_forward_evening_call_follows_the_new_offset() -> None:
    rule = Weekly(("sun",), time(20, 0), BERLIN)
    assert run(rule, utc(2026, 3, 21), 2) == [utc(2026, 3, 22, 19, 0), utc(2026, 3, 29, 18, 0)]


def test_berlin_fall_back_repeated_wall_time_happens_once() -> None:
    rule = Weekly(("sun",), time(2, 30), BERLIN)  # 03:00 CEST -> 02:00 CET on 2026-10-25
    got = run(rule, utc(2026, 10, 19), 3)
    assert got == [utc(2026, 10, 25, 0, 30), utc(2026, 11, 1, 1, 30), utc(2026, 11, 8, 1, 30)]
    assert sum(local_date(t, BERLIN) == date(2026, 10, 25) for t in got) == 1
    # Without not_on the wall time is found twice that night: first in CEST, then in CET.
    first = got[0]
    assert next_occurrence(rule, first) == utc(2026, 10, 25, 1, 30)
    assert next_occurrence(rule, first, not_on=date(2026, 10, 25)) == utc(2026, 11, 1, 1, 30)


def test_new_york_spring_forward_and_fall_back() -> None:
    gap = Weekly(("sun",), time(2, 30), NEW_YORK)  # 02:00 EST -> 03:00 EDT on 2026-03-08
    assert next_occurrence(gap, utc(2026, 3, 7)) == utc(2026, 3, 8, 7, 30)  # 03:30 EDT
    assert local_wall(utc(2026, 3, 8, 7, 30), NEW_YORK) == wall(NEW_YORK, 2026, 3, 8, 3, 30)
    twice = Weekly(("sun",), time(1, 30), NEW_YORK)  # 02:00 EDT -> 01:00 EST on 2026-11-01
    assert run(twice, utc(2026, 10, 31), 2) == [utc(2026, 11, 1, 5, 30), utc(2026, 11, 8, 6, 30)]
    evening = Weekly(("sat", "sun"), time(19, 0), NEW_YORK)
    assert run(evening, utc(2026, 10, 31), 3) == [
        utc(2026, 10, 31, 23, 0),
        utc(2026, 11, 2, 0, 0),
        utc(2026, 11, 8, 0, 0),
    ]


def test_sydney_southern_hemisphere() -> None:
    twice = Weekly(("sun",), time(2, 30), SYDNEY)  # 03:00 AEDT -> 02:00 AEST on 2026-04-05
    assert run(twice, utc(2026, 4, 1), 2) == [utc(2026, 4, 4, 15, 30), utc(2026, 4, 11, 16, 30)]
    gap = Weekly(("sun",), time(2, 30), SYDNEY)  # 02:00 AEST -> 03:00 AEDT on 2026-10-04
    got = next_occurrence(gap, utc(2026, 10, 1))
    assert got == utc(2026, 10, 3, 16, 30)
    assert local_wall(got, SYDNEY) == wall(SYDNEY, 2026, 10, 4, 3, 30)
    evening = Weekly(("sun",), time(20, 0), SYDNEY)
    assert run(evening, utc(2026, 3, 28), 2) == [utc(2026, 3, 29, 9, 0), utc(2026, 4, 5, 10, 0)]


def test_lord_howe_half_hour_shift() -> None:
    twice = Weekly(("sun",), time(1, 45), LORD_HOWE)  # 02:00 +11 -> 01:30 +10:30 on 2026-04-05
    assert run(twice, utc(2026, 4, 1), 2) == [utc(2026, 4, 4, 14, 45), utc(2026, 4, 11, 15, 15)]
    gap = Weekly(("sun",), time(2, 15), LORD_HOWE)  # 02:00 +10:30 -> 02:30 +11 on 2026-10-04
    got = next_occurrence(gap, utc(2026, 10, 1))
    assert local_wall(got, LORD_HOWE) == wall(LORD_HOWE, 2026, 10, 4, 2, 45)
    assert next_occurrence(gap, got) == utc(2026, 10, 10, 15, 15)


def test_midnight_call_the_day_after_spring_forward_is_kept() -> None:
    # APScheduler alone steps over these Mondays: it adds a wall-clock day in UTC across a 23-hour Sunday.
    berlin = Weekly(("mon",), time(0, 0), BERLIN)
    assert next_occurrence(berlin, wall(BERLIN, 2026, 3, 23, 0, 0)) == wall(BERLIN, 2026, 3, 30, 0, 0)
    lord_howe = Weekly(("mon",), time(0, 15), LORD_HOWE)
    assert next_occurrence(lord_howe, utc(2026, 10, 1)) == wall(LORD_HOWE, 2026, 10, 5, 0, 15)


def test_santiago_gap_at_midnight_keeps_the_call() -> None:
    # Clocks go from Saturday 24:00 to Sunday 01:00; APScheduler alone skips to the next Sunday.
    rule = Weekly(("sun",), time(0, 30), "America/Santiago")
    got = next_occurrence(rule, utc(2026, 9, 1))
    assert local_wall(got, rule.zone).replace(tzinfo=None) == datetime(2026, 9, 6, 1, 30)


def test_local_helpers() -> None:
    at = utc(2026, 3, 1, 16, 30)
    assert local_date(at, SHANGHAI) == date(2026, 3, 2)
    assert local_wall(at, SHANGHAI) == wall(SHANGHAI, 2026, 3, 2, 0, 30)
    assert local_wall(utc(2026, 10, 25, 1, 30), BERLIN).fold == 1


@pytest.mark.parametrize(
    ("weekdays", "at", "zone", "message"),
    [
        ((), time(20), SHANGHAI, "at least one weekday"),
        (("monday",), time(20), SHANGHAI, "unknown weekday"),
        ((0,), time(20), SHANGHAI, "never numbers"),
        (("Mon",), time(20), SHANGHAI, "unknown weekday"),
        (("mon", "wed", "mon"), time(20), SHANGHAI, "duplicate"),
        ("mon", time(20), SHANGHAI, "not the string"),
        (("mon",), time(20, 0, 30), SHANGHAI, "whole minute"),
        (("mon",), time(20, tzinfo=UTC), SHANGHAI, "tzinfo"),
        (("mon",), "20:00", SHANGHAI, "datetime.time"),
        (("mon",), time(20), "Mars/Olympus_Mons", "unknown time zone"),
        (("mon",), time(20), "../etc/passwd", "unknown time zone"),
        (("mon",), time(20), "", "IANA name"),
        (("mon",), time(20), "localtime", "unknown time zone"),
    ],
)
def test_bad_rules(weekdays: object, at: object, zone: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Weekly(weekdays, at, zone)  # type: ignore[arg-type]


def test_naive_datetimes_are_refused() -> None:
    rule = Weekly(("sun",), time(20, 0), SHANGHAI)
    with pytest.raises(ValueError, match="aware"):
        next_occurrence(rule, datetime(2026, 3, 4, 10, 0))
    with pytest.raises(ValueError, match="aware"):
        local_date(datetime(2026, 3, 4, 10, 0), SHANGHAI)


# --- properties -------------------------------------------------------------------------------------------

ZONES = (
    SHANGHAI,
    BERLIN,
    "Europe/London",
    NEW_YORK,
    "America/Santiago",
    SYDNEY,
    LORD_HOWE,
    "Pacific/Chatham",
    "Asia/Tehran",
    "Asia/Kolkata",
    "UTC",
)
START, STOP = utc(2026, 1, 1), utc(2030, 12, 31)


@cache
def transitions(zone: str) -> tuple[datetime, ...]:
    """The instants the zone's UTC offset changes between START and STOP, so examples can crowd around them."""
    tz = ZoneInfo(zone)
    found: list[datetime] = []
    lo = START
    while lo < STOP:
        hi = lo + timedelta(hours=6)
        if lo.astimezone(tz).utcoffset() != hi.astimezone(tz).utcoffset():
            a, b = lo, hi
            while b - a > timedelta(seconds=1):
                mid = a + (b - a) / 2
                a, b = (mid, b) if mid.astimezone(tz).utcoffset() == a.astimezone(tz).utcoffset() else (a, mid)
            found.append(b)
        lo = hi
    return tuple(found)


def wall_exists(day: date, at: time, tz: ZoneInfo) -> bool:
    """The clocks show `at` on `day` if local -> UTC -> local gives it back (for either fold)."""
    naive = datetime.combine(day, at)
    return any(
        naive.replace(tzinfo=tz, fold=fold).astimezone(UTC).astimezone(tz).replace(tzinfo=None) == naive
        for fold in (0, 1)
    )


def valid_occurrences(rule: Weekly, day: date) -> set[datetime]:
    """Every instant on local `day` a call may be held: both passes of a repeated wall time, or past a gap."""
    tz = ZoneInfo(rule.zone)
    if WEEKDAYS[day.weekday()] not in rule.weekdays:
        return set()
    if wall_exists(day, rule.at, tz):
        return {datetime.combine(day, rule.at, tzinfo=tz).replace(fold=fold).astimezone(UTC) for fold in (0, 1)}
    return {datetime.combine(day, rule.at, tzinfo=tz).astimezone(UTC)}


def assert_is_next(rule: Weekly, after: datetime, got: datetime, not_on: date | None) -> None:
    tz = ZoneInfo(rule.zone)
    here = got.astimezone(tz)
    assert got > after
    assert got.tzinfo is UTC
    assert WEEKDAYS[here.weekday()] in rule.weekdays
    assert here.date() != not_on
    if wall_exists(here.date(), rule.at, tz):
        assert here.time() == rule.at
    else:  # in a spring-forward gap: moved forward, past the gap, the same day
        assert here.time() > rule.at
    day = after.astimezone(tz).date()
    while day <= here.date():
        if day != not_on:
            between = [t for t in valid_occurrences(rule, day) if after < t < got]
            assert not between, f"missed {between} between {after} and {got}"
        day += timedelta(days=1)


@st.composite
def cases(draw: st.DrawFn) -> tuple[Weekly, datetime]:
    zone = draw(st.sampled_from(ZONES))
    days = draw(st.lists(st.sampled_from(WEEKDAYS), min_size=1, max_size=7, unique=True))
    # Small hours are where the clocks change; give them extra weight.
    hour = draw(st.integers(0, 23) | st.sampled_from((0, 1, 2, 3, 23)))
    minute = draw(st.integers(0, 59) | st.sampled_from((0, 15, 30, 45)))
    anywhere = st.datetimes(START.replace(tzinfo=None), STOP.replace(tzinfo=None), timezones=st.just(UTC))
    near = transitions(zone)
    if near and draw(st.booleans()):
        after = draw(st.sampled_from(near)) + timedelta(
            minutes=draw(st.integers(-8 * 24 * 60, 8 * 24 * 60)),
            microseconds=draw(st.sampled_from((0, 1, -1, 500_000))),
        )
    else:
        after = draw(anywhere)
    return Weekly(tuple(days), time(hour, minute), zone), after


@settings(max_examples=300, deadline=None, database=None)
@given(cases())
def test_next_occurrence_is_the_first_valid_one(case: tuple[Weekly, datetime]) -> None:
    rule, after = case
    assert_is_next(rule, after, next_occurrence(rule, after), None)


@settings(max_examples=300, deadline=None, database=None)
@given(cases())
def test_iterating_with_not_on_gives_one_call_per_local_date(case: tuple[Weekly, datetime]) -> None:
    rule, after = case
    got: list[datetime] = []
    previous = after
    not_on: date | None = None
    for _ in range(60):
        nxt = next_occurrence(rule, previous, not_on=not_on)
        assert_is_next(rule, previous, nxt, not_on)
        got.append(nxt)
        previous, not_on = nxt, local_date(nxt, rule.zone)
    assert all(a < b for a, b in pairwise(got))
    dates = [local_date(t, rule.zone) for t in got]
    assert len(set(dates)) == len(dates)
