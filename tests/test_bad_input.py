"""Bad input and forged buttons: a short answer in the person's language, the same step again, nothing saved."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bot.services import drafts
from db.models import Child, Household, Membership, User
from db.session import Database
from tests.harness import Harness
from tests.journeys import Speaker, add_child, create_household, onboard, person

PLACES = {"en": ("Datang Town", "Datang Village 1 (sample)"), "zh_Hans": ("大塘镇", "大塘一村（示例）")}


async def at_child_name(bot: Harness, s: Speaker) -> None:
    township, village = PLACES[s.locale]
    await create_household(bot, s, township=township, village=village, relation="Grandmother")
    assert s._("What do you call the child? Type a nickname (not the full name), for example 小明.") in bot.last_text(
        s.who
    )


async def children(db: Database) -> list[str]:
    async with db.transaction() as session:
        return list((await session.scalars(select(Child.nickname))).all())


@pytest.mark.parametrize("locale", ["zh_Hans", "en"])
async def test_bad_text_gets_a_short_answer_and_the_same_step(bot: Harness, db: Database, locale: str) -> None:
    gran = person("Gran", 701, locale)
    await at_child_name(bot, gran)
    question = bot.last_text(gran.who)

    cases = [
        ("x" * 200, gran._("That is too long. Please use at most {n} characters.").format(n=12)),
        ("   ", gran._("That was empty. Please type it again.")),
        ("😀😀😀", gran._("Please use letters or characters, not only symbols or emoji.")),
        ("\u200b\u200b", gran._("That was empty. Please type it again.")),
    ]
    for text, answer in cases:
        await bot.send(gran.who, text)
        said = bot.messages(gran.who)[-2:]
        assert said[0]["text"] == answer
        assert said[1]["text"] == question
    await bot.send_sticker(gran.who)
    assert bot.messages(gran.who)[-2]["text"] == gran._("Please type your answer as text.")
    await bot.send_photo(gran.who)
    assert bot.messages(gran.who)[-1]["text"] == question
    await bot.send(gran.who, "/frobnicate")
    assert bot.messages(gran.who)[-2]["text"] == gran._(
        "I do not know that command. Let us continue here, or tap /menu."
    )
    assert bot.last_text(gran.who) == question
    assert await children(db) == []

    # Special characters are kept as typed and shown escaped in HTML mode.
    await bot.send(gran.who, "<b>&</b>*_`[")
    assert "&lt;b&gt;&amp;&lt;/b&gt;*_`[" in bot.screen(gran.who)
    await bot.press(gran.who, data="yr:2019")
    await bot.press(gran.who, data="mo:6")
    await bot.press(gran.who, gran._("Skip"))
    assert await children(db) == ["<b>&</b>*_`["]


@pytest.mark.parametrize("locale", ["zh_Hans", "en"])
async def test_typing_or_stickers_where_a_button_is_expected(bot: Harness, locale: str) -> None:
    gran = person("Gran", 702, locale)
    await bot.send(gran.who, "/start")
    await bot.press(gran.who, "English" if locale == "en" else "中文")
    screen = bot.screen(gran.who)
    await bot.send(gran.who, "grandma")
    assert bot.messages(gran.who)[-2]["text"] == gran._("Please tap one of the buttons below.")
    assert bot.screen(gran.who) == screen
    await bot.send_sticker(gran.who)
    assert bot.messages(gran.who)[-2]["text"] == gran._("Please tap one of the buttons below.")


async def test_phone_number_is_checked(bot: Harness, db: Database) -> None:
    gran = person("Gran", 703, "en")
    await at_child_name(bot, gran)
    await add_child(bot, gran, "Ming", 2015, 1, None)
    await bot.press(gran.who, "That is all")
    await bot.press(gran.who, "Add a backup adult")
    await bot.send(gran.who, "Auntie Wang")
    await bot.press(gran.who, "Neighbour")
    await bot.send(gran.who, "call me")
    assert "does not look like a phone number" in bot.messages(gran.who)[-2]["text"]
    assert bot.last_text(gran.who) == "What is their phone number?"
    await bot.send(gran.who, "１３８ ００１３ ８０００")  # full-width digits from a Chinese keyboard
    assert "The backup adult is saved" in bot.all_text(gran.who)


@pytest.mark.parametrize("locale", ["zh_Hans", "en"])
async def test_forged_and_stale_buttons_change_nothing(bot: Harness, db: Database, locale: str) -> None:
    gran = person("Gran", 704, locale)
    township, village = PLACES[locale]
    await onboard(bot, gran, "👵 I look after a child (grandparent or relative)")
    await bot.press(gran.who, gran._("🏠 No, I will set it up now"))
    await bot.press(gran.who, township)
    expired = gran._("This button has expired. Please use the latest message, or tap /menu.")
    before = bot.screen(gran.who)

    async with db.transaction() as s:
        from db.models import Area

        other_village = await s.scalar(select(Area.id).where(Area.code == "451321-05-S1"))  # in Gupeng, not Datang
    # A village of another township, a township id where a village is expected, and garbage.
    for data in (f"vil:{other_village}", "vil:999999", "vil:abc", "tw:1", "zz:top", "menu:family", "del:yes"):
        await bot.press_data(gran.who, data)
        assert bot.api.calls[-1].method == "answerCallbackQuery"
        assert bot.api.calls[-1].params["text"] == expired
        assert bot.screen(gran.who) == before

    async with db.transaction() as s:
        assert await s.scalar(select(func.count()).select_from(Household)) == 0
        user = await s.scalar(select(User).where(User.telegram_id == 704))
        assert user is not None  # del:yes without asking first deleted nothing

    # The real answer still works afterwards.
    await bot.press(gran.who, village)
    assert gran._("Who are you to the child?") in bot.screen(gran.who)


async def test_buttons_from_someone_elses_household_are_refused(bot: Harness, db: Database) -> None:
    gran = person("Gran", 705, "en")
    stranger = person("Stranger", 706, "en")
    await at_child_name(bot, gran)
    await add_child(bot, gran, "Ming", 2015, 1, None)
    await bot.press(gran.who, "That is all")
    await bot.press(gran.who, "Not now")
    # The stranger presses family buttons copied from the grandmother's chat.
    await bot.send(stranger.who, "/menu")
    for data in ("menu:family", "menu:invite", "menu:add_child", "menu:backup", "menu:consent"):
        await bot.press_data(stranger.who, data)
        assert bot.api.calls[-1].params.get("text", "").startswith("This button has expired")
    assert "Ming" not in bot.all_text(stranger.who)
    async with db.transaction() as s:
        assert await s.scalar(select(func.count()).select_from(Membership)) == 1
        stranger_id = await s.scalar(select(User.id).where(User.telegram_id == 706))
        assert stranger_id is not None
        assert await drafts.get(s, stranger_id, "family") == {}


async def test_a_neighbour_with_a_family_of_their_own_only_ever_sees_their_own(bot: Harness) -> None:
    gran, neighbour = person("Gran", 711, "en"), person("Neighbour", 712, "en")
    for who, child in ((gran, "Ming"), (neighbour, "Hua")):
        await at_child_name(bot, who)
        await add_child(bot, who, child, 2015, 1, None)
        await bot.press(who.who, "That is all")
        await bot.press(who.who, "Not now")
    # The neighbour replays the grandmother's buttons: they carry no household, so they act on the
    # neighbour's own family, and nothing of the grandmother's is ever shown.
    for data in ("menu:family", "menu:invite", "menu:consent"):
        await bot.press_data(neighbour.who, data, bot.last_with_buttons(gran.who))
    assert "Hua" in bot.all_text(neighbour.who)
    assert "Ming" not in bot.all_text(neighbour.who)


async def test_stale_button_from_an_earlier_screen(bot: Harness) -> None:
    gran = person("Gran", 707, "en")
    await bot.send(gran.who, "/start")
    first = bot.last_with_buttons(gran.who)
    await bot.press(gran.who, "English")
    await bot.press(gran.who, "I look after")
    # The role screen's button is pressed again after the flow moved on to the notice.
    await bot.press_data(gran.who, "role:parent", first)
    assert bot.api.calls[-1].params.get("text", "").startswith("This button has expired")
    assert "How we look after your information" in bot.screen(gran.who)


async def test_unknown_command_and_stray_text_outside_a_flow(bot: Harness) -> None:
    someone = person("Someone", 708, "zh_Hans")
    await bot.send(someone.who, "/whatever")
    assert someone._("I do not know that command.") in bot.all_text(someone.who)
    await bot.send(someone.who, "你好")
    assert someone._("Please choose from the menu below.") in bot.all_text(someone.who)
    assert someone._("What would you like to do?") in bot.screen(someone.who)
