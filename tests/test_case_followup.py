"""After a concern is taken up: follow-up reminders, reopening when its holder is gone, new information that
raises the urgency, actions straight from the notification, paging, and one flow at a time."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.services import triage
from db.models import AuditEvent, CaseEvent, Concern, Draft
from db.session import Database
from tests.harness import Harness
from tests.journeys import Speaker
from tests.test_concerns import T0, VILLAGE, at, caseworker_on, concern_texts, family, full_ladder, tick


async def report(bot: Harness, gran: Speaker, category: str, danger: str = "No, not right now") -> None:
    await bot.send(gran.who, "/report")
    await bot.press(gran.who, "小明")
    await bot.press(gran.who, gran._(category))
    await bot.press(gran.who, gran._(danger))
    await bot.press(gran.who, gran._("Skip"))
    await bot.press(gran.who, gran._("No, keep me out of it"))
    await bot.press(gran.who, gran._("📨 Send now"))


async def concern(db: Database) -> Concern:
    async with db.transaction() as s:
        row = await s.scalar(select(Concern))
        assert row is not None
        return row


@pytest.mark.parametrize("locale", ["zh_Hans", "en"])
async def test_every_action_is_on_the_notification_itself(bot: Harness, db: Database, locale: str) -> None:
    at(bot, T0)
    director = await caseworker_on(db, 5001, "child-director", VILLAGE, locale)
    gran = await family(bot, "en")
    await report(bot, gran, "Bullying")
    assert len(concern_texts(bot, director)) == 1
    labels = bot.labels(director.who)
    for label in (
        "✅ I will look at it (acknowledge)",
        "📝 Add a note",
        "🔀 Refer",
        "👮 Record the police report",
        "↪️ Pass to another caseworker",
        "🏁 Resolve",
    ):
        assert director._(label) in labels
    # A note straight from the notification, without opening /cases first.
    await bot.press(director.who, director._("📝 Add a note"))
    await bot.send(director.who, "Called the school.")
    assert "Called the school." in bot.screen(director.who)
    async with db.transaction() as s:
        kinds = (await s.scalars(select(CaseEvent.kind))).all()
    assert "note" in kinds


async def test_the_holder_is_reminded_until_it_is_resolved(bot: Harness, db: Database) -> None:
    at(bot, T0)
    director = await caseworker_on(db, 5001, "child-director", VILLAGE)
    gran = await family(bot, "en")
    await report(bot, gran, "Bullying")  # normal: a follow-up every 72 hours
    await bot.press(director.who, "acknowledge")
    await tick(bot, T0 + timedelta(hours=71))
    assert not [t for t in concern_texts(bot, director) if t.startswith("⏰")]
    await tick(bot, T0 + timedelta(hours=72, minutes=1))
    assert len([t for t in concern_texts(bot, director) if t.startswith("⏰")]) == 1
    # A note counts as doing something: the next reminder is 72 hours after it, not after the last reminder.
    at(bot, T0 + timedelta(hours=100))
    await bot.press(director.who, "Add a note")
    await bot.send(director.who, "Met the parents.")
    await tick(bot, T0 + timedelta(hours=145))
    assert len([t for t in concern_texts(bot, director) if t.startswith("⏰")]) == 1
    await tick(bot, T0 + timedelta(hours=172, minutes=1))
    assert len([t for t in concern_texts(bot, director) if t.startswith("⏰")]) == 2
    at(bot, T0 + timedelta(hours=173))
    await bot.press(director.who, "Resolve")
    await bot.send(director.who, "It stopped.")
    await tick(bot, T0 + timedelta(days=30))
    assert len([t for t in concern_texts(bot, director) if t.startswith("⏰")]) == 2


@pytest.mark.parametrize("locale", ["zh_Hans", "en"])
async def test_a_taken_up_concern_opens_again_when_its_holder_blocks_the_bot(
    bot: Harness, db: Database, locale: str
) -> None:
    at(bot, T0)
    director, supervisor, _officer = await full_ladder(db)
    gran = await family(bot, locale)
    await report(bot, gran, "Hurt by someone, violence")  # high: follow-up after 24 hours
    await bot.press(director.who, "acknowledge")
    bot.api.block(director.who.id)
    # The follow-up reminder meets a 403: the concern is open again and climbs to the supervisor at once.
    await tick(bot, T0 + timedelta(hours=24, minutes=1))
    row = await concern(db)
    assert row.status == "open" and row.acknowledged_by_user_id is None
    [up] = concern_texts(bot, supervisor)
    assert up.startswith(supervisor._("⬆️ The person below cannot be reached; now with you."))
    assert row.ack_due_at == T0 + timedelta(hours=24, minutes=1) + timedelta(hours=2)
    async with db.transaction() as s:
        kinds = (await s.scalars(select(CaseEvent.kind).order_by(CaseEvent.id))).all()
    assert "reopened" in kinds
    # The supervisor takes it up; the reporter hears who has it now.
    await bot.press(supervisor.who, supervisor._("✅ I will look at it (acknowledge)"))
    assert (await concern(db)).status == "acknowledged"


async def test_a_holder_who_deletes_their_data_hands_it_back_to_the_others_on_the_rung(
    bot: Harness, db: Database
) -> None:
    at(bot, T0)
    director = await caseworker_on(db, 5001, "child-director", VILLAGE)
    deputy = await caseworker_on(db, 5004, "child-director", VILLAGE)
    gran = await family(bot, "en")
    await report(bot, gran, "Bullying")
    assert len(concern_texts(bot, deputy)) == 1
    await bot.press(director.who, "acknowledge")
    await bot.send(director.who, "/deletemydata")
    await bot.press(director.who, director._("Yes, delete everything"))
    # The other child director of the village was told it was taken; now they are told it is open again.
    again = concern_texts(bot, deputy)[-1]
    assert again.startswith(
        deputy._("🔁 Open again: the person who took it up can no longer be reached. Please take it up.")
    )
    row = await concern(db)
    assert row.status == "open" and row.ack_due_at == T0 + timedelta(hours=24)


async def test_new_information_that_the_child_is_in_danger_makes_it_an_emergency_for_every_rung(
    bot: Harness, db: Database
) -> None:
    at(bot, T0)
    director, supervisor, officer = await full_ladder(db)
    gran = await family(bot, "en")
    await report(bot, gran, "Not going to school")
    assert concern_texts(bot, supervisor) == concern_texts(bot, officer) == []
    at(bot, T0 + timedelta(minutes=4))
    await bot.send(gran.who, "/report")
    await bot.press(gran.who, "小明")
    await bot.press(gran.who, "Not going to school")
    await bot.press(gran.who, "⚠️ Yes, in danger now")
    await bot.send(gran.who, "His father came back drunk and is beating him")
    await bot.press(gran.who, "No, keep me out of it")
    await bot.press(gran.who, "📨 Send now")
    await bot.press(gran.who, "➕ Add to that report")
    row = await concern(db)
    assert row.urgency == "emergency" and row.in_danger
    assert row.ack_due_at == T0 + timedelta(minutes=4 + 15)
    # The ladder catches up: the township and the county hear it now, not after a day.
    assert len(concern_texts(bot, supervisor)) == 1 and len(concern_texts(bot, officer)) == 1
    assert any("⚠️ This is now: EMERGENCY" in t for t in concern_texts(bot, director))


@pytest.mark.parametrize("locale", ["zh_Hans", "en"])
async def test_not_sure_is_kept_apart_from_yes(bot: Harness, db: Database, locale: str) -> None:
    at(bot, T0)
    director = await caseworker_on(db, 5001, "child-director", VILLAGE, locale)
    gran = await family(bot, locale)
    await report(bot, gran, "Bullying", danger="Not sure")
    row = await concern(db)
    assert row.in_danger and row.danger_unsure and row.urgency == "emergency"  # handled as danger
    [notice] = concern_texts(bot, director)
    assert director._("The reporter is not sure whether the child is in danger right now.") in notice
    assert director._("The reporter says the child is in danger right now.") not in notice


async def test_cases_come_in_pages_and_every_listing_is_audited(bot: Harness, db: Database) -> None:
    at(bot, T0)
    director = await caseworker_on(db, 5001, "child-director", VILLAGE)
    for i in range(10):
        # Different reporters, so none is offered as a duplicate of another.
        gran = await family(bot, "en", uid=6100 + i)
        at(bot, T0 + timedelta(minutes=i))
        await report(bot, gran, "Bullying")
    await bot.send(director.who, "/cases")
    first = bot.screen(director.who)
    assert "page 1 of 2" in first and "XC-2026-00001" in first and "XC-2026-00009" not in first
    await bot.press(director.who, "Next ▶️")
    second = bot.screen(director.who)
    assert "page 2 of 2" in second and "XC-2026-00009" in second and "XC-2026-00001" not in second
    await bot.press(director.who, "◀️ More urgent")
    assert "page 1 of 2" in bot.screen(director.who)
    await bot.press_data(director.who, "cs:page:99")  # a forged page shows the last one, nothing breaks
    assert "page 2 of 2" in bot.screen(director.who)
    async with db.transaction() as s:
        listed = (await s.scalars(select(AuditEvent.subject).where(AuditEvent.action == "concern.list"))).all()
    assert listed == ["page:0", "page:1", "page:0", "page:99"]


async def test_a_report_step_answered_days_later_is_not_filed(bot: Harness, db: Database) -> None:
    at(bot, T0)
    await caseworker_on(db, 5001, "child-director", VILLAGE)
    gran = await family(bot, "en")
    await bot.send(gran.who, "/report")
    await bot.press(gran.who, "小明")
    await bot.press(gran.who, "Bullying")
    await bot.press(gran.who, "No, not right now")
    assert "Tell us what happened" in bot.screen(gran.who)
    at(bot, T0 + timedelta(days=3))
    # Drafts are stamped by the database's clock, not the bot's: age them directly.
    async with db.transaction() as s:
        for draft in (await s.scalars(select(Draft))).all():
            draft.updated_at = draft.updated_at - timedelta(days=3)
    await bot.send(gran.who, "What time does the clinic open?")
    assert "That report was started a while ago and was not sent." in bot.all_text(gran.who)
    async with db.transaction() as s:
        assert (await s.scalars(select(Concern))).all() == []


async def test_a_case_action_in_the_middle_of_ones_own_report_waits(bot: Harness, db: Database) -> None:
    at(bot, T0)
    director = await caseworker_on(db, 5001, "child-director", VILLAGE)
    gran = await family(bot, "en")
    await report(bot, gran, "Bullying")
    # The director starts a report of their own about another child, then taps "Add a note" on the notification.
    await bot.send(director.who, "/report")
    await bot.press(director.who, "Datang Town")
    await bot.press(director.who, "Datang Village 2 (sample)")
    await bot.press(director.who, "Village staff")
    await bot.press(director.who, "Left alone, nobody caring")
    await bot.press(director.who, "No, not right now")
    await bot.press_data(director.who, "cs:note:1")
    assert "You have a report that is not sent yet." in bot.screen(director.who)
    # What they type next is the report's description, not a note on the other concern.
    await bot.send(director.who, "Two small children alone since Monday")
    assert "May the caseworker contact you" in bot.screen(director.who)
    async with db.transaction() as s:
        notes = (await s.scalars(select(CaseEvent).where(CaseEvent.kind == "note"))).all()
    assert notes == []
    await bot.press(director.who, "No, keep me out of it")
    await bot.press(director.who, "Send now")
    async with db.transaction() as s:
        rows = (await s.scalars(select(Concern).order_by(Concern.id))).all()
    assert (
        rows[1].description == "Two small children alone since Monday" and rows[1].reporter_relation == "village_staff"
    )


async def test_the_hotline_comes_from_the_policy_file(
    bot: Harness, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dataclasses import replace

    shipped = triage.policy()
    monkeypatch.setattr(triage, "policy", lambda: replace(shipped, hotline=triage.Hotline("12355", None)))
    at(bot, T0)
    gran = await family(bot, "en")
    await report(bot, gran, "Bullying")
    assert "Please call 12355 (minors' protection, day and night)." in bot.all_text(gran.who)
