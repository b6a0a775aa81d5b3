"""Languages: every message translated in both catalogs, Telegram codes mapped, dates in the person's zone."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from bot.catalogs import catalog_problems, load_catalog, source_messages
from bot.i18n import Tr, catalog_key
from handlers import COMMANDS, set_commands
from tests.harness import Harness


def test_catalogs_are_complete_and_current() -> None:
    assert catalog_problems() == []


def test_the_checker_notices_a_string_missing_from_the_catalogs(monkeypatch: pytest.MonkeyPatch) -> None:
    real = source_messages()
    monkeypatch.setattr("bot.catalogs.source_messages", lambda: {*real, "A brand new sentence."})
    problems = catalog_problems()
    assert "zh_Hans: catalog is stale, missing 'A brand new sentence.' (run 'make update-catalogs')" in problems
    assert any(p.startswith("en: catalog is stale, missing") for p in problems)


def test_chinese_translations_are_chinese() -> None:
    catalog = load_catalog("zh_Hans")
    untranslated = [
        m.id
        for m in catalog
        if m.id
        and isinstance(m.string, str)
        and m.string == m.id
        and any(c.isalpha() for c in re.sub(r"\{\w+\}", "", m.id))
        and m.id not in ("中文 / English",)
    ]
    assert untranslated == []


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("zh", "zh_Hans"),
        ("zh-hans", "zh_Hans"),
        ("zh-CN", "zh_Hans"),
        ("zh_CN", "zh_Hans"),
        ("zh-hant", "zh_Hans"),
        ("zh-hant-tw", "zh_Hans"),
        ("zh-TW", "zh_Hans"),
        ("en", "en"),
        ("en-US", "en"),
        ("en-GB", "en"),
        ("fr", "zh_Hans"),
        ("", "zh_Hans"),
        (None, "zh_Hans"),
        ("not a code!", "zh_Hans"),
    ],
)
def test_telegram_language_codes_map_to_a_catalog(code: str | None, expected: str) -> None:
    assert catalog_key(code) == expected


def test_dates_in_the_persons_zone_and_language() -> None:
    moment = datetime(2026, 12, 31, 17, 30, tzinfo=UTC)  # 01:30 on 1 January in China
    assert Tr("zh_Hans", "Asia/Shanghai").when(moment) == "2027年1月1日 01:30"
    assert Tr("en", "Asia/Shanghai").when(moment) == "Jan 1, 2027, 1:30\u202fAM"
    assert Tr("en", "Europe/London").when(moment) == "Dec 31, 2026, 5:30\u202fPM"


async def test_command_menu_in_both_languages(bot: Harness) -> None:
    await set_commands(bot.app.bot)
    calls = [c for c in bot.api.calls if c.method == "setMyCommands"]
    by_language = {c.params.get("language_code"): c.params["commands"] for c in calls}
    assert set(by_language) == {None, "zh", "en"}
    assert [c["command"] for c in by_language["en"]] == [name for name, _ in COMMANDS]
    assert by_language["en"][0]["description"] == "Start or set up again"
    assert by_language["zh"][0]["description"] == "开始或重新设置"
    assert by_language[None] == by_language["zh"]


@pytest.mark.parametrize(
    ("language_code", "greeting"), [("zh-hans", "您想做什么？"), ("en-US", "What would you like to do?")]
)
async def test_first_contact_speaks_the_telegram_language(bot: Harness, language_code: str, greeting: str) -> None:
    from tests.harness import Person

    someone = Person("Someone", 951, language_code)
    await bot.send(someone, "/menu")
    assert greeting in bot.screen(someone)


async def test_language_can_be_changed_mid_flow_without_losing_the_step(bot: Harness) -> None:
    from tests.journeys import person

    gran = person("Gran", 952, "zh_Hans")
    await bot.send(gran.who, "/start")
    await bot.press(gran.who, "中文")
    await bot.press(gran.who, gran._("👵 I look after a child (grandparent or relative)"))
    assert "我们怎样保护您的信息" in bot.screen(gran.who)
    await bot.send(gran.who, "/language")
    await bot.press(gran.who, "English")
    # The same step again, now in English, and it still works.
    assert "How we look after your information" in bot.screen(gran.who)
    await bot.press(gran.who, "I agree")
    assert "Has someone in your family already set up" in bot.screen(gran.who)
