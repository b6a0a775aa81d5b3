"""Video-call prompts: two or three ideas, suited to the child's age, shown to a parent before a call.

The prompts live in `content/calls/prompts.toml` so they can be reworded without touching code. Pure functions
over plain values: no Telegram, no database, no global random state.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from bot.paths import CONTENT_DIR
from bot.services import library

AGE_BANDS = library.AGE_BANDS
MIN_PER_BAND = 8  # enough that a weekly call does not repeat itself within a month, three prompts at a time
ZH_MAX = 60  # one line on a phone screen, short enough to read aloud
EN_MAX = 140
DEFAULT_PROMPTS = CONTENT_DIR / "calls" / "prompts.toml"

_FIELDS = frozenset({"id", "ages", "zh", "en"})
_ID = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_HAN = re.compile(r"[\u4e00-\u9fff]")


class PromptsError(ValueError):
    """The prompts file is unreadable or wrong; the message names the file and lists every problem."""


@dataclass(frozen=True)
class Prompt:
    id: str
    ages: frozenset[str]  # age bands from AGE_BANDS
    zh: str
    en: str

    def text(self, locale: str) -> str:
        if locale == "zh_Hans":
            return self.zh
        if locale == "en":
            return self.en
        raise ValueError(f"no prompt text for locale {locale!r}")


def band(age: int) -> str:
    """The age band for an age in whole years; an 18-year-old still at home is treated as a teenager."""
    return library.band(age)


def load_prompts(path: Path = DEFAULT_PROMPTS) -> tuple[Prompt, ...]:
    """Every prompt in file order (the order `pick` rotates through)."""
    try:
        with path.open("rb") as f:
            raw = tomllib.load(f)
    except OSError as e:
        raise PromptsError(f"{path}: cannot read the call prompts: {e.strerror or e}") from e
    except tomllib.TOMLDecodeError as e:
        raise PromptsError(f"{path}: not valid TOML: {e}") from e

    problems: list[str] = []
    for key in sorted(raw.keys() - {"prompt"}):
        problems.append(f"unknown setting {key!r}")
    blocks = raw.get("prompt", [])
    if not isinstance(blocks, list):
        problems.append("prompts must be [[prompt]] blocks")
        blocks = []

    out: list[Prompt] = []
    seen: set[str] = set()
    for i, block in enumerate(blocks, start=1):
        where = f"[[prompt]] #{i}"
        if not isinstance(block, dict):
            problems.append(f"{where}: not a table")
            continue
        prompt = _prompt(block, where, seen, problems)
        if prompt is not None:
            out.append(prompt)

    for name in AGE_BANDS:
        count = sum(name in p.ages for p in out)
        if count < MIN_PER_BAND:
            problems.append(f"age band {name!r} has {count} prompt(s); at least {MIN_PER_BAND} are needed")

    if problems:
        listed = "\n".join(f"  - {p}" for p in problems)
        raise PromptsError(f"{path}: {len(problems)} problem(s) in the call prompts:\n{listed}")
    return tuple(out)


def _prompt(block: dict[str, Any], where: str, seen: set[str], problems: list[str]) -> Prompt | None:
    """One checked block, or None (with the reasons added to `problems`)."""
    before = len(problems)
    pid = block.get("id")
    if pid is None:
        problems.append(f"{where}: id is missing")
    elif not (isinstance(pid, str) and _ID.fullmatch(pid)):
        problems.append(f'{where}: id must be lower-case words joined by "-", such as "one-friend", not {pid!r}')
    else:
        where = f"prompt {pid!r}"
        if pid in seen:
            problems.append(f"{where}: id is used more than once")
        seen.add(pid)
    for extra in sorted(block.keys() - _FIELDS):
        problems.append(f"{where}: unknown field {extra!r}")

    ages = block.get("ages")
    if ages is None:
        problems.append(f"{where}: ages is missing")
    elif not isinstance(ages, list) or not ages:
        problems.append(f'{where}: ages must be a list such as ["3-5", "6-11"], not {ages!r}')
    else:
        for name in ages:
            if name not in AGE_BANDS:
                problems.append(f"{where}: age band {name!r} is not one of {', '.join(AGE_BANDS)}")
        for name in sorted({a for a in ages if isinstance(a, str) and ages.count(a) > 1}):
            problems.append(f"{where}: age band {name!r} is listed twice")

    texts = {
        lang: _text(block.get(lang), lang, limit, where, problems) for lang, limit in (("zh", ZH_MAX), ("en", EN_MAX))
    }
    # Catches zh and en swapped, or English pasted into both.
    if texts["zh"] and not _HAN.search(texts["zh"]):
        problems.append(f"{where}: zh has no Chinese characters")

    if len(problems) > before:
        return None
    return Prompt(id=pid, ages=frozenset(ages), zh=texts["zh"], en=texts["en"])


def _text(raw: Any, lang: str, limit: int, where: str, problems: list[str]) -> str:
    if raw is None:
        problems.append(f"{where}: {lang} is missing")
        return ""
    if not isinstance(raw, str):
        problems.append(f"{where}: {lang} must be text in quotes, not {raw!r}")
        return ""
    text = raw.strip()
    if not text:
        problems.append(f"{where}: {lang} is empty")
    elif len(text) > limit:
        problems.append(f"{where}: {lang} is {len(text)} characters long; at most {limit} are allowed")
    return text


@cache
def prompts() -> tuple[Prompt, ...]:
    """The shipped prompts, read and checked once per process."""
    return load_prompts()


def pick(age: int, n: int, seed: int, pool: tuple[Prompt, ...] | None = None) -> list[Prompt]:
    """`n` different prompts for a child of `age`, the same every time for the same `seed` (a call occurrence id).

    The prompts for the age band are taken in file order and a window of `n` slides along by `n` per seed, wrapping
    round, so consecutive calls show new prompts and every prompt has come up within ceil(len / n) seeds.
    """
    fit = [p for p in (prompts() if pool is None else pool) if band(age) in p.ages]
    if not 0 <= n <= len(fit):
        raise ValueError(f"cannot pick {n} prompt(s): there are {len(fit)} for age {age}")
    if not fit:
        return []
    offset = seed * n % len(fit)
    return [fit[(offset + i) % len(fit)] for i in range(n)]
