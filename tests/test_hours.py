"""Opening hours: the CSV mini-language, the clock in the contact's zone, and the words shown to families."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.services.hours import (
    PUNCTUATION,
    Hours,
    HoursError,
    Range,
    Rule,
    describe,
    describe_next,
    is_open,
    next_opening,
    parse,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
MONDAY = date(2025, 6, 2)  # a Monday; the tests' week runs to Sunday 8 June
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
OFFICE = "mon-fri 08:30-11:30 14:30-17:30; sat 09:00-12:00"


def local(day: str, hhmm: str, week: int = 0, tz: ZoneInfo = SHANGHAI) -> datetime:
    """A wall-clock moment in the tests' week, aware in `tz`."""
    hour, minute = map(int, hhmm.split(":"))
    d = MONDAY + timedelta(days=DAYS.index(day) + 7 * week)
    return datetime(d.year, d.month, d.day, hour, minute, tzinfo=tz)


def utc(day: str, hhmm: str, week: int = 0) -> datetime:
    """The same Shanghai wall-clock moment, handed over as UTC the way the bot's clock gives it."""
    return local(day, hhmm, week).astimezone(UTC)


# --- parsing ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["24h", "24H", "  24h  "])
def test_always_open(text: str) -> None:
    assert parse(text) == Hours(always=True)


@pytest.mark.parametrize(
    ("text", "rules"),
    [
        ("daily 08:00-17:00", (Rule(True, (), (Range(480, 1020),)),)),
        ("mon 08:00-17:00", (Rule(False, ((0, 0),), (Range(480, 1020),)),)),
        ("mon-fri 08:00-17:00", (Rule(False, ((0, 4),), (Range(480, 1020),)),)),
        ("fri-mon 08:00-17:00", (Rule(False, ((4, 0),), (Range(480, 1020),)),)),
        ("mon,wed,fri-sat 08:00-17:00", (Rule(False, ((0, 0), (2, 2), (4, 5)), (Range(480, 1020),)),)),
        ("daily 08:00-02:00", (Rule(True, (), (Range(480, 120),)),)),
        ("daily 20:00-24:00", (Rule(True, (), (Range(1200, 1440),)),)),
        # Ending at 00:00 is ending at midnight, the same as 24:00.
        ("daily 20:00-00:00", (Rule(True, (), (Range(1200, 1440),)),)),
        ("daily 00:00-24:00", (Rule(True, (), (Range(0, 1440),)),)),
        ("sun 8:00-9:30", (Rule(False, ((6, 6),), (Range(480, 570),)),)),
        (
            OFFICE,
            (
                Rule(False, ((0, 4),), (Range(510, 690), Range(870, 1050))),
                Rule(False, ((5, 5),), (Range(540, 720),)),
            ),
        ),
    ],
)
def test_parse_forms(text: str, rules: tuple[Rule, ...]) -> None:
    assert parse(text) == Hours(always=False, rules=rules)


@pytest.mark.parametrize(
    "text",
    [
        "MON-FRI 08:30-11:30 14:30-17:30; SAT 09:00-12:00",
        "  mon-fri   08:30-11:30\t14:30-17:30 ;sat 09:00-12:00 ",
        "mon - fri 08:30 - 11:30 14:30 -17:30; sat 09 : 00-12:00",
        "mon-fri 08:30-11:30 14:30-17:30; sat 09:00-12:00;",  # a stray trailing `;`
        # As typed with a Chinese input method: full-width semicolon, colon, and a typographic dash.
        "mon–fri 08:30-11:30 14：30-17:30；sat 09:00—12:00",
    ],
)
def test_case_spacing_and_punctuation_are_tolerated(text: str) -> None:
    assert parse(text) == parse(OFFICE)


def test_day_spans_cover_the_right_days() -> None:
    assert parse("fri-mon 08:00-09:00").rules[0].days == {4, 5, 6, 0}
    assert parse("mon,wed,fri-sat 08:00-09:00").rules[0].days == {0, 2, 4, 5}
    assert parse("daily 08:00-09:00").rules[0].days == set(range(7))


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        (" ; ", "empty"),
        ("mun 08:00-17:00", "unknown day 'mun'"),
        ("monday 08:00-17:00", "unknown day 'monday'"),
        ("mon-fry 08:00-17:00", "unknown day 'fry'"),
        ("garbage", "unknown day 'garbage'"),
        ("mon 25:00-26:00", "bad time '25:00' (hour must be"),
        ("mon 08:00-24:30", "bad time '24:30'"),
        ("mon 8:60-9:00", "bad time '8:60' (minutes must be 00-59)"),
        ("mon 0800-1700", "bad time '0800' (expected HH:MM)"),
        ("mon 8h-17h", "bad time '8h'"),
        ("mon-fri", "no time range after 'mon-fri'"),
        ("mon-fri 08:00-12:00; sat", "no time range after 'sat'"),
        ("mon 08:00", "bad time range '08:00' (expected HH:MM-HH:MM)"),
        ("mon 08:00-", "bad time range '08:00-'"),
        ("mon 08:00-12:00-13:00", "bad time range '08:00-12:00-13:00'"),
        ("mon 24:00-08:00", "24:00 can only end a range"),
        ("08:00-17:00 mon-fri", "rule must start with days, got '08:00-17:00'"),
        ("mon,,fri 08:00-17:00", "empty day in 'mon,,fri'"),
        ("mon-,wed 08:00-17:00", "bad day span 'mon-'"),
        ("mon-wed-fri 08:00-17:00", "bad day span 'mon-wed-fri'"),
        ("mon-mon 08:00-17:00", "starts and ends on the same day"),
        ("daily,sat 08:00-17:00", "'daily' cannot be combined"),
        ("24h; sat 08:00-17:00", "'24h' must stand alone"),
        ("closed", "unknown day 'closed'"),
    ],
)
def test_bad_input_says_why(text: str, reason: str) -> None:
    with pytest.raises(HoursError) as caught:
        parse(text)
    assert reason in str(caught.value)
    assert isinstance(caught.value, ValueError)


# --- is_open ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "day", "hhmm", "expected"),
    [
        # Boundaries: the opening minute is open, the closing minute is closed.
        (OFFICE, "mon", "08:29", False),
        (OFFICE, "mon", "08:30", True),
        (OFFICE, "mon", "11:29", True),
        (OFFICE, "mon", "11:30", False),
        # Lunch break.
        (OFFICE, "wed", "12:00", False),
        (OFFICE, "wed", "14:29", False),
        (OFFICE, "wed", "14:30", True),
        (OFFICE, "fri", "17:29", True),
        (OFFICE, "fri", "17:30", False),
        # Weekends: Saturday morning only, Sunday closed.
        (OFFICE, "sat", "08:59", False),
        (OFFICE, "sat", "09:00", True),
        (OFFICE, "sat", "14:30", False),
        (OFFICE, "sun", "10:00", False),
        # Overnight, across midnight.
        ("daily 08:00-02:00", "mon", "01:00", True),  # Sunday's range, into Monday
        ("daily 08:00-02:00", "wed", "23:59", True),
        ("daily 08:00-02:00", "thu", "01:59", True),
        ("daily 08:00-02:00", "thu", "02:00", False),
        ("daily 08:00-02:00", "thu", "07:59", False),
        ("daily 08:00-02:00", "thu", "08:00", True),
        # Only the night after a listed day: Saturday night runs into Sunday, Friday night is not listed.
        ("sat 20:00-03:00", "sun", "02:59", True),
        ("sat 20:00-03:00", "sat", "02:00", False),
        # Sunday night into Monday morning.
        ("sun 22:00-06:00", "sun", "21:59", False),
        ("sun 22:00-06:00", "sun", "22:00", True),
        ("sun 22:00-06:00", "mon", "05:59", True),
        ("sun 22:00-06:00", "mon", "06:00", False),
        ("sun 22:00-06:00", "tue", "01:00", False),
        # A wrapping span of days.
        ("fri-mon 09:00-17:00", "fri", "09:00", True),
        ("fri-mon 09:00-17:00", "sat", "12:00", True),
        ("fri-mon 09:00-17:00", "sun", "12:00", True),
        ("fri-mon 09:00-17:00", "mon", "16:59", True),
        ("fri-mon 09:00-17:00", "tue", "12:00", False),
        ("fri-mon 09:00-17:00", "thu", "12:00", False),
        # A comma list.
        ("mon,wed,fri-sat 09:00-17:00", "wed", "12:00", True),
        ("mon,wed,fri-sat 09:00-17:00", "tue", "12:00", False),
        ("mon,wed,fri-sat 09:00-17:00", "sat", "12:00", True),
        # Midnight ends.
        ("daily 20:00-24:00", "tue", "23:59", True),
        ("daily 20:00-24:00", "wed", "00:00", False),  # Tuesday's closes at 24:00, Wednesday's is not open yet
        ("mon 20:00-24:00", "tue", "00:00", False),
        ("mon 20:00-00:00", "mon", "23:59", True),
        ("mon 20:00-00:00", "tue", "00:00", False),
        ("daily 00:00-24:00", "thu", "00:00", True),
        # An end equal to the start runs a full day, into the next.
        ("mon 08:00-08:00", "tue", "07:59", True),
        ("mon 08:00-08:00", "tue", "08:00", False),
        ("24h", "sun", "03:00", True),
    ],
)
def test_is_open(text: str, day: str, hhmm: str, expected: bool) -> None:
    assert is_open(parse(text), utc(day, hhmm)) is expected


def test_closing_is_to_the_second() -> None:
    hours = parse(OFFICE)
    assert is_open(hours, utc("mon", "11:29") + timedelta(seconds=59, microseconds=999_999))
    assert not is_open(hours, utc("mon", "08:29") + timedelta(seconds=59))


def test_utc_instant_on_another_weekday_in_shanghai() -> None:
    # Sunday 2025-06-08 23:30 UTC is Monday 07:30 in Shanghai.
    sunday_night_utc = datetime(2025, 6, 8, 23, 30, tzinfo=UTC)
    assert is_open(parse("mon 07:00-09:00"), sunday_night_utc)
    assert not is_open(parse("sun 07:00-09:00; sun 23:00-24:00"), sunday_night_utc)
    # The same instant read in UTC is Sunday night.
    assert is_open(parse("sun 23:00-24:00"), sunday_night_utc, tz="UTC")


def test_other_zones() -> None:
    # 14:00 UTC on Monday is 10:00 in New York (EDT) and 22:00 in Shanghai.
    moment = datetime(2025, 6, 2, 14, 0, tzinfo=UTC)
    hours = parse("mon 09:00-17:00")
    assert is_open(hours, moment, tz="America/New_York")
    assert not is_open(hours, moment)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        is_open(parse(OFFICE), datetime(2025, 6, 2, 9, 0))


# --- next_opening ----------------------------------------------------------------------------------------------


def test_friday_evening_mon_fri_opens_monday_morning_local() -> None:
    opens = next_opening(parse("mon-fri 08:30-17:30"), utc("fri", "19:00"))
    assert opens == local("mon", "08:30", week=1)
    assert opens is not None and opens.tzinfo == SHANGHAI and (opens.hour, opens.minute) == (8, 30)


@pytest.mark.parametrize(
    ("text", "now", "expected"),
    [
        (OFFICE, ("mon", "07:00"), ("mon", "08:30", 0)),
        (OFFICE, ("mon", "11:30"), ("mon", "14:30", 0)),  # lunch
        (OFFICE, ("fri", "17:30"), ("sat", "09:00", 0)),
        (OFFICE, ("sat", "12:00"), ("mon", "08:30", 1)),
        (OFFICE, ("sun", "23:59"), ("mon", "08:30", 1)),
        ("daily 20:00-02:00", ("wed", "03:00"), ("wed", "20:00", 0)),
        ("sun 22:00-06:00", ("mon", "06:00"), ("sun", "22:00", 0)),
        ("fri-mon 09:00-17:00", ("mon", "17:00"), ("fri", "09:00", 0)),
        ("wed 10:00-11:00", ("wed", "11:00"), ("wed", "10:00", 1)),  # a week ahead
    ],
)
def test_next_opening(text: str, now: tuple[str, str], expected: tuple[str, str, int]) -> None:
    assert next_opening(parse(text), utc(*now)) == local(*expected)


@pytest.mark.parametrize(("text", "now"), [(OFFICE, ("mon", "08:30")), ("daily 08:00-02:00", ("tue", "01:00"))])
def test_no_next_opening_while_open(text: str, now: tuple[str, str]) -> None:
    assert next_opening(parse(text), utc(*now)) is None


def test_no_next_opening_when_always_open_or_nothing_ahead() -> None:
    assert next_opening(parse("24h"), utc("sun", "03:00")) is None
    assert next_opening(Hours(always=False), utc("sun", "03:00")) is None


def test_next_opening_in_the_contacts_zone() -> None:
    # Friday 22:00 UTC: in New York it is Friday 18:00, closed, and Monday 09:00 there is next.
    opens = next_opening(parse("mon-fri 09:00-17:00"), datetime(2025, 6, 6, 22, 0, tzinfo=UTC), tz="America/New_York")
    assert opens == datetime(2025, 6, 9, 9, 0, tzinfo=ZoneInfo("America/New_York"))
    assert opens is not None and opens.utcoffset() == timedelta(hours=-4)


# --- describe --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "zh", "en"),
    [
        ("24h", "24 小时", "24 hours"),
        (
            OFFICE,
            "周一至周五 8:30–11:30、14:30–17:30；周六 9:00–12:00",
            "Mon–Fri 8:30–11:30, 14:30–17:30; Sat 9:00–12:00",
        ),
        ("daily 08:00-02:00", "每天 8:00–第二天2:00", "Daily 8:00–2:00 (next day)"),
        ("fri-mon 10:00-16:00", "周五至周一 10:00–16:00", "Fri–Mon 10:00–16:00"),
        ("mon,wed,fri-sat 08:00-12:00", "周一、周三、周五至周六 8:00–12:00", "Mon, Wed, Fri–Sat 8:00–12:00"),
        ("sun 20:00-00:00", "周日 20:00–24:00", "Sun 20:00–24:00"),
        ("sun 22:00-06:00", "周日 22:00–第二天6:00", "Sun 22:00–6:00 (next day)"),
    ],
)
def test_describe(text: str, zh: str, en: str) -> None:
    assert describe(parse(text), "zh_Hans") == zh
    assert describe(parse(text), "en") == en


def test_unsupported_locale_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unsupported locale 'fr'"):
        describe(parse("24h"), "fr")


def test_punctuation_is_given_for_every_supported_locale() -> None:
    assert set(PUNCTUATION) == {"zh_Hans", "en"}
    assert PUNCTUATION["zh_Hans"].keys() == PUNCTUATION["en"].keys()


@pytest.mark.parametrize(
    ("now", "when", "zh", "en"),
    [
        (("mon", "07:00"), ("mon", "08:30"), "今天 8:30", "today 8:30"),
        (("mon", "19:00"), ("tue", "08:30"), "明天 8:30", "tomorrow 8:30"),
        (("fri", "19:00"), ("mon", "08:30", 1), "周一 8:30", "Mon 8:30"),
        (("sat", "12:00"), ("mon", "14:30", 1), "周一 14:30", "Mon 14:30"),
        (("mon", "11:00"), ("wed", "09:05"), "周三 9:05", "Wed 9:05"),
    ],
)
def test_describe_next(now: tuple[str, str], when: tuple[str, ...], zh: str, en: str) -> None:
    moment, opens = utc(*now), local(when[0], when[1], *map(int, when[2:]))
    assert describe_next(opens, moment, "zh_Hans") == zh
    assert describe_next(opens, moment, "en") == en


def test_describe_next_counts_days_in_the_contacts_zone() -> None:
    # Saturday 00:30 in Shanghai is still Friday in UTC; opening at 08:30 that Saturday is "today" there.
    now, opens = utc("sat", "00:30"), local("sat", "08:30")
    assert now.weekday() == 4 and opens.astimezone(UTC).weekday() == 5
    assert describe_next(opens, now, "zh_Hans") == "今天 8:30"
    assert describe_next(opens, now, "en") == "today 8:30"


def test_module_does_not_import_telegram() -> None:
    code = "import sys, bot.services.hours; assert not any(m.split('.')[0] == 'telegram' for m in sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_unknown_hours_are_never_closed_and_say_so() -> None:
    hours = parse("unknown")
    assert hours.unknown and not hours.always
    assert is_open(hours, utc("sun", "03:00"))
    assert next_opening(hours, utc("sun", "03:00")) is None
    assert describe(hours, "zh_Hans") == "上班时间还没核实，可以先打打看"
    assert describe(hours, "en") == "hours not confirmed; you can try calling"


def test_a_week_ahead_reads_as_next_week() -> None:
    # Wednesday night, a weekly Wednesday-morning service: the next opening is a week away, not "today".
    moment, opens = utc("wed", "20:00"), local("wed", "09:00", 1)
    assert describe_next(opens, moment, "zh_Hans") == "下周三 9:00"
    assert describe_next(opens, moment, "en") == "next Wed 9:00"
