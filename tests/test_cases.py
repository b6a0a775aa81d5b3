"""The caseworker's side: cases in scope, the timeline, notes, the mandatory police-report gate, resolving."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from db.models import AuditEvent, CaseEvent, Concern
from db.session import Database
from tests.harness import Harness
from tests.journeys import Speaker
from tests.test_concerns import T0, VILLAGE, at, caseworker_on, family


async def report(bot: Harness, gran: Speaker, category_label: str) -> None:
    await bot.send(gran.who, "/report")
    await bot.press(gran.who, "小明")
    await bot.press(gran.who, gran._(category_label))
    await bot.press(gran.who, gran._("No, not right now"))
    await bot.press(gran.who, gran._("Skip"))
    await bot.press(gran.who, gran._("No, keep me out of it"))
    await bot.press(gran.who, gran._("📨 Send now"))


@pytest.mark.parametrize("locale", ["zh_Hans", "en"])
async def test_a_violence_concern_cannot_be_closed_without_the_police_report(
    bot: Harness, db: Database, locale: str
) -> None:
    at(bot, T0)
    director = await caseworker_on(db, 5001, "child-director", VILLAGE, locale)
    gran = await family(bot, locale)
    await report(bot, gran, "Hurt by someone, violence")
    await bot.send(director.who, "/cases")
    assert "XC-2026-00001" in bot.screen(director.who)
    assert director._("{n} min left").format(n=120) in bot.screen(director.who)
    await bot.press(director.who, "📂 XC-2026-00001")
    await bot.press(director.who, director._("✅ I will look at it (acknowledge)"))
    await bot.press(director.who, director._("📝 Add a note"))
    await bot.send(director.who, "Visited the family; the uncle has left.")
    screen = bot.screen(director.who)
    assert "Visited the family; the uncle has left." in screen
    # The gate: a mandatory-report category is not closed without the police report.
    await bot.press(director.who, director._("🏁 Resolve"))
    await bot.send(director.who, "Child safe with grandmother.")
    gate = director._(
        "This kind of concern must be reported to the police (Minors Protection Law, Art. 11). Record the police "
        "report, or why none was needed, before resolving it."
    )
    assert gate in bot.all_text(director.who)
    async with db.transaction() as s:
        concern = await s.scalar(select(Concern))
        assert concern is not None and concern.status == "acknowledged"
    # The police report as the law asks for it: the station, the receipt number and the day.
    await bot.press(director.who, director._("👮 Record the police report"))
    await bot.send(director.who, "大塘派出所")
    await bot.send(director.who, "2026-1202-17")
    assert director._("Yesterday") in bot.labels(director.who)
    await bot.send(director.who, "2026-12-09")  # a day still ahead is refused, and asked again
    assert director._("That date is in the future, or long before the concern. Please check it.") in bot.all_text(
        director.who
    )
    await bot.send(director.who, "12月1日")
    assert director._("{station}, receipt {receipt}, reported on {day}").format(
        station="大塘派出所", receipt="2026-1202-17", day=director.tr.date_only(date(2026, 12, 1))
    ) in bot.screen(director.who)
    await bot.press(director.who, director._("🏁 Resolve"))
    await bot.send(director.who, "Child safe with grandmother.")
    async with db.transaction() as s:
        concern = await s.scalar(select(Concern))
        assert concern is not None and concern.status == "resolved"
        assert concern.police_report is not None
        assert {k: concern.police_report[k] for k in ("station", "receipt", "reported_on")} == {
            "station": "大塘派出所",
            "receipt": "2026-1202-17",
            "reported_on": "2026-12-01",
        }
        kinds = (await s.scalars(select(CaseEvent.kind).order_by(CaseEvent.id))).all()
    assert kinds[:2] == ["created", "notified"]
    assert {"acknowledged", "note", "police_report", "resolved", "viewed"} <= set(kinds)
    # The reporter hears it was dealt with, from the verified post, never the person's details.
    told = [t for t in bot.api.texts(gran.who.id) if "XC-2026-00001" in t]
    assert any("✅" in t and ("已认证" in t or "Verified" in t) for t in told)
    assert all("5001" not in t for t in told)


async def test_a_bullying_concern_closes_without_a_police_report_and_views_are_audited(
    bot: Harness, db: Database
) -> None:
    at(bot, T0)
    director = await caseworker_on(db, 5001, "child-director", VILLAGE)
    gran = await family(bot, "en")
    await report(bot, gran, "Bullying")
    await bot.send(director.who, "/cases")
    await bot.press(director.who, "📂 XC-2026-00001")
    await bot.press(director.who, "🏁 Resolve")
    await bot.send(director.who, "Spoke with the teacher; it stopped.")
    async with db.transaction() as s:
        concern = await s.scalar(select(Concern))
        views = (await s.scalars(select(AuditEvent.subject).where(AuditEvent.action == "concern.view"))).all()
    assert concern is not None and concern.status == "resolved"
    assert views and set(views) == {f"concern:{concern.id}"}
    await bot.send(director.who, "/cases")
    assert "No open concerns in your area." in bot.screen(director.who)


async def test_a_caseworker_cannot_open_a_concern_outside_their_area(bot: Harness, db: Database) -> None:
    at(bot, T0)
    await caseworker_on(db, 5001, "child-director", VILLAGE)
    elsewhere = await caseworker_on(db, 5009, "child-director", "451321-05-S1")
    gran = await family(bot, "en")
    await report(bot, gran, "Bullying")
    await bot.send(elsewhere.who, "/cases")
    assert "No open concerns in your area." in bot.screen(elsewhere.who)
    async with db.transaction() as s:
        concern_id = await s.scalar(select(Concern.id))
    for data in (f"cs:open:{concern_id}", f"cs:note:{concern_id}", f"cs:resolve:{concern_id}"):
        await bot.press_data(elsewhere.who, data)
        assert bot.api.calls[-1].params.get("text", "").startswith("This button has expired")
    assert "XC-2026" not in bot.all_text(elsewhere.who)
    async with db.transaction() as s:
        refused = (await s.scalars(select(AuditEvent.action).where(AuditEvent.action == "concern.refused"))).all()
        assert len(refused) == 3
    # A person who is not a caseworker at all is refused too.
    await bot.send(gran.who, "/cases")
    assert bot.last_text(gran.who) == "That is no longer possible here. Tap /menu to start again."


async def test_refer_transfer_and_a_message_to_the_reporter(bot: Harness, db: Database) -> None:
    at(bot, T0)
    director = await caseworker_on(db, 5001, "child-director", VILLAGE)
    supervisor = await caseworker_on(db, 5002, "township-supervisor", "451321-02", "zh_Hans")
    gran = await family(bot, "en")
    await bot.send(gran.who, "/report")
    await bot.press(gran.who, "小明")
    await bot.press(gran.who, "Not going to school")
    await bot.press(gran.who, "No, not right now")
    await bot.press(gran.who, "Skip")
    await bot.press(gran.who, "Yes, they may contact me")
    await bot.press(gran.who, "Send now")
    await bot.send(director.who, "/cases")
    await bot.press(director.who, "📂 XC-2026-00001")
    await bot.press(director.who, "acknowledge")
    # Refer: the options are the directory's contacts for the village and the need; the choice is recorded.
    await bot.press(director.who, "🔀 Refer")
    assert "Datang Town Central Primary School (sample)" in bot.labels(director.who)
    await bot.press(director.who, "Datang Town Central Primary School (sample)")
    assert "Referral recorded: Datang Town Central Primary School (sample) 07720020003" in bot.all_text(director.who)
    # A message to the reporter, who agreed to be contacted: relayed under the verified post, no private details.
    await bot.press(director.who, "Message the reporter")
    await bot.send(director.who, "I will visit tomorrow morning.")
    relayed = [t for t in bot.api.texts(gran.who.id) if "I will visit tomorrow morning." in t]
    assert relayed and "✅ Verified: child director, Datang Village 1 (sample), Datang Town" in relayed[0]
    assert "5001" not in relayed[0]
    # Transfer to the township supervisor, who is told with the case.
    await bot.press(director.who, "Pass to another caseworker")
    await bot.press(director.who, "child welfare supervisor, Datang Town")
    passed = [t for t in bot.api.texts(supervisor.who.id) if "转给了您" in t]
    assert passed and "XC-2026-00001" in passed[0]
    async with db.transaction() as s:
        kinds = (await s.scalars(select(CaseEvent.kind))).all()
    assert {"referral", "message", "transferred"} <= set(kinds)


async def test_no_message_to_a_reporter_who_did_not_agree(bot: Harness, db: Database) -> None:
    at(bot, T0)
    director = await caseworker_on(db, 5001, "child-director", VILLAGE)
    gran = await family(bot, "en")
    await report(bot, gran, "Bullying")
    await bot.send(director.who, "/cases")
    await bot.press(director.who, "📂 XC-2026-00001")
    assert "💬 Message the reporter" not in bot.labels(director.who)
    async with db.transaction() as s:
        concern_id = await s.scalar(select(Concern.id))
    await bot.press_data(director.who, f"cs:msg:{concern_id}")
    await bot.send(director.who, "hello")
    assert not [t for t in bot.api.texts(gran.who.id) if "hello" in t]
