"""The video-call policy in `content/calls/policy.toml`: reminder leads, quiet hours, contact thresholds.

Pure: read and checked once per process (`guardian-bot check` validates it too), every problem listed at once.
"""

from __future__ import annotations

import logging
import tomllib
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from bot.paths import CONTENT_DIR
from bot.services import quiet
from bot.services.recurrence import WEEKDAYS
from db.models import User

log = logging.getLogger(__name__)
DEFAULT_POLICY = CONTENT_DIR / "calls" / "policy.toml"
_KEYS = frozenset(
    {
        "parent_reminder_minutes",
        "guardian_reminder_minutes",
        "ask_after_minutes",
        "quiet_hours",
        "nudge_days",
        "silence_days",
        "silence_answer_hours",
        "summary_weekday",
        "summary_time",
    }
)


class CallPolicyError(ValueError):
    """The call policy file is unreadable or wrong; the message names the file and lists every problem."""


@dataclass(frozen=True)
class CallPolicy:
    parent_lead: timedelta
    guardian_lead: timedelta
    ask_after: timedelta
    quiet_hours: quiet.QuietHours
    nudge_days: tuple[int, int, int]  # first nudge, second nudge (+ carer), welfare check
    silence: timedelta
    silence_answer: timedelta
    summary_weekday: str
    summary_time: time


def load_policy(path: Path = DEFAULT_POLICY) -> CallPolicy:
    try:
        with path.open("rb") as f:
            raw = tomllib.load(f)
    except OSError as e:
        raise CallPolicyError(f"{path}: cannot read the call policy: {e.strerror or e}") from e
    except tomllib.TOMLDecodeError as e:
        raise CallPolicyError(f"{path}: not valid TOML: {e}") from e
    problems: list[str] = [f"unknown setting {k!r}" for k in sorted(raw.keys() - _KEYS)]

    def whole(key: str, low: int, high: int) -> int:
        value = raw.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
            return value
        problems.append(f"{key} must be a whole number from {low} to {high}, not {value!r}")
        return low

    parent = whole("parent_reminder_minutes", 1, 24 * 60)
    guardian = whole("guardian_reminder_minutes", 1, 24 * 60)
    if guardian > parent:
        problems.append("guardian_reminder_minutes must not be more than parent_reminder_minutes")
    ask_after = whole("ask_after_minutes", 0, 24 * 60)
    silence = whole("silence_days", 1, 365)
    answer = whole("silence_answer_hours", 1, 24 * 30)
    try:
        hours = quiet.parse(str(raw.get("quiet_hours")))
    except ValueError:
        problems.append(f'quiet_hours must look like "21:30-07:00", not {raw.get("quiet_hours")!r}')
        hours = quiet.DEFAULT
    nudges = raw.get("nudge_days")
    days: tuple[int, int, int] = (7, 14, 30)
    if (
        isinstance(nudges, list)
        and len(nudges) == 3
        and all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in nudges)
        and nudges[0] < nudges[1] < nudges[2]
    ):
        days = (nudges[0], nudges[1], nudges[2])
    else:
        problems.append(f"nudge_days must be three whole numbers of days in rising order, not {nudges!r}")
    weekday = raw.get("summary_weekday")
    if weekday not in WEEKDAYS:
        problems.append(f"summary_weekday must be one of {', '.join(WEEKDAYS)}, not {weekday!r}")
        weekday = "sun"
    summary_time = _time(raw.get("summary_time"), "summary_time", problems)
    if problems:
        listed = "\n".join(f"  - {p}" for p in problems)
        raise CallPolicyError(f"{path}: {len(problems)} problem(s) in the call policy:\n{listed}")
    return CallPolicy(
        parent_lead=timedelta(minutes=parent),
        guardian_lead=timedelta(minutes=guardian),
        ask_after=timedelta(minutes=ask_after),
        quiet_hours=hours,
        nudge_days=days,
        silence=timedelta(days=silence),
        silence_answer=timedelta(hours=answer),
        summary_weekday=str(weekday),
        summary_time=summary_time,
    )


def _time(raw: Any, key: str, problems: list[str]) -> time:
    try:
        hour, minute = str(raw).split(":")
        return time(int(hour), int(minute))
    except ValueError:
        problems.append(f'{key} must look like "19:00", not {raw!r}')
        return time(19, 0)


@cache
def policy() -> CallPolicy:
    return load_policy()


def quiet_hours_of(user: User, rules: CallPolicy | None = None) -> quiet.QuietHours:
    """The person's own quiet hours, or the policy's default (also when theirs cannot be read)."""
    if user.quiet_hours:
        try:
            return quiet.parse(user.quiet_hours)
        except ValueError:
            log.warning("person %s has unreadable quiet hours; the default applies", user.id)
    return (rules or policy()).quiet_hours


def wait(hours: quiet.QuietHours, zone: str, now: datetime) -> timedelta | None:
    """How long a message that can wait is held back by these quiet hours at `now` (None: send now)."""
    if not quiet.is_quiet(hours, zone, now):
        return None
    return quiet.next_allowed(hours, zone, now) - now
