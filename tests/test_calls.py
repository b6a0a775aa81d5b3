"""Video calls end to end: booking, reminders with prompts, confirmation by either side, move, pause, cancel,
home visits, quiet hours, a parent abroad across a daylight-saving change, and a restart in between."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from bot.app import calls_tick
from bot.services import calls
from db.models import CallOccurrence, CallSchedule, Membership, Outbox
from db.session import Database
from tests.harness import Harness
from tests.journeys import Speaker, add_child, create_household, family_code, join_with_code, person
from tests.test_concerns import at
from tests.test_onboarding import PARENT, PLACES

T0 = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)  # Wednesday 10:00 in Xincheng


async def tick(bot: Harness, moment: datetime) -> None:
    at(bot, moment)
    await calls_tick(SimpleNamespace(application=bot.app))  # type: ignore[arg-type]


async def household(bot: Harness, locale: str, *, second_child: bool = False) -> tuple[Speaker, Speaker]:
    """Grandmother with 小明 (born 2016-05, 10 years old) and a father working away who has agreed."""
    gran, dad = person("Gran", 7001, locale), person("Dad", 7002, locale)
    township, village = PLACES[locale]
    await create_household(bot, gran, township=township, village=village, relation="Grandmother")
    await add_child(bot, gran, "小明", 2016, 5, None)
    if second_child:
        await bot.press(gran.who, gran._("➕ Add another child"))
        await add_child(bot, gran, "小红", 2024, 3, None)
    await bot.press(gran.who, gran._("✅ That is all"))
    await bot.press(gran.who, gran._("Not now"))
    await join_with_code(bot, dad, family_code(bot, gran), "Father", role=PARENT)
    await bot.press(dad.who, dad._("✅ I agree, as the parent"))
    return gran, dad


def texts_since(bot: Harness, who: Speaker, before: int) -> list[str]:
    return [
        c.params.get("text", "")
        for c in bot.api.calls[before:]
        if c.method == "sendMessage" and c.params.get("chat_id") == who.who.id
    ]


async def book_weekly(bot: Harness, dad: Speaker, days: list[str], time_label: str, minutes: int = 15) -> None:
    await bot.send(dad.who, "/calls")
    await bot.press(dad.who, dad._("➕ A regular call"))
    if dad._("🇨🇳 China (Beijing time)") in bot.labels(dad.who):
        await bot.press(dad.who, dad._("🇨🇳 China (Beijing time)"))
    for day in days:
        await bot.press(dad.who, day)
    await bot.press(dad.who, dad._("➡️ Next"))
    if time_label in bot.labels(dad.who):
        await bot.press(dad.who, time_label)
    else:
        await bot.send(dad.who, time_label)
    if dad._("➡️ Next") in bot.labels(dad.who):
        await bot.press(dad.who, dad._("➡️ Next"))  # all children
    await bot.press(dad.who, dad._("{n} minutes").format(n=minutes))
    await bot.press(dad.who, dad._("✅ Book it"))


@pytest.mark.parametrize("locale", ["zh_Hans", "en"])
async def test_a_weekly_call_reminds_both_sides_once_and_either_side_confirms(
    bot: Harness, db: Database, locale: str
) -> None:
    at(bot, T0)
    gran, dad = await household(bot, locale)
    wednesday = "星期三" if locale == "zh_Hans" else "Wednesday"
    await book_weekly(bot, dad, [wednesday], "20:00")
    assert dad._("✅ Booked. You will get a reminder 30 minutes before, with ideas for the call.") in bot.all_text(
        dad.who
    )
    # The carer hears it was booked, in her own words and time.
    first_call = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    assert any(t.startswith("📅") and gran.tr.when(first_call) in t for t in bot.api.texts(gran.who.id))
    # First booking: may the carer be told if calls stop?
    await bot.press(dad.who, dad._("Yes, tell them"))
    async with db.transaction() as s:
        schedule = await s.scalar(select(CallSchedule))
        assert schedule is not None and schedule.weekdays == "wed" and schedule.local_time == "20:00"
        assert schedule.next_due_at == datetime(2026, 12, 2, 12, 0, tzinfo=UTC)

    before = len(bot.api.calls)
    await tick(bot, datetime(2026, 12, 2, 11, 29, tzinfo=UTC))
    assert texts_since(bot, dad, before) == []
    await tick(bot, datetime(2026, 12, 2, 11, 30, tzinfo=UTC))
    [reminder] = texts_since(bot, dad, before)
    assert reminder.startswith("📞") and "小明" in reminder
    assert dad._("Some ideas for the call:") in reminder
    assert reminder.count("• ") == 3  # three ideas for a 10-year-old
    assert texts_since(bot, gran, before) == []
    await tick(bot, datetime(2026, 12, 2, 11, 45, tzinfo=UTC))
    await tick(bot, datetime(2026, 12, 2, 11, 46, tzinfo=UTC))  # a second tick sends nothing again
    [ready] = texts_since(bot, gran, before)
    assert ready == gran._(
        "📞 {parent} will video-call at {time}. Please have {children} ready, with the phone charged."
    ).format(parent=gran._("Father"), time=gran.tr.when(datetime(2026, 12, 2, 12, 0, tzinfo=UTC)), children="小明")
    assert len(texts_since(bot, dad, before)) == 1

    # Grandmother says it happened first; the father is then not asked.
    at(bot, datetime(2026, 12, 2, 12, 20, tzinfo=UTC))
    await bot.press(gran.who, gran._("✅ Yes, we talked"))
    assert gran._("✅ Noted: the call happened. Thank you!") in bot.screen(gran.who)
    await tick(bot, datetime(2026, 12, 2, 12, 30, tzinfo=UTC))
    assert len(texts_since(bot, dad, before)) == 1
    async with db.transaction() as s:
        occurrence = await s.scalar(select(CallOccurrence))
        assert occurrence is not None and occurrence.outcome == "done"
        schedule = await s.scalar(select(CallSchedule))
        assert schedule is not None and schedule.next_due_at == datetime(2026, 12, 9, 12, 0, tzinfo=UTC)

    # Next week nobody answers early: the father is asked after the slot, and answers.
    await tick(bot, datetime(2026, 12, 9, 11, 30, tzinfo=UTC))
    await tick(bot, datetime(2026, 12, 9, 11, 45, tzinfo=UTC))
    await tick(bot, datetime(2026, 12, 9, 12, 24, tzinfo=UTC))
    question = dad._("Did your call with {children} at {time} happen?").format(
        children="小明", time=dad.tr.when(datetime(2026, 12, 9, 12, 0, tzinfo=UTC))
    )
    assert question not in texts_since(bot, dad, before)
    await tick(bot, datetime(2026, 12, 9, 12, 25, tzinfo=UTC))
    assert texts_since(bot, dad, before).count(question) == 1
    await bot.press(dad.who, dad._("❌ It did not happen"))
    # Grandmother's button on her reminder now says who answered.
    await bot.press(gran.who, gran._("✅ Yes, we talked"))
    assert gran._("Father") in bot.screen(gran.who)
    async with db.transaction() as s:
        outcomes = (await s.scalars(select(CallOccurrence.outcome).order_by(CallOccurrence.id))).all()
    assert outcomes == ["done", "missed"]


async def test_dedupe_keys_hold_for_every_call_message(bot: Harness, db: Database) -> None:
    at(bot, T0)
    _gran, dad = await household(bot, "en")
    await book_weekly(bot, dad, ["Wednesday"], "20:00")
    for minute in range(0, 60, 5):
        await tick(bot, datetime(2026, 12, 2, 11, 30, tzinfo=UTC) + timedelta(minutes=minute))
    async with db.transaction() as s:
        keys = (await s.scalars(select(Outbox.dedupe_key).where(Outbox.kind.like("call.%")))).all()
    assert len(keys) == len(set(keys))


async def test_a_parent_in_a_daylight_saving_zone_keeps_their_wall_time_across_the_change(
    bot: Harness, db: Database
) -> None:
    """Dad works in Berlin and calls at 12:00 Berlin time on Saturdays; Europe moves its clocks on 2027-03-28."""
    at(bot, datetime(2027, 3, 15, 2, 0, tzinfo=UTC))
    gran, dad = await household(bot, "en")
    await bot.send(dad.who, "/calls")
    await bot.press(dad.who, "A regular call")
    await bot.press(dad.who, "Germany, France, Italy, Spain")
    await bot.press(dad.who, "Saturday")
    await bot.press(dad.who, "Next")
    await bot.press(dad.who, "12:00")
    await bot.press(dad.who, "20 minutes")
    await bot.press(dad.who, "Book it")
    await bot.press(dad.who, "No")
    before = len(bot.api.calls)
    # Tick every 5 minutes around each call, and every 3 hours otherwise, for three weeks.
    moment = datetime(2027, 3, 15, 3, 0, tzinfo=UTC)
    end = datetime(2027, 4, 5, 0, 0, tzinfo=UTC)
    while moment < end:
        near = moment.weekday() == 5 and 8 <= moment.hour <= 12
        await tick(bot, moment)
        moment += timedelta(minutes=5) if near else timedelta(hours=3)
    reminders = [t for t in texts_since(bot, dad, before) if t.startswith("📞")]
    ready = [t for t in texts_since(bot, gran, before) if t.startswith("📞")]
    # 20, 27 March and 3 April: one each, none twice, none skipped.
    assert len(reminders) == 3 and len(ready) == 3
    async with db.transaction() as s:
        dues = (await s.scalars(select(CallOccurrence.due_at).order_by(CallOccurrence.due_at))).all()
    assert dues == [
        datetime(2027, 3, 20, 11, 0, tzinfo=UTC),  # 12:00 CET
        datetime(2027, 3, 27, 11, 0, tzinfo=UTC),
        datetime(2027, 4, 3, 10, 0, tzinfo=UTC),  # 12:00 CEST: the wall time kept, an hour earlier in UTC
    ]
    # Dad reads Berlin time, Grandmother reads Xincheng time (19:00, then 18:00 after the change).
    # (Babel writes a narrow no-break space before PM, as CLDR says.)
    assert "12:00\u202fPM" in reminders[0] and "12:00\u202fPM" in reminders[2]
    assert "7:00\u202fPM" in ready[0] and "6:00\u202fPM" in ready[2]


@pytest.mark.parametrize("locale", ["zh_Hans", "en"])
async def test_move_pause_home_visit_and_cancel(bot: Harness, db: Database, locale: str) -> None:
    at(bot, T0)
    gran, dad = await household(bot, locale, second_child=True)
    day = {"wed": "Wednesday", "fri": "Friday"} if locale == "en" else {"wed": "星期三", "fri": "星期五"}
    change = dad._("⚙️ Change: {when}").split("{")[0]

    def told(template: str) -> bool:
        head = gran._(template).split("{when}")[0].format(who=gran._("Father"))
        return any(t.startswith(head) for t in bot.api.texts(gran.who.id))

    await book_weekly(bot, dad, [day["wed"]], "20:00")
    await bot.press(dad.who, dad._("No"))
    # Move: Fridays at 19:30, typed.
    await bot.press(dad.who, change)
    await bot.press(dad.who, dad._("🕒 Change days or time"))
    await bot.press(dad.who, day["fri"])
    await bot.press(dad.who, dad._("➡️ Next"))
    await bot.send(dad.who, "7:30pm")
    async with db.transaction() as s:
        schedule = await s.scalar(select(CallSchedule))
        assert schedule is not None and (schedule.weekdays, schedule.local_time) == ("fri", "19:30")
        assert schedule.next_due_at == datetime(2026, 12, 4, 11, 30, tzinfo=UTC)
    assert told("📅 {who} moved the regular call: {when}.")
    # Home visit over the next Friday: that call gets no reminders.
    await bot.send(dad.who, "/calls")
    await bot.press(dad.who, dad._("🏠 I am coming home"))
    await bot.send(dad.who, "12-3")
    await bot.send(dad.who, "12月6日")
    before = len(bot.api.calls)
    await tick(bot, datetime(2026, 12, 4, 11, 0, tzinfo=UTC))
    await tick(bot, datetime(2026, 12, 4, 11, 15, tzinfo=UTC))
    await tick(bot, datetime(2026, 12, 4, 12, 30, tzinfo=UTC))
    assert [t for t in texts_since(bot, dad, before) + texts_since(bot, gran, before) if "📞" in t] == []
    async with db.transaction() as s:
        skipped = (await s.scalars(select(CallOccurrence.skipped))).all()
    assert skipped == ["home_visit"]
    # Pause: nothing until restarted; restarting picks the next Friday from now.
    at(bot, datetime(2026, 12, 5, 2, 0, tzinfo=UTC))
    await bot.send(dad.who, "/calls")
    await bot.press(dad.who, change)
    await bot.press(dad.who, dad._("⏸ Pause"))
    assert told("⏸ {who} paused the call: {when}.")
    await tick(bot, datetime(2026, 12, 11, 11, 0, tzinfo=UTC))
    await tick(bot, datetime(2026, 12, 11, 11, 20, tzinfo=UTC))
    assert [t for t in texts_since(bot, dad, before) if t.startswith("📞")] == []
    at(bot, datetime(2026, 12, 12, 2, 0, tzinfo=UTC))
    await bot.send(dad.who, "/calls")
    await bot.press(dad.who, change)
    await bot.press(dad.who, dad._("▶️ Restart"))
    async with db.transaction() as s:
        schedule = await s.scalar(select(CallSchedule))
        assert schedule is not None and schedule.next_due_at == datetime(2026, 12, 18, 11, 30, tzinfo=UTC)
    # Cancel asks once more, then tells the carer.
    await bot.send(dad.who, "/calls")
    await bot.press(dad.who, change)
    await bot.press(dad.who, dad._("✖️ Cancel this call"))
    await bot.press(dad.who, dad._("✖️ Yes, cancel it"))
    assert told("✖️ {who} cancelled the call: {when}.")
    await tick(bot, datetime(2026, 12, 18, 11, 0, tzinfo=UTC))
    assert [t for t in texts_since(bot, dad, before) if t.startswith("📞")] == []
    await bot.send(dad.who, "/calls")
    assert dad._("No calls booked yet.") in bot.screen(dad.who)


async def test_two_children_of_different_ages_get_ideas_for_each(bot: Harness, db: Database) -> None:
    at(bot, T0)
    _gran, dad = await household(bot, "en", second_child=True)  # 10 years old and 2 years old
    await book_weekly(bot, dad, ["Wednesday"], "20:00")
    before = len(bot.api.calls)
    await tick(bot, datetime(2026, 12, 2, 11, 30, tzinfo=UTC))
    [reminder] = [t for t in texts_since(bot, dad, before) if t.startswith("📞")]
    assert "小明" in reminder and "小红" in reminder
    assert 2 <= reminder.count("• ") <= 3


@pytest.mark.parametrize("locale", ["zh_Hans", "en"])
async def test_quiet_hours_warn_at_booking_and_hold_the_question_until_morning(
    bot: Harness, db: Database, locale: str
) -> None:
    at(bot, T0)
    _gran, dad = await household(bot, locale)
    wednesday = "星期三" if locale == "zh_Hans" else "Wednesday"
    await bot.send(dad.who, "/calls")
    await bot.press(dad.who, dad._("➕ A regular call"))
    await bot.press(dad.who, dad._("🇨🇳 China (Beijing time)"))
    await bot.press(dad.who, wednesday)
    await bot.press(dad.who, dad._("➡️ Next"))
    await bot.send(dad.who, "21:45")
    await bot.press(dad.who, dad._("{n} minutes").format(n=15))
    # Both the father and the grandmother (same zone, default hours) would be in their quiet hours.
    who = ("、" if locale == "zh_Hans" else ", ").join([dad._("you"), dad._("Grandmother")])
    warning = dad._("⚠️ This is in the quiet hours of: {who}. The call reminders will still be sent.").format(who=who)
    assert warning in bot.screen(dad.who)
    await bot.press(dad.who, dad._("✅ Book it"))
    before = len(bot.api.calls)
    # The reminders go out even so (the call was booked then) ...
    await tick(bot, datetime(2026, 12, 2, 13, 15, tzinfo=UTC))  # 21:15 local
    assert len([t for t in texts_since(bot, dad, before) if t.startswith("📞")]) == 1
    # ... but "did it happen?" waits for the morning: 22:10 is quiet, 07:00 is not.
    question = dad._("Did your call with {children} at {time} happen?").format(
        children="小明", time=dad.tr.when(datetime(2026, 12, 2, 13, 45, tzinfo=UTC))
    )
    await tick(bot, datetime(2026, 12, 2, 14, 10, tzinfo=UTC))
    await tick(bot, datetime(2026, 12, 2, 22, 59, tzinfo=UTC))  # 06:59
    assert question not in texts_since(bot, dad, before)
    await tick(bot, datetime(2026, 12, 2, 23, 0, tzinfo=UTC))  # 07:00
    assert texts_since(bot, dad, before).count(question) == 1


async def test_a_restart_between_reminder_and_confirmation_loses_nothing_and_repeats_nothing(
    bot: Harness, db: Database
) -> None:
    from tests.harness import start_harness, stop_harness

    at(bot, T0)
    gran, dad = await household(bot, "en")
    await book_weekly(bot, dad, ["Wednesday"], "20:00")
    before = len(bot.api.calls)
    await tick(bot, datetime(2026, 12, 2, 11, 30, tzinfo=UTC))
    await tick(bot, datetime(2026, 12, 2, 11, 45, tzinfo=UTC))
    # The process dies; a new one starts on the same database and carries on.
    second = await start_harness(bot.app.bot_data["runtime"].settings, db, bot.api)
    try:
        await tick(second, datetime(2026, 12, 2, 11, 50, tzinfo=UTC))
        await tick(second, datetime(2026, 12, 2, 12, 25, tzinfo=UTC))
        assert len([t for t in texts_since(second, dad, before) if t.startswith("📞")]) == 1
        assert len([t for t in texts_since(second, gran, before) if t.startswith("📞")]) == 1
        # The button on the reminder sent before the restart still works.
        at(second, datetime(2026, 12, 2, 12, 26, tzinfo=UTC))
        await second.press(dad.who, "Yes, we talked")
        assert "Noted: the call happened" in second.screen(dad.who)
        assert not second.errors
    finally:
        await stop_harness(second)
    async with db.transaction() as s:
        assert (await s.scalars(select(CallOccurrence.outcome))).all() == ["done"]


async def test_a_carer_proposes_another_time_and_the_parent_accepts(bot: Harness, db: Database) -> None:
    at(bot, T0)
    gran, dad = await household(bot, "en")
    await book_weekly(bot, dad, ["Wednesday"], "20:00")
    await bot.send(gran.who, "/calls")
    assert "every Wednesday at 8:00\u202fPM" in bot.screen(gran.who)
    await bot.press(gran.who, "Ask for another time")
    await bot.press(gran.who, "Saturday")
    await bot.press(gran.who, "Next")
    await bot.press(gran.who, "19:00")
    assert "Sent to the parent" in bot.all_text(gran.who)
    assert any(t.startswith("🔁 Grandmother asks to move your regular call") for t in bot.api.texts(dad.who.id))
    await bot.press(dad.who, "Accept")
    async with db.transaction() as s:
        schedule = await s.scalar(select(CallSchedule))
        assert schedule is not None and (schedule.weekdays, schedule.local_time) == ("sat", "19:00")
        assert schedule.next_due_at == datetime(2026, 12, 5, 11, 0, tzinfo=UTC)
    # A parent cannot "propose", a carer cannot book or change: forged buttons are refused.
    await bot.press_data(gran.who, "cl:new:weekly")
    assert bot.api.calls[-1].params.get("text", "").startswith("This button has expired")
    await bot.press_data(dad.who, f"cl:pr:{schedule.id}")
    assert bot.api.calls[-1].params.get("text", "").startswith("This button has expired")


async def test_two_bots_ticking_at_once_send_each_reminder_once(bot: Harness, db: Database) -> None:
    import asyncio

    from tests.harness import start_harness, stop_harness

    at(bot, T0)
    gran, dad = await household(bot, "en")
    await book_weekly(bot, dad, ["Wednesday"], "20:00")
    before = len(bot.api.calls)
    second = await start_harness(bot.app.bot_data["runtime"].settings, db, bot.api)
    try:
        for moment in (datetime(2026, 12, 2, 11, 30, tzinfo=UTC), datetime(2026, 12, 2, 11, 45, tzinfo=UTC)):
            at(second, moment)
            await asyncio.gather(tick(bot, moment), calls_tick(SimpleNamespace(application=second.app)))  # type: ignore[arg-type]
    finally:
        await stop_harness(second)
    assert len([t for t in texts_since(bot, dad, before) if t.startswith("📞")]) == 1
    assert len([t for t in texts_since(bot, gran, before) if t.startswith("📞")]) == 1
    async with db.transaction() as s:
        assert len((await s.scalars(select(CallOccurrence))).all()) == 1


async def test_pausing_just_before_a_call_stops_its_reminders(bot: Harness, db: Database) -> None:
    at(bot, T0)
    gran, dad = await household(bot, "en")
    await book_weekly(bot, dad, ["Wednesday"], "20:00")
    await bot.press(dad.who, "No")
    before = len(bot.api.calls)
    await tick(bot, datetime(2026, 12, 2, 11, 30, tzinfo=UTC))  # the father's reminder is out
    at(bot, datetime(2026, 12, 2, 11, 35, tzinfo=UTC))
    await bot.send(dad.who, "/calls")
    await bot.press(dad.who, "Change: every Wednesday")
    await bot.press(dad.who, "Pause")
    for minute in (45, 50):
        await tick(bot, datetime(2026, 12, 2, 11, minute, tzinfo=UTC))
    await tick(bot, datetime(2026, 12, 2, 12, 30, tzinfo=UTC))
    assert [t for t in texts_since(bot, gran, before) if t.startswith("📞")] == []
    assert not [t for t in texts_since(bot, dad, before) if t.startswith("Did your call")]


async def test_back_with_one_child_and_forged_buttons(bot: Harness, db: Database) -> None:
    at(bot, T0)
    _gran, dad = await household(bot, "en")
    await bot.send(dad.who, "/calls")
    await bot.press(dad.who, "A regular call")
    await bot.press(dad.who, "China (Beijing time)")
    await bot.press(dad.who, "Monday")
    await bot.press(dad.who, "Next")
    await bot.press(dad.who, "19:00")
    assert "About how long?" in bot.screen(dad.who)
    await bot.press(dad.who, "Back")  # one child: back to the time, not stuck on the length
    assert "What time" in bot.screen(dad.who)
    await bot.send(dad.who, "25:99")
    assert "I could not read that time." in bot.all_text(dad.who)
    await bot.press(dad.who, "19:00")
    await bot.press(dad.who, "10 minutes")
    await bot.press(dad.who, "Back")
    assert "About how long?" in bot.screen(dad.who)
    # Forged data: each gets a short refusal, nothing breaks.
    for data in ("cz:Mars/Olympus", "ce:9999-12-31", "cn:999", "cl:s:999999999", "cl:done:999999999", "cl:pa:5"):
        await bot.press_data(dad.who, data)
    await bot.send(dad.who, "/calls")
    await bot.press(dad.who, "One call")
    await bot.press_data(dad.who, "ce:9999-12-31")
    assert bot.api.calls[-1].params.get("text", "").startswith("This button has expired")
    async with db.transaction() as s:
        assert (await s.scalars(select(CallSchedule))).all() == []


async def test_a_booking_notice_waits_for_the_carers_morning(bot: Harness, db: Database) -> None:
    """Dad books from Berlin at 17:00 his time: midnight in Xincheng. Grandmother is told at 07:00."""
    at(bot, datetime(2026, 12, 2, 16, 0, tzinfo=UTC))  # 17:00 Berlin, 00:00 Xincheng
    gran, dad = await household(bot, "en")
    before = len(bot.api.calls)
    await bot.send(dad.who, "/calls")
    await bot.press(dad.who, "A regular call")
    await bot.press(dad.who, "Germany, France, Italy, Spain")
    await bot.press(dad.who, "Saturday")
    await bot.press(dad.who, "Next")
    await bot.press(dad.who, "12:00")
    await bot.press(dad.who, "20 minutes")
    await bot.press(dad.who, "Book it")
    assert [t for t in texts_since(bot, gran, before) if t.startswith("📅")] == []
    async with db.transaction() as s:
        row = await s.scalar(select(Outbox).where(Outbox.kind == "call.booked"))
        assert row is not None and row.status == "pending"
        held = row.due_at - row.created_at
    assert timedelta(hours=6, minutes=59) <= held <= timedelta(hours=7, minutes=1)


async def test_when_both_sides_answer_at_the_same_moment_the_first_answer_counts(bot: Harness, db: Database) -> None:
    """Grandmother and father press at once: one answer is kept, the other is told who answered (no lock;
    the write takes effect only while nobody has answered)."""
    at(bot, T0)
    _gran, dad = await household(bot, "en")
    await book_weekly(bot, dad, ["Wednesday"], "20:00")
    await bot.press(dad.who, dad._("Yes, tell them"))
    await tick(bot, datetime(2026, 12, 2, 11, 30, tzinfo=UTC))
    async with db.transaction() as s:
        occurrence = await s.scalar(select(CallOccurrence))
        assert occurrence is not None
        ids = {
            m.user_id: m.relation
            for m in (await s.scalars(select(Membership).where(Membership.household_id == occurrence.household_id)))
        }
    gran_id = next(uid for uid, relation in ids.items() if relation == "grandmother")
    dad_id = next(uid for uid, relation in ids.items() if relation == "father")
    moment = datetime(2026, 12, 2, 12, 20, tzinfo=UTC)
    first_in = asyncio.Event()
    release = asyncio.Event()

    async def answer_first() -> calls.Confirmed:
        async with db.transaction() as s:
            result = await calls.confirm(s, user_id=gran_id, occurrence_id=occurrence.id, outcome="done", now=moment)
            first_in.set()
            await release.wait()  # still uncommitted while the father presses
        return result

    async def answer_second() -> calls.Confirmed:
        await first_in.wait()
        async with db.transaction() as s:
            return await calls.confirm(s, user_id=dad_id, occurrence_id=occurrence.id, outcome="missed", now=moment)

    first = asyncio.create_task(answer_first())
    second = asyncio.create_task(answer_second())
    await asyncio.sleep(0.2)
    assert not second.done()  # waiting for the grandmother's answer to commit or roll back
    release.set()
    kept, told = await first, await second
    assert kept == calls.Confirmed(True, "done", None)
    assert told == calls.Confirmed(False, "done", "grandmother")
    async with db.transaction() as s:
        row = await s.get(CallOccurrence, occurrence.id)
        assert row is not None and (row.outcome, row.confirmed_by_user_id) == ("done", gran_id)
