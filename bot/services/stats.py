"""The county's picture: how many concerns, how fast they are taken up, whether parents keep in touch, and
whether tips and questions help, for a township or the whole county over a period. Counts only: no names,
no nicknames, no words anyone wrote.

Every figure is computed here, from the rows, the same way for the charts in the bot (`/stats`, the Monday
digest) and for the bureau's report (`guardian-bot admin report`). Periods and weeks are in the county's time
zone: a week starts on Monday at 00:00.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.services import triage
from bot.services.areas import AreaView
from bot.services.errors import NotAllowed
from db.models import (
    Area,
    CallOccurrence,
    CaseEvent,
    CaseworkerPost,
    Concern,
    Household,
    Membership,
    Question,
    TipDelivery,
    TipFeedback,
    WelfareCheck,
)

PERIODS = ("week", "month", "quarter")  # this week, this month, the last 3 months
STATUSES = ("open", "acknowledged", "resolved")
SMALL = 5  # in the bureau's report, counts from 1 to SMALL-1 are shown as "<5"


@dataclass(frozen=True)
class Scope:
    """A township (for its supervisors) or a county (for its officers), with the villages it covers."""

    level: str  # township | county
    area: AreaView
    townships: tuple[AreaView, ...]
    township_of: dict[int, int]  # village id -> township id

    @property
    def village_ids(self) -> frozenset[int]:
        return frozenset(self.township_of)

    def only(self, township: AreaView) -> Scope:
        return Scope(
            "township",
            township,
            (township,),
            {v: t for v, t in self.township_of.items() if t == township.id},
        )


async def scope_of(session: AsyncSession, area_id: int) -> Scope:
    """The scope of a township or county area; anything else (a village) is refused."""
    area = await session.get(Area, area_id)
    if area is None or area.level not in ("township", "county"):
        raise NotAllowed
    if area.level == "township":
        townships = [area]
    else:
        townships = list(
            (await session.scalars(select(Area).where(Area.level == "township", Area.parent_id == area.id))).all()
        )
    townships.sort(key=lambda a: a.code)
    ids = [t.id for t in townships]
    villages = (
        await session.execute(select(Area.id, Area.parent_id).where(Area.level == "village", Area.parent_id.in_(ids)))
    ).all()
    return Scope(
        area.level,
        AreaView.of(area),
        tuple(AreaView.of(t) for t in townships),
        {village_id: parent_id for village_id, parent_id in villages if parent_id is not None},
    )


@dataclass(frozen=True)
class Period:
    key: str  # week | month | quarter | custom
    start: datetime  # UTC, included
    end: datetime  # UTC, excluded
    zone: str

    @property
    def first_day(self) -> date:
        return self.start.astimezone(ZoneInfo(self.zone)).date()

    @property
    def last_day(self) -> date:
        return (self.end.astimezone(ZoneInfo(self.zone)) - timedelta(microseconds=1)).date()


def _local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0, 0), zone)


def period(key: str, now: datetime, zone: str) -> Period:
    """This week (from Monday), this month (from the 1st), or the last 3 months (from the same day three
    months ago), each up to `now`."""
    tz = ZoneInfo(zone)
    today = now.astimezone(tz).date()
    if key == "week":
        first = today - timedelta(days=today.weekday())
    elif key == "month":
        first = today.replace(day=1)
    elif key == "quarter":
        month = today.month - 3
        year = today.year + (month - 1) // 12
        month = (month - 1) % 12 + 1
        first = _clamped(year, month, today.day)
    else:
        raise ValueError(key)
    return Period(key, _local_midnight(first, tz).astimezone(now.tzinfo), now, zone)


def days(first: date, last: date, zone: str) -> Period:
    """From the start of `first` to the end of `last`, local days (the bureau's report)."""
    if last < first:
        raise ValueError("the period ends before it starts")
    tz = ZoneInfo(zone)
    return Period("custom", _local_midnight(first, tz), _local_midnight(last + timedelta(days=1), tz), zone)


def _clamped(year: int, month: int, day: int) -> date:
    while True:
        try:
            return date(year, month, day)
        except ValueError:
            day -= 1


@dataclass(frozen=True)
class Acknowledgement:
    """Concerns of one urgency reported in the period: taken up within the first deadline, later, or not yet."""

    urgency: str
    deadline_minutes: int
    total: int
    in_time: int
    late: int
    waiting: int
    climbed: int  # went up at least one rung because nobody took them up in time
    median_minutes: float | None  # from report to acknowledgement, of those acknowledged


@dataclass(frozen=True)
class Week:
    """Households with a linked parent, and how many of them confirmed at least one call that week."""

    first_day: date
    households: int
    with_call: int

    @property
    def share(self) -> float | None:
        return self.with_call / self.households if self.households else None


@dataclass(frozen=True)
class Figures:
    scope: Scope
    period: Period
    by_category: dict[str, int]
    by_status: dict[str, int]
    open_by_township: dict[int, int]  # unresolved now, whenever reported
    acknowledgement: tuple[Acknowledgement, ...]
    weeks: tuple[Week, ...]
    welfare_raised: int
    welfare_closed: int
    tips_sent: int  # by message (subscriptions)
    tips_browsed: int
    tips_helpful: int  # 👍
    tips_not_for_me: int  # 👎
    questions_asked: int  # to a person, or answered by the library ("this helped")
    questions_by_library: int
    questions_by_person: int
    questions_waiting: int
    answer_median_hours: float | None
    extra: dict[str, int] = field(default_factory=dict)

    @property
    def concerns(self) -> int:
        return sum(self.by_category.values())

    @property
    def climbed(self) -> int:
        return sum(a.climbed for a in self.acknowledgement)

    @property
    def contact_share(self) -> float | None:
        """Over the whole period: household-weeks with a call / household-weeks."""
        households = sum(w.households for w in self.weeks)
        return sum(w.with_call for w in self.weeks) / households if households else None


async def figures(session: AsyncSession, scope: Scope, when: Period, *, now: datetime) -> Figures:
    villages = scope.village_ids
    concerns = await _concerns(session, villages, when)
    return Figures(
        scope=scope,
        period=when,
        by_category=_count(concerns, 1, triage.CATEGORIES),
        by_status=_count(concerns, 2, STATUSES),
        open_by_township=await _open_by_township(session, scope, now),
        acknowledgement=await _acknowledgement(session, concerns),
        weeks=await _weeks(session, villages, when),
        **await _welfare(session, villages, when),
        **await _tips(session, villages, when),
        **await _questions(session, villages, when),
    )


def _count(rows: list[tuple], index: int, keys: tuple[str, ...]) -> dict[str, int]:  # type: ignore[type-arg]
    counted = Counter(row[index] for row in rows)
    return {key: counted.get(key, 0) for key in keys}


def _in(column, when: Period):  # type: ignore[no-untyped-def]
    return and_(column >= when.start, column < when.end)


async def _concerns(session: AsyncSession, villages: frozenset[int], when: Period) -> list[tuple]:  # type: ignore[type-arg]
    rows = await session.execute(
        select(
            Concern.id,
            Concern.category,
            Concern.status,
            Concern.urgency,
            Concern.created_at,
            Concern.acknowledged_at,
            Concern.resolved_at,
        ).where(Concern.village_id.in_(villages), _in(Concern.created_at, when))
    )
    return list(rows.all())


async def _open_by_township(session: AsyncSession, scope: Scope, now: datetime) -> dict[int, int]:
    rows = await session.execute(
        select(Concern.village_id).where(
            Concern.village_id.in_(scope.village_ids), Concern.status != "resolved", Concern.created_at < now
        )
    )
    counted = Counter(scope.township_of[village_id] for (village_id,) in rows.all())
    return {t.id: counted.get(t.id, 0) for t in scope.townships}


async def _acknowledgement(session: AsyncSession, concerns: list[tuple]) -> tuple[Acknowledgement, ...]:  # type: ignore[type-arg]
    policy = triage.policy()
    ids = [row[0] for row in concerns]
    climbed: set[int] = set()
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        climbed.update(
            (
                await session.scalars(
                    select(CaseEvent.concern_id).where(CaseEvent.concern_id.in_(chunk), CaseEvent.kind == "escalated")
                )
            ).all()
        )
    result = []
    for urgency in triage.URGENCIES:
        deadline = triage.ack_deadline(policy, urgency)
        rows = [row for row in concerns if row[3] == urgency]
        waits = []
        in_time = late = waiting = 0
        for _id, _category, _status, _urgency, created, acknowledged, resolved in rows:
            taken = acknowledged or resolved  # resolved straight away counts as taken up then
            if taken is None:
                waiting += 1
                continue
            wait = taken - created
            waits.append(wait.total_seconds() / 60)
            if wait <= deadline:
                in_time += 1
            else:
                late += 1
        result.append(
            Acknowledgement(
                urgency=urgency,
                deadline_minutes=int(deadline.total_seconds() // 60),
                total=len(rows),
                in_time=in_time,
                late=late,
                waiting=waiting,
                climbed=sum(1 for row in rows if row[0] in climbed),
                median_minutes=statistics.median(waits) if waits else None,
            )
        )
    return tuple(result)


async def _weeks(session: AsyncSession, villages: frozenset[int], when: Period) -> tuple[Week, ...]:
    tz = ZoneInfo(when.zone)
    first = when.first_day - timedelta(days=when.first_day.weekday())
    mondays = []
    monday = first
    while _local_midnight(monday, tz) < when.end:
        mondays.append(monday)
        monday += timedelta(days=7)
    if not mondays:
        return ()
    window_start = _local_midnight(mondays[0], tz)
    window_end = _local_midnight(mondays[-1] + timedelta(days=7), tz)
    # Households with a parent linked, and since when (the first parent to join).
    linked: dict[int, datetime] = {}
    rows = await session.execute(
        select(Membership.household_id, Membership.joined_at)
        .join(Household, Household.id == Membership.household_id)
        .where(Household.village_id.in_(villages), Membership.kind == "parent")
    )
    for household_id, joined in rows.all():
        joined = joined
        if household_id not in linked or joined < linked[household_id]:
            linked[household_id] = joined
    calls: dict[int, set[int]] = defaultdict(set)  # week index -> households
    rows = await session.execute(
        select(CallOccurrence.household_id, CallOccurrence.due_at)
        .join(Household, Household.id == CallOccurrence.household_id)
        .where(
            Household.village_id.in_(villages),
            CallOccurrence.outcome == "done",
            CallOccurrence.due_at >= window_start,
            CallOccurrence.due_at < window_end,
        )
    )
    for household_id, due in rows.all():
        if household_id in linked:
            calls[(due.astimezone(tz).date() - mondays[0]).days // 7].add(household_id)
    weeks = []
    for index, monday in enumerate(mondays):
        week_end = _local_midnight(monday + timedelta(days=7), tz)
        households = sum(1 for joined in linked.values() if joined < week_end)
        with_call = sum(1 for h in calls.get(index, ()) if linked[h] < week_end)
        weeks.append(Week(monday, households, with_call))
    return tuple(weeks)


async def _welfare(session: AsyncSession, villages: frozenset[int], when: Period) -> dict[str, int]:
    raised = await session.scalar(
        select(func.count()).where(WelfareCheck.village_id.in_(villages), _in(WelfareCheck.created_at, when))
    )
    closed = await session.scalar(
        select(func.count()).where(WelfareCheck.village_id.in_(villages), _in(WelfareCheck.closed_at, when))
    )
    return {"welfare_raised": int(raised or 0), "welfare_closed": int(closed or 0)}


async def _tips(session: AsyncSession, villages: frozenset[int], when: Period) -> dict[str, int]:
    rows = await session.execute(
        select(TipDelivery.via, func.count())
        .join(Household, Household.id == TipDelivery.household_id)
        .where(Household.village_id.in_(villages), _in(TipDelivery.sent_at, when))
        .group_by(TipDelivery.via)
    )
    via = {v: n for v, n in rows.all()}
    # Feedback belongs to a person: counted where their household is.
    member = aliased(Membership)
    rows = await session.execute(
        select(TipFeedback.helpful, func.count())
        .join(member, member.user_id == TipFeedback.user_id)
        .join(Household, Household.id == member.household_id)
        .where(Household.village_id.in_(villages), _in(TipFeedback.at, when))
        .group_by(TipFeedback.helpful)
    )
    helpful = {bool(h): n for h, n in rows.all()}
    return {
        "tips_sent": via.get("subscription", 0),
        "tips_browsed": via.get("browse", 0),
        "tips_helpful": helpful.get(True, 0),
        "tips_not_for_me": helpful.get(False, 0),
    }


async def _questions(session: AsyncSession, villages: frozenset[int], when: Period) -> dict[str, int | float | None]:
    rows = (
        await session.execute(
            select(Question.status, Question.created_at, Question.answered_at).where(
                Question.village_id.in_(villages), _in(Question.created_at, when)
            )
        )
    ).all()
    hours = [
        (answered - created).total_seconds() / 3600
        for status, created, answered in rows
        if status == "answered" and answered is not None
    ]
    statuses = Counter(status for status, _c, _a in rows)
    return {
        "questions_asked": len(rows),
        "questions_by_library": statuses.get("library", 0),
        "questions_by_person": statuses.get("answered", 0),
        "questions_waiting": statuses.get("open", 0),
        "answer_median_hours": statistics.median(hours) if hours else None,
    }


def shown(count: int) -> str:
    """A count as the bureau's report shows it: 1 to 4 as "<5" (0 discloses nobody and is shown)."""
    return f"<{SMALL}" if 0 < count < SMALL else str(count)


async def scope_for(session: AsyncSession, user_id: int, *, is_admin: bool) -> Scope | None:
    """What a person may see: the widest of their active posts (a county officer's county, a township
    supervisor's township; administrators the county); None for anyone else (village child directors too)."""
    rows = (
        await session.execute(
            select(CaseworkerPost.level, CaseworkerPost.area_id)
            .where(CaseworkerPost.user_id == user_id, CaseworkerPost.active.is_(True))
            .order_by(CaseworkerPost.id)
        )
    ).all()
    by_level = {level: area_id for level, area_id in reversed(rows)}
    if "county" in by_level:
        return await scope_of(session, by_level["county"])
    if "township" in by_level:
        return await scope_of(session, by_level["township"])
    if is_admin or "admin" in by_level:
        county = await session.scalar(select(Area.id).where(Area.level == "county").order_by(Area.code))
        return await scope_of(session, county) if county is not None else None
    return None
