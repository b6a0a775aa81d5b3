"""Checks of free text typed by a person. Each returns the cleaned value or raises `Invalid`."""

from __future__ import annotations

import re
import unicodedata

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
