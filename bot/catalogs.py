"""Are the translation catalogs complete and current? Used by `guardian-bot check` and the tests."""

from __future__ import annotations

from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po

from bot.config import SUPPORTED_LOCALES
from bot.paths import LOCALES_DIR, ROOT

KEYWORDS = {**DEFAULT_KEYWORDS, "N_": None}
METHOD_MAP = [("bot/**.py", "python"), ("handlers/**.py", "python")]


def source_messages() -> set[str | tuple[str, str]]:
    """Every msgid marked in the code (a (singular, plural) pair for ngettext)."""
    found: set[str | tuple[str, str]] = set()
    for _filename, _lineno, message, _comments, _context in extract_from_dir(str(ROOT), METHOD_MAP, keywords=KEYWORDS):
        found.add(message if isinstance(message, str) else (message[0], message[1]))
    return found


def load_catalog(locale: str) -> Catalog:
    with (LOCALES_DIR / locale / "LC_MESSAGES" / "messages.po").open("rb") as f:
        return read_po(f, locale=locale)


def catalog_problems() -> list[str]:
    problems: list[str] = []
    wanted = source_messages()
    for locale in SUPPORTED_LOCALES:
        po = LOCALES_DIR / locale / "LC_MESSAGES" / "messages.po"
        if not po.exists():
            problems.append(f"{locale}: no catalog at {po.relative_to(ROOT)}")
            continue
        catalog = load_catalog(locale)
        present: dict[str | tuple[str, str], object] = {}
        for m in catalog:
            if not m.id:
                continue
            key = m.id if isinstance(m.id, str) else (m.id[0], m.id[1])
            present[key] = m
            if m.fuzzy:
                problems.append(f"{locale}: fuzzy translation for {_short(key)}")
            strings = m.string if isinstance(m.string, tuple | list) else (m.string,)
            if not all(strings):
                problems.append(f"{locale}: no translation for {_short(key)}")
        for key in sorted(wanted - present.keys(), key=str):
            problems.append(f"{locale}: catalog is stale, missing {_short(key)} (run 'make update-catalogs')")
        for key in sorted(present.keys() - wanted, key=str):
            problems.append(f"{locale}: catalog is stale, {_short(key)} is no longer in the code")
        mo = po.with_suffix(".mo")
        if not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
            problems.append(f"{locale}: compiled catalog is missing or older than the .po (run 'make catalogs')")
    return problems


def _short(key: str | tuple[str, str]) -> str:
    text = key if isinstance(key, str) else key[0]
    return repr(text if len(text) <= 60 else text[:57] + "...")
