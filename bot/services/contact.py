"""Whether a parent working away keeps in touch (MPL Art. 23 asks for contact at least weekly).

Per parent and household: the last confirmed call, a weekly summary, and when calls stop a warm nudge
(7 days), a second nudge and, if the parent agreed, a note to the carer (14 days), then a welfare-check
request to the village child director (30 days). Thresholds in `content/calls/policy.toml`.
"""

from __future__ import annotations

import html
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import labels
from bot.i18n import Tr
from bot.services import call_policy, outbox, quiet, recurrence, welfare
from db.models import CallOccurrence, CallSchedule, Child, ContactWatch, Membership, User
from db.session import skip_locked

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


async def contact_made(session: AsyncSession, *, household_id: int, parent_user_id: int, now: datetime) -> None:
    row = await watch(session, household_id=household_id, parent_user_id=parent_user_id, now=now)
    row.last_contact_at = max(row.last_contact_at or now, now)
    row.level = 0
    row.next_check_at = _next_check(row, call_policy.policy())


def _next_check(row: ContactWatch, policy: call_policy.CallPolicy) -> datetime:
    """The summary, or the next step of the ladder, whichever comes first."""
    base = row.last_contact_at or row.since
    steps = [base + timedelta(days=d) for d in policy.nudge_days if d > row.level]
    return min([t for t in [row.summary_due_at, *steps[:1]] if t is not None])


async def tick(session: AsyncSession, *, now: datetime, limit: int = 200) -> list[int]:
    policy = call_policy.policy()
    query = (
        select(ContactWatch).where(ContactWatch.next_check_at <= now).order_by(ContactWatch.next_check_at).limit(limit)
    )
    query = skip_locked(session, query)
    ids: list[int] = []
    for row in (await session.scalars(query)).all():
        parent = await session.get(User, row.parent_user_id)
        if parent is None:
            continue
        hours = call_policy.quiet_hours_of(parent, policy)
        if quiet.is_quiet(hours, parent.timezone, now):
            row.next_check_at = quiet.next_allowed(hours, parent.timezone, now)  # the morning
            continue
        if row.summary_due_at is not None and row.summary_due_at <= now:
            ids += await _summary(session, row, parent, now)
            row.summary_due_at = recurrence.next_occurrence(_summary_rule(policy, parent.timezone), now)
        held = False
        if _step_due(row, now, policy) is not None:
            sent, held = await _nudge(session, row, parent, now, policy)
            ids += sent
        row.next_check_at = now + RETRY if held else _next_check(row, policy)
    return ids


def _step_due(row: ContactWatch, now: datetime, policy: call_policy.CallPolicy) -> int | None:
    silent = now - (row.last_contact_at or row.since)
    due = [d for d in policy.nudge_days if silent >= timedelta(days=d) and d > row.level]
    return max(due) if due else None  # after a long outage, the highest step only: one message, not three


async def _children(session: AsyncSession, household_id: int) -> list[Child]:
    return list(
        (await session.scalars(select(Child).where(Child.household_id == household_id).order_by(Child.id))).all()
    )


async def _nudge(
    session: AsyncSession, row: ContactWatch, parent: User, now: datetime, policy: call_policy.CallPolicy
) -> tuple[list[int], bool]:
    """The next step of the ladder; (messages, held back because a call is at hand)."""
    level = _step_due(row, now, policy)
    if level is None:
        return [], False
    if level != policy.nudge_days[2] and await _call_at_hand(session, row, now):
        return [], True  # the visit request is never held back
    row.level = level
    tr = Tr(parent.locale, parent.timezone)
    children = await _children(session, row.household_id)
    names = labels.join(tr, [html.escape(c.nickname, quote=False) for c in children]) or tr.gettext("the children")
    key = f"contact:{row.id}:{(row.last_contact_at or row.since).isoformat()}:{level}"
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
            ids += await _tell_carers(session, row, now, key)
    else:
        text = tr.gettext(
            "💛 It has been {days} days without a call with {children}. The village child director has been asked to "
            "visit the family and see how everyone is. A call from you would help most."
        ).format(days=level, children=names)
        ids += await welfare.request(session, household_id=row.household_id, reason="no_contact", now=now)
    new_id = await outbox.enqueue(
        session,
        user_id=parent.id,
        chat_id=parent.chat_id,
        kind="contact.nudge",
        text=text,
        buttons=[[(tr.gettext("📞 Book a call"), BOOK)]],
        dedupe_key=key,
    )
    return ([new_id] if new_id is not None else []) + ids, False


async def _call_at_hand(session: AsyncSession, row: ContactWatch, now: datetime) -> bool:
    """A call due within a day, or one just held and not yet answered for: no nudge before we know."""
    soon = await session.scalar(
        select(CallSchedule.id)
        .where(
            CallSchedule.household_id == row.household_id,
            CallSchedule.parent_user_id == row.parent_user_id,
            CallSchedule.status == "active",
            CallSchedule.next_due_at <= now + AT_HAND,
        )
        .limit(1)
    )
    waiting = await session.scalar(
        select(CallOccurrence.id)
        .join(CallSchedule, CallSchedule.id == CallOccurrence.schedule_id)
        .where(
            CallSchedule.parent_user_id == row.parent_user_id,
            CallOccurrence.household_id == row.household_id,
            CallOccurrence.outcome.is_(None),
            CallOccurrence.skipped.is_(None),
            CallOccurrence.due_at >= now - AT_HAND,
        )
        .limit(1)
    )
    return soon is not None or waiting is not None


async def _tell_carers(session: AsyncSession, row: ContactWatch, now: datetime, key: str) -> list[int]:
    relation = await session.scalar(
        select(Membership.relation).where(
            Membership.user_id == row.parent_user_id, Membership.household_id == row.household_id
        )
    )
    carers = (
        await session.scalars(
            select(User)
            .join(Membership, Membership.user_id == User.id)
            .where(Membership.household_id == row.household_id, Membership.kind == "guardian")
        )
    ).all()
    ids: list[int] = []
    for carer in carers:
        tr = Tr(carer.locale, carer.timezone)
        text = tr.gettext(
            "{parent} has not had a video call with the children for two weeks. If the children miss them, you could "
            "help them send a voice message."
        ).format(parent=labels.relation(tr, relation or "other"))
        hours = call_policy.quiet_hours_of(carer)
        new_id = await outbox.enqueue(
            session,
            user_id=carer.id,
            chat_id=carer.chat_id,
            kind="contact.carer",
            text=text,
            dedupe_key=f"{key}:carer:{carer.id}",
            delay=call_policy.wait(hours, carer.timezone, now),  # the carer's own quiet hours
        )
        if new_id is not None:
            ids.append(new_id)
    return ids


async def _summary(session: AsyncSession, row: ContactWatch, parent: User, now: datetime) -> list[int]:
    tr = Tr(parent.locale, parent.timezone)
    zone = ZoneInfo(parent.timezone)
    local = now.astimezone(zone)
    month_start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    done = (
        await session.execute(
            select(CallOccurrence.due_at, CallSchedule.child_ids)
            .join(CallSchedule, CallSchedule.id == CallOccurrence.schedule_id)
            .where(
                CallOccurrence.household_id == row.household_id,
                CallSchedule.parent_user_id == row.parent_user_id,
                CallOccurrence.outcome == "done",
            )
        )
    ).all()
    lines = [tr.gettext("📊 Your calls this month:")]
    for child in await _children(session, row.household_id):
        n = sum(1 for due, kids in done if child.id in kids and due >= month_start)
        lines.append(
            tr.ngettext("{name}: {n} call", "{name}: {n} calls", n).format(
                name=html.escape(child.nickname, quote=False), n=n
            )
        )
    lines.append(streak_line(tr, weeks_in_a_row([due for due, _kids in done], now, zone)))
    new_id = await outbox.enqueue(
        session,
        user_id=parent.id,
        chat_id=parent.chat_id,
        kind="contact.summary",
        text="\n".join(lines),
        dedupe_key=f"contact:{row.id}:summary:{local.date().isoformat()}",
    )
    return [new_id] if new_id is not None else []


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
