"""Contact tracking: the weekly summary, the 7/14/30-day ladder when calls stop, the carer-silence ladder, and
the welfare-check request a child director closes with a note."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from db.models import AuditEvent, SilenceWatch, WelfareCheck
from db.session import Database
from tests.harness import Harness
from tests.test_calls import T0, book_weekly, household, texts_since, tick
from tests.test_concerns import VILLAGE, at, caseworker_on


@pytest.mark.parametrize("locale", ["zh_Hans", "en"])
async def test_calls_stop_nudge_after_7_and_14_days_then_a_welfare_check_at_30(
    bot: Harness, db: Database, locale: str
) -> None:
    at(bot, T0)
    director = await caseworker_on(db, 5001, "child-director", VILLAGE, locale)
    gran, dad = await household(bot, locale)
    wednesday = "星期三" if locale == "zh_Hans" else "Wednesday"
    await book_weekly(bot, dad, [wednesday], "20:00")
    await bot.press(dad.who, dad._("Yes, tell them"))  # the carer may be told at 14 days
    # Then the father pauses the calls and none happen.
    await bot.send(dad.who, "/calls")
    await bot.press(dad.who, dad._("⚙️ Change: {when}").split("{")[0])
    await bot.press(dad.who, dad._("⏸ Pause"))
    before = len(bot.api.calls)

    def nudges() -> list[str]:
        return [t for t in texts_since(bot, dad, before) if t.startswith("💛")]

    await tick(bot, T0 + timedelta(days=6, hours=23))
    assert nudges() == []
    await tick(bot, T0 + timedelta(days=7, hours=1))
    await tick(bot, T0 + timedelta(days=7, hours=2))
    assert len(nudges()) == 1 and "7" in nudges()[0]
    await tick(bot, T0 + timedelta(days=14, hours=1))
    assert len(nudges()) == 2 and "14" in nudges()[1]
    carer_note = gran._(
        "{parent} has not had a video call with the children for two weeks. If the children miss them, you could "
        "help them send a voice message."
    ).format(parent=gran._("Father"))
    assert carer_note in texts_since(bot, gran, before)
    await tick(bot, T0 + timedelta(days=30, hours=1))
    await tick(bot, T0 + timedelta(days=31, hours=1))
    assert len(nudges()) == 3
    async with db.transaction() as s:
        checks = (await s.scalars(select(WelfareCheck))).all()
    assert [(c.reason, c.status) for c in checks] == [("no_contact", "open")]
    requested = [t for t in texts_since(bot, director, before) if t.startswith("🏠")]
    assert len(requested) == 1
    assert director._("The parent has had no video call with the children for 30 days.") in requested[0]

    # The child director finds it in /cases, visits and closes it with a note.
    at(bot, T0 + timedelta(days=32))
    await bot.send(director.who, "/cases")
    await bot.press(director.who, director._("🏠 Welfare checks ({n})").format(n=1))
    await bot.press(director.who, "📂")
    assert director._("Carers at home: {who}").format(who=director._("Grandmother")) in bot.screen(director.who)
    await bot.press(director.who, director._("✅ Close with a note"))
    await bot.send(director.who, "Visited: all well, the father lost his phone.")
    async with db.transaction() as s:
        check = await s.scalar(select(WelfareCheck))
        assert check is not None and check.status == "closed" and check.note and "lost his phone" in check.note
    assert director._("No welfare checks waiting. Thank you.") in bot.all_text(director.who)


async def test_a_confirmed_call_resets_the_ladder_and_the_weekly_summary_counts_it(bot: Harness, db: Database) -> None:
    at(bot, T0)
    gran, dad = await household(bot, "en")
    await book_weekly(bot, dad, ["Wednesday"], "20:00")
    await bot.press(dad.who, "No")
    before = len(bot.api.calls)
    await tick(bot, datetime(2026, 12, 2, 11, 45, tzinfo=UTC))
    at(bot, datetime(2026, 12, 2, 12, 20, tzinfo=UTC))
    await bot.press(gran.who, "Yes, we talked")
    # Sunday 19:00 in the father's zone: the summary.
    await tick(bot, datetime(2026, 12, 6, 11, 0, tzinfo=UTC))
    [summary] = [t for t in texts_since(bot, dad, before) if t.startswith("📊")]
    assert "小明: 1 call" in summary and "1 week in a row with a call" in summary
    # Sent once, not at every tick.
    await tick(bot, datetime(2026, 12, 6, 11, 5, tzinfo=UTC))
    assert len([t for t in texts_since(bot, dad, before) if t.startswith("📊")]) == 1
    # The ladder counts from the call now: a week after the booking (when a father without calls is nudged,
    # above) there is no nudge.
    await tick(bot, T0 + timedelta(days=7, hours=1))
    assert [t for t in texts_since(bot, dad, before) if t.startswith("💛")] == []


@pytest.mark.parametrize("locale", ["zh_Hans", "en"])
async def test_a_silent_carer_is_asked_then_the_parent_told_then_a_visit_requested(
    bot: Harness, db: Database, locale: str
) -> None:
    at(bot, T0)
    director = await caseworker_on(db, 5001, "child-director", VILLAGE, locale)
    gran, dad = await household(bot, locale)
    wednesday = "星期三" if locale == "zh_Hans" else "Wednesday"
    await book_weekly(bot, dad, [wednesday], "20:00")
    await bot.press(dad.who, dad._("No"))
    before = len(bot.api.calls)
    # Reminders keep reaching Grandmother every Wednesday; she answers nothing.
    for week in range(2):
        await tick(bot, datetime(2026, 12, 2, 11, 45, tzinfo=UTC) + timedelta(weeks=week))
    asked = gran._("🌱 We have not heard from you for a while. Are you and the children well?")
    await tick(bot, T0 + timedelta(days=13, hours=23))
    assert asked not in texts_since(bot, gran, before)
    await tick(bot, T0 + timedelta(days=14, hours=1))
    assert texts_since(bot, gran, before).count(asked) == 1
    await tick(bot, T0 + timedelta(days=16))
    told = [t for t in texts_since(bot, dad, before) if t.startswith("🌱")]
    assert told == []
    await tick(bot, T0 + timedelta(days=16, hours=2))
    told = [t for t in texts_since(bot, dad, before) if t.startswith("🌱")]
    assert len(told) == 1 and dad._("Grandmother") in told[0]
    await tick(bot, T0 + timedelta(days=18, hours=3))
    async with db.transaction() as s:
        checks = (await s.scalars(select(WelfareCheck.reason))).all()
    assert checks == ["guardian_silent"]
    assert len([t for t in texts_since(bot, director, before) if t.startswith("🏠")]) == 1
    # Later ticks ask nothing again and raise no second check.
    await tick(bot, T0 + timedelta(days=20, hours=3))
    assert texts_since(bot, gran, before).count(asked) == 1
    async with db.transaction() as s:
        assert len((await s.scalars(select(WelfareCheck))).all()) == 1


async def test_a_carer_who_answers_ends_the_watch(bot: Harness, db: Database) -> None:
    at(bot, T0)
    gran, dad = await household(bot, "en")
    await book_weekly(bot, dad, ["Wednesday"], "20:00")
    await bot.press(dad.who, "No")
    for week in range(2):
        await tick(bot, datetime(2026, 12, 2, 11, 45, tzinfo=UTC) + timedelta(weeks=week))
    await tick(bot, T0 + timedelta(days=14, hours=1))
    at(bot, T0 + timedelta(days=15))
    await bot.press(gran.who, "We are well")
    assert "Glad to hear it" in bot.screen(gran.who)
    await tick(bot, T0 + timedelta(days=17))
    async with db.transaction() as s:
        assert (await s.scalars(select(SilenceWatch))).all() == []
    assert not [t for t in bot.api.texts(dad.who.id) if t.startswith("🌱")]


async def test_a_director_elsewhere_cannot_open_a_welfare_check(bot: Harness, db: Database) -> None:
    at(bot, T0)
    await caseworker_on(db, 5001, "child-director", VILLAGE)
    elsewhere = await caseworker_on(db, 5009, "child-director", "451321-05-S1")
    _gran, dad = await household(bot, "en")
    await book_weekly(bot, dad, ["Wednesday"], "20:00")
    await bot.press(dad.who, "No")
    await bot.send(dad.who, "/calls")
    await bot.press(dad.who, "Change: every Wednesday")
    await bot.press(dad.who, "Pause")
    await tick(bot, T0 + timedelta(days=31))
    async with db.transaction() as s:
        check_id = await s.scalar(select(WelfareCheck.id))
    await bot.send(elsewhere.who, "/cases")
    assert "Welfare checks" not in " ".join(bot.labels(elsewhere.who))
    for data in (f"wc:open:{check_id}", f"wc:close:{check_id}"):
        await bot.press_data(elsewhere.who, data)
        assert bot.api.calls[-1].params.get("text", "").startswith("This button has expired")
    async with db.transaction() as s:
        refused = (await s.scalars(select(AuditEvent.action).where(AuditEvent.action == "welfare.refused"))).all()
    assert len(refused) == 2


async def test_a_daily_call_never_answered_still_climbs_the_ladder(bot: Harness, db: Database) -> None:
    at(bot, T0)
    await caseworker_on(db, 5001, "child-director", VILLAGE)
    _gran, dad = await household(bot, "en")
    days = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
    await book_weekly(bot, dad, days, "20:00")
    await bot.press(dad.who, "No")
    before = len(bot.api.calls)
    for day in range(32):
        for hour, minute in ((2, 0), (11, 45), (12, 30)):
            await tick(bot, datetime(2026, 12, 2, hour, minute, tzinfo=UTC) + timedelta(days=day))
    nudges = [t for t in texts_since(bot, dad, before) if t.startswith("💛")]
    assert len(nudges) == 3
    async with db.transaction() as s:
        reasons = sorted((await s.scalars(select(WelfareCheck.reason))).all())
    # Grandmother answered nothing either, so her silence brought a visit request of its own.
    assert reasons == ["guardian_silent", "no_contact"]
