"""A restart in the middle of onboarding resumes where the person was."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from db.models import Child, ConversationState
from db.session import Database
from tests.harness import Harness, start_harness, stop_harness
from tests.journeys import LANGUAGE_BUTTON, person
from tests.test_onboarding import PLACES


@pytest.mark.parametrize("locale", ["zh_Hans", "en"])
async def test_restart_mid_onboarding_resumes(bot: Harness, db: Database, locale: str) -> None:
    gran = person("Gran", 901, locale)
    township, village = PLACES[locale]
    await bot.send(gran.who, "/start")
    await bot.press(gran.who, LANGUAGE_BUTTON[locale])
    await bot.press(gran.who, gran._("👵 I look after a child (grandparent or relative)"))
    await bot.press(gran.who, gran._("✅ I agree"))
    await bot.press(gran.who, gran._("🏠 No, I will set it up now"))
    await bot.press(gran.who, township)
    await bot.press(gran.who, village)
    await bot.press(gran.who, gran._("Grandmother"))
    await bot.send(gran.who, "小明")
    assert gran._("In which year was {name} born?").format(name="小明") in bot.screen(gran.who)

    # The process dies (no clean shutdown, so nothing is flushed at exit) and a new one starts on the
    # same database while the old one is simply abandoned.
    settings = bot.app.bot_data["runtime"].settings
    async with db.transaction() as s:
        assert (await s.scalars(select(ConversationState.state))).all() == ["family.child_year"]
    second = await start_harness(settings, db, bot.api)
    try:
        # The year button on the screen shown before the restart still works, and the nickname is remembered.
        await second.press(gran.who, data="yr:2018")
        assert gran._("In which month of {year}?").format(year=2018) in second.screen(gran.who)
        await second.press(gran.who, data="mo:3")
        await second.press(gran.who, gran._("Skip"))
        async with db.transaction() as s:
            assert (await s.scalars(select(Child.nickname))).all() == ["小明"]
        assert not second.errors
    finally:
        await stop_harness(second)
