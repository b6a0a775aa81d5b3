"""Checks of free text typed by a person. Each returns the cleaned value or raises `Invalid`."""

from __future__ import annotations

import re
import unicodedata
from datetime import date, time

from bot.services.errors import Invalid

_PHONE = re.compile(r"^\+?[0-9]{5,15}$")


def _clean(text: str | None) -> str:
    if text is None:
        raise Invalid("not_text")
    # Drop control and invisible format characters; fold runs of spaces.
    kept = "".join(c for c in text if unicodedata.category(c) not in ("Cc", "Cf", "Cs", "Co"))
    return " ".join(kept.split())


def _has_letter(text: str) -> bool:
    return any(unicodedata.category(c)[0] in ("L", "N") for c in text)


def short_name(text: str | None, *, max_len: int) -> str:
    """A nickname, a name or a school: some letters, not too long, not only emoji or symbols."""
    cleaned = _clean(text)
    if not cleaned:
        raise Invalid("empty")
    if len(cleaned) > max_len:
        raise Invalid("too_long", max=max_len)
    if not _has_letter(cleaned):
        raise Invalid("no_letters")
    return cleaned


def phone(text: str | None) -> str:
    cleaned = _clean(text)
    digits = re.sub(r"[\s\-()（）]", "", cleaned)
    digits = "".join(chr(ord(c) - 0xFEE0) if "０" <= c <= "９" else c for c in digits)
    if not digits:
        raise Invalid("empty")
    if not _PHONE.match(digits):
        raise Invalid("bad_phone")
    return digits


_FULLWIDTH = str.maketrans({chr(0xFF10 + i): str(i) for i in range(10)} | {"：": ":", "．": "."})
_DAY_FULL = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*[日号]?")
_DAY_SHORT = re.compile(r"(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*[日号]?")
_CLOCK = re.compile(r"(上午|下午|晚上|早上)?\s*(\d{1,2})\s*[:.点]\s*(\d{2})?\s*(?:分)?\s*(am|pm)?")


def day(text: str | None, today: date, *, past: bool = True) -> date:
    """2026-12-01, 2026/12/1, 2026年12月1日, or 12-1 / 12月1日 for this year.

    Without a year, `past` picks the nearest such day not after today (a report already made), otherwise the
    nearest not before today (a visit being planned).
    """
    cleaned = _clean(text).translate(_FULLWIDTH)
    full, short = _DAY_FULL.fullmatch(cleaned), _DAY_SHORT.fullmatch(cleaned)
    try:
        if full:
            return date(int(full[1]), int(full[2]), int(full[3]))
        if short:
            found = date(today.year, int(short[1]), int(short[2]))
            if past and found > today:
                return found.replace(year=today.year - 1)
            if not past and found < today:
                return found.replace(year=today.year + 1)
            return found
    except ValueError as exc:
        raise Invalid("bad_date") from exc
    raise Invalid("bad_date")


def clock(text: str | None) -> time:
    """20:15, 20.15, 8:15pm, 晚上8点, 下午3点30: a wall-clock time on a whole minute."""
    cleaned = _clean(text).translate(_FULLWIDTH).lower().replace(" ", "")
    found = _CLOCK.fullmatch(cleaned)
    if not found:
        raise Invalid("bad_time")
    hour, minute = int(found[2]), int(found[3] or 0)
    afternoon = found[1] in ("下午", "晚上") or found[4] == "pm"
    if afternoon and hour < 12:
        hour += 12
    if found[4] == "am" and hour == 12:
        hour = 0
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        raise Invalid("bad_time")
    return time(hour, minute)
