"""The quieter guarantees: group chats, edited messages, abandoned flows, consent, locks, clean-up, ids."""

from __future__ import annotations

import time
from datetime import timedelta

from sqlalchemy import func, select

from bot.services import housekeeping
from db.models import ChildConsent, CodeAttempt, Draft, Household, Outbox, User
from db.session import Database
from db.types import utcnow
from tests.harness import Harness, Person
from tests.journeys import add_child, create_household, family_code, join_with_code, onboard, person


async def count(db: Database, model: type) -> int:
    async with db.transaction() as s:
        return int(await s.scalar(select(func.count()).select_from(model)) or 0)


async def family_with_child(bot: Harness, gran_id: int) -> tuple:  # type: ignore[type-arg]
    gran = person("Gran", gran_id, "en")
    await create_household(
        bot, gran, township="Datang Town", village="Datang Village 1 (sample)", relation="Grandmother"
    )
    await add_child(bot, gran, "Ming", 2016, 5, "Datang Primary")
    await bot.press(gran.who, "That is all")
    await bot.press(gran.who, "Add a backup adult")
    await bot.send(gran.who, "Auntie Wang")
    await bot.press(gran.who, "Neighbour")
    await bot.send(gran.who, "13800138000")
    return gran, family_code(bot, gran)


async def test_nothing_is_answered_in_a_group_chat(bot: Harness) -> None:
    gran, _code = await family_with_child(bot, 1001)
    group = {"id": -100123, "type": "supergroup", "title": "Village group"}
    before = len(bot.api.calls)
    for text in ("/privacy", "/menu", "/start", "hello"):
        message = bot.message_json(gran.who, text)
        message["chat"] = group
        await bot.feed({"message": message})
    sent = [c for c in bot.api.calls[before:] if c.method == "sendMessage"]
    assert sent == []
    # And the person's own chat is still where their messages go.
    await bot.send(gran.who, "/privacy")
    assert "Auntie Wang" in bot.screen(gran.who)


async def test_an_edited_message_is_not_a_new_answer(bot: Harness, db: Database) -> None:
    gran = person("Gran", 1002, "en")
    await create_household(
        bot, gran, township="Datang Town", village="Datang Village 1 (sample)", relation="Grandmother"
    )
    await bot.send(gran.who, "Ming")
    await bot.press(gran.who, data="yr:2016")
    await bot.press(gran.who, data="mo:5")
    # At the school question, she corrects her earlier message; that must not become the school.
    edited = bot.message_json(gran.who, "Mingming")
    edited["edit_date"] = int(time.time())
    await bot.feed({"edited_message": edited})
    assert bot.last_text(gran.who).startswith("Which school")
    await bot.send(gran.who, "Datang Primary")
    async with db.transaction() as s:
        from db.models import Child

        assert (await s.scalars(select(Child.school))).all() == ["Datang Primary"]


async def test_a_flow_left_for_a_day_starts_again_from_the_menu(bot: Harness, db: Database) -> None:
    gran = person("Gran", 1003, "en")
    await create_household(
        bot, gran, township="Datang Town", village="Datang Village 1 (sample)", relation="Grandmother"
    )
    await bot.send(gran.who, "Ming")
    await bot.press(gran.who, data="yr:2016")
    await bot.press(gran.who, data="mo:5")
    async with db.transaction() as s:
        draft = await s.scalar(select(Draft))
        assert draft is not None
        draft.updated_at = utcnow() - timedelta(days=2)
    # A week later she writes about a fever; it must not be saved as the school.
    await bot.send(gran.who, "孩子发烧怎么办")
    assert "Welcome back" in bot.all_text(gran.who)
    assert "What would you like to do?" in bot.screen(gran.who)
    async with db.transaction() as s:
        from db.models import Child

        assert (await s.scalars(select(Child.id))).all() == []
        assert (await s.scalars(select(Draft))).all() == []


async def test_a_parent_who_sets_up_the_family_is_asked_for_consent(bot: Harness, db: Database) -> None:
    dad = person("Dad", 1004, "en")
    await onboard(bot, dad, "👷 I am a parent working away")
    await bot.press(dad.who, "No, I will set it up now")
    await bot.press(dad.who, "Datang Town")
    await bot.press(dad.who, "Datang Village 2 (sample)")
    assert dad._("Father") in bot.labels(dad.who) and dad._("Grandmother") not in bot.labels(dad.who)
    await bot.press(dad.who, "Father")
    await add_child(bot, dad, "Xiaohua", 2019, 7, None)
    await bot.press(dad.who, "That is all")
    assert await count(db, ChildConsent) == 0  # nothing is assumed
    assert "Xiaohua" in bot.screen(dad.who) and "I agree, as the parent" in " ".join(bot.labels(dad.who))
    await bot.press(dad.who, "I agree, as the parent")
    assert await count(db, ChildConsent) == 1
    # Then the usual next step: the backup adult question.
    assert "who could look after the child" in bot.screen(dad.who)


async def test_someone_who_came_with_a_code_can_still_set_up_as_a_parent(bot: Harness) -> None:
    mum = person("Mum", 1005, "en")
    await onboard(bot, mum, "🔑 I have an invitation code")
    await bot.press(mum.who, "Back")  # from the code question to "has someone set it up?"
    await bot.press(mum.who, "No, I will set it up now")
    await bot.press(mum.who, "Datang Town")
    await bot.press(mum.who, "Datang Village 3 (sample)")
    await bot.press(mum.who, "Mother")
    await add_child(bot, mum, "Lan", 2020, 2, None)
    await bot.press(mum.who, "That is all")
    assert "I agree, as the parent" in " ".join(bot.labels(mum.who))


async def test_deleting_ones_data_does_not_reset_the_lock_on_guessing(bot: Harness, db: Database) -> None:
    guesser = person("Guesser", 1006, "en")
    await onboard(bot, guesser, "🔑 I have an invitation code")
    for i in range(5):
        await bot.send(guesser.who, f"AAAA{i}-BBBBB")
    assert "Too many wrong codes" in bot.all_text(guesser.who)
    await bot.send(guesser.who, "/deletemydata")
    await bot.press(guesser.who, "Yes, delete everything")
    await onboard(bot, guesser, "🔑 I have an invitation code")
    await bot.send(guesser.who, "CCCCC-DDDDD")
    assert bot.all_text(guesser.who).count("Too many wrong codes") == 2
    assert await count(db, CodeAttempt) == 5


async def test_housekeeping_removes_old_drafts_and_attempts(db: Database) -> None:
    async with db.transaction() as s:
        user = User(telegram_id=1, chat_id=1, locale="en", timezone="Asia/Shanghai")
        s.add(user)
        await s.flush()
        s.add(
            Draft(user_id=user.id, flow="family", data={"child_name": "Ming"}, updated_at=utcnow() - timedelta(days=2))
        )
        s.add(CodeAttempt(telegram_id=1, at=utcnow() - timedelta(hours=2)))
        s.add(CodeAttempt(telegram_id=1, at=utcnow()))
    async with db.transaction() as s:
        purged = await housekeeping.purge(s)
    assert (purged.drafts, purged.code_attempts) == (1, 1)
    assert await count(db, Draft) == 0 and await count(db, CodeAttempt) == 1


async def test_a_deleted_persons_id_is_never_reused(bot: Harness, db: Database) -> None:
    """Notifications are keyed by ids: a newcomer must not inherit a deleted person's keys."""
    gran, code = await family_with_child(bot, 1007)
    dad = person("Dad", 1008, "en")
    await join_with_code(bot, dad, code, "Father", role="👷 I am a parent working away")
    await bot.send(dad.who, "/deletemydata")
    await bot.press(dad.who, "Yes, delete everything")
    await bot.press(gran.who, data="menu:invite")
    mum = person("Mum", 1009, "en")
    await join_with_code(bot, mum, family_code(bot, gran), "Mother", role="👷 I am a parent working away")
    joined = [t for t in bot.api.texts(gran.who.id) if "has joined your family's page" in t]
    assert joined == ["👋 Father has joined your family's page.", "👋 Mother has joined your family's page."]
    assert await count(db, Household) == 1
    async with db.transaction() as s:
        assert set((await s.scalars(select(Outbox.status))).all()) == {"sent"}


async def test_start_with_a_code_split_by_a_space(bot: Harness) -> None:
    _gran, code = await family_with_child(bot, 1010)
    uncle = Person("Uncle", 1011, "en")
    first, second = code.split("-")
    await bot.send(uncle, f"/start {first} {second}")
    await bot.press(uncle, "I agree")
    assert "Who are you to the child?" in bot.screen(uncle)
