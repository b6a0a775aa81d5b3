"""/privacy shows what is kept; /deletemydata removes it, keeping a shared household for the others."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from db.models import AuditEvent, BackupAdult, Child, ChildConsent, Draft, Household, Membership, Outbox, User
from db.session import Database
from tests.harness import Harness
from tests.journeys import Speaker, add_child, create_household, family_code, join_with_code, person

PLACES = {"en": ("Datang Town", "Datang Village 1 (sample)"), "zh_Hans": ("大塘镇", "大塘一村（示例）")}


async def family(bot: Harness, gran: Speaker, dad: Speaker | None = None) -> None:
    township, village = PLACES[gran.locale]
    await create_household(bot, gran, township=township, village=village, relation="Grandmother")
    await add_child(bot, gran, "小明", 2018, 3, "大塘小学")
    await bot.press(gran.who, gran._("✅ That is all"))
    await bot.press(gran.who, gran._("Add a backup adult"))
    await bot.send(gran.who, "王阿姨")
    await bot.press(gran.who, gran._("Neighbour"))
    await bot.send(gran.who, "13800138000")
    if dad is not None:
        await join_with_code(bot, dad, family_code(bot, gran), "Father", role="👷 I am a parent working away")
        await bot.press(dad.who, dad._("✅ I agree, as the parent"))


async def rows(db: Database, model: type) -> int:
    async with db.transaction() as s:
        return int(await s.scalar(select(func.count()).select_from(model)) or 0)


@pytest.mark.parametrize("locale", ["zh_Hans", "en"])
async def test_privacy_shows_everything_kept(bot: Harness, locale: str) -> None:
    gran, dad = person("Gran", 801, locale), person("Dad", 802, locale)
    await family(bot, gran, dad)
    await bot.send(gran.who, "/privacy")
    page = bot.screen(gran.who)
    for expected in (
        gran._("<b>What we keep about you</b>"),
        gran._("Telegram account number: {id}").format(id=801),
        "小明",
        "2018",
        "大塘小学",
        "王阿姨",
        "13800138000",
        gran._("parent's consent given"),
        gran._("Father"),
        PLACES[locale][1],
    ):
        assert expected in page, expected
    assert gran._("🗑 Delete my information") in bot.labels(gran.who)


@pytest.mark.parametrize("locale", ["zh_Hans", "en"])
async def test_delete_shared_household_keeps_it_for_the_others(bot: Harness, db: Database, locale: str) -> None:
    gran, dad = person("Gran", 811, locale), person("Dad", 812, locale)
    await family(bot, gran, dad)
    await bot.send(dad.who, "/deletemydata")
    await bot.press(dad.who, dad._("🗑 Yes, delete everything"))
    text = bot.last_text(dad.who)
    assert dad._("Your information has been deleted.") in text
    assert dad._("Your family's page stays for the other family members who use it.") in text
    async with db.transaction() as s:
        assert await s.scalar(select(User).where(User.telegram_id == 812)) is None
        assert await s.scalar(select(func.count()).select_from(Membership)) == 1
        # Dad's consent went with him: the child is back to "pending".
        assert await s.scalar(select(func.count()).select_from(ChildConsent)) == 0
        assert await s.scalar(select(func.count()).select_from(Child)) == 1
        # The audit trail remembers that something happened, not who.
        actors = (await s.scalars(select(AuditEvent.actor_user_id).where(AuditEvent.action == "household.join"))).all()
        assert actors == [None]
    await bot.send(gran.who, "/menu")
    assert gran._("⏳ Parent's consent pending") in bot.screen(gran.who)


@pytest.mark.parametrize("locale", ["zh_Hans", "en"])
async def test_last_member_deletes_everything(bot: Harness, db: Database, locale: str) -> None:
    gran = person("Gran", 821, locale)
    await family(bot, gran)
    await bot.send(gran.who, "/deletemydata")
    await bot.press(gran.who, gran._("🗑 Yes, delete everything"))
    assert gran._("Your family's page and its children's information were deleted too.") in bot.last_text(gran.who)
    for model in (User, Household, Child, Membership, BackupAdult, Outbox):
        assert await rows(db, model) == 0, model.__name__
    # Writing again starts afresh.
    await bot.send(gran.who, "/start")
    assert "请选择语言" in bot.last_text(gran.who)


async def test_delete_can_be_cancelled_and_confirmation_expires(bot: Harness, db: Database) -> None:
    gran = person("Gran", 831, "en")
    await family(bot, gran)
    await bot.send(gran.who, "/deletemydata")
    await bot.press(gran.who, "Keep it")
    assert "Nothing was deleted." in bot.all_text(gran.who)
    # Pressing the old "yes" afterwards does nothing: the request was answered.
    await bot.press_data(gran.who, "del:yes")
    assert bot.api.calls[-1].params.get("text", "").startswith("This button has expired")
    assert await rows(db, User) == 1

    # A confirmation more than ten minutes after the request is refused too.
    await bot.send(gran.who, "/deletemydata")
    async with db.transaction() as s:
        draft = await s.scalar(select(Draft).where(Draft.flow == "delete"))
        assert draft is not None
        draft.data = {"asked_at": (datetime.fromisoformat(draft.data["asked_at"]) - timedelta(minutes=11)).isoformat()}
    await bot.press(gran.who, "Yes, delete everything")
    assert bot.api.calls[-1].params.get("text", "").startswith("This button has expired")
    assert await rows(db, User) == 1 and await rows(db, Child) == 1


async def test_person_who_declines_keeps_no_child_data(bot: Harness, db: Database) -> None:
    someone = person("Neighbour", 841, "zh_Hans")
    await bot.send(someone.who, "/start")
    await bot.press(someone.who, "中文")
    await bot.press(someone.who, someone._("👵 I look after a child (grandparent or relative)"))
    await bot.press(someone.who, someone._("❌ I do not agree"))
    assert "没关系。我们不会为您保存任何孩子的信息。" in bot.all_text(someone.who)
    assert someone._("📄 Read the rules again and set up") in bot.labels(someone.who)
    await bot.press_data(someone.who, "menu:add_child")
    assert bot.api.calls[-1].params.get("text") == someone._(
        "This button has expired. Please use the latest message, or tap /menu."
    )
    assert await rows(db, Household) == 0
    await bot.send(someone.who, "/privacy")
    assert someone._(
        "You have not agreed to the information rules, so we keep nothing about children for you."
    ) in bot.screen(someone.who)
