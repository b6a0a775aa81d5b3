"""The content library: parenting tips and frequent questions in `content/tips/`, both languages.

Read and checked once per process; `guardian-bot content check` (run by `make test`) lists every problem in
both files at once, and `guardian-bot content stats --json` counts them. Pure: no Telegram, no database.
"""

from __future__ import annotations

import re
import tomllib
from collections import Counter
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

from bot.paths import CONTENT_DIR

TIPS_FILE = CONTENT_DIR / "tips" / "tips.toml"
FAQ_FILE = CONTENT_DIR / "tips" / "faq.toml"
AGE_BANDS = ("0-2", "3-5", "6-11", "12-17")
AUDIENCES = ("guardian", "parent", "both")
TOPICS = (
    "play",
    "praise",
    "routines",
    "nutrition",
    "drowning",
    "safety",
    "body_safety",
    "bullying",
    "school",
    "online",
    "feelings",
    "depression",
    "carer_health",
    "video_calls",
)
TIP_ZH_MAX = 150  # one idea, one action: short enough for a grandparent to read in one go
TIP_EN_MAX = 400
ANSWER_ZH_MAX = 300
ANSWER_EN_MAX = 700
MESSAGE_MAX = 4096  # Telegram's limit for one message, after entities are parsed
REVIEW_YEARS = 2  # a tip not reviewed for this long is reported as due for review
MIN_TIPS = 72
MIN_FAQS = 30
_ID = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_HAN = re.compile(r"[\u4e00-\u9fff]")
_TIP_FIELDS = frozenset({"id", "topics", "ages", "audience", "season", "source", "reviewed", "zh", "en"})
_FAQ_FIELDS = frozenset(
    {"id", "topics", "ages", "source", "reviewed", "q_zh", "q_en", "also_zh", "also_en", "a_zh", "a_en"}
)


class LibraryError(ValueError):
    """The content files are wrong; the message lists every problem, each with its file."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(
            f"{len(problems)} problem(s) in the content library:\n" + "\n".join(f"  - {p}" for p in problems)
        )
        self.problems = problems


@dataclass(frozen=True)
class Source:
    key: str
    zh: str
    en: str


@dataclass(frozen=True)
class Tip:
    id: str
    topics: tuple[str, ...]
    ages: frozenset[str]
    audience: str
    season: str | None
    source: str
    reviewed: date
    zh: str
    en: str

    def text(self, locale: str) -> str:
        return self.zh if locale == "zh_Hans" else self.en

    def for_audience(self, role: str) -> bool:
        """guardian tips for carers, parent tips for parents, "both" for everyone; role "any" reads them all."""
        if role == "any" or self.audience == "both":
            return True
        return self.audience == ("parent" if role == "parent" else "guardian")


@dataclass(frozen=True)
class Faq:
    id: str
    topics: tuple[str, ...]
    ages: frozenset[str]
    source: str
    reviewed: date
    q_zh: str
    q_en: str
    also_zh: tuple[str, ...]
    also_en: tuple[str, ...]
    a_zh: str
    a_en: str

    def question(self, locale: str) -> str:
        return self.q_zh if locale == "zh_Hans" else self.q_en

    def answer(self, locale: str) -> str:
        return self.a_zh if locale == "zh_Hans" else self.a_en


@dataclass(frozen=True)
class Library:
    tips: tuple[Tip, ...]
    faqs: tuple[Faq, ...]
    sources: dict[str, Source]
    seasons: dict[str, frozenset[int]]  # season -> months

    def tip(self, tip_id: str) -> Tip | None:
        return next((t for t in self.tips if t.id == tip_id), None)

    def faq(self, faq_id: str) -> Faq | None:
        return next((f for f in self.faqs if f.id == faq_id), None)

    def in_season(self, tip: Tip, month: int) -> bool:
        return tip.season is None or month in self.seasons.get(tip.season, frozenset())


def band(age: int) -> str:
    """The age band for an age in whole years (tips, frequent questions and call prompts share them)."""
    if age < 0:
        raise ValueError(f"age cannot be negative: {age}")
    return "0-2" if age <= 2 else "3-5" if age <= 5 else "6-11" if age <= 11 else "12-17"


def _read(path: Path, problems: list[str]) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except OSError as e:
        problems.append(f"{path}: cannot read: {e.strerror or e}")
    except tomllib.TOMLDecodeError as e:
        problems.append(f"{path}: not valid TOML: {e}")
    return {}


def _text(raw: Any, where: str, field: str, limit: int, problems: list[str], *, chinese: bool) -> str:
    if not isinstance(raw, str) or not raw.strip():
        problems.append(f"{where}: {field} is missing or empty")
        return ""
    text = raw.strip()
    if len(text) > limit:
        problems.append(f"{where}: {field} has {len(text)} characters, more than {limit}")
    if chinese and not _HAN.search(text):
        problems.append(f"{where}: {field} has no Chinese characters (zh and en swapped?)")
    # English may name a Chinese term in brackets, e.g. youth mode (青少年模式), so the reader finds it on the phone.
    if not chinese and _HAN.search(re.sub(r"[(（][^)）]*[)）]", "", text)):
        problems.append(f"{where}: {field} has Chinese characters outside brackets (zh and en swapped?)")
    if any(c in text for c in "<>&"):
        problems.append(f"{where}: {field} has <, > or &: write them out (messages are sent as HTML)")
    return text


def _common(
    block: dict[str, Any], where: str, sources: dict[str, Source], today: date, problems: list[str]
) -> tuple[tuple[str, ...], frozenset[str], str, date]:
    topics = block.get("topics")
    if not isinstance(topics, list) or not 1 <= len(topics) <= 3 or any(t not in TOPICS for t in topics):
        problems.append(f"{where}: topics must be 1 to 3 of {', '.join(TOPICS)}, not {topics!r}")
        topics = []
    ages = block.get("ages")
    if not isinstance(ages, list) or not ages or any(a not in AGE_BANDS for a in ages) or len(set(ages)) != len(ages):
        problems.append(f"{where}: ages must be some of {', '.join(AGE_BANDS)}, not {ages!r}")
        ages = []
    source = block.get("source")
    if source not in sources:
        problems.append(f"{where}: source {source!r} is not in [sources]")
    reviewed = block.get("reviewed")
    if not isinstance(reviewed, date):
        problems.append(f"{where}: reviewed must be a date such as 2026-11-20, not {reviewed!r}")
        reviewed = date.min
    elif reviewed > today:
        problems.append(f"{where}: reviewed {reviewed} is in the future")
    elif (today - reviewed).days > 365 * REVIEW_YEARS:
        problems.append(f"{where}: reviewed {reviewed}, more than {REVIEW_YEARS} years ago: review it again")
    return tuple(topics), frozenset(ages), str(source), reviewed


def load_library(tips_path: Path = TIPS_FILE, faq_path: Path = FAQ_FILE, *, today: date | None = None) -> Library:
    today = today or date.today()
    problems: list[str] = []
    raw = _read(tips_path, problems)
    sources: dict[str, Source] = {}
    for key, value in (raw.get("sources") or {}).items():
        if isinstance(value, dict) and isinstance(value.get("zh"), str) and isinstance(value.get("en"), str):
            sources[key] = Source(key, value["zh"], value["en"])
        else:
            problems.append(f"{tips_path}: [sources] {key} needs zh and en")
    seasons: dict[str, frozenset[int]] = {}
    for key, months in (raw.get("seasons") or {}).items():
        if isinstance(months, list) and months and all(isinstance(m, int) and 1 <= m <= 12 for m in months):
            seasons[key] = frozenset(months)
        else:
            problems.append(f"{tips_path}: [seasons] {key} must be a list of months 1-12")
    for key in sorted(raw.keys() - {"sources", "seasons", "tip"}):
        problems.append(f"{tips_path}: unknown setting {key!r}")
    seen: set[str] = set()
    tips: list[Tip] = []
    for i, block in enumerate(raw.get("tip") or [], start=1):
        where = f"{tips_path}: tip #{i}"
        if not isinstance(block, dict):
            problems.append(f"{where}: not a table")
            continue
        tip_id = block.get("id")
        if not isinstance(tip_id, str) or not _ID.fullmatch(tip_id):
            problems.append(f"{where}: id must be kebab-case, not {tip_id!r}")
            continue
        where = f"{tips_path}: tip {tip_id!r}"
        if tip_id in seen:
            problems.append(f"{where}: id used twice")
        seen.add(tip_id)
        for extra in sorted(block.keys() - _TIP_FIELDS):
            problems.append(f"{where}: unknown field {extra!r}")
        topics, ages, source, reviewed = _common(block, where, sources, today, problems)
        audience = block.get("audience")
        if audience not in AUDIENCES:
            problems.append(f"{where}: audience must be one of {', '.join(AUDIENCES)}, not {audience!r}")
        season = block.get("season")
        if season is not None and season not in seasons:
            problems.append(f"{where}: season {season!r} is not in [seasons]")
        tips.append(
            Tip(
                id=tip_id,
                topics=topics,
                ages=ages,
                audience=str(audience),
                season=season,
                source=source,
                reviewed=reviewed,
                zh=_text(block.get("zh"), where, "zh", TIP_ZH_MAX, problems, chinese=True),
                en=_text(block.get("en"), where, "en", TIP_EN_MAX, problems, chinese=False),
            )
        )
    raw_faq = _read(faq_path, problems)
    for key in sorted(raw_faq.keys() - {"faq"}):
        problems.append(f"{faq_path}: unknown setting {key!r}")
    faqs: list[Faq] = []
    for i, block in enumerate(raw_faq.get("faq") or [], start=1):
        where = f"{faq_path}: faq #{i}"
        if not isinstance(block, dict):
            problems.append(f"{where}: not a table")
            continue
        faq_id = block.get("id")
        if not isinstance(faq_id, str) or not _ID.fullmatch(faq_id):
            problems.append(f"{where}: id must be kebab-case, not {faq_id!r}")
            continue
        where = f"{faq_path}: faq {faq_id!r}"
        if faq_id in seen:
            problems.append(f"{where}: id used twice (ids are shared with the tips)")
        seen.add(faq_id)
        for extra in sorted(block.keys() - _FAQ_FIELDS):
            problems.append(f"{where}: unknown field {extra!r}")
        topics, ages, source, reviewed = _common(block, where, sources, today, problems)
        also: dict[str, tuple[str, ...]] = {}
        for field, chinese in (("also_zh", True), ("also_en", False)):
            value = block.get(field, [])
            if not isinstance(value, list) or len(value) > 8:
                problems.append(f"{where}: {field} must be a list of at most 8 phrasings")
                value = []
            also[field] = tuple(_text(v, where, field, 80, problems, chinese=chinese) for v in value)
        faqs.append(
            Faq(
                id=faq_id,
                topics=topics,
                ages=ages,
                source=source,
                reviewed=reviewed,
                q_zh=_text(block.get("q_zh"), where, "q_zh", 80, problems, chinese=True),
                q_en=_text(block.get("q_en"), where, "q_en", 200, problems, chinese=False),
                also_zh=also["also_zh"],
                also_en=also["also_en"],
                a_zh=_text(block.get("a_zh"), where, "a_zh", ANSWER_ZH_MAX, problems, chinese=True),
                a_en=_text(block.get("a_en"), where, "a_en", ANSWER_EN_MAX, problems, chinese=False),
            )
        )
    library = Library(tuple(tips), tuple(faqs), sources, seasons)
    problems += _coverage(library, tips_path, faq_path)
    if problems:
        raise LibraryError(problems)
    return library


def _coverage(library: Library, tips_path: Path, faq_path: Path) -> list[str]:
    problems: list[str] = []
    if len(library.tips) < MIN_TIPS:
        problems.append(f"{tips_path}: {len(library.tips)} tips, at least {MIN_TIPS} are needed")
    if len(library.faqs) < MIN_FAQS:
        problems.append(f"{faq_path}: {len(library.faqs)} frequent questions, at least {MIN_FAQS} are needed")
    by_topic = Counter(t for tip in library.tips for t in tip.topics)
    for topic in TOPICS:
        if by_topic[topic] == 0:
            problems.append(f"{tips_path}: no tip on {topic!r}")
    by_age = Counter(a for tip in library.tips for a in tip.ages)
    for age in AGE_BANDS:
        if by_age[age] == 0:
            problems.append(f"{tips_path}: no tip for ages {age}")
    return problems


def stats(library: Library) -> dict[str, Any]:
    """Counts by topic, age band, audience and language: `guardian-bot content stats --json`."""
    tips, faqs = library.tips, library.faqs
    return {
        "tips": len(tips),
        "faqs": len(faqs),
        "tips_by_topic": {t: sum(t in tip.topics for tip in tips) for t in TOPICS},
        "tips_by_age": {a: sum(a in tip.ages for tip in tips) for a in AGE_BANDS},
        "tips_by_audience": {a: sum(tip.audience == a for tip in tips) for a in AUDIENCES},
        "tips_by_season": dict(Counter(tip.season or "all_year" for tip in tips)),
        "faqs_by_topic": {t: sum(t in faq.topics for faq in faqs) for t in TOPICS},
        "by_language": {
            "zh_Hans": {"tips": sum(bool(t.zh) for t in tips), "faqs": sum(bool(f.a_zh) for f in faqs)},
            "en": {"tips": sum(bool(t.en) for t in tips), "faqs": sum(bool(f.a_en) for f in faqs)},
        },
        "sources": dict(Counter(x.source for x in (*tips, *faqs))),
    }


@cache
def library() -> Library:
    """The shipped library, read and checked once per process."""
    return load_library()
