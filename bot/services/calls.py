"""Video calls: a parent books regular or one-off calls with the household's children; both sides are
reminded, the parent is asked afterwards whether it happened, and the first answer (either side) counts.

Each schedule stores its `next_due_at`; the tick turns due schedules into occurrences and occurrences into
outbox messages in the same transaction (DESIGN-NOTES §4–5). An occurrence is unique per schedule and local
date, and every message has a dedupe key, so a restart or a second dispatcher never sends one twice.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import Select, Update, and_, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql import ColumnElement

from bot import labels
from bot.i18n import Tr
from bot.services import call_policy, contact, outbox, prompts, quiet, recurrence
from bot.services import household as households
from bot.services.errors import Invalid, NotAllowed
from db.models import (
    CallOccurrence,
    CallProposal,
    CallSchedule,
    Child,
    ContactWatch,
    HomeVisit,
    Membership,
    User,
)
from db.session import execute_core, fetch_core, skip_locked
from db.types import utcnow

log = logging.getLogger(__name__)
MINUTES = (10, 15, 20, 30)  # expected lengths offered when booking
OUTCOMES = ("done", "missed", "moved")
LATE = timedelta(minutes=10)  # a reminder later than this after the call started is no use: not sent
CATCH_UP = 60  # at most this many past occurrences are skipped over after a long outage, per schedule
_K = TypeVar("_K")


@dataclass(frozen=True)
class CallView:
    id: int
    kind: str
    weekdays: tuple[str, ...]
    local_time: time | None
    timezone: str
    minutes: int
    child_ids: tuple[int, ...]
    status: str
    next_due_at: datetime | None


def _view(s: CallSchedule) -> CallView:
    return CallView(
        id=s.id,
        kind=s.kind,
        weekdays=tuple(s.weekdays.split(",")) if s.weekdays else (),
        local_time=time.fromisoformat(s.local_time) if s.local_time else None,
        timezone=s.timezone,
        minutes=s.minutes,
        child_ids=tuple(s.child_ids),
        status=s.status,
        next_due_at=s.next_due_at,
    )


def rule_of(s: CallSchedule) -> recurrence.Weekly:
    assert s.weekdays and s.local_time
    return recurrence.Weekly(tuple(s.weekdays.split(",")), time.fromisoformat(s.local_time), s.timezone)


async def _parent_membership(session: AsyncSession, user_id: int, household_id: int) -> Membership:
    m = await households.membership(session, user_id, household_id)
    if m.kind != "parent":
        raise NotAllowed
    return m


async def _children(session: AsyncSession, household_id: int, child_ids: list[int]) -> list[int]:
    known = set((await session.scalars(select(Child.id).where(Child.household_id == household_id))).all())
    chosen = [c for c in dict.fromkeys(child_ids) if c in known]
    if not chosen or len(chosen) != len(set(child_ids)):
        raise Invalid("children")
    return chosen


async def book_weekly(
    session: AsyncSession,
    *,
    user_id: int,
    household_id: int,
    weekdays: tuple[str, ...],
    at: time,
    child_ids: list[int],
    minutes: int,
    now: datetime,
) -> tuple[CallView, list[int]]:
    """A regular call in the parent's own zone; the carers are told."""
    await _parent_membership(session, user_id, household_id)
    if minutes not in MINUTES:
        raise Invalid("minutes")
    parent = await session.get_one(User, user_id)
    rule = recurrence.Weekly(weekdays, at, parent.timezone)  # ValueError on bad weekdays: the handler's bug
    schedule = CallSchedule(
        household_id=household_id,
        parent_user_id=user_id,
        kind="weekly",
        weekdays=",".join(rule.weekdays),
        local_time=at.strftime("%H:%M"),
        timezone=parent.timezone,
        minutes=minutes,
        child_ids=await _children(session, household_id, child_ids),
        status="active",
        next_due_at=recurrence.next_occurrence(rule, now),
        created_at=now,
    )
    session.add(schedule)
    await session.flush()
    await contact.watch(session, household_id=household_id, parent_user_id=user_id, now=now)
    return _view(schedule), await _tell_carers(session, schedule, "booked", now)


async def book_once(
    session: AsyncSession,
    *,
    user_id: int,
    household_id: int,
    when: datetime,
    child_ids: list[int],
    minutes: int,
    now: datetime,
) -> tuple[CallView, list[int]]:
    """A single call at `when` (aware); it must be in the future."""
    await _parent_membership(session, user_id, household_id)
    if minutes not in MINUTES:
        raise Invalid("minutes")
    if when.tzinfo is None:
        raise ValueError("an aware datetime is needed")
    if when <= now:
        raise Invalid("past")
    parent = await session.get_one(User, user_id)
    schedule = CallSchedule(
        household_id=household_id,
        parent_user_id=user_id,
        kind="once",
        timezone=parent.timezone,
        once_at=when.astimezone(UTC),
        minutes=minutes,
        child_ids=await _children(session, household_id, child_ids),
        status="active",
        next_due_at=when.astimezone(UTC),
        created_at=now,
    )
    session.add(schedule)
    await session.flush()
    await contact.watch(session, household_id=household_id, parent_user_id=user_id, now=now)
    return _view(schedule), await _tell_carers(session, schedule, "booked", now)


async def schedules(session: AsyncSession, *, user_id: int, household_id: int) -> list[CallView]:
    """Every member sees the household's calls (not cancelled or finished)."""
    await households.membership(session, user_id, household_id)
    rows = (
        await session.scalars(
            select(CallSchedule)
            .where(CallSchedule.household_id == household_id, CallSchedule.status.in_(("active", "paused")))
            .order_by(CallSchedule.next_due_at.is_(None), CallSchedule.next_due_at, CallSchedule.id)
        )
    ).all()
    return [_view(s) for s in rows]


async def _own_schedule(session: AsyncSession, user_id: int, schedule_id: int) -> CallSchedule:
    schedule = await session.get(CallSchedule, schedule_id)
    if schedule is None or schedule.status in ("cancelled", "done"):
        raise NotAllowed
    await _parent_membership(session, user_id, schedule.household_id)
    return schedule


async def set_status(
    session: AsyncSession, *, user_id: int, schedule_id: int, status: str, now: datetime
) -> tuple[CallView, list[int]]:
    """Pause, resume or cancel (any parent of the household); the carers are told."""
    if status not in ("paused", "active", "cancelled"):
        raise ValueError(status)
    schedule = await _own_schedule(session, user_id, schedule_id)
    if schedule.status == status:
        return _view(schedule), []
    schedule.status = status
    schedule.revision += 1
    if status != "active":
        await _skip_upcoming(session, schedule, now, "paused")
    if status == "active":
        schedule.next_due_at = _next_after(schedule, now, None)
        if schedule.next_due_at is None:
            schedule.status = "done"
    event = {"paused": "paused", "active": "resumed", "cancelled": "cancelled"}[status]
    return _view(schedule), await _tell_carers(session, schedule, event, now)


async def change_time(
    session: AsyncSession,
    *,
    user_id: int,
    schedule_id: int,
    weekdays: tuple[str, ...],
    at: time,
    zone: str | None = None,
    now: datetime,
) -> tuple[CallView, list[int]]:
    """A regular call moves to other days or another time (in `zone`, default the parent's own)."""
    schedule = await _own_schedule(session, user_id, schedule_id)
    if schedule.kind != "weekly":
        raise NotAllowed
    parent = await session.get_one(User, user_id)
    rule = recurrence.Weekly(weekdays, at, zone or parent.timezone)
    schedule.weekdays, schedule.local_time, schedule.timezone = ",".join(rule.weekdays), at.strftime("%H:%M"), rule.zone
    schedule.revision += 1
    await _skip_upcoming(session, schedule, now, "moved")
    if schedule.status == "active":
        schedule.next_due_at = _next_after(schedule, now, await _last_local_date(session, schedule))
    return _view(schedule), await _tell_carers(session, schedule, "moved", now)


async def _skip_upcoming(session: AsyncSession, schedule: CallSchedule, now: datetime, why: str) -> None:
    """Occurrences made for a call not yet started get no reminders once the call is paused or moved."""
    for occurrence in (
        await session.scalars(
            select(CallOccurrence).where(
                CallOccurrence.schedule_id == schedule.id,
                CallOccurrence.due_at > now,
                CallOccurrence.outcome.is_(None),
                CallOccurrence.skipped.is_(None),
            )
        )
    ).all():
        occurrence.skipped = why


def _next_after(schedule: CallSchedule, after: datetime, not_on: date | None) -> datetime | None:
    if schedule.kind == "once":
        return schedule.once_at if schedule.once_at and schedule.once_at > after else None
    return recurrence.next_occurrence(rule_of(schedule), after, not_on=not_on)


async def _last_local_date(session: AsyncSession, schedule: CallSchedule) -> date | None:
    # A new time later the same day must not make a second call that day (one occurrence per local date).
    last = await session.scalar(
        select(CallOccurrence.local_date)
        .where(CallOccurrence.schedule_id == schedule.id)
        .order_by(CallOccurrence.due_at.desc())
        .limit(1)
    )
    return date.fromisoformat(last) if last else None


async def quiet_clash(
    session: AsyncSession, *, user_id: int, household_id: int, start: datetime, minutes: int
) -> list[str]:
    """Who would be in their quiet hours during a call starting at `start`: "" for the booker, else relations."""
    policy = call_policy.policy()
    booker = await session.get_one(User, user_id)
    people = [(booker, "")] + [(u, r) for u, r in await _carers(session, household_id)]
    out: list[str] = []
    for person, relation in people:
        local = start.astimezone(ZoneInfo(person.timezone)).time().replace(tzinfo=None)
        if quiet.overlaps(call_policy.quiet_hours_of(person, policy), local, minutes):
            out.append(relation)
    return out


# --- home visits and proposals -------------------------------------------------------------------------


async def add_home_visit(
    session: AsyncSession, *, user_id: int, household_id: int, starts_on: date, ends_on: date, today: date
) -> list[int]:
    """The parent is home for these days: no call reminders then."""
    await _parent_membership(session, user_id, household_id)
    if ends_on < starts_on or ends_on < today or (ends_on - starts_on).days > 90:
        raise Invalid("dates")
    session.add(
        HomeVisit(
            household_id=household_id,
            starts_on=starts_on.isoformat(),
            ends_on=ends_on.isoformat(),
            created_by_user_id=user_id,
        )
    )
    # A call already made ready for one of these days gets no reminders either.
    for occurrence in (
        await session.scalars(
            select(CallOccurrence).where(
                CallOccurrence.household_id == household_id,
                CallOccurrence.outcome.is_(None),
                CallOccurrence.skipped.is_(None),
            )
        )
    ).all():
        schedule = await session.get_one(CallSchedule, occurrence.schedule_id)
        day = recurrence.local_date(occurrence.due_at, await _household_zone(session, schedule))
        if starts_on <= day <= ends_on:
            occurrence.skipped = "home_visit"
    return []


async def home_visits(
    session: AsyncSession, *, user_id: int, household_id: int, today: date
) -> list[tuple[date, date]]:
    await households.membership(session, user_id, household_id)
    rows = (
        await session.scalars(
            select(HomeVisit)
            .where(HomeVisit.household_id == household_id, HomeVisit.ends_on >= today.isoformat())
            .order_by(HomeVisit.starts_on)
        )
    ).all()
    return [(date.fromisoformat(v.starts_on), date.fromisoformat(v.ends_on)) for v in rows]


async def propose(
    session: AsyncSession, *, user_id: int, schedule_id: int, weekdays: tuple[str, ...], at: time, now: datetime
) -> list[int]:
    """A carer asks for another regular time (in their own zone); the parent gets Accept / Decline."""
    schedule = await session.get(CallSchedule, schedule_id)
    if schedule is None or schedule.kind != "weekly" or schedule.status not in ("active", "paused"):
        raise NotAllowed
    member = await households.membership(session, user_id, schedule.household_id)
    if member.kind == "parent":
        raise NotAllowed  # a parent changes the time directly
    carer = await session.get_one(User, user_id)
    rule = recurrence.Weekly(weekdays, at, carer.timezone)
    proposal = CallProposal(
        schedule_id=schedule.id,
        proposed_by_user_id=user_id,
        weekdays=",".join(rule.weekdays),
        local_time=at.strftime("%H:%M"),
        status="pending",
        created_at=now,
    )
    session.add(proposal)
    await session.flush()
    parent = await session.get_one(User, schedule.parent_user_id)
    tr = Tr(parent.locale, parent.timezone)
    first = recurrence.next_occurrence(rule, now)
    text = tr.gettext("🔁 {who} asks to move your regular call to {days} at {time} (first one: {first}).").format(
        who=labels.relation(tr, member.relation),
        days=weekday_names(tr, days_for_reader(rule, first, tr.timezone)),
        time=tr.time_of_day(first),
        first=tr.when(first),
    )
    new_id = await outbox.enqueue(
        session,
        user_id=parent.id,
        chat_id=parent.chat_id,
        kind="call.proposal",
        text=text,
        buttons=[
            [(tr.gettext("✅ Accept"), f"cl:pa:{proposal.id}"), (tr.gettext("✖️ Decline"), f"cl:pd:{proposal.id}")]
        ],
        dedupe_key=f"call:proposal:{proposal.id}",
        delay=polite(parent, now),
    )
    return [new_id] if new_id is not None else []


async def answer_proposal(
    session: AsyncSession, *, user_id: int, proposal_id: int, accept: bool, now: datetime
) -> tuple[CallView, list[int]]:
    proposal = await session.get(CallProposal, proposal_id)
    if proposal is None or proposal.status != "pending":
        raise NotAllowed
    schedule = await _own_schedule(session, user_id, proposal.schedule_id)
    proposal.status = "accepted" if accept else "declined"
    proposal.answered_at = now
    ids: list[int] = []
    if accept:
        carer = await session.get(User, proposal.proposed_by_user_id) if proposal.proposed_by_user_id else None
        zone = carer.timezone if carer else schedule.timezone
        view, ids = await change_time(
            session,
            user_id=user_id,
            schedule_id=schedule.id,
            weekdays=tuple(proposal.weekdays.split(",")),
            at=time.fromisoformat(proposal.local_time),
            zone=zone,
            now=now,
        )
        return view, ids
    if proposal.proposed_by_user_id:
        carer = await session.get(User, proposal.proposed_by_user_id)
        if carer is not None:
            tr = Tr(carer.locale, carer.timezone)
            new_id = await outbox.enqueue(
                session,
                user_id=carer.id,
                chat_id=carer.chat_id,
                kind="call.proposal_declined",
                text=tr.gettext("The parent kept the call at the usual time. /calls shows it."),
                dedupe_key=f"call:proposal:{proposal.id}:declined",
                delay=polite(carer, now),
            )
            ids = [new_id] if new_id is not None else []
    return _view(schedule), ids


# --- confirmation --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Confirmed:
    first: bool  # False: someone had already answered
    outcome: str
    by_relation: str | None  # who answered first, when it was not the caller


@cache
def _answer_query() -> Select[Any]:
    # The occurrence, whose call it is, whether the caller belongs to its household and the parent's contact
    # watch: one query.
    return (
        select(
            CallOccurrence.household_id,
            CallOccurrence.outcome,
            CallOccurrence.confirmed_by_user_id,
            CallSchedule.parent_user_id,
            Membership.id,
            ContactWatch.id,
            ContactWatch.last_contact_at,
            ContactWatch.summary_due_at,
        )
        .join(CallSchedule, CallSchedule.id == CallOccurrence.schedule_id)
        .outerjoin(
            Membership,
            and_(Membership.household_id == CallOccurrence.household_id, Membership.user_id == bindparam("user_id")),
        )
        .outerjoin(
            ContactWatch,
            and_(
                ContactWatch.household_id == CallOccurrence.household_id,
                ContactWatch.parent_user_id == CallSchedule.parent_user_id,
            ),
        )
        .where(CallOccurrence.id == bindparam("occurrence_id"))
    )


@cache
def _first_answer() -> Update:
    # Only while nobody has answered: two carers pressing at once cannot both count (no lock needed).
    table = CallOccurrence.__table__
    return (
        update(table)
        .where(table.c.id == bindparam("occurrence_id"), table.c.outcome.is_(None))
        .values(outcome=bindparam("answer"), confirmed_by_user_id=bindparam("by"), confirmed_at=bindparam("at"))
    )


async def confirm(session: AsyncSession, *, user_id: int, occurrence_id: int, outcome: str, now: datetime) -> Confirmed:
    """Did the call happen? The first answer from either side counts; the other side is not asked again."""
    if outcome not in OUTCOMES:
        raise NotAllowed
    keys = {"occurrence_id": occurrence_id, "user_id": user_id}
    # Core on the session's connection (no cache in memory watches calls or contact watches): each statement
    # costs a round trip and little else, on the path every "yes, we talked" takes.
    found = (await fetch_core(session, _answer_query(), keys)).first()
    if found is None:
        raise NotAllowed  # no such call
    household_id, answered, by, parent_user_id, member, watch_id, last_contact_at, summary_due_at = found
    if member is None:
        raise NotAllowed  # not the caller's household
    if answered is None:
        written = await execute_core(
            session, _first_answer(), {"occurrence_id": occurrence_id, "answer": outcome, "by": user_id, "at": now}
        )
        if written.rowcount == 1:  # type: ignore[attr-defined]
            if outcome == "done":
                watched = None if watch_id is None else contact.Watched(watch_id, last_contact_at, summary_due_at)
                await contact.contact_made(
                    session, household_id=household_id, parent_user_id=parent_user_id, now=now, watched=watched
                )
            return Confirmed(True, outcome, None)
        found = (await fetch_core(session, _answer_query(), keys)).first()  # answered a moment ago
        assert found is not None
        answered, by = found[1], found[2]
    relation = None
    if by and by != user_id:
        relation = await session.scalar(
            select(Membership.relation).where(Membership.user_id == by, Membership.household_id == household_id)
        )
    return Confirmed(False, str(answered), relation)


async def unconfirmed(session: AsyncSession, *, user_id: int, household_id: int, now: datetime) -> list[CallOccurrence]:
    """Calls that have started and have no answer yet (the last week), for a member to confirm."""
    await households.membership(session, user_id, household_id)
    return list(
        (
            await session.scalars(
                select(CallOccurrence)
                .where(
                    CallOccurrence.household_id == household_id,
                    CallOccurrence.outcome.is_(None),
                    CallOccurrence.skipped.is_(None),
                    CallOccurrence.due_at <= now,
                    CallOccurrence.due_at >= now - timedelta(days=7),
                )
                .order_by(CallOccurrence.due_at)
            )
        ).all()
    )


# --- the tick ------------------------------------------------------------------------------------------
#
# Each step takes its batch of rows, then reads what every row needs with one query per kind (schedules,
# people, children, carers) and writes its messages with one INSERT: a handful of statements per batch
# rather than several per row.

_IN_CHUNK = 500  # ids per IN (...): far below the bind-parameter limits of SQLite and asyncpg


def _chunks(values: Iterable[_K]) -> Iterator[list[_K]]:
    unique = list(dict.fromkeys(values))
    for start in range(0, len(unique), _IN_CHUNK):
        yield unique[start : start + _IN_CHUNK]


async def tick(session: AsyncSession, *, now: datetime | None = None, limit: int = 200) -> list[int]:
    """Due schedules become occurrences; due occurrences become reminders and questions."""
    now = now or utcnow()
    policy = call_policy.policy()
    ctx = _Context()  # what one step reads, the next does not read again
    ids = await _materialise(session, now, policy, limit, ctx)
    ids += await _remind(session, now, policy, limit, ctx)
    ids += await _ask(session, now, policy, limit, ctx)
    return ids


@dataclass(frozen=True)
class _Plan:
    """What advancing one schedule does: its new next_due_at and status, and the occurrences it may make."""

    schedule: CallSchedule
    next_due_at: datetime | None
    status: str
    made: list[tuple[datetime, date]]  # (due_at, local date in the schedule's zone)


_Memo = dict[tuple[recurrence.Weekly, datetime, date | None], datetime]


def _next_in_batch(schedule: CallSchedule, after: datetime, not_on: date, memo: _Memo) -> datetime | None:
    """`_next_after`, remembered for the batch: schedules booked for the same days and time come due together,
    and the answer of `recurrence.next_occurrence` (a pure function) is the same for each of them."""
    if schedule.kind == "once":
        return _next_after(schedule, after, not_on)
    rule = rule_of(schedule)
    key = (rule, after, not_on)
    if key not in memo:
        memo[key] = recurrence.next_occurrence(rule, after, not_on=not_on)
    return memo[key]


def _plan(schedule: CallSchedule, now: datetime, horizon: datetime, memo: _Memo) -> _Plan:
    """Steps the schedule past `horizon` without touching it, so a schedule that fails is left as it was."""
    due, status = schedule.next_due_at, schedule.status
    made: list[tuple[datetime, date]] = []
    for _ in range(CATCH_UP):
        if due is None or due > horizon:
            break
        day = recurrence.local_date(due, schedule.timezone)
        if due + timedelta(minutes=schedule.minutes) >= now:
            # Not long past (a restart, a short outage): it gets its occurrence; older ones are skipped over.
            made.append((due, day))
        due = _next_in_batch(schedule, due, day, memo)
        if due is None:
            status = "done"
            break
    return _Plan(schedule, due, status, made)


async def _materialise(
    session: AsyncSession, now: datetime, policy: call_policy.CallPolicy, limit: int, ctx: _Context
) -> list[int]:
    horizon = now + policy.parent_lead
    query = (
        select(CallSchedule)
        .where(
            CallSchedule.status == "active", CallSchedule.next_due_at.is_not(None), CallSchedule.next_due_at <= horizon
        )
        .order_by(CallSchedule.next_due_at)
        .limit(limit)
    )
    plans: list[_Plan] = []
    memo: _Memo = {}
    for schedule in (await session.scalars(skip_locked(session, query))).all():
        try:
            plans.append(_plan(schedule, now, horizon, memo))
        except Exception:
            log.exception("call schedule %s could not be advanced", schedule.id)
    ctx.schedules.update((p.schedule.id, p.schedule) for p in plans)
    wanted = [(p, due, day) for p in plans for due, day in p.made]
    if wanted:
        # Already made (a restart mid-way): one occurrence per schedule and local date. Left out here rather
        # than by ON CONFLICT alone, which would use up ids (and an occurrence's id picks its call ideas).
        days = sorted({day.isoformat() for _p, _due, day in wanted})
        existing: set[tuple[int, str]] = set()
        for chunk in _chunks(p.schedule.id for p, _due, _day in wanted):
            rows = await session.execute(
                select(CallOccurrence.schedule_id, CallOccurrence.local_date).where(
                    CallOccurrence.schedule_id.in_(chunk), CallOccurrence.local_date.in_(days)
                )
            )
            existing.update((sid, day) for sid, day in rows.all())
        wanted = [(p, due, day) for p, due, day in wanted if (p.schedule.id, day.isoformat()) not in existing]
    if wanted:
        households_ = [p.schedule.household_id for p, _due, _day in wanted]
        await ctx.read_members(session, households_)
        household_days = [
            (p, due, day, recurrence.local_date(due, ctx.zone(p.schedule.household_id) or p.schedule.timezone))
            for p, due, day in wanted
        ]
        visits = await _home_visits(session, households_, [hday for *_rest, hday in household_days])
        ask_after = call_policy.policy().ask_after
        occurrences = [
            {
                "schedule_id": p.schedule.id,
                "household_id": p.schedule.household_id,
                "due_at": due,
                "local_date": day.isoformat(),
                "skipped": "home_visit" if _at_home_in(visits, p.schedule.household_id, hday) else None,
                "ask_at": due + timedelta(minutes=p.schedule.minutes) + ask_after,
            }
            for p, due, day, hday in household_days
        ]
        insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
        table = CallOccurrence.__table__
        # DO NOTHING: should another writer have made one of these in between, it stands and the rest go in.
        await session.execute(
            insert(table).on_conflict_do_nothing(index_elements=[table.c.schedule_id, table.c.local_date]), occurrences
        )
    for p in plans:
        p.schedule.next_due_at = p.next_due_at
        p.schedule.status = p.status
    return []


async def _home_visits(session: AsyncSession, household_ids: list[int], days: list[date]) -> dict[int, list[HomeVisit]]:
    """The home visits of these households that overlap the span of `days`."""
    out: dict[int, list[HomeVisit]] = {}
    if not days:
        return out
    first, last = min(days).isoformat(), max(days).isoformat()
    for chunk in _chunks(household_ids):
        for visit in (
            await session.scalars(
                select(HomeVisit).where(
                    HomeVisit.household_id.in_(chunk), HomeVisit.starts_on <= last, HomeVisit.ends_on >= first
                )
            )
        ).all():
            out.setdefault(visit.household_id, []).append(visit)
    return out


def _at_home_in(visits: dict[int, list[HomeVisit]], household_id: int, day: date) -> bool:
    iso = day.isoformat()  # compared as ISO strings, as stored
    return any(v.starts_on <= iso <= v.ends_on for v in visits.get(household_id, ()))


async def _household_zone(session: AsyncSession, schedule: CallSchedule) -> str:
    # Households are where the carers are: the zone of the first carer (all of Xincheng is Asia/Shanghai).
    zone = await session.scalar(
        select(User.timezone)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.household_id == schedule.household_id, Membership.kind == "guardian")
        .order_by(Membership.id)
        .limit(1)
    )
    return zone or schedule.timezone


async def _parent_relation(session: AsyncSession, schedule: CallSchedule) -> str | None:
    return await session.scalar(
        select(Membership.relation).where(
            Membership.user_id == schedule.parent_user_id, Membership.household_id == schedule.household_id
        )
    )


async def _carers(session: AsyncSession, household_id: int) -> list[tuple[User, str]]:
    rows = (
        await session.execute(
            select(User, Membership.relation)
            .join(Membership, Membership.user_id == User.id)
            .where(Membership.household_id == household_id, Membership.kind == "guardian")
            .order_by(Membership.id)
        )
    ).all()
    return [(u, r) for u, r in rows]


def child_names(tr: Tr, children: list[Child]) -> str:
    return labels.join(tr, [html.escape(c.nickname, quote=False) for c in children]) or tr.gettext("the children")


@dataclass
class _Context:
    """What a tick's messages need, read with one query per kind for a whole batch and kept for the tick."""

    schedules: dict[int, CallSchedule] = field(default_factory=dict)
    users: dict[int, User] = field(default_factory=dict)
    children: dict[int, Child] = field(default_factory=dict)
    # household -> its members in membership order: (person, kind, relation)
    members: dict[int, list[tuple[User, str, str]]] = field(default_factory=dict)
    said: dict[tuple[str, str, datetime], str] = field(default_factory=dict)

    def children_of(self, schedule: CallSchedule) -> list[Child]:
        """The schedule's children that still exist, by id (whichever household they are in now)."""
        return [self.children[c] for c in sorted(set(schedule.child_ids or ())) if c in self.children]

    def carers(self, household_id: int) -> list[User]:
        """As `_carers`: the household's carers in membership order."""
        return [user for user, kind, _relation in self.members.get(household_id, []) if kind == "guardian"]

    def zone(self, household_id: int) -> str | None:
        """As `_household_zone`: the first carer's zone (None: no carer)."""
        carers = self.carers(household_id)
        return carers[0].timezone if carers else None

    def relation(self, user_id: int, household_id: int) -> str | None:
        """As `_parent_relation`."""
        return next((r for user, _kind, r in self.members.get(household_id, []) if user.id == user_id), None)

    def when(self, tr: Tr, at: datetime) -> str:
        """`tr.when`, worked out once per language, zone and time: many calls of a batch start at one minute."""
        key = (tr.locale, tr.timezone, at)
        if key not in self.said:
            self.said[key] = tr.when(at)
        return self.said[key]

    async def read_members(self, session: AsyncSession, household_ids: Iterable[int]) -> None:
        for chunk in _chunks(h for h in household_ids if h not in self.members):
            for h in chunk:
                self.members[h] = []
            for user, household_id, kind, relation in await households.members_of(session, chunk):
                self.members[household_id].append((user, kind, relation))
                self.users[user.id] = user

    async def read(self, session: AsyncSession, occurrences: Sequence[CallOccurrence], *, parents: bool = True) -> None:
        """The schedules, children, households and (with `parents`) parents of these occurrences."""
        for chunk in _chunks(o.schedule_id for o in occurrences if o.schedule_id not in self.schedules):
            self.schedules.update(
                (s.id, s) for s in (await session.scalars(select(CallSchedule).where(CallSchedule.id.in_(chunk)))).all()
            )
        schedules = [self.schedules[o.schedule_id] for o in occurrences]
        wanted = (c for s in schedules for c in (s.child_ids or ()) if c not in self.children)
        for chunk in _chunks(wanted):
            self.children.update(
                (c.id, c) for c in (await session.scalars(select(Child).where(Child.id.in_(chunk)))).all()
            )
        await self.read_members(session, (s.household_id for s in schedules))
        if parents:
            # A parent is normally among the household's members, read just above; one who left is read here.
            missing = (s.parent_user_id for s in schedules if s.parent_user_id not in self.users)
            for chunk in _chunks(missing):
                self.users.update(
                    (u.id, u) for u in (await session.scalars(select(User).where(User.id.in_(chunk)))).all()
                )


def _no_index(status: InstrumentedAttribute[str]) -> ColumnElement[str]:
    """The schedule's status as an expression no index serves. Without statistics SQLite would otherwise run
    the joins below from every active schedule (one index probe each, 100,000 of them) instead of from the
    few occurrences due; the rows found are the same, and PostgreSQL plans them from the occurrences anyway."""
    return status + ""


async def _remind(
    session: AsyncSession, now: datetime, policy: call_policy.CallPolicy, limit: int, ctx: _Context
) -> list[int]:
    base = (
        select(CallOccurrence)
        .join(CallSchedule, CallSchedule.id == CallOccurrence.schedule_id)
        .where(
            _no_index(CallSchedule.status) == "active",
            CallOccurrence.skipped.is_(None),
            CallOccurrence.outcome.is_(None),
            CallOccurrence.due_at > now - LATE,
        )
        .order_by(CallOccurrence.due_at)
        .limit(limit)
    )
    parents = base.where(CallOccurrence.parent_reminded_at.is_(None), CallOccurrence.due_at <= now + policy.parent_lead)
    for_parents = (await session.scalars(skip_locked(session, parents))).all()
    await _stamp(session, for_parents, parent_reminded_at=now)
    carers = base.where(
        CallOccurrence.guardian_reminded_at.is_(None), CallOccurrence.due_at <= now + policy.guardian_lead
    )
    for_carers = (await session.scalars(skip_locked(session, carers))).all()
    await _stamp(session, for_carers, guardian_reminded_at=now)
    if not for_parents and not for_carers:
        return []
    # Both kinds of reminder from one read of what they need, written in one INSERT (the parents' first).
    await ctx.read(session, for_parents)
    await ctx.read(session, for_carers, parents=False)
    messages = _parent_reminders(ctx, for_parents, now) + _carer_reminders(ctx, for_carers)
    return [i for i in await outbox.enqueue_many(session, messages) if i is not None]


async def _stamp(session: AsyncSession, occurrences: Sequence[CallOccurrence], **values: datetime) -> None:
    """One UPDATE for the whole batch rather than one per row at the next flush; the loaded rows get the
    values too (synchronize_session), as if they had been set one by one."""
    for chunk in _chunks(o.id for o in occurrences):
        await session.execute(
            update(CallOccurrence)
            .where(CallOccurrence.id.in_(chunk))
            .values(**values)
            .execution_options(synchronize_session="evaluate")
        )


def _parent_reminders(ctx: _Context, occurrences: Sequence[CallOccurrence], now: datetime) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    for occurrence in occurrences:
        schedule = ctx.schedules[occurrence.schedule_id]
        parent = ctx.users.get(schedule.parent_user_id)
        if parent is None:
            continue
        tr = Tr(parent.locale, parent.timezone)
        children = ctx.children_of(schedule)
        lines = [
            tr.gettext("📞 Your video call with {children} is at {time} ({minutes} minutes).").format(
                children=child_names(tr, children), time=ctx.when(tr, occurrence.due_at), minutes=schedule.minutes
            ),
            tr.gettext("Some ideas for the call:"),
        ]
        lines += [f"• {p}" for p in call_prompts(tr, children, occurrence.id, now)]
        messages.append(
            {
                "user_id": parent.id,
                "chat_id": parent.chat_id,
                "kind": "call.remind_parent",
                "text": "\n".join(lines),
                "dedupe_key": f"call:{occurrence.id}:parent",
            }
        )
    return messages


def call_prompts(tr: Tr, children: list[Child], seed: int, now: datetime) -> list[str]:
    """Two or three ideas in all, fitted to each child's age (the youngest first), never the same twice."""
    ages = sorted({households.age_on(c.birth_year, c.birth_month, now) for c in children}) or [8]
    per_child = 3 if len(ages) == 1 else 2 if len(ages) == 2 else 1
    out: list[str] = []
    for age in ages[:3]:
        for prompt in prompts.pick(age, per_child, seed):
            text = prompt.text(tr.locale)
            if text not in out:
                out.append(text)
    return out[:3]


def _carer_reminders(ctx: _Context, occurrences: Sequence[CallOccurrence]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    for occurrence in occurrences:
        schedule = ctx.schedules[occurrence.schedule_id]
        relation = ctx.relation(schedule.parent_user_id, schedule.household_id)
        children = ctx.children_of(schedule)
        for carer in ctx.carers(schedule.household_id):
            tr = Tr(carer.locale, carer.timezone)
            text = tr.gettext(
                "📞 {parent} will video-call at {time}. Please have {children} ready, with the phone charged."
            ).format(
                parent=labels.relation(tr, relation or "other"),
                time=ctx.when(tr, occurrence.due_at),
                children=child_names(tr, children),
            )
            messages.append(
                {
                    "user_id": carer.id,
                    "chat_id": carer.chat_id,
                    "kind": "call.remind_carer",
                    "text": text,
                    "buttons": confirm_buttons(tr, occurrence.id),
                    "dedupe_key": f"call:{occurrence.id}:carer:{carer.id}",
                }
            )
    return messages


def confirm_buttons(tr: Tr, occurrence_id: int) -> list[list[tuple[str, str]]]:
    _ = tr.gettext
    return [
        [(_("✅ Yes, we talked"), f"cl:done:{occurrence_id}")],
        [(_("❌ It did not happen"), f"cl:missed:{occurrence_id}"), (_("🔁 Moved"), f"cl:moved:{occurrence_id}")],
    ]


async def _ask(
    session: AsyncSession, now: datetime, policy: call_policy.CallPolicy, limit: int, ctx: _Context
) -> list[int]:
    query = (
        select(CallOccurrence)
        .join(CallSchedule, CallSchedule.id == CallOccurrence.schedule_id)
        .where(
            _no_index(CallSchedule.status).in_(("active", "done")),  # a finished one-off call is still asked about
            CallOccurrence.skipped.is_(None),
            CallOccurrence.outcome.is_(None),
            CallOccurrence.asked_at.is_(None),
            CallOccurrence.ask_at <= now,
        )
        .order_by(CallOccurrence.ask_at)
        .limit(limit)
    )
    due = (await session.scalars(skip_locked(session, query))).all()
    if not due:
        return []
    await ctx.read(session, due)
    messages: list[dict[str, Any]] = []
    for occurrence in due:
        schedule = ctx.schedules[occurrence.schedule_id]
        parent = ctx.users.get(schedule.parent_user_id)
        if parent is None:
            occurrence.asked_at = now
            continue
        if quiet.is_quiet(call_policy.quiet_hours_of(parent, policy), parent.timezone, now):
            continue  # asked when their quiet hours end
        occurrence.asked_at = now
        tr = Tr(parent.locale, parent.timezone)
        text = tr.gettext("Did your call with {children} at {time} happen?").format(
            children=child_names(tr, ctx.children_of(schedule)), time=ctx.when(tr, occurrence.due_at)
        )
        messages.append(
            {
                "user_id": parent.id,
                "chat_id": parent.chat_id,
                "kind": "call.ask",
                "text": text,
                "buttons": confirm_buttons(tr, occurrence.id),
                "dedupe_key": f"call:{occurrence.id}:ask",
            }
        )
    return [i for i in await outbox.enqueue_many(session, messages) if i is not None]


def polite(user: User, now: datetime) -> timedelta | None:
    """How long a message that can wait must wait for this person: until their quiet hours end, or not at all."""
    return call_policy.wait(call_policy.quiet_hours_of(user, call_policy.policy()), user.timezone, now)


# --- telling the carers --------------------------------------------------------------------------------


async def _tell_carers(session: AsyncSession, schedule: CallSchedule, event: str, now: datetime) -> list[int]:
    relation = await _parent_relation(session, schedule)
    ids: list[int] = []
    for carer, _relation in await _carers(session, schedule.household_id):
        tr = Tr(carer.locale, carer.timezone)
        who = labels.relation(tr, relation or "other")
        when = describe(tr, _view(schedule))
        text = {
            "booked": tr.gettext("📅 {who} booked a video call: {when}."),
            "moved": tr.gettext("📅 {who} moved the regular call: {when}."),
            "paused": tr.gettext("⏸ {who} paused the call: {when}."),
            "resumed": tr.gettext("▶️ {who} restarted the call: {when}."),
            "cancelled": tr.gettext("✖️ {who} cancelled the call: {when}."),
        }[event].format(who=who, when=when)
        new_id = await outbox.enqueue(
            session,
            user_id=carer.id,
            chat_id=carer.chat_id,
            kind=f"call.{event}",
            text=text,
            dedupe_key=f"call:schedule:{schedule.id}:rev{schedule.revision}:{event}:{carer.id}",
            delay=polite(carer, now),
        )
        if new_id is not None:
            ids.append(new_id)
    return ids


def weekday_names(tr: Tr, weekdays: tuple[str, ...]) -> str:
    """Weekday names in the person's language, from Babel (never hand-translated)."""
    from babel.dates import get_day_names

    from bot.i18n import babel_locale

    names = get_day_names("wide", locale=babel_locale(tr.locale))
    return labels.join(tr, [str(names[recurrence.WEEKDAYS.index(d)]) for d in weekdays])


def days_for_reader(rule: recurrence.Weekly, first: datetime, zone: str) -> tuple[str, ...]:
    """The weekdays of a rule as someone in `zone` sees them: 20:00 Saturday in Los Angeles is Sunday in China."""
    tz = ZoneInfo(zone)
    seen: set[str] = set()
    at = first - timedelta(seconds=1)
    for _ in range(len(rule.weekdays)):
        at = recurrence.next_occurrence(rule, at)
        seen.add(recurrence.WEEKDAYS[at.astimezone(tz).weekday()])
    return tuple(d for d in recurrence.WEEKDAYS if d in seen)


def describe(tr: Tr, view: CallView, *, with_next: bool = True) -> str:
    """'every Monday, Thursday at 20:00 (next: ...)' in the reader's zone; a one-off as its date and time."""
    if view.kind == "once" or view.local_time is None:
        return tr.when(view.next_due_at) if view.next_due_at else tr.gettext("finished")
    if view.next_due_at is None or view.status == "paused":  # as booked, in the booker's zone
        return tr.gettext("every {days} at {time}").format(
            days=weekday_names(tr, view.weekdays), time=view.local_time.strftime("%H:%M")
        )
    rule = recurrence.Weekly(view.weekdays, view.local_time, view.timezone)
    days = weekday_names(tr, days_for_reader(rule, view.next_due_at, tr.timezone))
    clock = tr.time_of_day(view.next_due_at)
    if not with_next:
        return tr.gettext("every {days} at {time}").format(days=days, time=clock)
    return tr.gettext("every {days} at {time} (next: {when})").format(
        days=days, time=clock, when=tr.when(view.next_due_at)
    )
