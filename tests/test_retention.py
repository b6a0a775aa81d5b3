"""Retention: a resolved concern's free text and voice/photo references are purged after the retention period
(default 365 days); the anonymised timeline stays. Run by the housekeeping job."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

from sqlalchemy import select

from bot.app import housekeeping
from db.models import CaseEvent, Concern, ConcernAttachment, Outbox
from db.session import Database
from tests.harness import Harness
from tests.test_concerns import T0, VILLAGE, at, caseworker_on, family


async def test_resolved_concerns_lose_their_free_text_after_a_year(bot: Harness, db: Database) -> None:
    at(bot, T0)
    director = await caseworker_on(db, 5001, "child-director", VILLAGE)
    gran = await family(bot, "en")
    await bot.send(gran.who, "/report")
    await bot.press(gran.who, "小明")
    await bot.press(gran.who, "Hurt by someone, violence")
    await bot.press(gran.who, "No, not right now")
    voice = {"file_id": "AwACAgIAAxkBAAEretain", "file_unique_id": "AgADretain", "duration": 5}
    await bot.feed({"message": bot.message_json(gran.who, None, voice=voice, caption="He hit her with a belt")})
    await bot.press(gran.who, "Yes, they may contact me")
    await bot.press(gran.who, "Send now")
    await bot.press(director.who, "acknowledge")
    await bot.press(director.who, "Add a note")
    await bot.send(director.who, "Spoke with the uncle at the market")
    await bot.press(director.who, "Record the police report")
    await bot.send(director.who, "大塘派出所")
    await bot.send(director.who, "2026-1202-17")
    await bot.press(director.who, "Today")
    await bot.press(director.who, "Resolve")
    await bot.send(director.who, "Child safe with grandmother")

    async def run_housekeeping(days_later: int) -> None:
        at(bot, T0 + timedelta(days=days_later))
        await housekeeping(SimpleNamespace(application=bot.app))  # type: ignore[arg-type]

    await run_housekeeping(364)
    async with db.transaction() as s:
        concern = await s.scalar(select(Concern))
        assert concern is not None and concern.description == "He hit her with a belt" and concern.purged_at is None
    await run_housekeeping(366)
    async with db.transaction() as s:
        concern = await s.scalar(select(Concern))
        assert concern is not None and concern.purged_at is not None
        assert concern.description is None and concern.outcome is None
        assert concern.police_report is not None and "station" not in concern.police_report
        assert (await s.scalars(select(ConcernAttachment))).all() == []
        events = (await s.scalars(select(CaseEvent).order_by(CaseEvent.id))).all()
    # The timeline stays: every event, its kind and time, without words.
    kinds = [e.kind for e in events]
    assert {"created", "notified", "acknowledged", "note", "police_report", "resolved"} <= set(kinds)
    flat = repr([e.detail for e in events])
    for secret in ("uncle", "Child safe", "大塘派出所", "2026-1202-17"):
        assert secret not in flat
    # The caseworker's timeline still opens.
    await bot.send(director.who, "/cases")
    assert not bot.errors
    # Delivered messages lost their words after 30 days (they quoted the report); the rows and keys stay.
    async with db.transaction() as s:
        payloads = (await s.scalars(select(Outbox.payload).where(Outbox.status == "sent"))).all()
    assert payloads and all(p == {"purged": True} for p in payloads)
    assert "belt" not in repr(payloads)
