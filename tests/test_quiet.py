"""Quiet hours: the window on the person's wall clock, when it ends across clock changes, and booking warnings."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.services.quiet import DEFAULT, QuietHours, is_quiet, next_allowed, overlaps, parse
from tests.test_recurrence import START, STOP, ZONES, transitions

SHANGHAI = "Asia/Shanghai"
BERLIN = "Europe/Berlin"
NEW_YORK = "America/New_York"
LORD_HOWE = "Australia/Lord_Howe"


def utc(*fields: int) -> datetime:
    return datetime(*fields, tzinfo=UTC)


def wall(zone: str, *fields: int, fold: int = 0) -> datetime:
    return datetime(*fields, tzinfo=ZoneInfo(zone), fold=fold)


# --- parsing ----------------------------------------------------------------------------------------------


def test_default_and_round_trip() -> None:
    assert DEFAULT == QuietHours(time(21, 30), time(7, 0))
    assert str(DEFAULT) == "21:30-07:00"
    assert parse(str(DEFAULT)) == DEFAULT


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("21:30-07:00", QuietHours(time(21, 30), time(7, 0))),
        (" 22:00 - 6:30 ", QuietHours(time(22, 0), time(6, 30))),
        ("21：30～07：00", QuietHours(time(21, 30), time(7, 0))),
        ("21:30—07:00", QuietHours(time(21, 30), time(7, 0))),
        ("13:00-14:00", QuietHours(time(13, 0), time(14, 0))),
        ("20:00-24:00", QuietHours(time(20, 0), time(0, 0))),
        ("00:00-00:00", QuietHours(time(0, 0), time(0, 0))),
    ],
)
def test_parse(text: str, expected: QuietHours) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(
    "text", ["", "21:30", "21:30-", "25:00-07:00", "21:60-07:00", "24:00-07:00", "9pm-7am", "21:30-07:00-08:00"]
)
def test_parse_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="quiet hours"):
        parse(text)


def test_window_must_be_whole_minutes_without_tzinfo() -> None:
    with pytest.raises(ValueError, match="whole minutes"):
        QuietHours(time(21, 30, 15), time(7))
    with pytest.raises(ValueError, match="tzinfo"):
        QuietHours(time(21, 30, tzinfo=UTC), time(7))


# --- is_quiet ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hh", "mm", "quiet"),
    [(21, 29, False), (21, 30, True), (23, 59, True), (0, 0, True), (3, 0, True), (6, 59, True), (7, 0, False)],
)
def test_default_window_wraps_midnight(hh: int, mm: int, quiet: bool) -> None:
    assert is_quiet(DEFAULT, SHANGHAI, wall(SHANGHAI, 2026, 5, 6, hh, mm)) is quiet


def test_is_quiet_reads_the_persons_zone() -> None:
    at = utc(2026, 5, 6, 15, 0)  # 23:00 in Shanghai, 17:00 in Berlin
    assert is_quiet(DEFAULT, SHANGHAI, at)
    assert not is_quiet(DEFAULT, BERLIN, at)


def test_daytime_window_and_no_window() -> None:
    nap = QuietHours(time(13, 0), time(14, 0))
    assert is_quiet(nap, SHANGHAI, wall(SHANGHAI, 2026, 5, 6, 13, 30))
    assert not is_quiet(nap, SHANGHAI, wall(SHANGHAI, 2026, 5, 6, 14, 0))
    assert not is_quiet(nap, SHANGHAI, wall(SHANGHAI, 2026, 5, 6, 23, 0))
    never = QuietHours(time(22, 0), time(22, 0))
    assert never.empty
    assert not is_quiet(never, SHANGHAI, wall(SHANGHAI, 2026, 5, 6, 22, 0))


def test_naive_datetimes_and_bad_zones_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        is_quiet(DEFAULT, SHANGHAI, datetime(2026, 5, 6, 23, 0))
    with pytest.raises(ValueError, match="aware"):
        next_allowed(DEFAULT, SHANGHAI, datetime(2026, 5, 6, 23, 0))
    with pytest.raises(ValueError, match="unknown time zone"):
        is_quiet(DEFAULT, "Asia/Atlantis", utc(2026, 5, 6))


# --- next_allowed -----------------------------------------------------------------------------------------


def test_not_quiet_is_returned_as_utc() -> None:
    at = wall(SHANGHAI, 2026, 5, 6, 12, 0)
    got = next_allowed(DEFAULT, SHANGHAI, at)
    assert got == at
    assert got.tzinfo is UTC


def test_quiet_waits_for_the_morning() -> None:
    assert next_allowed(DEFAULT, SHANGHAI, wall(SHANGHAI, 2026, 5, 6, 23, 0)) == wall(SHANGHAI, 2026, 5, 7, 7, 0)
    assert next_allowed(DEFAULT, SHANGHAI, wall(SHANGHAI, 2026, 5, 7, 3, 0)) == wall(SHANGHAI, 2026, 5, 7, 7, 0)
    assert next_allowed(DEFAULT, SHANGHAI, wall(SHANGHAI, 2026, 5, 6, 21, 30)) == wall(SHANGHAI, 2026, 5, 7, 7, 0)


def test_spring_forward_night_is_an_hour_shorter() -> None:
    got = next_allowed(DEFAULT, BERLIN, wall(BERLIN, 2026, 3, 28, 22, 0))
    assert got == utc(2026, 3, 29, 5, 0)  # 07:00 CEST


def test_end_inside_the_gap_is_the_first_instant_after_it() -> None:
    q = QuietHours(time(22, 0), time(2, 30))  # 02:00 CET -> 03:00 CEST on 2026-03-29
    got = next_allowed(q, BERLIN, wall(BERLIN, 2026, 3, 29, 1, 30))
    assert got == utc(2026, 3, 29, 1, 0)
    assert got.astimezone(ZoneInfo(BERLIN)) == wall(BERLIN, 2026, 3, 29, 3, 0)
    lord_howe = QuietHours(time(21, 30), time(2, 15))  # 02:00 +10:30 -> 02:30 +11 on 2026-10-04
    assert next_allowed(lord_howe, LORD_HOWE, wall(LORD_HOWE, 2026, 10, 4, 1, 0)) == utc(2026, 10, 3, 15, 30)


def test_gap_that_swallows_the_whole_gap_between_windows_waits_a_day() -> None:
    q = QuietHours(time(2, 45), time(2, 15))  # only 02:15-02:45 is allowed, and it does not exist on 03-29
    got = next_allowed(q, BERLIN, wall(BERLIN, 2026, 3, 29, 1, 0))
    assert got == wall(BERLIN, 2026, 3, 30, 2, 15)


def test_fall_back_repeated_hour_follows_the_wall_clock() -> None:
    q = QuietHours(time(0, 0), time(1, 30))  # 02:00 EDT -> 01:00 EST on 2026-11-01
    assert next_allowed(q, NEW_YORK, wall(NEW_YORK, 2026, 11, 1, 1, 15)) == utc(2026, 11, 1, 5, 30)
    # The clock shows 01:15 again an hour later: quiet again, until 01:30 comes round again.
    second = wall(NEW_YORK, 2026, 11, 1, 1, 15, fold=1)
    assert is_quiet(q, NEW_YORK, second)
    assert next_allowed(q, NEW_YORK, second) == utc(2026, 11, 1, 6, 30)


def test_fall_back_can_end_the_window_by_turning_the_clock_back() -> None:
    q = QuietHours(time(1, 30), time(3, 0))
    got = next_allowed(q, NEW_YORK, wall(NEW_YORK, 2026, 11, 1, 1, 45))  # 01:45 EDT
    assert got == utc(2026, 11, 1, 6, 0)  # the clock goes back to 01:00 EST, outside the window
    assert not is_quiet(q, NEW_YORK, got)


# --- overlaps ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("q", "start", "minutes", "expected"),
    [
        (DEFAULT, time(21, 0), 30, False),  # ends as the window starts
        (DEFAULT, time(21, 0), 31, True),
        (DEFAULT, time(6, 30), 30, True),
        (DEFAULT, time(7, 0), 60, False),
        (DEFAULT, time(23, 0), 15, True),
        (DEFAULT, time(20, 0), 24 * 60, True),
        (DEFAULT, time(23, 0), 0, True),
        (DEFAULT, time(12, 0), 0, False),
        (QuietHours(time(13), time(14)), time(12, 30), 30, False),
        (QuietHours(time(13), time(14)), time(12, 30), 31, True),
        (QuietHours(time(13), time(14)), time(13, 59), 1, True),
        (QuietHours(time(13), time(14)), time(14, 0), 600, False),  # runs to midnight
        (QuietHours(time(13), time(14)), time(14, 0), 23 * 60 + 1, True),  # into 13:00 the next day
        (QuietHours(time(22), time(22)), time(21, 0), 600, False),
    ],
)
def test_overlaps(q: QuietHours, start: time, minutes: int, expected: bool) -> None:
    assert overlaps(q, start, minutes) is expected


def test_overlaps_refuses_negative_length() -> None:
    with pytest.raises(ValueError, match="negative"):
        overlaps(DEFAULT, time(20), -1)


# --- properties -------------------------------------------------------------------------------------------

clock_times = st.builds(
    time,
    st.integers(0, 23) | st.sampled_from((0, 1, 2, 3, 23)),
    st.integers(0, 59) | st.sampled_from((0, 15, 30, 45)),
)


@st.composite
def cases(draw: st.DrawFn) -> tuple[QuietHours, str, datetime]:
    zone = draw(st.sampled_from(ZONES))
    q = QuietHours(draw(clock_times), draw(clock_times))
    near = transitions(zone)
    if near and draw(st.booleans()):
        at = draw(st.sampled_from(near)) + timedelta(
            minutes=draw(st.integers(-2 * 24 * 60, 2 * 24 * 60)),
            microseconds=draw(st.sampled_from((0, 1, -1, 500_000))),
        )
    else:
        at = draw(st.datetimes(START.replace(tzinfo=None), STOP.replace(tzinfo=None), timezones=st.just(UTC)))
    return q, zone, at


@settings(max_examples=300, deadline=None, database=None)
@given(cases())
def test_next_allowed_is_the_first_instant_outside_the_window(case: tuple[QuietHours, str, datetime]) -> None:
    q, zone, at = case
    got = next_allowed(q, zone, at)
    assert got.tzinfo is UTC
    assert got >= at
    assert not is_quiet(q, zone, got)
    if not is_quiet(q, zone, at):
        assert got == at
        return
    assert got > at
    assert is_quiet(q, zone, got - timedelta(microseconds=1))  # tight: the very instant the window ends
    # Every whole minute in between (a sample when the wait is long) is still quiet.
    minutes = int((got - at) / timedelta(minutes=1))
    first = at.replace(second=0, microsecond=0) + timedelta(minutes=1)
    step = max(1, minutes // 1500)
    for k in range(0, minutes, step):
        probe = first + timedelta(minutes=k)
        if probe < got:
            assert is_quiet(q, zone, probe), f"{probe} is not quiet but next_allowed gave {got}"
