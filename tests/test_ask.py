"""Questions end to end: answered from the library, passed to a person and answered, a voice question, and a
question unanswered for 48 hours moving to the township."""

from __future__ import annotations

from datetime import datetime, timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from bot.app import tips_tick
from db.models import Question
from db.session import Database
from tests.harness import Harness
from tests.test_concerns import T0, TOWNSHIP, VILLAGE, at, caseworker_on, family


async def tick(bot: Harness, moment: datetime) -> None:
    at(bot, moment)
    await tips_tick(SimpleNamespace(application=bot.app))  # type: ignore[arg-type]


@pytest.mark.parametrize("locale", ["zh_Hans", "en"])
async def test_a_typed_question_is_answered_from_the_library(bot: Harness, db: Database, locale: str) -> None:
    at(bot, T0)
    gran = await family(bot, locale)
    await bot.send(gran.who, "/ask")
    question = "孙子天天晚上玩手机游戏不睡觉 咋办" if locale == "zh_Hans" else "my grandson plays phone games all night"
    before = len(bot.api.calls)
    await bot.send(gran.who, question)
    answers = [c for c in bot.api.calls[before:] if c.method == "sendMessage"]
    assert len(answers) == 3
    for a in answers:
        labels = [b["text"] for row in a.params["reply_markup"]["inline_keyboard"] for b in row]
        assert labels == [gran._("✅ This helped"), gran._("🙋 Ask a person")]
    await bot.press(gran.who, gran._("✅ This helped"))
    async with db.transaction() as s:
        rows = (await s.scalars(select(Question))).all()
    # Counted, without the words.
    assert [(q.status, q.text, q.library_helped) for q in rows] == [("library", None, True)]


@pytest.mark.parametrize("locale", ["zh_Hans", "en"])
async def test_ask_a_person_and_the_answer_comes_back_with_the_verified_post(
    bot: Harness, db: Database, locale: str
) -> None:
    at(bot, T0)
    director = await caseworker_on(db, 5001, "child-director", VILLAGE, locale)
    gran = await family(bot, locale)
    await bot.send(gran.who, "/ask")
    question = (
        "村里有没有人能教孩子游泳" if locale == "zh_Hans" else "is there anyone in the village who teaches swimming"
    )
    await bot.send(gran.who, question)
    await bot.press(gran.who, gran._("🙋 Ask a person"))
    sent = gran._(
        "✅ Your question has gone to the village child director. The answer will come here, usually within two "
        "days. If a child is in danger, do not wait: call 110 or 120."
    )
    assert sent in bot.all_text(gran.who)
    [notice] = [t for t in bot.api.texts(director.who.id) if t.startswith("❓")]
    assert question in notice
    await bot.press(director.who, director._("✍️ Answer"))
    await bot.send(director.who, "Saturday mornings at the township pool.")
    answer = [t for t in bot.api.texts(gran.who.id) if "Saturday mornings at the township pool." in t]
    assert answer and gran._("💬 An answer to your question:") in answer[0]
    assert "5001" not in answer[0]
    async with db.transaction() as s:
        q = await s.scalar(select(Question))
        assert q is not None and q.status == "answered" and q.library_helped is False


async def test_a_voice_question_goes_to_a_person_and_climbs_after_48_hours(bot: Harness, db: Database) -> None:
    at(bot, T0)
    director = await caseworker_on(db, 5001, "child-director", VILLAGE)
    supervisor = await caseworker_on(db, 5002, "township-supervisor", TOWNSHIP)
    gran = await family(bot, "en")
    await bot.send(gran.who, "/ask")
    voice = {"file_id": "AwACAgIAAxkBAAEquestion", "file_unique_id": "AgADquestion", "duration": 9}
    await bot.feed({"message": bot.message_json(gran.who, None, voice=voice)})
    voices = [c for c in bot.api.calls if c.method == "sendVoice" and c.params.get("chat_id") == director.who.id]
    assert len(voices) == 1
    assert "Your question has gone to the village child director." in bot.all_text(gran.who)
    await tick(bot, T0 + timedelta(hours=47))
    assert not [t for t in bot.api.texts(supervisor.who.id) if t.startswith("❓")]
    await tick(bot, T0 + timedelta(hours=48, minutes=1))
    await tick(bot, T0 + timedelta(hours=49))
    moved = [c for c in bot.api.calls if c.method == "sendVoice" and c.params.get("chat_id") == supervisor.who.id]
    assert len(moved) == 1 and "48 hours" in moved[0].params.get("caption", "")


async def test_a_vague_question_asks_for_more_and_another_household_cannot_answer(bot: Harness, db: Database) -> None:
    at(bot, T0)
    await caseworker_on(db, 5001, "child-director", VILLAGE)
    elsewhere = await caseworker_on(db, 5009, "child-director", "451321-05-S1")
    gran = await family(bot, "en")
    await bot.send(gran.who, "/ask")
    await bot.send(gran.who, "hello")
    assert "Please tell me a little more" in bot.all_text(gran.who)
    await bot.send(gran.who, "where can my grandson learn to swim safely")
    await bot.press(gran.who, "Ask a person")
    async with db.transaction() as s:
        question_id = await s.scalar(select(Question.id))
    await bot.send(elsewhere.who, "/cases")
    for data in (f"qa:open:{question_id}", f"qa:ans:{question_id}"):
        await bot.press_data(elsewhere.who, data)
        assert bot.api.calls[-1].params.get("text", "").startswith("This button has expired")
