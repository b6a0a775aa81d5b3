"""Charts for a county-sized history: 5,000 households, 2,000 concerns and a year of weekly calls.

Run: `.venv/bin/python -m bench.charts [--quick] [--backends sqlite,postgresql] [--profile]`.

For each backend a fresh migrated database gets, by bulk INSERTs through SQLAlchemy core in chunks (not the
ORM, not the bot's flows): the shipped areas, N households spread unevenly over the county's villages (a
grandmother, membership kind "guardian", and a father working away, kind "parent"; one or two children), a
weekly call schedule per household and 52 weeks of its call occurrences (most confirmed "done", some "missed",
"moved" or unanswered, a few skipped for a home visit; the last ones still to come), 2,000 concerns over the
year with their categories, urgencies, acknowledgements, resolutions and case events ("escalated" for those
taken up late or not at all), welfare checks, tip deliveries (weekly by subscription and browsed), tip
feedback and questions; and one county officer, whose post gives the county scope.

Measured, at a fixed `NOW` in the seeded year's last week, for the county scope (`stats.scope_for` of the
officer) and each period of `stats.PERIODS`:
  (a) `stats.figures` in its own transaction, as /stats runs it: the database part (repeated; median, max).
  (b) each chart of `charts.CHARTS` drawn from those figures, in both locales (zh_Hans, en): the draw time
      (repeated; median, max). The first draw in the process (matplotlib and the CJK font loading) is
      reported on its own and kept out of the warm samples.
  Attribution: the time a person waits for one chart is taken as `figures` once plus that chart's draw, and
  its worst case as the slowest `figures` of the period plus the slowest draw of the chart (either locale).
  /stats draws all five before sending the album, so "figures + all five" is printed beside, for reference.
  Also, per period: each part of `figures` (stats' own helpers, called one by one), its wall time and the
  SQL part of it (statement sent until rows back), to say which query is slow if one is (the table shows the
  quarter's); `--profile` prints cProfile's top functions of one `figures` per period.

Target: every chart, figures included, under 2 s (the worst case above, every period, both locales). The
figures are printed and merged into `bench/results/latest.json` under "charts"; exit status 1 when a target
is missed.
"""

from __future__ import annotations

import asyncio
import cProfile
import io
import os
import pstats
import random
import statistics
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)  # a Wednesday, 11:00 in Xincheng (Asia/Shanghai, UTC+8)
SHANGHAI = timedelta(hours=8)
ZONE = "Asia/Shanghai"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
LOCALES = ("zh_Hans", "en")
WEEKS = 52  # a year of weekly calls
TARGET_CHART_S = 2.0
CHUNK = 5_000
FULL = {"households": 5_000, "concerns": 2_000, "figures_runs": 5, "draw_runs": 3}
QUICK = {"households": 1_000, "concerns": 400, "figures_runs": 3, "draw_runs": 2}
FIGURE_PARTS = ("_concerns", "_open_by_township", "_acknowledgement", "_weeks", "_welfare", "_tips", "_questions")


# --- seeding -----------------------------------------------------------------------------------------------


def _local(utc: datetime) -> datetime:
    return (utc + SHANGHAI).replace(tzinfo=None)


def _utc(local: datetime) -> datetime:
    return (local - SHANGHAI).replace(tzinfo=UTC)


def _monday_local(utc: datetime) -> datetime:
    local = _local(utc)
    return datetime(local.year, local.month, local.day) - timedelta(days=local.weekday())


FIRST_MONDAY = _monday_local(NOW) - timedelta(weeks=WEEKS - 1)  # local midnight: the seeded year starts here
YEAR_START = _utc(FIRST_MONDAY)


def _between(rng: random.Random, start: datetime, end: datetime) -> datetime:
    return start + timedelta(seconds=rng.uniform(0, (end - start).total_seconds()))


def _occurrences(households: list[dict[str, Any]], rng: random.Random) -> Iterator[dict[str, Any]]:
    """52 weekly occurrences per household, generated lazily (about 260,000 rows at full size)."""
    next_id = 1
    for h in households:
        hid, weekday, hh, mm = h["id"], h["weekday"], h["hh"], h["mm"]
        reliable = h["reliable"]
        for week in range(WEEKS):
            local = FIRST_MONDAY + timedelta(weeks=week, days=weekday, hours=hh, minutes=mm)
            due = _utc(local)
            ask = due + timedelta(minutes=45)
            row: dict[str, Any] = {
                "id": next_id,
                "schedule_id": hid,
                "household_id": hid,
                "due_at": due,
                "local_date": local.date().isoformat(),
                "skipped": None,
                "parent_reminded_at": None,
                "guardian_reminded_at": None,
                "ask_at": ask,
                "asked_at": None,
                "outcome": None,
                "confirmed_by_user_id": None,
                "confirmed_at": None,
            }
            next_id += 1
            if due - timedelta(hours=1) <= NOW:
                roll = rng.random()
                if roll < 0.03:
                    row["skipped"] = "home_visit"
                else:
                    row["parent_reminded_at"] = due - timedelta(hours=1)
                    row["guardian_reminded_at"] = due - timedelta(minutes=30)
            if row["skipped"] is None and ask <= NOW:
                row["asked_at"] = ask
                roll = rng.random()
                if roll < reliable:
                    outcome = "done"
                elif roll < reliable + (1 - reliable) * 0.6:
                    outcome = "missed"
                elif roll < reliable + (1 - reliable) * 0.7:
                    outcome = "moved"
                else:
                    outcome = None  # nobody answered the question
                if outcome is not None:
                    at = ask + timedelta(minutes=rng.randrange(1, 600))
                    if at <= NOW:
                        row["outcome"] = outcome
                        row["confirmed_by_user_id"] = 2 * hid if rng.random() < 0.7 else 2 * hid - 1
                        row["confirmed_at"] = at
            yield row


def _concern_rows(
    n: int, households: list[dict[str, Any]], rng: random.Random
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    from bot.services import triage

    policy = triage.policy()
    weights = {
        "danger_now": 1,
        "violence": 4,
        "sexual_abuse": 1,
        "left_alone": 14,
        "missing": 2,
        "injury_illness": 12,
        "self_harm": 2,
        "not_in_school": 18,
        "bullying": 10,
        "other": 20,
    }
    categories = [c for c in triage.CATEGORIES]
    concerns: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []

    def event(concern_id: int, at: datetime, kind: str) -> None:
        events.append(
            {
                "id": len(events) + 1,
                "concern_id": concern_id,
                "at": at,
                "kind": kind,
                "actor_user_id": None,
                "post_id": None,
                "detail": {},
            }
        )

    created_times = sorted(_between(rng, YEAR_START, NOW - timedelta(minutes=30)) for _ in range(n))
    for i, created in enumerate(created_times):
        cid = i + 1
        h = rng.choice(households)
        category = rng.choices(categories, weights=[weights.get(c, 5) for c in categories])[0]
        in_danger = rng.random() < 0.06
        urgency = "emergency" if in_danger else policy.urgency[category]
        deadline = triage.ack_deadline(policy, urgency)
        roll = rng.random()
        if roll < 0.72:
            wait = deadline * rng.uniform(0.05, 1.0)
        elif roll < 0.96:
            wait = deadline * rng.uniform(1.05, 6.0)
        else:
            wait = None  # nobody has taken it up
        taken = created + wait if wait is not None and created + wait <= NOW else None
        acknowledged = resolved = None
        if taken is not None:
            age = NOW - taken
            straight = rng.random() < 0.05  # resolved straight away, never "acknowledged"
            acknowledged = None if straight else taken
            if straight:
                resolved = taken
            elif rng.random() < (0.92 if age > timedelta(days=14) else 0.3):
                done = taken + timedelta(hours=rng.uniform(2, 24 * 14))
                resolved = done if done <= NOW else None
        status = "resolved" if resolved else "acknowledged" if acknowledged else "open"
        escalations = 0
        if wait is None or wait > deadline:
            escalations = 1 if wait is not None and wait < 2 * deadline else 2
        concerns.append(
            {
                "id": cid,
                "ref": f"B{cid:06d}",
                "village_id": h["village_id"],
                "household_id": h["id"],
                "child_id": None,
                "about_other_child": rng.random() < 0.1,
                "description": None,
                "category": category,
                "in_danger": in_danger,
                "danger_unsure": False,
                "urgency": urgency,
                "status": status,
                "rung": min(escalations, 2),
                "at_admins": False,
                "admin_reminders": 0,
                "ack_due_at": created + deadline,
                "created_at": created,
                "acknowledged_at": acknowledged,
                "acknowledged_post_id": None,
                "acknowledged_by_user_id": None,
                "follow_up_at": acknowledged + triage.follow_up(policy, urgency)
                if status == "acknowledged" and acknowledged
                else None,
                "resolved_at": resolved,
                "outcome": None,
                "police_report": None,
                "reporter_user_id": 2 * h["id"],
                "reporter_relation": "grandmother",
                "reporter_shares_contact": False,
                "purged_at": None,
            }
        )
        event(cid, created, "created")
        event(cid, created, "notified")
        for k in range(escalations):
            at = created + deadline * (k + 1)
            if at <= NOW:
                event(cid, at, "escalated")
        if acknowledged:
            event(cid, acknowledged, "acknowledged")
        if resolved:
            event(cid, resolved, "resolved")
    return concerns, events


def _welfare_rows(households: list[dict[str, Any]], rng: random.Random, n: int) -> list[dict[str, Any]]:
    rows = []
    for i, h in enumerate(rng.sample(households, n)):  # distinct households: one open request per reason
        created = _between(rng, YEAR_START, NOW)
        closed = created + timedelta(days=rng.uniform(0.5, 12))
        is_closed = closed <= NOW and rng.random() < 0.9
        rows.append(
            {
                "id": i + 1,
                "household_id": h["id"],
                "village_id": h["village_id"],
                "reason": "no_contact" if i % 3 else "guardian_silent",
                "status": "closed" if is_closed else "open",
                "created_at": created,
                "closed_at": closed if is_closed else None,
                "closed_by_user_id": None,
                "note": None,
            }
        )
    return rows


def _tip_rows(
    households: list[dict[str, Any]], rng: random.Random
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """Weekly tips for 40% of the grandmothers, browsing by anyone, feedback on some; their subscriptions."""
    deliveries: list[dict[str, Any]] = []
    subscriptions: list[dict[str, Any]] = []
    feedback: list[dict[str, Any]] = []
    tips = [f"tip-{k:03d}" for k in range(300)]
    for h in households:
        if rng.random() >= 0.4:
            continue
        uid = 2 * h["id"]
        weekday, hh = rng.randrange(7), rng.randrange(7, 21)
        subscriptions.append(
            {
                "id": len(subscriptions) + 1,
                "user_id": uid,
                "household_id": h["id"],
                "frequency": "weekly",
                "weekday": WEEKDAYS[weekday],
                "local_time": f"{hh:02d}:00",
                "timezone": ZONE,
                "status": "active",
                "next_due_at": None,
                "created_at": YEAR_START - timedelta(days=30),
            }
        )
        for week in range(WEEKS):
            sent = _utc(FIRST_MONDAY + timedelta(weeks=week, days=weekday, hours=hh))
            if sent > NOW:
                break
            deliveries.append(
                {
                    "household_id": h["id"],
                    "user_id": uid,
                    "tip_id": tips[(h["id"] + week) % len(tips)],
                    "via": "subscription",
                    "slot": sent.isoformat(),
                    "sent_at": sent,
                }
            )
    for _ in range(len(households) * 4):
        h = rng.choice(households)
        deliveries.append(
            {
                "household_id": h["id"],
                "user_id": 2 * h["id"] - (rng.random() < 0.3),
                "tip_id": rng.choice(tips),
                "via": "browse",
                "slot": None,
                "sent_at": _between(rng, YEAR_START, NOW),
            }
        )
    deliveries.sort(key=lambda r: r["sent_at"])
    for i, row in enumerate(deliveries):
        row["id"] = i + 1
    seen: set[tuple[int, str]] = set()
    for row in rng.sample(deliveries, len(deliveries) // 20):
        key = (row["user_id"], row["tip_id"])
        if key in seen:
            continue
        seen.add(key)
        feedback.append(
            {
                "id": len(feedback) + 1,
                "user_id": row["user_id"],
                "tip_id": row["tip_id"],
                "helpful": rng.random() < 0.75,
                "at": min(NOW, row["sent_at"] + timedelta(hours=rng.uniform(0, 48))),
            }
        )
    return deliveries, subscriptions, feedback


def _question_rows(households: list[dict[str, Any]], rng: random.Random, n: int) -> list[dict[str, Any]]:
    rows = []
    for i in range(n):
        h = rng.choice(households)
        created = _between(rng, YEAR_START, NOW)
        roll = rng.random()
        answered = created + timedelta(hours=rng.lognormvariate(2.0, 0.9))
        if roll < 0.4:
            status, answered_at, helped = "library", None, True
        elif answered <= NOW and roll < 0.93:
            status, answered_at, helped = "answered", answered, None
        else:
            status, answered_at, helped = "open", None, None
        rows.append(
            {
                "id": i + 1,
                "asker_user_id": 2 * h["id"],
                "village_id": h["village_id"],
                "text": None,
                "voice_file_id": None,
                "status": status,
                "level": "township" if status != "library" and rng.random() < 0.2 else "village",
                "created_at": created,
                "due_at": created + timedelta(hours=48) if status != "library" else None,
                "answered_at": answered_at,
                "answered_by_post_id": None,
                "answer": None,
                "library_helped": helped,
            }
        )
    return rows


async def seed(db: Any, n: int, n_concerns: int) -> dict[str, Any]:
    """The county's year; returns the row counts, the officer's user id and the seconds per table."""
    from sqlalchemy import select, text

    from bench.support import reset_sequences, seed_places
    from db.models import (
        Area,
        CallOccurrence,
        CallSchedule,
        CaseEvent,
        CaseworkerPost,
        Child,
        Concern,
        Household,
        Membership,
        Question,
        TipDelivery,
        TipFeedback,
        TipSubscription,
        User,
        WelfareCheck,
    )

    await seed_places(db)
    async with db.transaction() as session:
        villages = list((await session.scalars(select(Area.id).where(Area.level == "village"))).all())
        county = await session.scalar(select(Area.id).where(Area.level == "county").order_by(Area.code))
    rng = random.Random(20261125)
    village_weight = [rng.uniform(0.4, 1.6) for _ in villages]  # some villages send more workers away
    created = YEAR_START - timedelta(days=60)
    users: list[dict[str, Any]] = []
    households: list[dict[str, Any]] = []
    members: list[dict[str, Any]] = []
    children: list[dict[str, Any]] = []
    schedules: list[dict[str, Any]] = []
    for i in range(n):
        hid = i + 1
        village = rng.choices(villages, weights=village_weight)[0]
        for uid, role in ((2 * hid - 1, "parent"), (2 * hid, "guardian")):
            users.append(
                {
                    "id": uid,
                    "telegram_id": 10_000_000_000 + uid,
                    "chat_id": 10_000_000_000 + uid,
                    "locale": "zh_Hans" if uid % 5 else "en",
                    "timezone": ZONE,
                    "role": role,
                    "notice_accepted_at": created,
                    "notice_declined_at": None,
                    "unreachable": False,
                    "created_at": created,
                    "timezone_chosen": role == "parent",
                    "quiet_hours": None,
                    "last_seen_at": NOW - timedelta(hours=rng.randrange(1, 240)),
                }
            )
        for uid, relation, kind in ((2 * hid - 1, "father", "parent"), (2 * hid, "grandmother", "guardian")):
            members.append(
                {
                    "id": uid,
                    "household_id": hid,
                    "user_id": uid,
                    "relation": relation,
                    "kind": kind,
                    "joined_at": created + timedelta(days=rng.uniform(0, 20)),
                }
            )
        kids = []
        for k in range(1 + i % 2):
            kids.append(len(children) + 1)
            children.append(
                {
                    "id": len(children) + 1,
                    "household_id": hid,
                    "nickname": f"孩子{k + 1}",
                    "birth_year": 2012 + (i + 5 * k) % 12,
                    "birth_month": 1 + (i + k) % 12,
                    "school": None,
                    "created_at": created,
                }
            )
        weekday, hh, mm = rng.randrange(7), rng.choice((19, 20, 20, 21)), rng.choice((0, 0, 30))
        households.append(
            {
                "id": hid,
                "village_id": village,
                "created_at": created,
                # not columns: the schedule and how reliably this father calls
                "weekday": weekday,
                "hh": hh,
                "mm": mm,
                "reliable": rng.betavariate(6, 1.5),
            }
        )
        nxt = FIRST_MONDAY + timedelta(weeks=WEEKS - 1, days=weekday, hours=hh, minutes=mm)
        if _utc(nxt) <= NOW:
            nxt += timedelta(weeks=1)
        schedules.append(
            {
                "id": hid,
                "household_id": hid,
                "parent_user_id": 2 * hid - 1,
                "kind": "weekly",
                "weekdays": WEEKDAYS[weekday],
                "local_time": f"{hh:02d}:{mm:02d}",
                "timezone": ZONE,
                "once_at": None,
                "minutes": 15,
                "child_ids": kids,
                "status": "active",
                "next_due_at": _utc(nxt),
                "revision": 0,
                "created_at": created,
            }
        )
    officer = 2 * n + 1
    users.append(
        {
            "id": officer,
            "telegram_id": 10_000_000_000 + officer,
            "chat_id": 10_000_000_000 + officer,
            "locale": "zh_Hans",
            "timezone": ZONE,
            "role": "caseworker",
            "notice_accepted_at": created,
            "notice_declined_at": None,
            "unreachable": False,
            "created_at": created,
            "timezone_chosen": False,
            "quiet_hours": None,
            "last_seen_at": NOW - timedelta(hours=2),
        }
    )
    posts = [
        {
            "id": 1,
            "user_id": officer,
            "area_id": county,
            "level": "county",
            "active": True,
            "phone": None,
            "verified_at": created,
        }
    ]
    concerns, events = _concern_rows(n_concerns, households, rng)
    welfare = _welfare_rows(households, rng, max(1, n * 6 // 100))
    deliveries, subscriptions, feedback = _tip_rows(households, rng)
    questions = _question_rows(households, rng, n * 3 // 10)
    household_rows = [{k: h[k] for k in ("id", "village_id", "created_at")} for h in households]

    tables: list[tuple[Any, Any]] = [
        (User.__table__, users),
        (Household.__table__, household_rows),
        (Membership.__table__, members),
        (Child.__table__, children),
        (CaseworkerPost.__table__, posts),
        (CallSchedule.__table__, schedules),
        (CallOccurrence.__table__, _occurrences(households, rng)),
        (Concern.__table__, concerns),
        (CaseEvent.__table__, events),
        (WelfareCheck.__table__, welfare),
        (TipSubscription.__table__, subscriptions),
        (TipDelivery.__table__, deliveries),
        (TipFeedback.__table__, feedback),
        (Question.__table__, questions),
    ]
    counts: dict[str, int] = {}
    seconds: dict[str, float] = {}
    for table, rows in tables:
        started = time.perf_counter()
        count = 0
        async with db.engine.begin() as conn:
            chunk: list[dict[str, Any]] = []
            for row in rows:
                chunk.append(row)
                if len(chunk) == CHUNK:
                    await conn.execute(table.insert(), chunk)  # executemany of plain dicts
                    count += len(chunk)
                    chunk = []
            if chunk:
                await conn.execute(table.insert(), chunk)
                count += len(chunk)
        counts[table.name] = count
        seconds[table.name] = round(time.perf_counter() - started, 2)
    await reset_sequences(db, [t.name for t, _ in tables])
    if db.dialect == "postgresql":  # what autovacuum's analyze would soon have done after a year of rows
        async with db.engine.begin() as conn:
            await conn.execute(text("ANALYZE"))
    return {"rows": counts, "insert_s": seconds, "officer_user_id": officer, "villages": len(villages)}


# --- measuring ---------------------------------------------------------------------------------------------


def _stat(samples: list[float]) -> dict[str, Any]:
    return {
        "median_s": round(statistics.median(samples), 4),
        "max_s": round(max(samples), 4),
        "samples_s": [round(s, 4) for s in samples],
    }


class SqlClock:
    """Seconds between sending each statement and having its rows (both drivers fetch them in `execute`)."""

    def __init__(self, db: Any) -> None:
        from sqlalchemy import event

        self._event = event
        self._engine = db.engine.sync_engine
        self.seconds = 0.0
        event.listen(self._engine, "before_cursor_execute", self._before)
        event.listen(self._engine, "after_cursor_execute", self._after)

    def _before(self, conn: Any, *_args: Any) -> None:
        conn.info["bench_t"] = time.perf_counter()

    def _after(self, conn: Any, *_args: Any) -> None:
        self.seconds += time.perf_counter() - conn.info.pop("bench_t", time.perf_counter())

    def remove(self) -> None:
        self._event.remove(self._engine, "before_cursor_execute", self._before)
        self._event.remove(self._engine, "after_cursor_execute", self._after)


async def figure_parts(db: Any, scope: Any, when: Any, runs: int = 3) -> dict[str, dict[str, float]] | None:
    """Each part of `figures` (stats' own helpers, called one by one): wall time and the SQL part of it, in
    ms, the median of `runs` (None if stats' helpers have changed)."""
    from bot.services import stats

    samples: dict[str, list[tuple[float, float]]] = {}
    clock = SqlClock(db)
    try:
        for _ in range(runs):
            async with db.transaction() as session:
                villages = scope.village_ids
                found: dict[str, Any] = {}

                async def concerns(session: Any = session, villages: Any = villages, found: Any = found) -> None:
                    found["concerns"] = await stats._concerns(session, villages, when)

                calls = {
                    "_concerns": concerns,
                    "_open_by_township": lambda s=session: stats._open_by_township(s, scope, NOW),
                    "_acknowledgement": lambda s=session, f=found: stats._acknowledgement(s, f["concerns"]),
                    "_weeks": lambda s=session, v=villages: stats._weeks(s, v, when),
                    "_welfare": lambda s=session, v=villages: stats._welfare(s, v, when),
                    "_tips": lambda s=session, v=villages: stats._tips(s, v, when),
                    "_questions": lambda s=session, v=villages: stats._questions(s, v, when),
                }
                for name, call in calls.items():
                    sql0, t = clock.seconds, time.perf_counter()
                    await call()
                    samples.setdefault(name, []).append((time.perf_counter() - t, clock.seconds - sql0))
    except (AttributeError, TypeError, KeyError) as exc:
        print(f"  (no breakdown of figures: {type(exc).__name__}: {exc})")
        return None
    finally:
        clock.remove()
    return {
        name: {
            "wall_ms": round(statistics.median(w for w, _ in values) * 1000, 1),
            "sql_ms": round(statistics.median(q for _, q in values) * 1000, 1),
        }
        for name, values in samples.items()
    }


async def profile_figures(db: Any, scope: Any, when: Any) -> str:
    from bot.services import stats

    profiler = cProfile.Profile()
    async with db.transaction() as session:
        profiler.enable()
        await stats.figures(session, scope, when, now=NOW)
        profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(30)
    return out.getvalue()


async def measure(db: Any, officer: int, runs: dict[str, int], cold: dict[str, Any], profile: bool) -> dict[str, Any]:
    from bot.i18n import Tr
    from bot.services import charts, stats

    t = time.perf_counter()
    async with db.transaction() as session:
        scope = await stats.scope_for(session, officer, is_admin=False)
    scope_s = time.perf_counter() - t
    assert scope is not None and scope.level == "county", scope
    trs = {locale: Tr(locale, ZONE) for locale in LOCALES}
    periods: dict[str, Any] = {}
    for key in stats.PERIODS:
        when = stats.period(key, NOW, ZONE)
        samples = []
        figures = None
        for _ in range(runs["figures_runs"]):
            t = time.perf_counter()
            async with db.transaction() as session:
                figures = await stats.figures(session, scope, when, now=NOW)
            samples.append(time.perf_counter() - t)
        assert figures is not None
        draws: dict[str, Any] = {}
        for draw in charts.CHARTS:
            per_locale: dict[str, Any] = {}
            for locale, tr in trs.items():
                times = []
                size = 0
                for _ in range(runs["draw_runs"] + (0 if cold else 1)):
                    t = time.perf_counter()
                    chart = draw(tr, figures)
                    elapsed = time.perf_counter() - t
                    if not cold:  # the first draw in this process: fonts and matplotlib warming up
                        cold.update({"chart": chart.name, "locale": locale, "period": key, "draw_s": elapsed})
                        continue
                    times.append(elapsed)
                    size = len(chart.png)
                per_locale[locale] = {**_stat(times), "png_bytes": size}
            worst_draw = max(v["max_s"] for v in per_locale.values())
            median_draw = max(v["median_s"] for v in per_locale.values())
            draws[chart.name] = {
                **per_locale,
                "median_figures_plus_draw_s": round(statistics.median(samples) + median_draw, 3),
                "worst_figures_plus_draw_s": round(max(samples) + worst_draw, 3),
            }
        all_five = max(sum(d[loc]["median_s"] for d in draws.values()) for loc in LOCALES)
        periods[key] = {
            "first_day": when.first_day.isoformat(),
            "last_day": when.last_day.isoformat(),
            "figures": _stat(samples),
            "counts": {
                "concerns": figures.concerns,
                "open_anywhen": sum(figures.open_by_township.values()),
                "weeks": len(figures.weeks),
                "household_weeks": sum(w.households for w in figures.weeks),
                "household_weeks_with_call": sum(w.with_call for w in figures.weeks),
                "tips_sent": figures.tips_sent,
                "questions": figures.questions_asked,
            },
            "charts": draws,
            "median_figures_plus_all_five_s": round(statistics.median(samples) + all_five, 3),
            "parts_ms": await figure_parts(db, scope, when),
        }
        if profile:
            print(f"\n--- cProfile of stats.figures, {key} ---\n{await profile_figures(db, scope, when)}")
    return {"scope_s": round(scope_s, 4), "villages_in_scope": len(scope.village_ids), "periods": periods}


# --- the benchmark -----------------------------------------------------------------------------------------


async def one_backend(backend: str, args: Any, sizes: dict[str, int], cold: dict[str, Any]) -> dict[str, Any]:
    from bench.support import drop_place, fresh_place

    n, n_concerns = sizes["households"], sizes["concerns"]
    print(f"[{backend}] seeding {n:,} households, {n_concerns:,} concerns, {WEEKS} weeks of calls ...", flush=True)
    place = await fresh_place(backend, args.pg_url, "charts")
    try:
        db = place.open()
        started = time.perf_counter()
        seeded = await seed(db, n, n_concerns)
        seed_s = time.perf_counter() - started
        print(f"[{backend}] seeded {sum(seeded['rows'].values()):,} rows in {seed_s:.1f} s; measuring ...", flush=True)
        measured = await measure(db, seeded["officer_user_id"], sizes, cold, args.profile)
        await db.dispose()
    finally:
        await drop_place(place)
    return {"seed_s": round(seed_s, 1), **seeded, **measured}


async def amain(args: Any) -> int:
    from bench.support import Row, available_backends, ensure_catalogs, print_table, save
    from bot.services import charts, stats

    ensure_catalogs()
    sizes = QUICK if args.quick else FULL
    backends = await available_backends(args.backends, args.pg_url)
    if not backends:
        raise SystemExit("no backend to measure")
    cold: dict[str, Any] = {}
    results = {b: await one_backend(b, args, sizes, cold) for b in backends}

    rows: list[Row] = []

    def row(figure: str, get: Any, reference: Any = "", target: str = "", check: Any = None) -> None:
        values = {b: get(results[b]) for b in backends}
        ok = None if check is None else all(check(v) for v in values.values())
        rows.append(Row(figure, values, reference, target, ok))

    first = results[backends[0]]
    for table in first["rows"]:
        row(f"rows: {table}", lambda r, t=table: r["rows"][t])
    row("seeding, s", lambda r: r["seed_s"])
    row("  of which call_occurrence, s", lambda r: r["insert_s"]["call_occurrence"])
    row("scope_for (county), ms", lambda r: round(r["scope_s"] * 1000, 1))
    names = [draw.__name__.removesuffix("_chart") for draw in charts.CHARTS]
    target = f"< {TARGET_CHART_S:g} s"
    for key in stats.PERIODS:

        def p(r: dict[str, Any], k: str = key) -> dict[str, Any]:
            return r["periods"][k]

        row(
            f"{key}: concerns / household-weeks in period",
            lambda r, p=p: f"{p(r)['counts']['concerns']:,} / {p(r)['counts']['household_weeks']:,}",
        )
        row(
            f"{key}: figures, median / max s",
            lambda r, p=p: f"{p(r)['figures']['median_s']:.3f} / {p(r)['figures']['max_s']:.3f}",
        )
        for name in names:
            row(
                f"{key}: {name}, draw zh_Hans / en median s",
                lambda r, p=p, n=name: (
                    f"{p(r)['charts'][n]['zh_Hans']['median_s']:.3f} / {p(r)['charts'][n]['en']['median_s']:.3f}"
                ),
            )
            row(
                f"{key}: {name}, figures max + draw max, s",
                lambda r, p=p, n=name: p(r)["charts"][n]["worst_figures_plus_draw_s"],
                "",
                target,
                lambda v: v < TARGET_CHART_S,
            )
        row(
            f"{key}: figures + all five charts (median), s",
            lambda r, p=p: p(r)["median_figures_plus_all_five_s"],
            "what /stats waits for",
        )
    row(
        "worst chart, figures included, s",
        lambda r: max(
            c["worst_figures_plus_draw_s"] for period in r["periods"].values() for c in period["charts"].values()
        ),
        "",
        target,
        lambda v: v < TARGET_CHART_S,
    )
    quarter = "quarter" if "quarter" in stats.PERIODS else stats.PERIODS[-1]
    for part in FIGURE_PARTS:

        def split(r: dict[str, Any], part: str = part) -> str | None:
            got = (r["periods"][quarter]["parts_ms"] or {}).get(part)
            return f"{got['wall_ms']:g} / {got['sql_ms']:g}" if got else None

        row(f"{quarter}: figures part {part}, ms wall / SQL", split)
    print_table(
        f"charts: county scope, {sizes['households']:,} households, {sizes['concerns']:,} concerns, a year of "
        f"weekly calls, now {NOW.isoformat()}" + (" (--quick)" if args.quick else ""),
        backends,
        rows,
    )
    if cold:
        first_chart = cold["draw_s"]
        print(
            f"first draw in the process ({cold['chart']}, {cold['locale']}, {cold['period']}; font and matplotlib "
            f"loading, once per bot process): {first_chart:.3f} s; with the slowest figures of that period: "
            + ", ".join(
                f"{b} {results[b]['periods'][cold['period']]['figures']['max_s'] + first_chart:.3f} s" for b in backends
            )
        )
    meets = all(r.ok is not False for r in rows)
    figures = {
        "quick": args.quick,
        "sizes": sizes,
        "now": NOW.isoformat(),
        "year_from": YEAR_START.isoformat(),
        "target_chart_s": TARGET_CHART_S,
        "attribution": "per chart: stats.figures once + that chart's draw; worst = slowest figures of the period "
        "+ slowest draw of the chart in either locale (zh_Hans, en); the first draw in the process is reported "
        "apart as first_draw",
        "first_draw": cold,
        "backends": results,
        "loadavg_at_end": os.getloadavg(),
        "missed": [r.figure for r in rows if r.ok is False],
        "meets_target": meets,
    }
    if not args.no_save:
        save("charts", figures)
    return 0 if meets else 1


def main() -> int:
    from bench.support import arguments

    parser = arguments(__doc__.splitlines()[0])
    parser.add_argument("--profile", action="store_true", help="print cProfile's top functions of stats.figures")
    return asyncio.run(amain(parser.parse_args()))


if __name__ == "__main__":
    raise SystemExit(main())
