"""Opening hours: a small text format from the contacts CSV, checked against the clock and described to people.

Format: `24h`, or rules separated by `;`, each `DAYS RANGE [RANGE ...]`, for example
`mon-fri 08:30-11:30 14:30-17:30; sat 09:00-12:00`. DAYS is `daily`, a day `mon`..`sun`, a span `mon-fri`
(may wrap: `fri-mon`) or a comma list `mon,wed,fri-sat`. RANGE is `HH:MM-HH:MM`; an end at or before the start
runs past midnight into the next day; `24:00` is allowed as an end. Times are wall-clock times in the contact's
zone. Case-insensitive; spaces, full-width punctuation and dashes as typed in Chinese spreadsheets are tolerated.

Pure Python (no Telegram imports); Babel supplies the weekday names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from babel.dates import get_day_names

from bot.i18n import N_, translations

DEFAULT_TZ = "Asia/Shanghai"
DAY_KEYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # index = datetime.weekday()
_DAY_INDEX = {key: i for i, key in enumerate(DAY_KEYS)}
_MINUTES_PER_DAY = 24 * 60
LOOKAHEAD_DAYS = 8

# The words around Babel's weekday names come from the gettext catalogs (`{...}` fields leave word order to
# the translator); only punctuation, which is locale data rather than words, is kept here.
WORDS = {
    "always": N_("24 hours"),
    "daily": N_("Daily"),
    "day_span": N_("{first}–{last}"),
    "next_day": N_("{time} (next day)"),
    "today": N_("today {time}"),
    "tomorrow": N_("tomorrow {time}"),
    "weekday": N_("{day} {time}"),
    "next_week": N_("next {day} {time}"),
    "unknown": N_("hours not confirmed; you can try calling"),
}
PUNCTUATION: dict[str, dict[str, str]] = {
    "zh_Hans": {"days_sep": "、", "rules_sep": "；", "ranges_sep": "、"},
    "en": {"days_sep": ", ", "rules_sep": "; ", "ranges_sep": ", "},
}
# Babel's plain `zh_Hans` has the same names, but the bot formats everything else with `zh_Hans_CN`.
_BABEL_LOCALE = {"zh_Hans": "zh_Hans_CN", "en": "en"}

# Full-width punctuation and typographic dashes, as Chinese input methods and spreadsheets produce them.
_NORMALISE = str.maketrans({"；": ";", "，": ",", "、": ",", "：": ":", "–": "-", "—": "-", "－": "-", "～": "-"})
_AROUND_PUNCT = re.compile(r"\s*([-,:;])\s*")
_TIME_RE = re.compile(r"(\d{1,2}):(\d{2})")


class HoursError(ValueError):
    """A short English reason, shown to operators as `FILE:LINE: bad hours: <reason>`."""


@dataclass(frozen=True)
class Range:
    """Minutes after local midnight; `end` is 1..1440 and at or before `start` means it ends the next day."""

    start: int
    end: int

    @property
    def overnight(self) -> bool:
        return self.end <= self.start


@dataclass(frozen=True)
class Rule:
    """`spans` keeps the days as written (`(4, 0)` is fri-mon, `(2, 2)` is wed) so they can be described back."""

    daily: bool
    spans: tuple[tuple[int, int], ...]
    ranges: tuple[Range, ...]

    @property
    def days(self) -> frozenset[int]:
        if self.daily:
            return frozenset(range(7))
        out: set[int] = set()
        for first, last in self.spans:
            out.update((first + i) % 7 for i in range((last - first) % 7 + 1))
        return frozenset(out)


@dataclass(frozen=True)
class Hours:
    always: bool
    rules: tuple[Rule, ...] = ()
    # Hours no source confirms (`unknown`): shown as such and never ranked as closed, so a line that may
    # well be answering is not pushed behind others on a guess.
    unknown: bool = False


ALWAYS = Hours(always=True)
UNKNOWN = Hours(always=False, unknown=True)


def parse(text: str) -> Hours:
    normal = _AROUND_PUNCT.sub(r"\1", text.translate(_NORMALISE).strip().lower())
    if not normal:
        raise HoursError("empty")
    if normal == "24h":
        return ALWAYS
    if normal == "unknown":
        return UNKNOWN
    parts = [part.strip() for part in normal.split(";")]
    if not any(parts):
        raise HoursError("empty")
    # A stray `;` (trailing or doubled) loses nothing, so it is forgiven rather than failing a whole import.
    return Hours(always=False, rules=tuple(_parse_rule(part) for part in parts if part))


def _parse_rule(text: str) -> Rule:
    days_text, *range_texts = text.split()
    if days_text == "24h":
        raise HoursError("'24h' must stand alone")
    if _TIME_RE.match(days_text):
        raise HoursError(f"rule must start with days, got {days_text!r}")
    daily, spans = _parse_days(days_text)
    if not range_texts:
        raise HoursError(f"no time range after {days_text!r}")
    return Rule(daily=daily, spans=spans, ranges=tuple(_parse_range(r) for r in range_texts))


def _parse_days(text: str) -> tuple[bool, tuple[tuple[int, int], ...]]:
    if text == "daily":
        return True, ()
    spans: list[tuple[int, int]] = []
    for item in text.split(","):
        if not item:
            raise HoursError(f"empty day in {text!r}")
        if item == "daily":
            raise HoursError("'daily' cannot be combined with other days")
        if "-" not in item:
            spans.append((_day(item), _day(item)))
            continue
        ends = item.split("-")
        if len(ends) != 2 or not all(ends):
            raise HoursError(f"bad day span {item!r}")
        first, last = _day(ends[0]), _day(ends[1])
        if first == last:
            # `mon-mon` could mean one day or the whole week; make the operator say which.
            raise HoursError(f"day span {item!r} starts and ends on the same day")
        spans.append((first, last))
    return False, tuple(spans)


def _day(text: str) -> int:
    try:
        return _DAY_INDEX[text]
    except KeyError:
        raise HoursError(f"unknown day {text!r} (use mon..sun or daily)") from None


def _parse_range(text: str) -> Range:
    ends = text.split("-")
    if len(ends) != 2 or not all(ends):
        raise HoursError(f"bad time range {text!r} (expected HH:MM-HH:MM)")
    start, end = _minutes(ends[0]), _minutes(ends[1])
    if start == _MINUTES_PER_DAY:
        raise HoursError(f"bad time range {text!r} (24:00 can only end a range)")
    # Ending at 00:00 is ending at midnight: store it as 24:00 so `20:00-00:00` is described as `20:00–24:00`
    # and `00:00-00:00` is the whole day, exactly what "runs to the same time next day" means for them anyway.
    return Range(start, end or _MINUTES_PER_DAY)


def _minutes(text: str) -> int:
    match = _TIME_RE.fullmatch(text)
    if not match:
        raise HoursError(f"bad time {text!r} (expected HH:MM)")
    hour, minute = int(match[1]), int(match[2])
    if minute > 59:
        raise HoursError(f"bad time {text!r} (minutes must be 00-59)")
    if hour > 24 or (hour == 24 and minute):
        raise HoursError(f"bad time {text!r} (hour must be 00-23, or 24:00 for midnight)")
    return hour * 60 + minute


# --- the clock -------------------------------------------------------------------------------------------------


def _local(at: datetime, tz: str) -> datetime:
    # A naive datetime would silently be taken as the server's zone; refuse it instead.
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("an aware datetime is required")
    return at.astimezone(ZoneInfo(tz))


def is_open(hours: Hours, at: datetime, tz: str = DEFAULT_TZ) -> bool:
    if hours.always or hours.unknown:
        return True
    local = _local(at, tz)
    # Seconds, so 11:29:59 is still open when a range ends at 11:30.
    now = local.hour * 3600 + local.minute * 60 + local.second + local.microsecond / 1e6
    today, yesterday = local.weekday(), (local.weekday() - 1) % 7
    for rule in hours.rules:
        days = rule.days
        for r in rule.ranges:
            if today in days and r.start * 60 <= now < (_MINUTES_PER_DAY if r.overnight else r.end) * 60:
                return True
            # Yesterday's overnight range spilling into today, including Sunday's into Monday.
            if yesterday in days and r.overnight and now < r.end * 60:
                return True
    return False


def next_opening(hours: Hours, at: datetime, tz: str = DEFAULT_TZ) -> datetime | None:
    """When a closed contact next opens, in its zone; None if open now (or always) or nothing within 8 days."""
    if is_open(hours, at, tz):
        return None
    zone = ZoneInfo(tz)
    local = _local(at, tz)
    # Closed now, so the next open moment is the earliest range start after now. Compare in UTC: aware datetimes
    # sharing a tzinfo compare by wall clock, which is wrong around DST changes in zones that have them.
    now_utc, limit = at.astimezone(UTC), at.astimezone(UTC) + timedelta(days=LOOKAHEAD_DAYS)
    best: datetime | None = None
    for offset in range(LOOKAHEAD_DAYS + 1):
        day: date = local.date() + timedelta(days=offset)
        for rule in hours.rules:
            if day.weekday() not in rule.days:
                continue
            for r in rule.ranges:
                start = datetime.combine(day, time(r.start // 60, r.start % 60), tzinfo=zone).astimezone(UTC)
                if now_utc < start <= limit and (best is None or start < best):
                    best = start
        if best is not None:
            break  # days are visited in order, so nothing on a later day can be earlier
    return best.astimezone(zone) if best is not None else None


# --- words -----------------------------------------------------------------------------------------------------


def _glue(locale: str) -> dict[str, str]:
    if locale not in PUNCTUATION:
        raise ValueError(f"unsupported locale {locale!r}")
    t = translations(locale)
    return {
        **{key: t.gettext(msgid) for key, msgid in WORDS.items()},
        **PUNCTUATION[locale],
        "rule": "{days} {ranges}",
        "range": "{start}–{end}",
    }


@cache
def _day_names(locale: str) -> tuple[str, ...]:
    names = get_day_names("abbreviated", locale=_BABEL_LOCALE[locale])
    return tuple(str(names[i]) for i in range(7))


def _clock(minutes: int) -> str:
    return f"{minutes // 60}:{minutes % 60:02d}"


def describe(hours: Hours, locale: str) -> str:
    glue = _glue(locale)
    if hours.always:
        return glue["always"]
    if hours.unknown:
        return glue["unknown"]
    return glue["rules_sep"].join(_describe_rule(rule, locale, glue) for rule in hours.rules)


def _describe_rule(rule: Rule, locale: str, glue: dict[str, str]) -> str:
    names = _day_names(locale)
    if rule.daily:
        days = glue["daily"]
    else:
        days = glue["days_sep"].join(
            names[first] if first == last else glue["day_span"].format(first=names[first], last=names[last])
            for first, last in rule.spans
        )
    ranges = glue["ranges_sep"].join(
        glue["range"].format(
            start=_clock(r.start),
            end=glue["next_day"].format(time=_clock(r.end)) if r.overnight else _clock(r.end),
        )
        for r in rule.ranges
    )
    return glue["rule"].format(days=days, ranges=ranges)


def describe_next(when: datetime, now: datetime, locale: str, tz: str = DEFAULT_TZ) -> str:
    """ "today 8:30", "tomorrow 8:30" or "Mon 8:30", judged by calendar days in the contact's zone."""
    glue = _glue(locale)
    local_when, local_now = _local(when, tz), _local(now, tz)
    clock = _clock(local_when.hour * 60 + local_when.minute)
    days_ahead = (local_when.date() - local_now.date()).days
    if days_ahead == 0:
        return glue["today"].format(time=clock)
    if days_ahead == 1:
        return glue["tomorrow"].format(time=clock)
    if days_ahead >= 7:
        # The same weekday as today, a week on: "Wed" alone would read as today.
        return glue["next_week"].format(day=_day_names(locale)[local_when.weekday()], time=clock)
    return glue["weekday"].format(day=_day_names(locale)[local_when.weekday()], time=clock)
