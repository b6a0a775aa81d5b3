"""End to end, in both languages: families join, caseworkers are verified, people see and delete their data."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.services import caseworker, codes
from db.models import Child, ChildConsent, InviteCode, Membership, Outbox, User
from db.session import Database
from tests.harness import Harness
from tests.journeys import add_child, create_household, family_code, join_with_code, onboard, person

PLACES = {
    "en": ("Datang Town", "Datang Village 1 (sample)"),
    "zh_Hans": ("大塘镇", "大塘一村（示例）"),
}
GUARDIAN = "👵 I look after a child (grandparent or relative)"
PARENT = "👷 I am a parent working away"
CODE_ROLE = "🔑 I have an invitation code"


async def count(db: Database, model: type) -> int:
    async with db.transaction() as s:
        return int(await s.scalar(select(func.count()).select_from(model)) or 0)


@pytest.mark.parametrize("locale", ["zh_Hans", "en"])
async def test_guardian_creates_household_with_two_children(bot: Harness, db: Database, locale: str) -> None:
    gran = person("Gran", 101, locale)
    township, village = PLACES[locale]
    await create_household(bot, gran, township=township, village=village, relation="Grandmother")
    await add_child(bot, gran, "小明", 2018, 3, None)
    await bot.press(gran.who, gran._("➕ Add another child"))
    await add_child(bot, gran, "Lili", 2012, 12, "大塘中心小学")
    await bot.press(gran.who, gran._("✅ That is all"))
    await bot.press(gran.who, gran._("Not now"))

    code = family_code(bot, gran)
    assert len(code.replace("-", "")) == codes.CODE_LENGTH
    assert codes.ENTROPY_BITS >= 40
    menu = bot.screen(gran.who)
    assert gran._("⏳ Parent's consent pending") in menu
    assert village in menu

    await bot.press(gran.who, gran._("👨‍👩‍👧 My family"))
    page = bot.screen(gran.who)
    assert "小明" in page and "Lili" in page and "大塘中心小学" in page
    assert page.count(gran._("⏳ Parent's consent pending")) == 2

    async with db.transaction() as s:
        children = (await s.scalars(select(Child).order_by(Child.id))).all()
        assert [(c.nickname, c.birth_year, c.birth_month, c.school) for c in children] == [
            ("小明", 2018, 3, None),
            ("Lili", 2012, 12, "大塘中心小学"),
        ]
        invite = await s.scalar(select(InviteCode).where(InviteCode.kind == "household"))
        assert invite is not None
        # Only the hash is kept, never the code itself.
        assert invite.code_hash == codes.code_hash(code.replace("-", ""))
        assert invite.expires_at - invite.created_at == timedelta(days=7)


@pytest.mark.parametrize("locale", ["zh_Hans", "en"])
async def test_parent_joins_with_code_and_consents(bot: Harness, db: Database, locale: str) -> None:
    gran = person("Gran", 201, locale)
    dad = person("Dad", 202, locale)
    township, village = PLACES[locale]
    await create_household(bot, gran, township=township, village=village, relation="Grandmother")
    await add_child(bot, gran, "小明", 2018, 3, None)
    await bot.press(gran.who, gran._("✅ That is all"))
    await bot.press(gran.who, gran._("Not now"))
    code = family_code(bot, gran)

    # Typed in lower case with a space, as people do when a code is read out over the phone.
    await join_with_code(bot, dad, code.lower().replace("-", " "), "Father", role=PARENT)
    assert "小明" in bot.screen(dad.who)
    await bot.press(dad.who, dad._("✅ I agree, as the parent"))
    assert dad._("Thank you. Your agreement is recorded.") in bot.all_text(dad.who)

    # Grandmother hears about both, through the outbox.
    gran_text = bot.all_text(gran.who)
    assert gran._("👋 {who} has joined your family's page.").format(who=gran._("Father")) in gran_text
    assert "✅" in gran_text.splitlines()[-1]

    await bot.send(gran.who, "/menu")
    assert gran._("⏳ Parent's consent pending") not in bot.screen(gran.who)
    async with db.transaction() as s:
        assert await s.scalar(select(func.count()).select_from(Membership)) == 2
        assert await s.scalar(select(func.count()).select_from(ChildConsent)) == 1
        statuses = (await s.scalars(select(Outbox.status))).all()
        assert statuses and set(statuses) == {"sent"}


async def test_parent_who_says_not_now_keeps_consent_pending_and_can_agree_later(bot: Harness) -> None:
    gran, mum = person("Gran", 301, "en"), person("Mum", 302, "en")
    await create_household(
        bot, gran, township="Datang Town", village="Datang Village 2 (sample)", relation="Grandmother"
    )
    await add_child(bot, gran, "Xiaohua", 2020, 1, None)
    await bot.press(gran.who, "That is all")
    await bot.press(gran.who, "Not now")
    await join_with_code(bot, mum, family_code(bot, gran), "Mother", role=PARENT)
    await bot.press(mum.who, "Not now")
    assert "⏳ Parent's consent pending" in bot.screen(mum.who)
    await bot.press(mum.who, "Give my consent")
    await bot.press(mum.who, "I agree, as the parent")
    await bot.send(mum.who, "/menu")
    assert "consent pending" not in bot.screen(mum.who)


@pytest.mark.parametrize("locale", ["zh_Hans", "en"])
async def test_wrong_expired_and_reused_codes(bot: Harness, db: Database, locale: str) -> None:
    gran, dad, aunt, uncle = (
        person(n, i, locale) for n, i in (("Gran", 401), ("Dad", 402), ("Aunt", 403), ("Uncle", 404))
    )
    township, village = PLACES[locale]
    await create_household(bot, gran, township=township, village=village, relation="Grandmother")
    await add_child(bot, gran, "Ming", 2016, 5, None)
    await bot.press(gran.who, gran._("✅ That is all"))
    await bot.press(gran.who, gran._("Not now"))
    code = family_code(bot, gran)

    await join_with_code(bot, dad, code, "Father", role=PARENT)
    # Reused: the code worked once already.
    await onboard(bot, aunt, CODE_ROLE)
    await bot.send(aunt.who, code)
    used = aunt._("This code has already been used. Each code works once; please ask for a new one.")
    assert used in bot.all_text(aunt.who)
    # Wrong: a code that was never issued. The same step is asked again.
    await bot.send(aunt.who, "ABCDE-FGHJK")
    assert aunt._("That code is not right. Please check it and type it again.") in bot.all_text(aunt.who)
    assert bot.last_text(aunt.who) == aunt._("Please type the code you were given, for example ABCDE-FGHJK.")

    # Expired: issued more than seven days ago.
    await bot.press(gran.who, gran._("🔗 Invite family"))
    second = family_code(bot, gran)
    async with db.transaction() as s:
        invite = await s.scalar(
            select(InviteCode).where(InviteCode.code_hash == codes.code_hash(second.replace("-", "")))
        )
        assert invite is not None
        invite.expires_at = invite.created_at - timedelta(seconds=1)
    await onboard(bot, uncle, CODE_ROLE)
    await bot.send(uncle.who, second)
    assert uncle._("This code has expired. Please ask for a new one.") in bot.all_text(uncle.who)
    async with db.transaction() as s:
        assert await s.scalar(select(func.count()).select_from(Membership)) == 2


async def test_five_wrong_codes_lock_code_entry_for_an_hour(bot: Harness, db: Database) -> None:
    gran, stranger = person("Gran", 501, "en"), person("Stranger", 502, "en")
    await create_household(
        bot, gran, township="Datang Town", village="Datang Village 1 (sample)", relation="Grandmother"
    )
    await add_child(bot, gran, "Ming", 2016, 5, None)
    await bot.press(gran.who, "That is all")
    await bot.press(gran.who, "Not now")
    good = family_code(bot, gran)

    await bot.send(stranger.who, "/start")
    await bot.press(stranger.who, "English")
    await bot.press(stranger.who, CODE_ROLE)
    await bot.press(stranger.who, "I agree")
    for guess in ("AAAAA-AAAAA", "BBBBB-BBBBB", "CCCCC-CCCCC", "DDDDD-DDDDD"):
        await bot.send(stranger.who, guess)
    assert "1 more time" in bot.all_text(stranger.who)
    await bot.send(stranger.who, "EEEEE-EEEEE")
    assert "Too many wrong codes" in bot.all_text(stranger.who)
    # Even the right code is refused while locked.
    await bot.send(stranger.who, "/start " + good.replace("-", ""))
    assert bot.all_text(stranger.who).count("Too many wrong codes") == 2
    async with db.transaction() as s:
        assert await s.scalar(select(func.count()).select_from(Membership)) == 1


@pytest.mark.parametrize("locale", ["zh_Hans", "en"])
async def test_caseworker_invite_redeemed_and_badge_shown(bot: Harness, db: Database, locale: str) -> None:
    async with db.transaction() as s:
        issued = await caseworker.issue_invite(s, post="child-director", area_code="451321-02-S1")
    async with db.transaction() as s:
        row = await s.scalar(select(InviteCode).where(InviteCode.kind == "caseworker"))
        assert row is not None and row.expires_at - row.created_at == timedelta(hours=72)
    director = person("Director", 601, locale)
    # The deep link from the invite: /start CODE.
    await bot.send(director.who, f"/start {issued.code}")
    await bot.press(director.who, director._("✅ I agree"))
    text = bot.all_text(director.who)
    if locale == "zh_Hans":
        assert "✅ 已认证：大塘镇大塘一村（示例）儿童主任" in text
    else:
        assert "✅ Verified: child director, Datang Village 1 (sample), Datang Town" in text
    await bot.press(director.who, director._("🪪 My post"))
    assert director._("✅ Verified: {post}").split("{")[0] in bot.screen(director.who)
    async with db.transaction() as s:
        user = await s.scalar(select(User).where(User.telegram_id == 601))
        assert user is not None and user.role == "caseworker"
        assert [p.level for p in await caseworker.posts_of(s, user.id)] == ["village"]
    # Single use: a second person with the same link gets nothing.
    other = person("Other", 602, locale)
    await bot.send(other.who, f"/start {issued.code}")
    assert other._("This code has already been used. Each code works once; please ask for a new one.") in bot.all_text(
        other.who
    )
