"""Who is on the family page: a wrong person can be taken off, and unused codes ended."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from db.models import ChildConsent, Membership
from db.session import Database
from tests.harness import Harness
from tests.journeys import add_child, create_household, family_code, join_with_code, onboard, person
from tests.test_onboarding import PARENT, PLACES


async def setup(bot: Harness, locale: str):  # type: ignore[no-untyped-def]
    gran = person("Gran", 1101, locale)
    township, village = PLACES[locale]
    await create_household(bot, gran, township=township, village=village, relation="Grandmother")
    await add_child(bot, gran, "Ming", 2016, 5, None)
    await bot.press(gran.who, gran._("✅ That is all"))
    await bot.press(gran.who, gran._("Not now"))
    return gran


@pytest.mark.parametrize("locale", ["zh_Hans", "en"])
async def test_grandmother_removes_someone_she_let_in(bot: Harness, db: Database, locale: str) -> None:
    gran = await setup(bot, locale)
    stranger = person("Stranger", 1102, locale)
    await join_with_code(
        bot, stranger, family_code(bot, gran), "Uncle", role="👵 I look after a child (grandparent or relative)"
    )
    await bot.send(gran.who, "/menu")
    await bot.press(gran.who, gran._("👨‍👩‍👧 My family"))
    await bot.press(gran.who, gran._("👥 Family members"))
    uncle = gran._("Uncle")
    await bot.press(gran.who, gran._("❌ Remove {who}").format(who=uncle))
    await bot.press(gran.who, gran._("Yes, remove"))
    assert gran._("{who} has been removed from the family page.").format(who=uncle) in bot.all_text(gran.who)
    # The removed person is told, through the outbox, and no longer sees the children.
    told = stranger._("You are no longer on a family page here: the child's {who} removed you.").format(
        who=stranger._("Grandmother")
    )
    assert told in bot.all_text(stranger.who)
    await bot.send(stranger.who, "/privacy")
    assert "Ming" not in bot.screen(stranger.who)
    async with db.transaction() as s:
        assert await s.scalar(select(func.count()).select_from(Membership)) == 1


async def test_only_parents_or_the_inviter_may_remove(bot: Harness, db: Database) -> None:
    gran = await setup(bot, "en")
    dad, aunt = person("Dad", 1103, "en"), person("Aunt", 1104, "en")
    await join_with_code(bot, dad, family_code(bot, gran), "Father", role=PARENT)
    await bot.press(dad.who, "I agree, as the parent")
    # Dad invites the aunt; grandmother did not, so she may not remove her, but Dad (a parent) may remove anyone.
    await bot.press(dad.who, "My family")
    await bot.press(dad.who, "Invite family")
    await join_with_code(
        bot, aunt, family_code(bot, dad), "Aunt", role="👵 I look after a child (grandparent or relative)"
    )
    await bot.send(gran.who, "/menu")
    await bot.press(gran.who, "My family")
    await bot.press(gran.who, "Family members")
    labels = bot.labels(gran.who)
    assert "❌ Remove Father" in labels and "❌ Remove Aunt" not in labels
    async with db.transaction() as s:
        aunt_row = await s.scalar(select(Membership.id).where(Membership.relation == "aunt"))
        dad_row = await s.scalar(select(Membership.id).where(Membership.relation == "father"))
    # A forged button for the aunt is refused and changes nothing.
    await bot.press_data(gran.who, f"mem:ok:{aunt_row}")
    assert bot.api.calls[-1].params.get("text", "").startswith("This button has expired")
    # Grandmother removes the father she let in: his consent goes with him.
    await bot.press_data(gran.who, f"mem:ok:{dad_row}")
    async with db.transaction() as s:
        assert await s.scalar(select(func.count()).select_from(Membership)) == 2
        assert await s.scalar(select(func.count()).select_from(ChildConsent)) == 0
    await bot.send(gran.who, "/menu")
    assert "⏳ Parent's consent pending" in bot.screen(gran.who)


async def test_unused_codes_can_be_cancelled(bot: Harness) -> None:
    gran = await setup(bot, "en")
    code = family_code(bot, gran)
    await bot.send(gran.who, "/menu")
    await bot.press(gran.who, "My family")
    await bot.press(gran.who, "Family members")
    assert "You have 1 family code not used yet." in bot.screen(gran.who)
    await bot.press(gran.who, "Cancel my unused codes")
    assert "1 code no longer works." in bot.all_text(gran.who)
    latecomer = person("Late", 1105, "en")
    await onboard(bot, latecomer, "🔑 I have an invitation code")
    await bot.send(latecomer.who, code)
    assert "This code has expired" in bot.all_text(latecomer.who)
