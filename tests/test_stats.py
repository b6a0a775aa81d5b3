"""The county's view: every figure of a known history, each scope seeing only its own, the charts in both
languages with no missing glyph, /stats in the bot, and the Monday digest (once per officer and week)."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.app import send_digests
from bot.i18n import Tr
from bot.runtime import Runtime
from bot.services import areas, charts, digest, stats
from db.models import (
    Area,
    CallOccurrence,
    CallSchedule,
    CaseEvent,
    Concern,
    Household,
    Membership,
    Outbox,
    Question,
    TipDelivery,
    TipFeedback,
    User,
    WelfareCheck,
)
from db.session import Database
from tests.harness import Harness
from tests.test_concerns import at, caseworker_on

ZONE = "Asia/Shanghai"
NOW = datetime(2026, 11, 29, 4, 0, tzinfo=UTC)  # Sunday 12:00 in Xincheng
DATANG, SILIAN = "451321-02", "451321-03"


def nov(day: int, hour: int = 2, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


async def _area(db: Database, code: str) -> int:
    async with db.transaction() as s:
        area_id = await s.scalar(select(Area.id).where(Area.code == code))
    assert area_id is not None
    return area_id


async def seed(db: Database) -> dict[str, int]:
    """A known month in two townships (and a little of October, outside it)."""
    async with db.transaction() as s:
        await areas.ensure_default_areas(s)
    d1, d2, s1 = [await _area(db, c) for c in ("451321-02-S1", "451321-02-S2", "451321-03-S1")]
    ids: dict[str, int] = {}
    async with db.transaction() as s:
        users = {}
        for n, name in enumerate(("gran1", "dad1", "gran2", "dad2", "gran3")):
            u = User(telegram_id=900 + n, chat_id=900 + n, locale="zh_Hans", timezone=ZONE, created_at=nov(1))
            s.add(u)
            users[name] = u
        await s.flush()
        homes = {}
        for name, village in (("h1", d1), ("h2", d2), ("h3", s1)):
            h = Household(village_id=village, created_at=datetime(2026, 9, 1, tzinfo=UTC))
            s.add(h)
            homes[name] = h
        await s.flush()
        for user, home, kind, joined in (
            ("gran1", "h1", "guardian", datetime(2026, 9, 1, tzinfo=UTC)),
            ("dad1", "h1", "parent", datetime(2026, 10, 1, tzinfo=UTC)),
            ("gran2", "h2", "guardian", datetime(2026, 9, 1, tzinfo=UTC)),
            ("dad2", "h2", "parent", nov(11)),
            ("gran3", "h3", "guardian", datetime(2026, 9, 1, tzinfo=UTC)),
        ):
            s.add(
                Membership(
                    household_id=homes[home].id, user_id=users[user].id, relation="x", kind=kind, joined_at=joined
                )
            )

        def concern(village: int, category: str, urgency: str, created: datetime, status: str, **kw: Any) -> Concern:
            c = Concern(
                village_id=village,
                category=category,
                urgency=urgency,
                status=status,
                created_at=created,
                description="小明的秘密描述",  # never in any figure
                **kw,
            )
            s.add(c)
            return c

        c1 = concern(d1, "violence", "emergency", nov(3), "acknowledged", acknowledged_at=nov(3, 2, 10))
        c2 = concern(d1, "not_in_school", "normal", nov(5), "resolved", acknowledged_at=nov(6, 8), resolved_at=nov(7))
        c3 = concern(d1, "bullying", "high", nov(10), "open")
        concern(d1, "other", "normal", nov(20), "resolved", acknowledged_at=nov(20, 4), resolved_at=nov(21))
        concern(d2, "left_alone", "high", nov(25), "acknowledged", acknowledged_at=nov(25, 5))
        concern(s1, "missing", "emergency", nov(12), "resolved", acknowledged_at=nov(12, 2, 5), resolved_at=nov(13))
        concern(s1, "other", "normal", nov(28), "open")
        concern(d1, "violence", "high", datetime(2026, 10, 20, tzinfo=UTC), "open")  # October: only "not resolved"
        await s.flush()
        for c in (c2, c3):
            s.add(CaseEvent(concern_id=c.id, at=c.created_at + timedelta(hours=25), kind="escalated"))
        ids["c1"] = c1.id

        schedules = {}
        for home, dad in (("h1", "dad1"), ("h2", "dad2")):
            sch = CallSchedule(
                household_id=homes[home].id,
                parent_user_id=users[dad].id,
                kind="weekly",
                weekdays="tue",
                local_time="20:00",
                timezone=ZONE,
                minutes=15,
                child_ids=[],
                created_at=datetime(2026, 10, 1, tzinfo=UTC),
            )
            s.add(sch)
            schedules[home] = sch
        await s.flush()
        for home, day, outcome in (
            ("h1", 3, "done"),
            ("h1", 4, "done"),
            ("h1", 17, "done"),
            ("h1", 24, "missed"),
            ("h2", 12, "done"),
            ("h2", 26, "done"),
        ):
            s.add(
                CallOccurrence(
                    schedule_id=schedules[home].id,
                    household_id=homes[home].id,
                    due_at=nov(day, 12),
                    local_date=f"2026-11-{day:02d}",
                    ask_at=nov(day, 13),
                    outcome=outcome,
                )
            )
        for village, created, closed in (
            (d1, nov(8), nov(15)),
            (s1, nov(20), None),
            (d1, datetime(2026, 10, 15, tzinfo=UTC), nov(2)),
        ):
            s.add(
                WelfareCheck(
                    village_id=village,
                    reason="no_contact",
                    status="closed" if closed else "open",
                    created_at=created,
                    closed_at=closed,
                )
            )
        for home, via, when in (
            ("h1", "subscription", nov(2)),
            ("h1", "subscription", nov(9)),
            ("h1", "subscription", nov(16)),
            ("h1", "browse", nov(10)),
            ("h1", "browse", nov(11)),
            ("h1", "subscription", datetime(2026, 10, 26, tzinfo=UTC)),
            ("h3", "browse", nov(19)),
        ):
            s.add(TipDelivery(household_id=homes[home].id, user_id=None, tip_id="t", via=via, sent_at=when))
        for user, tip, helpful, when in (
            ("gran1", "a", True, nov(10)),
            ("gran1", "b", False, nov(12)),
            ("gran3", "a", True, nov(20)),
        ):
            s.add(TipFeedback(user_id=users[user].id, tip_id=tip, helpful=helpful, at=when))
        for village, status, created, answered_hours in (
            (d1, "library", nov(5), None),
            (d1, "answered", nov(6), 4),
            (d2, "answered", nov(7), 10),
            (d1, "open", nov(27), None),
            (s1, "answered", nov(8), 2),
        ):
            s.add(
                Question(
                    village_id=village,
                    status=status,
                    created_at=created,
                    text="孩子不吃饭怎么办" if status != "library" else None,
                    answered_at=created + timedelta(hours=answered_hours) if answered_hours else None,
                    answer="多陪伴" if answered_hours else None,
                )
            )
    return ids


async def county_figures(db: Database, code: str = "451321") -> stats.Figures:
    async with db.transaction() as s:
        scope = await stats.scope_of(s, await s.scalar(select(Area.id).where(Area.code == code)))
        return await stats.figures(s, scope, stats.period("month", NOW, ZONE), now=NOW)


async def test_every_figure_of_a_known_month(db: Database) -> None:
    await seed(db)
    f = await county_figures(db)
    assert (f.period.first_day.isoformat(), f.period.last_day.isoformat()) == ("2026-11-01", "2026-11-29")
    assert {k: v for k, v in f.by_category.items() if v} == {
        "violence": 1,
        "not_in_school": 1,
        "bullying": 1,
        "other": 2,
        "left_alone": 1,
        "missing": 1,
    }
    assert f.concerns == 7
    assert f.by_status == {"open": 2, "acknowledged": 2, "resolved": 3}
    codes = {t.id: t.code for t in f.scope.townships}
    open_by_code = {codes[t]: n for t, n in f.open_by_township.items()}
    assert len(open_by_code) == 12 and open_by_code[DATANG] == 4 and open_by_code[SILIAN] == 1
    assert sum(open_by_code.values()) == 5
    ack = {a.urgency: a for a in f.acknowledgement}
    assert (ack["emergency"].total, ack["emergency"].in_time, ack["emergency"].late, ack["emergency"].waiting) == (
        2,
        2,
        0,
        0,
    )
    assert ack["emergency"].median_minutes == 7.5 and ack["emergency"].climbed == 0
    assert (ack["high"].total, ack["high"].in_time, ack["high"].late, ack["high"].waiting, ack["high"].climbed) == (
        2,
        0,
        1,
        1,
        1,
    )
    assert ack["high"].median_minutes == 180
    assert (ack["normal"].in_time, ack["normal"].late, ack["normal"].waiting, ack["normal"].climbed) == (1, 1, 1, 1)
    assert ack["normal"].median_minutes == (30 * 60 + 120) / 2
    assert [(w.first_day.isoformat(), w.households, w.with_call) for w in f.weeks] == [
        ("2026-10-26", 1, 0),
        ("2026-11-02", 1, 1),
        ("2026-11-09", 2, 1),
        ("2026-11-16", 2, 1),
        ("2026-11-23", 2, 1),
    ]
    assert f.contact_share == 0.5
    assert (f.welfare_raised, f.welfare_closed) == (2, 2)
    assert (f.tips_sent, f.tips_browsed, f.tips_helpful, f.tips_not_for_me) == (3, 3, 2, 1)
    assert (f.questions_asked, f.questions_by_library, f.questions_by_person, f.questions_waiting) == (5, 1, 3, 1)
    assert f.answer_median_hours == 4


async def test_a_township_sees_only_its_own(db: Database) -> None:
    await seed(db)
    f = await county_figures(db, DATANG)
    assert [t.code for t in f.scope.townships] == [DATANG]
    assert f.concerns == 5 and f.by_status == {"open": 1, "acknowledged": 2, "resolved": 2}
    assert list(f.open_by_township.values()) == [4]
    assert (f.welfare_raised, f.welfare_closed) == (1, 2)
    assert (f.tips_sent, f.tips_browsed, f.tips_helpful, f.tips_not_for_me) == (3, 2, 1, 1)
    assert (f.questions_asked, f.questions_by_person, f.answer_median_hours) == (4, 2, 7)
    silian = await county_figures(db, SILIAN)
    assert silian.concerns == 2 and silian.weeks[-1].households == 0  # no parent linked there


@pytest.mark.parametrize("locale", ["zh_Hans", "en"])
async def test_the_charts_draw_every_label_in_both_languages(db: Database, locale: str) -> None:
    await seed(db)
    f = await county_figures(db)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warns of each glyph its font lacks: that must not happen
        drawn = charts.all_charts(Tr(locale, ZONE), f)
    assert [c.name for c in drawn] == ["concerns", "open", "acknowledgement", "contact", "help"]
    for chart in drawn:
        assert chart.png.startswith(b"\x89PNG") and len(chart.png) > 10_000
    assert drawn[0].title == Tr(locale, ZONE).gettext("Concerns reported: {n}").format(n=7)


@pytest.mark.parametrize("locale", ["zh_Hans", "en"])
async def test_stats_in_the_bot_for_a_supervisor_only_their_township(bot: Harness, db: Database, locale: str) -> None:
    await seed(db)
    at(bot, NOW)
    sup = await caseworker_on(db, 5102, "township-supervisor", DATANG, locale)
    director = await caseworker_on(db, 5101, "child-director", "451321-02-S1", locale)
    await bot.send(sup.who, "/stats")
    await bot.press(sup.who, sup._("This month"))
    screen = bot.screen(sup.who)
    assert (
        sup._("Concerns reported: {n}; taken up within the deadline: {in_time}; climbed a level: {climbed}.").format(
            n=5, in_time=2, climbed=2
        )
        in screen
    )
    assert "大塘镇" in screen or "Datang Town" in screen
    albums = [c for c in bot.api.calls if c.method == "sendMediaGroup" and int(c.params["chat_id"]) == sup.who.id]
    assert len(albums) == 1 and len(albums[0].params["media"]) == 5
    uploads = [data for chat, _name, data in bot.api.uploads if chat == sup.who.id]
    assert len(uploads) == 5 and all(d.startswith(b"\x89PNG") for d in uploads)
    captions = [m["caption"] for m in albums[0].params["media"]]
    assert captions[0] == sup._("Concerns reported: {n}").format(n=5)
    # A village child director is told the figures are not for them; a forged period press shows nothing.
    await bot.send(director.who, "/stats")
    told = bot.api.texts(director.who.id)[-2]
    assert director._("The figures are for township supervisors and county officers.") in told
    before = len(bot.api.uploads)
    await bot.press_data(director.who, "st:month")
    assert len(bot.api.uploads) == before


@pytest.mark.parametrize("locale", ["zh_Hans", "en"])
async def test_the_monday_digest_goes_once_to_each_county_officer(bot: Harness, db: Database, locale: str) -> None:
    await seed(db)
    officer = await caseworker_on(db, 5103, "county-officer", "451321", locale)
    rt: Runtime = bot.app.bot_data[Runtime.KEY]
    monday = datetime(2026, 11, 30, 0, 30, tzinfo=UTC)  # Monday 08:30 in Xincheng: not yet
    assert digest.monday_due(monday, ZONE).isoformat() == "2026-11-23"
    at(bot, datetime(2026, 11, 30, 1, 5, tzinfo=UTC))  # 09:05
    ids = await send_digests(rt)
    assert len(ids) == 2
    assert await send_digests(rt) == []  # once a week, however often the job runs
    text = bot.api.texts(officer.who.id)[-1]
    # Last week is 23-29 November: c5 (left alone) and c7 (other) were reported; the week before, c4.
    line = officer._("Concerns reported: {n}; taken up within the deadline: {in_time}; climbed a level: {climbed}.")
    assert line.format(n=2, in_time=0, climbed=0) in text
    assert (
        officer._("{sign} concerns reported: {now} (the week before: {before})").format(sign="▲", now=2, before=1)
        in text
    )
    assert "秘密" not in text and "孩子不吃饭" not in text
    albums = [c for c in bot.api.calls if c.method == "sendMediaGroup" and int(c.params["chat_id"]) == officer.who.id]
    assert len(albums) == 1 and len(albums[0].params["media"]) == 5
    async with db.transaction() as s:
        kinds = (await s.scalars(select(Outbox.kind).where(Outbox.user_id.is_not(None)).order_by(Outbox.id))).all()
        assert [k for k in kinds if k.startswith("digest")] == ["digest_text", "digest_charts"]
        assert await s.scalar(select(func.count()).select_from(Outbox).where(Outbox.status == "sent")) >= 2
