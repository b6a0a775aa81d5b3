"""Languages: one gettext catalog per supported locale, chosen explicitly, and Babel for dates.

Telegram sends language codes such as `zh`, `zh-hans`, `zh-cn`, `zh-hant`, `en-US`. gettext does not find a
`zh_Hans` catalog for `zh_CN` by itself, so every code is mapped here to one of `SUPPORTED_LOCALES`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_date as _babel_format_date
from babel.dates import format_datetime as _babel_format_datetime
from babel.dates import format_time as _babel_format_time
from babel.dates import get_datetime_format, get_month_names
from babel.support import NullTranslations, Translations

from bot.config import SUPPORTED_LOCALES
from bot.paths import LOCALES_DIR

DOMAIN = "messages"


def N_(message: str) -> str:
    """Mark a string for extraction; it is translated later, where the person's language is known."""
    return message


class CatalogMissing(RuntimeError):
    pass


def catalog_key(language_code: str | None, default: str = "zh_Hans") -> str:
    """Map a Telegram `language_code` (non-standard IETF) to a supported catalog."""
    if not language_code:
        return default
    code = language_code.strip().replace("_", "-")
    if code in SUPPORTED_LOCALES:
        return code
    try:
        loc = Locale.parse(code, sep="-")
    except (ValueError, TypeError, UnknownLocaleError):
        return default
    if loc.language == "zh":
        # Traditional-script readers are served the Simplified catalog; it is the closest we have.
        return "zh_Hans"
    if loc.language in SUPPORTED_LOCALES:
        return loc.language
    return default


@cache
def translations(locale: str) -> Translations:
    t = Translations.load(str(LOCALES_DIR), [locale], DOMAIN)
    if type(t) is NullTranslations:
        raise CatalogMissing(f"no compiled catalog for {locale} in {LOCALES_DIR} (run 'make catalogs')")
    return t


@dataclass(frozen=True)
class Tr:
    """Everything a renderer needs to speak to one person: their catalog, locale and time zone."""

    locale: str
    timezone: str

    @property
    def _t(self) -> Translations:
        return translations(self.locale)

    def gettext(self, message: str) -> str:
        return self._t.gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self._t.ngettext(singular, plural, n)

    def datetime(self, value: datetime, fmt: str = "medium") -> str:
        return _babel_format_datetime(value, fmt, tzinfo=ZoneInfo(self.timezone), locale=babel_locale(self.locale))

    def month_names(self) -> dict[int, str]:
        """Short month names, 1-12: "3月" / "Mar"."""
        return dict(get_month_names("abbreviated", locale=babel_locale(self.locale)))

    def when(self, value: datetime) -> str:
        """Date and time to the minute, in the person's zone and the locale's own order."""
        loc, zone = babel_locale(self.locale), ZoneInfo(self.timezone)
        local = value.astimezone(zone)
        day = _babel_format_date(local.date(), "medium", locale=loc)
        time = _babel_format_time(local, "short", tzinfo=zone, locale=loc)
        return str(get_datetime_format("medium", locale=loc)).replace("{1}", day).replace("{0}", time)

    def date_only(self, value: date, fmt: str = "medium") -> str:
        """A calendar date that has no time zone (a verification date, a birthday)."""
        return _babel_format_date(value, fmt, locale=babel_locale(self.locale))

    def time_of_day(self, value: datetime) -> str:
        """Hours and minutes in the person's zone, as the locale writes them (20:00 / 8:00 PM)."""
        zone = ZoneInfo(self.timezone)
        return _babel_format_time(value.astimezone(zone), "short", tzinfo=zone, locale=babel_locale(self.locale))

    def today(self, now: datetime) -> date:
        """The person's own calendar date at `now`."""
        return now.astimezone(ZoneInfo(self.timezone)).date()

    def date(self, value: datetime, fmt: str = "long") -> str:
        local = value.astimezone(ZoneInfo(self.timezone))
        return _babel_format_date(local.date(), fmt, locale=babel_locale(self.locale))


def babel_locale(locale: str) -> Locale:
    return Locale.parse("zh_Hans_CN" if locale == "zh_Hans" else locale)
