"""Steps shared by the end-to-end tests: each presses the buttons a person would, in their language."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.i18n import Tr
from tests.harness import Harness, Person

LANGUAGE_BUTTON = {"en": "English", "zh_Hans": "中文"}
TELEGRAM_CODE = {"en": "en", "zh_Hans": "zh-hans"}


@dataclass
class Speaker:
    """A person plus their catalog, so tests find buttons by the words that person sees."""

    who: Person
    locale: str

    @property
    def tr(self) -> Tr:
        return Tr(self.locale, "Asia/Shanghai")

    def _(self, message: str) -> str:
        return self.tr.gettext(message)


def person(name: str, uid: int, locale: str) -> Speaker:
    return Speaker(Person(name, uid, TELEGRAM_CODE[locale]), locale)


async def onboard(bot: Harness, s: Speaker, role_label: str) -> None:
    await bot.send(s.who, "/start")
    await bot.press(s.who, LANGUAGE_BUTTON[s.locale])
    await bot.press(s.who, s._(role_label))
    await bot.press(s.who, s._("✅ I agree"))


async def create_household(bot: Harness, s: Speaker, *, township: str, village: str, relation: str) -> None:
    await onboard(bot, s, "👵 I look after a child (grandparent or relative)")
    await bot.press(s.who, s._("🏠 No, I will set it up now"))
    await bot.press(s.who, township)
    await bot.press(s.who, village)
    await bot.press(s.who, s._(relation))


async def add_child(bot: Harness, s: Speaker, name: str, year: int, month: int, school: str | None) -> None:
    await bot.send(s.who, name)
    await bot.press(s.who, data=f"yr:{year}")
    await bot.press(s.who, data=f"mo:{month}")
    if school is None:
        await bot.press(s.who, s._("Skip"))
    else:
        await bot.send(s.who, school)


def family_code(bot: Harness, s: Speaker) -> str:
    found = re.findall(r"<code>([A-Z0-9]{5}-[A-Z0-9]{5})</code>", bot.all_text(s.who))
    assert found, "no family code was shown"
    return found[-1]


async def join_with_code(bot: Harness, s: Speaker, code: str, relation: str, *, role: str) -> None:
    await onboard(bot, s, role)
    await bot.press(s.who, s._("🔑 Yes, they gave me a code"))
    await bot.send(s.who, code)
    await bot.press(s.who, s._(relation))
