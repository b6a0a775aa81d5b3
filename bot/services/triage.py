"""Triage of a concern: urgency, acknowledgement deadline, police-report duty and danger-first guidance.

The rules live in `content/concerns/policy.toml` so an operator can change them without touching code. Pure
functions over plain values: no Telegram, no database.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

from bot.paths import CONTENT_DIR

# Menu order in the report journey.
CATEGORIES = (
    "danger_now",
    "violence",
    "sexual_abuse",
    "left_alone",
    "missing",
    "injury_illness",
    "self_harm",
    "not_in_school",
    "bullying",
    "other",
)
URGENCIES = ("emergency", "high", "normal")  # most urgent first
NUMBERS = ("110", "120", "119")  # police, ambulance, fire and rescue
FALLBACK_NUMBER = "110"  # shown when the child is in danger and the category lists no number
DEFAULT_POLICY = CONTENT_DIR / "concerns" / "policy.toml"

_CATEGORY_KEYS = frozenset({"key", "urgency", "mandatory_report", "call", "keep_evidence"})
_TOP_KEYS = frozenset({"in_danger_urgency", "ack_deadline_minutes", "follow_up_hours", "hotline", "category"})
_HOTLINE_KEYS = frozenset({"number", "press"})


class PolicyError(ValueError):
    """The policy file is unreadable or wrong; the message names the file and lists every problem."""


@dataclass(frozen=True)
class Policy:
    """The parsed policy; mappings are read-only views so a shared Policy cannot be changed by accident."""

    urgency: Mapping[str, str]  # category -> base urgency
    in_danger_urgency: str
    deadlines: Mapping[str, timedelta]  # urgency -> time to acknowledge
    follow_ups: Mapping[str, timedelta]  # urgency -> time after which a taken-up concern's holder is reminded
    mandatory_report: frozenset[str]
    numbers: Mapping[str, tuple[str, ...]]  # category -> emergency numbers, in display order
    keep_evidence: frozenset[str]
    hotline: Hotline


@dataclass(frozen=True)
class Hotline:
    """The number a reporter calls when nobody can be reached through the bot (12345, then 6 for minors)."""

    number: str
    press: str | None


@dataclass(frozen=True)
class Guidance:
    """What to show before anything else: numbers to call, and whether to say "do not wash the child"."""

    numbers: tuple[str, ...]
    keep_evidence: bool


def load_policy(path: Path = DEFAULT_POLICY) -> Policy:
    try:
        with path.open("rb") as f:
            raw = tomllib.load(f)
    except OSError as e:
        raise PolicyError(f"{path}: cannot read the concern policy: {e.strerror or e}") from e
    except tomllib.TOMLDecodeError as e:
        raise PolicyError(f"{path}: not valid TOML: {e}") from e

    problems: list[str] = []
    for key in sorted(raw.keys() - _TOP_KEYS):
        problems.append(f"unknown setting {key!r}")

    in_danger = raw.get("in_danger_urgency")
    if in_danger not in URGENCIES:
        problems.append(f"in_danger_urgency must be one of {', '.join(URGENCIES)}, not {in_danger!r}")

    deadlines = _durations(raw.get("ack_deadline_minutes"), "ack_deadline_minutes", "minutes", problems)
    follow_ups = _durations(raw.get("follow_up_hours"), "follow_up_hours", "hours", problems)
    hotline = _hotline(raw.get("hotline"), problems)

    urgency: dict[str, str] = {}
    numbers: dict[str, tuple[str, ...]] = {}
    mandatory: set[str] = set()
    keep: set[str] = set()
    blocks = raw.get("category", [])
    if not isinstance(blocks, list):
        problems.append("categories must be [[category]] blocks")
        blocks = []
    seen: set[str] = set()
    for i, block in enumerate(blocks, start=1):
        where = f"[[category]] #{i}"
        if not isinstance(block, dict):
            problems.append(f"{where}: not a table")
            continue
        key = block.get("key")
        if key not in CATEGORIES:
            problems.append(f"{where}: unknown category {key!r}")
            continue
        where = f"category {key!r}"
        if key in seen:
            problems.append(f"{where}: appears more than once")
            continue
        seen.add(key)
        for extra in sorted(block.keys() - _CATEGORY_KEYS):
            problems.append(f"{where}: unknown field {extra!r}")
        base = block.get("urgency")
        if base in URGENCIES:
            urgency[key] = base
        else:
            problems.append(f"{where}: urgency must be one of {', '.join(URGENCIES)}, not {base!r}")
        numbers[key] = _numbers(block.get("call", []), where, problems)
        for flag, into in (("mandatory_report", mandatory), ("keep_evidence", keep)):
            value = block.get(flag, False)
            if not isinstance(value, bool):
                problems.append(f"{where}: {flag} must be true or false, not {value!r}")
            elif value:
                into.add(key)
    for key in CATEGORIES:
        if key not in seen:
            problems.append(f"category {key!r} is missing")

    if problems:
        listed = "\n".join(f"  - {p}" for p in problems)
        raise PolicyError(f"{path}: {len(problems)} problem(s) in the concern policy:\n{listed}")
    assert isinstance(in_danger, str) and hotline is not None
    return Policy(
        urgency=MappingProxyType({c: urgency[c] for c in CATEGORIES}),  # menu order, whatever the file's order
        in_danger_urgency=in_danger,
        deadlines=MappingProxyType(deadlines),
        follow_ups=MappingProxyType(follow_ups),
        mandatory_report=frozenset(mandatory),
        numbers=MappingProxyType({c: numbers[c] for c in CATEGORIES}),
        keep_evidence=frozenset(keep),
        hotline=hotline,
    )


def _durations(raw: Any, table: str, unit: str, problems: list[str]) -> dict[str, timedelta]:
    """A table of whole positive numbers of `unit` per urgency, e.g. [ack_deadline_minutes]."""
    if not isinstance(raw, dict):
        problems.append(f"[{table}] is missing")
        return {}
    out: dict[str, timedelta] = {}
    for name in sorted(raw.keys() - set(URGENCIES)):
        problems.append(f"{table}: unknown urgency {name!r}")
    for name in URGENCIES:
        amount = raw.get(name)
        # bool is an int in Python; `true` is never a number of minutes.
        if isinstance(amount, int) and not isinstance(amount, bool) and amount > 0:
            out[name] = timedelta(**{unit: amount})
        elif amount is None:
            problems.append(f"{table}: {name} is missing")
        else:
            problems.append(f"{table}: {name} must be a whole number of {unit} above 0, not {amount!r}")
    return out


def _hotline(raw: Any, problems: list[str]) -> Hotline | None:
    if not isinstance(raw, dict):
        problems.append("[hotline] is missing")
        return None
    for extra in sorted(raw.keys() - _HOTLINE_KEYS):
        problems.append(f"hotline: unknown field {extra!r}")
    number, press = raw.get("number"), raw.get("press")
    if not (isinstance(number, str) and number.isdigit() and 3 <= len(number) <= 12):
        problems.append(f'hotline: number must be digits in quotes, such as "12345", not {number!r}')
        return None
    if press is not None and not (isinstance(press, str) and press.isdigit() and len(press) <= 3):
        problems.append(f'hotline: press must be digits in quotes, such as "6", not {press!r}')
        return None
    return Hotline(number=number, press=press)


def _numbers(raw: Any, where: str, problems: list[str]) -> tuple[str, ...]:
    if not isinstance(raw, list):
        problems.append(f'{where}: call must be a list such as ["110"], not {raw!r}')
        return ()
    out: list[str] = []
    for n in raw:
        # Operators may forget the quotes; 110 and "110" mean the same.
        number = str(n) if isinstance(n, int) and not isinstance(n, bool) else n
        if number not in NUMBERS:
            problems.append(f"{where}: call number {n!r} is not one of {', '.join(NUMBERS)}")
        elif number in out:
            problems.append(f"{where}: call number {number} is listed twice")
        else:
            out.append(number)
    return tuple(out)


def _check_category(policy: Policy, category: str) -> None:
    if category not in policy.urgency:
        raise ValueError(f"unknown concern category {category!r}")


def urgency(policy: Policy, category: str, in_danger: bool) -> str:
    """The category's urgency, raised (never lowered) by a "yes, in danger right now" answer."""
    _check_category(policy, category)
    base = policy.urgency[category]
    if not in_danger:
        return base
    return min(base, policy.in_danger_urgency, key=URGENCIES.index)


def ack_deadline(policy: Policy, urgency: str) -> timedelta:
    if urgency not in policy.deadlines:
        raise ValueError(f"unknown urgency {urgency!r}")
    return policy.deadlines[urgency]


def follow_up(policy: Policy, urgency: str) -> timedelta:
    if urgency not in policy.follow_ups:
        raise ValueError(f"unknown urgency {urgency!r}")
    return policy.follow_ups[urgency]


def needs_police_report(policy: Policy, category: str) -> bool:
    """Whether MPL Art. 11 applies: the concern cannot be resolved until a police report (or why not) is recorded."""
    _check_category(policy, category)
    return category in policy.mandatory_report


def guidance(policy: Policy, category: str, in_danger: bool) -> Guidance:
    _check_category(policy, category)
    numbers = policy.numbers[category]
    if in_danger and not numbers:
        # A child in danger always gets a number to call, even for "other".
        numbers = (FALLBACK_NUMBER,)
    return Guidance(numbers=numbers, keep_evidence=category in policy.keep_evidence)


@cache
def policy() -> Policy:
    """The shipped policy, read and checked once per process (`guardian-bot check` validates it too)."""
    return load_policy()
