"""Whether a parent working away keeps in touch (MPL Art. 23 asks for contact at least weekly).

Per parent and household: the last confirmed call, a weekly summary, and when calls stop a warm nudge
(7 days), a second nudge and, if the parent agreed, a note to the carer (14 days), then a welfare-check
request to the village child director (30 days). Thresholds in `content/calls/policy.toml`.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Update, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import labels
from bot.i18n import Tr
from bot.services import call_policy, outbox, quiet, recurrence, welfare
from bot.services import household as family
from db.models import CallOccurrence, CallSchedule, Child, ContactWatch, User
from db.session import execute_core, skip_locked

BOOK = "menu:calls"
AT_HAND = timedelta(hours=3)  # a call this close (ahead, or just held and not answered for) holds a nudge back
RETRY = timedelta(hours=1)


def _summary_rule(policy: call_policy.CallPolicy, zone: str) -> recurrence.Weekly:
    return recurrence.Weekly((policy.summary_weekday,), policy.summary_time, zone)


async def watch(session: AsyncSession, *, household_id: int, parent_user_id: int, now: datetime) -> ContactWatch:
    """Start watching at the first booking; silence counts from then until the first confirmed call."""
    row = await session.scalar(
        select(ContactWatch).where(
            ContactWatch.household_id == household_id, ContactWatch.parent_user_id == parent_user_id
        )
    )
    if row is None:
        parent = await session.get_one(User, parent_user_id)
        summary = recurrence.next_occurrence(_summary_rule(call_policy.policy(), parent.timezone), now)
        row = ContactWatch(
            household_id=household_id,
            parent_user_id=parent_user_id,
            since=now,
            level=0,
            tell_guardian=False,
            summary_due_at=summary,
            next_check_at=min(summary, now + timedelta(days=call_policy.policy().nudge_days[0])),
        )
        session.add(row)
        await session.flush()
    return row


async def set_tell_guardian(session: AsyncSession, *, household_id: int, parent_user_id: int, allowed: bool) -> None:
    row = await session.scalar(
        select(ContactWatch).where(
            ContactWatch.household_id == household_id, ContactWatch.parent_user_id == parent_user_id
        )
    )
    if row is not None:
        row.tell_guardian = allowed


@dataclass(frozen=True)
class Watched:
    """The parts of a parent's watch row a confirmed call changes, when the caller has read them already."""

    id: int
    last_contact_at: datetime | None
    summary_due_at: datetime | None


async def contact_made(
    session: AsyncSession, *, household_id: int, parent_user_id: int, now: datetime, watched: Watched | None = None
) -> None:
    if watched is None:
        row = await watch(session, household_id=household_id, parent_user_id=parent_user_id, now=now)
        row.last_contact_at = max(row.last_contact_at or now, now)
        row.level = 0
        row.next_check_at = _next_check(row, call_policy.policy())
        return
    # Read with the call (bot/services/calls.confirm): one UPDATE, no read of its own.
    last = max(watched.last_contact_at or now, now)
    nxt = _next_check_from(last, 0, watched.summary_due_at, call_policy.policy())
    await execute_core(session, _contact_update(), {"watch_id": watched.id, "last": last, "next": nxt})


@cache
def _contact_update() -> Update:
    table = ContactWatch.__table__
    return (
        update(table)
        .where(table.c.id == bindparam("watch_id"))
        .values(last_contact_at=bindparam("last"), level=0, next_check_at=bindparam("next"))
    )


def _next_check(row: ContactWatch, policy: call_policy.CallPolicy) -> datetime:
    return _next_check_from(row.last_contact_at or row.since, row.level, row.summary_due_at, policy)


def _next_check_from(
    base: datetime, level: int, summary_due_at: datetime | None, policy: call_policy.CallPolicy
) -> datetime:
    """The summary, or the next step of the ladder, whichever comes first."""
    steps = [base + timedelta(days=d) for d in policy.nudge_days if d > level]
    return min([t for t in [summary_due_at, *steps[:1]] if t is not None])


async def tick(session: AsyncSession, *, now: datetime, limit: int = 200) -> list[int]:
    """Due watches: weekly summaries and the next step of the ladder. The batch is read with one query per kind
    (parents, children, calls done, calls at hand, carers) and its messages written with one INSERT."""
    policy = call_policy.policy()
    query = (
        select(ContactWatch).where(ContactWatch.next_check_at <= now).order_by(ContactWatch.next_check_at).limit(limit)
    )
    query = skip_locked(session, query)
    rows = (await session.scalars(query)).all()
    if not rows:
        return []
    parents = await _users(session, [row.parent_user_id for row in rows])
    work: list[tuple[ContactWatch, User]] = []
    for row in rows:
        parent = parents.get(row.parent_user_id)
        if parent is None:
            continue
        hours = call_policy.quiet_hours_of(parent, policy)
        if quiet.is_quiet(hours, parent.timezone, now):
            row.next_check_at = quiet.next_allowed(hours, parent.timezone, now)  # the morning
            continue
        work.append((row, parent))
    if not work:
        return []
    batch = await _Batch.read(session, [row for row, _parent in work], now, policy)
    messages: list[dict[str, Any]] = []
    ids: list[int] = []
    for row, parent in work:
        if row.summary_due_at is not None and row.summary_due_at <= now:
            messages.append(_summary(batch, row, parent, now))
            row.summary_due_at = recurrence.next_occurrence(_summary_rule(policy, parent.timezone), now)
        held = False
        if _step_due(row, now, policy) is not None:
            sent, welfare_ids, held = await _nudge(session, batch, row, parent, now, policy)
            messages += sent
            ids += welfare_ids
        row.next_check_at = now + RETRY if held else _next_check(row, policy)
    return [i for i in await outbox.enqueue_many(session, messages) if i is not None] + ids


def _step_due(row: ContactWatch, now: datetime, policy: call_policy.CallPolicy) -> int | None:
    silent = now - (row.last_contact_at or row.since)
    due = [d for d in policy.nudge_days if silent >= timedelta(days=d) and d > row.level]
    return max(due) if due else None  # after a long outage, the highest step only: one message, not three


_IN_CHUNK = 500  # ids per IN (...): far below the bind-parameter limits of SQLite and asyncpg


def _chunks(values: Iterable[int]) -> list[list[int]]:
    unique = list(dict.fromkeys(values))
    return [unique[i : i + _IN_CHUNK] for i in range(0, len(unique), _IN_CHUNK)]


async def _users(session: AsyncSession, ids: Iterable[int]) -> dict[int, User]:
    out: dict[int, User] = {}
    for chunk in _chunks(ids):
        out.update((u.id, u) for u in (await session.scalars(select(User).where(User.id.in_(chunk)))).all())
    return out


@dataclass
class _Batch:
    """What the summaries and nudges of a batch of watches need, keyed by household (and parent)."""

    children: dict[int, list[Child]] = field(default_factory=dict)  # household -> its children, by id
    done: dict[tuple[int, int], list[tuple[datetime, list[int]]]] = field(default_factory=dict)  # calls held
    at_hand: set[tuple[int, int]] = field(default_factory=set)  # (household, parent) with a call at hand
    carers: dict[int, list[User]] = field(default_factory=dict)  # household -> its carers
    relations: dict[tuple[int, int], str] = field(default_factory=dict)  # (household, user) -> relation

    @classmethod
    async def read(
        cls, session: AsyncSession, rows: list[ContactWatch], now: datetime, policy: call_policy.CallPolicy
    ) -> _Batch:
        batch = cls()
        summaries = [r for r in rows if r.summary_due_at is not None and r.summary_due_at <= now]
        steps = [(r, level) for r in rows if (level := _step_due(r, now, policy)) is not None]
        households = [r.household_id for r in summaries] + [r.household_id for r, _level in steps]
        for chunk in _chunks(households):
            for child in (
                await session.scalars(select(Child).where(Child.household_id.in_(chunk)).order_by(Child.id))
            ).all():
                batch.children.setdefault(child.household_id, []).append(child)
        for chunk in _chunks(r.household_id for r in summaries):
            done = await session.execute(
                select(
                    CallOccurrence.household_id,
                    CallSchedule.parent_user_id,
                    CallOccurrence.due_at,
                    CallSchedule.child_ids,
                )
                .join(CallSchedule, CallSchedule.id == CallOccurrence.schedule_id)
                .where(CallOccurrence.household_id.in_(chunk), CallOccurrence.outcome == "done")
            )
            for household_id, parent_id, due, kids in done.all():
                batch.done.setdefault((household_id, parent_id), []).append((due, kids))
        # The visit request is never held back, so only the earlier steps need to know of a call at hand.
        held_back = [r.household_id for r, level in steps if level != policy.nudge_days[2]]
        for chunk in _chunks(held_back):
            soon = await session.execute(
                select(CallSchedule.household_id, CallSchedule.parent_user_id).where(
                    CallSchedule.household_id.in_(chunk),
                    CallSchedule.status == "active",
                    CallSchedule.next_due_at <= now + AT_HAND,
                )
            )
            waiting = await session.execute(
                select(CallOccurrence.household_id, CallSchedule.parent_user_id)
                .join(CallSchedule, CallSchedule.id == CallOccurrence.schedule_id)
                .where(
                    CallOccurrence.household_id.in_(chunk),
                    CallOccurrence.outcome.is_(None),
                    CallOccurrence.skipped.is_(None),
                    CallOccurrence.due_at >= now - AT_HAND,
                )
            )
            batch.at_hand.update((h, p) for h, p in [*soon.all(), *waiting.all()])
        told = [r.household_id for r, level in steps if level == policy.nudge_days[1] and r.tell_guardian]
        for chunk in _chunks(told):
            for user, household_id, kind, relation in await family.members_of(session, chunk):
                batch.relations[(household_id, user.id)] = relation
                if kind == "guardian":
                    batch.carers.setdefault(household_id, []).append(user)
        return batch


def _names(tr: Tr, children: list[Child]) -> str:
    return labels.join(tr, [html.escape(c.nickname, quote=False) for c in children]) or tr.gettext("the children")


async def _nudge(
    session: AsyncSession,
    batch: _Batch,
    row: ContactWatch,
    parent: User,
    now: datetime,
    policy: call_policy.CallPolicy,
) -> tuple[list[dict[str, Any]], list[int], bool]:
    """The next step of the ladder; (messages, messages the visit request sent, held back: a call at hand)."""
    level = _step_due(row, now, policy)
    if level is None:
        return [], [], False
    if level != policy.nudge_days[2] and (row.household_id, row.parent_user_id) in batch.at_hand:
        return [], [], True  # the visit request is never held back
    row.level = level
    tr = Tr(parent.locale, parent.timezone)
    names = _names(tr, batch.children.get(row.household_id, []))
    key = f"contact:{row.id}:{(row.last_contact_at or row.since).isoformat()}:{level}"
    messages: list[dict[str, Any]] = []
    ids: list[int] = []
    first, second, _third = policy.nudge_days
    if level == first:
        text = tr.gettext(
            "💛 It has been {days} days since your last video call with {children}. A short call this week means a "
            "lot to them."
        ).format(days=level, children=names)
    elif level == second:
        text = tr.gettext(
            "💛 {children} have not seen you on a call for {days} days. Even five minutes helps: ask what made them "
            "laugh this week."
        ).format(days=level, children=names)
        if row.tell_guardian:
            messages += _tell_carers(batch, row, now, key)
    else:
        text = tr.gettext(
            "💛 It has been {days} days without a call with {children}. The village child director has been asked to "
            "visit the family and see how everyone is. A call from you would help most."
        ).format(days=level, children=names)
        ids += await welfare.request(session, household_id=row.household_id, reason="no_contact", now=now)
    messages.append(
        {
            "user_id": parent.id,
            "chat_id": parent.chat_id,
            "kind": "contact.nudge",
            "text": text,
            "buttons": [[(tr.gettext("📞 Book a call"), BOOK)]],
            "dedupe_key": key,
        }
    )
    return messages, ids, False


def _tell_carers(batch: _Batch, row: ContactWatch, now: datetime, key: str) -> list[dict[str, Any]]:
    relation = batch.relations.get((row.household_id, row.parent_user_id))
    messages: list[dict[str, Any]] = []
    for carer in batch.carers.get(row.household_id, []):
        tr = Tr(carer.locale, carer.timezone)
        text = tr.gettext(
            "{parent} has not had a video call with the children for two weeks. If the children miss them, you could "
            "help them send a voice message."
        ).format(parent=labels.relation(tr, relation or "other"))
        hours = call_policy.quiet_hours_of(carer)
        messages.append(
            {
                "user_id": carer.id,
                "chat_id": carer.chat_id,
                "kind": "contact.carer",
                "text": text,
                "dedupe_key": f"{key}:carer:{carer.id}",
                "delay": call_policy.wait(hours, carer.timezone, now),  # the carer's own quiet hours
            }
        )
    return messages


def _summary(batch: _Batch, row: ContactWatch, parent: User, now: datetime) -> dict[str, Any]:
    tr = Tr(parent.locale, parent.timezone)
    zone = ZoneInfo(parent.timezone)
    local = now.astimezone(zone)
    month_start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    done = batch.done.get((row.household_id, row.parent_user_id), [])
    lines = [tr.gettext("📊 Your calls this month:")]
    for child in batch.children.get(row.household_id, []):
        n = sum(1 for due, kids in done if child.id in kids and due >= month_start)
        lines.append(
            tr.ngettext("{name}: {n} call", "{name}: {n} calls", n).format(
                name=html.escape(child.nickname, quote=False), n=n
            )
        )
    lines.append(streak_line(tr, weeks_in_a_row([due for due, _kids in done], now, zone)))
    return {
        "user_id": parent.id,
        "chat_id": parent.chat_id,
        "kind": "contact.summary",
        "text": "\n".join(lines),
        "dedupe_key": f"contact:{row.id}:summary:{local.date().isoformat()}",
    }


def weeks_in_a_row(calls: list[datetime], now: datetime, zone: ZoneInfo) -> int:
    """Weeks (Monday to Sunday, local) with at least one call, counting back from this week.

    This week counts if it already has a call; if not, the streak is not broken yet and counts from last week.
    """
    weeks = {c.astimezone(zone).isocalendar()[:2] for c in calls}
    day = now.astimezone(zone).date()
    n = 0
    if day.isocalendar()[:2] not in weeks:
        day -= timedelta(days=7)
    while day.isocalendar()[:2] in weeks:
        n += 1
        day -= timedelta(days=7)
    return n


def streak_line(tr: Tr, weeks: int) -> str:
    if weeks == 0:
        return tr.gettext("No week with a call yet. This week can be the first.")
    return tr.ngettext(
        "{n} week in a row with a call. Keep it up!", "{n} weeks in a row with a call. Keep it up!", weeks
    ).format(n=weeks)


async def is_watched(session: AsyncSession, *, household_id: int, parent_user_id: int) -> bool:
    found = await session.scalar(
        select(ContactWatch.id).where(
            ContactWatch.household_id == household_id, ContactWatch.parent_user_id == parent_user_id
        )
    )
    return found is not None
