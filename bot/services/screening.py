"""The danger-phrase screen: free text anywhere in the bot is checked for words that a child may be in danger.

The phrases live in `content/safeguarding/phrases.toml` (see its header for how they are written). `screen` returns
the most serious category found and the phrase that matched, so the bot can show the emergency guidance and a
"report this now" button. It never files anything, keeps nothing and logs nothing: the text is read and dropped.

Matching: the message and the phrases are normalised the same way (NFKC, lower case, a few traditional characters
made simplified, spaces and punctuation between Chinese characters removed, one space between other words), then a
character trie finds every phrase at every position in one pass, so a few thousand phrases cost about the same as
a few. Pure Python: no Telegram, no database.
"""

from __future__ import annotations

import itertools
import re
import tomllib
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

from bot.paths import CONTENT_DIR
from bot.services import triage

# The concern categories, in the report journey's menu order: one list, kept by triage.
CATEGORIES = triage.CATEGORIES
# Most serious first: what the person sees first when a message hits several categories.
SERIOUSNESS = (
    "danger_now",
    "sexual_abuse",
    "self_harm",
    "missing",
    "violence",
    "left_alone",
    "injury_illness",
    "bullying",
    "not_in_school",
    "other",
)
LANGUAGES = ("zh", "en")
DEFAULT_PHRASES = CONTENT_DIR / "safeguarding" / "phrases.toml"

_RANK = {category: rank for rank, category in enumerate(SERIOUSNESS)}
_SECTIONS = frozenset({"placeholders", "negation", "benign", "variants"})
_PLACEHOLDER_RE = re.compile(r"\{([a-z_]+)\}")
# Clause punctuation (after NFKC, so full-width ，！？ are already ASCII). A negation does not reach across it and a
# benign expression is not read across it. Everything else that is not a letter or digit (spaces, apostrophes,
# hyphens, quotes, emoji) only separates words.
_HARD = frozenset(",.!?;:。、…·")
_NEGATION_QUESTION = frozenset("不没冇")  # 是不是 / 有没有 / 会不会: a question, not a negation
_PREFIX = "*"  # a trailing "*" lets an English phrase match longer words (bulli* = bullied, bullying)


class PhrasesError(ValueError):
    """The phrases file is unreadable or wrong; the message names the file and lists every problem."""

    def __init__(self, source: str, problems: Iterable[str]) -> None:
        self.problems = tuple(problems)
        lines = "\n".join(f"  - {problem}" for problem in self.problems)
        super().__init__(f"{source}: {len(self.problems)} problem(s):\n{lines}")


@dataclass(frozen=True)
class Hit:
    """What a message hit: the most serious category, the phrase (as written in the file) that matched it, and
    every category found, most serious first, so the guidance can add e.g. "do not wash the child" when sexual
    abuse comes second to danger_now."""

    category: str
    phrase: str
    categories: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Entry:
    category: str | None  # None: a benign expression
    phrase: str  # as written in the file, placeholders filled in
    left: bool  # must start at a word boundary (the phrase starts with a letter or digit of a spaced script)
    right: bool  # must end at a word boundary


@dataclass(slots=True)
class _Node:
    children: dict[str, _Node] = field(default_factory=dict)
    entries: list[_Entry] = field(default_factory=list)


@dataclass(frozen=True, eq=False)
class Phrases:
    """A validated phrase set, ready to match. Build it with `load_phrases`."""

    by_category: Mapping[str, tuple[str, ...]]  # category -> phrases (zh then en), placeholders filled in
    benign: tuple[str, ...]
    negators: tuple[str, ...]  # normalised
    negatable: frozenset[str]
    variants: Mapping[str, str]
    _trie: _Node = field(repr=False)
    _table: dict[int, str] = field(repr=False)

    def __repr__(self) -> str:  # a short one: the full lists would bury a failing test's message
        counts = ", ".join(f"{key}={len(listed)}" for key, listed in self.by_category.items())
        return f"Phrases({counts}; benign={len(self.benign)})"


@dataclass(frozen=True, slots=True)
class _Match:
    start: int
    end: int
    entry: _Entry


# -- normalising -------------------------------------------------------------------------------------------------


def _is_cjk(ch: str) -> bool:
    """Chinese (and Japanese kana) characters: written without spaces between words."""
    o = ord(ch)
    return 0x2E80 <= o <= 0x9FFF or 0xF900 <= o <= 0xFAFF or 0x20000 <= o <= 0x3FFFF


def _is_word(ch: str) -> bool:
    """A letter or digit of a script written with spaces (Latin, digits, ...): word boundaries matter there."""
    return ch.isalnum() and not _is_cjk(ch)


def _normalise(text: str, table: Mapping[int, str]) -> tuple[str, list[bool]]:
    """The text as matched, and for each of its characters whether clause punctuation came right before it."""
    out: list[str] = []
    breaks: list[bool] = []
    gap = hard = False
    for ch in unicodedata.normalize("NFKC", text).casefold().translate(table):
        if ch.isalnum():
            if out and gap and _is_word(out[-1]) and _is_word(ch):
                out.append(" ")  # English words keep one space; Chinese characters are joined up
                breaks.append(False)
            out.append(ch)
            breaks.append(hard)
            gap = hard = False
        elif unicodedata.category(ch) != "Cf":  # zero-width joiners and the like are dropped outright
            gap = True
            hard = hard or ch in _HARD
    return "".join(out), breaks


def normalise(text: str, phrases: Phrases | None = None) -> str:
    """The text as the screen sees it (for tests and for checking a new phrase by hand)."""
    return _normalise(text, (phrases or default_phrases())._table)[0]


# -- loading -----------------------------------------------------------------------------------------------------


def _strings(value: Any, where: str, problems: list[str]) -> list[str]:
    """A list of non-empty strings, or [] with a problem recorded."""
    if not isinstance(value, list):
        problems.append(f"{where}: must be a list of strings")
        return []
    good: list[str] = []
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            problems.append(f"{where}[{i}]: must be a non-empty string, got {item!r}")
        else:
            good.append(item.strip())
    return good


def _expand(phrase: str, placeholders: Mapping[str, list[str]], where: str, problems: list[str]) -> list[str]:
    """Every phrase `phrase` stands for, with each {name} replaced by each of its placeholder's values."""
    names = _PLACEHOLDER_RE.findall(phrase)
    unknown = [name for name in names if name not in placeholders]
    if unknown:
        problems.append(f"{where}: {phrase!r} uses unknown placeholder(s) {', '.join(unknown)}")
        return []
    if "{" in _PLACEHOLDER_RE.sub("", phrase) or "}" in _PLACEHOLDER_RE.sub("", phrase):
        problems.append(f"{where}: {phrase!r} has a stray brace (placeholders look like {{child}})")
        return []
    parts = _PLACEHOLDER_RE.split(phrase)  # literal, name, literal, name, ..., literal
    choices = [[part] if i % 2 == 0 else placeholders[part] for i, part in enumerate(parts)]
    return ["".join(combo) for combo in itertools.product(*choices)]


def _check_language(phrase: str, lang: str, where: str, problems: list[str]) -> bool:
    """Catch a phrase filed under the wrong language, which would otherwise quietly never match as meant."""
    has_cjk = any(_is_cjk(ch) for ch in phrase)
    if lang == "zh" and not has_cjk:
        problems.append(f"{where}: {phrase!r} has no Chinese characters; put it under `en`")
        return False
    if lang == "en" and has_cjk:
        problems.append(f"{where}: {phrase!r} has Chinese characters; put it under `zh`")
        return False
    return True


def _table_of(data: Mapping[str, Any], key: str, problems: list[str]) -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        problems.append(f"[{key}]: must be a table")
        return {}
    return value


def _parse(data: Mapping[str, Any]) -> tuple[Phrases | None, list[str]]:
    problems: list[str] = []
    for key in data:
        if key not in _SECTIONS and key not in CATEGORIES:
            problems.append(f"[{key}]: unknown category or section (categories: {', '.join(CATEGORIES)})")

    variants: dict[str, str] = {}
    for old, new in _table_of(data, "variants", problems).items():
        if not isinstance(new, str) or len(old) != 1 or len(new) != 1:
            problems.append(f"[variants]: {old!r} = {new!r} must map one character to one character")
        elif old == new:
            problems.append(f"[variants]: {old!r} maps to itself")
        else:
            variants[old] = new
    table = str.maketrans(variants)

    placeholders: dict[str, list[str]] = {}
    for name, values in _table_of(data, "placeholders", problems).items():
        if not _PLACEHOLDER_RE.fullmatch(f"{{{name}}}"):
            problems.append(f"[placeholders]: name {name!r} must be lower-case letters and underscores")
        strings = _strings(values, f"[placeholders].{name}", problems)
        if isinstance(values, list) and not values:
            problems.append(f"[placeholders].{name}: must not be empty")
        placeholders[name] = strings

    def phrases_of(section: str, table_data: Mapping[str, Any], allowed: frozenset[str]) -> dict[str, list[str]]:
        for key in table_data:
            if key not in allowed:
                problems.append(f"[{section}]: unknown key {key!r} (expected {', '.join(sorted(allowed))})")
        found: dict[str, list[str]] = {}
        for lang in LANGUAGES:
            where = f"[{section}].{lang}"
            expanded: list[str] = []
            for phrase in _strings(table_data.get(lang, []), where, problems):
                if not _check_language(phrase, lang, where, problems):
                    continue
                for one in _expand(phrase, placeholders, where, problems):
                    if not _normalise(one.removesuffix(_PREFIX), table)[0]:
                        problems.append(f"{where}: {one!r} has no letters or digits")
                    elif _PREFIX in one.removesuffix(_PREFIX):
                        problems.append(f"{where}: {one!r} may only end in {_PREFIX!r}")
                    else:
                        expanded.append(one)
            found[lang] = expanded
        return found

    by_category: dict[str, tuple[str, ...]] = {}
    for category in CATEGORIES:
        if category not in data:
            continue
        section = data[category]
        if not isinstance(section, dict):
            problems.append(f"[{category}]: must be a table with `zh` and `en` lists")
            continue
        listed = phrases_of(category, section, frozenset(LANGUAGES))
        by_category[category] = tuple(listed["zh"] + listed["en"])
        if not by_category[category]:
            problems.append(f"[{category}]: has no phrases")

    benign = phrases_of("benign", _table_of(data, "benign", problems), frozenset(LANGUAGES))

    negation = _table_of(data, "negation", problems)
    negators = phrases_of("negation", negation, frozenset({*LANGUAGES, "categories"}))
    negatable = _strings(negation.get("categories", []), "[negation].categories", problems)
    for category in negatable:
        if category not in CATEGORIES:
            problems.append(f"[negation].categories: unknown category {category!r}")

    if problems:
        return None, problems

    root = _Node()

    def add(phrase: str, category: str | None) -> None:
        text = _normalise(phrase.removesuffix(_PREFIX), table)[0]
        node = root
        for ch in text:
            node = node.children.setdefault(ch, _Node())
        entry = _Entry(category, phrase, _is_word(text[0]), _is_word(text[-1]) and not phrase.endswith(_PREFIX))
        if entry not in node.entries:
            node.entries.append(entry)

    for category, phrases in by_category.items():
        for phrase in phrases:
            add(phrase, category)
    for phrase in benign["zh"] + benign["en"]:
        add(phrase, None)

    result = Phrases(
        by_category=MappingProxyType(by_category),
        benign=tuple(benign["zh"] + benign["en"]),
        negators=tuple(_normalise(n, table)[0] for n in negators["zh"] + negators["en"]),
        negatable=frozenset(negatable),
        variants=MappingProxyType(variants),
        _trie=root,
        _table=table,
    )
    # A phrase that cannot hit even on its own is swallowed by a benign expression: say so rather than lose it.
    for category, phrases in by_category.items():
        for phrase in phrases:
            if category not in _found(phrase.removesuffix(_PREFIX), result):
                problems.append(f"[{category}]: {phrase!r} never hits (a [benign] expression contains it)")
    return (None, problems) if problems else (result, [])


def load_phrases(path: Path = DEFAULT_PHRASES) -> Phrases:
    """Read and check the phrases file; raises `PhrasesError` listing every problem at once."""
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise PhrasesError(str(path), [f"not valid TOML: {exc}"]) from exc
    phrases, problems = _parse(data)
    if phrases is None:
        raise PhrasesError(str(path), problems)
    return phrases


@cache
def default_phrases() -> Phrases:
    """The shipped phrases, loaded once (a restart picks up an edited file)."""
    return load_phrases()


# -- matching ----------------------------------------------------------------------------------------------------


def _matches(text: str, root: _Node) -> list[_Match]:
    """Every phrase (danger or benign) at every position, overlapping ones included."""
    found: list[_Match] = []
    n = len(text)
    for start in range(n):
        node = root.children.get(text[start])
        end = start + 1
        while node is not None:
            for entry in node.entries:
                if (not entry.left or start == 0 or not _is_word(text[start - 1])) and (
                    not entry.right or end == n or not _is_word(text[end])
                ):
                    found.append(_Match(start, end, entry))
            if end == n:
                break
            node = node.children.get(text[end])
            end += 1
    return found


def _negated(text: str, breaks: list[bool], start: int, negators: tuple[str, ...]) -> bool:
    """Whether a negation word comes right before `start`, in the same clause and not as an A-not-A question."""
    for neg in negators:
        spaced = _is_word(neg[-1])  # an English negator is followed by one space
        at = start - len(neg) - spaced
        if at < 0 or text[at : at + len(neg)] != neg or (spaced and text[start - 1] != " "):
            continue
        if _is_word(neg[0]) and at > 0 and _is_word(text[at - 1]):
            continue  # "cannot" is not "not"
        if any(breaks[at + 1 : start + 1]):
            continue  # "不，想死": the negation belongs to something else
        if neg[0] in _NEGATION_QUESTION and at > 0 and text[at - 1] == (neg[1:] + text[start:])[:1]:
            continue  # 是不是 / 有没有 / 想不想: asking, not denying
        return True
    return False


def _shielded(matches: list[_Match], spans: list[tuple[int, int]], n: int) -> set[int]:
    """Indexes of the matches lying wholly inside one of `spans`, in linear time."""
    reach = [-1] * (n + 1)  # reach[i]: the furthest end of a span starting at or before i
    for start, end in spans:
        reach[start] = max(reach[start], end)
    for i in range(1, n + 1):
        reach[i] = max(reach[i], reach[i - 1])
    return {i for i, m in enumerate(matches) if reach[m.start] >= m.end}


def _found(text: str, phrases: Phrases) -> dict[str, str]:
    """Category -> the first phrase (in reading order) that hit it, after benign expressions and negations."""
    norm, breaks = _normalise(text, phrases._table)
    matches = _matches(norm, phrases._trie)
    if not matches:
        return {}
    benign = [(m.start, m.end) for m in matches if m.entry.category is None and not any(breaks[m.start + 1 : m.end])]
    dropped = _shielded(matches, benign, len(norm)) if benign else set()
    negated = [
        (m.start, m.end)
        for i, m in enumerate(matches)
        if i not in dropped
        and m.entry.category in phrases.negatable
        and _negated(norm, breaks, m.start, phrases.negators)
    ]
    if negated:
        # "不想自杀": 自杀 sits inside the negated 想自杀, so it goes too (within the negatable categories only).
        dropped |= {i for i in _shielded(matches, negated, len(norm)) if matches[i].entry.category in phrases.negatable}
    found: dict[str, str] = {}
    for i, m in enumerate(matches):
        category = m.entry.category
        if category is not None and i not in dropped:
            found.setdefault(category, m.entry.phrase)
    return found


def screen(text: str, phrases: Phrases | None = None) -> Hit | None:
    """The most serious danger category `text` hits, with the matched phrase, or None. Reads nothing else, keeps
    nothing, logs nothing."""
    found = _found(text, phrases or default_phrases())
    if not found:
        return None
    categories = tuple(sorted(found, key=_RANK.__getitem__))
    return Hit(category=categories[0], phrase=found[categories[0]], categories=categories)
