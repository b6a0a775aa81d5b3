"""Parenting tips: the right short advice for the household's children, by topic or by subscription.

A tip fits when one of the household's children is in its age band, it is for the reader's role (carer or
parent), and it is in season. A household is not shown the same tip again until every fitting tip has been
shown; then the one seen longest ago comes first. Subscriptions store `next_due_at` and are sent by the tick
through the outbox (DESIGN-NOTES §4–5), one tip per person per slot, quiet hours respected.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.i18n import Tr
from bot.services import call_policy, library, outbox, recurrence
from bot.services import household as households
from bot.services.errors import Invalid, NotAllowed
from db.models import Child, Membership, TipDelivery, TipFeedback, TipSubscription, User
from db.session import skip_locked
from db.types import utcnow

log = logging.getLogger(__name__)
FREQUENCIES = ("daily", "weekly")
DEFAULT_TIME = time(19, 30)
HELPFUL = "tp:up:"
NOT_FOR_ME = "tp:down:"


@dataclass(frozen=True)
class Reader:
    """Whose tip: their household's children's age bands, their role, the month where they live."""

    household_id: int | None
    bands: frozenset[str]
    role: str  # guardian | parent | any
    month: int


async def reader(session: AsyncSession, user_id: int, now: datetime) -> Reader:
    user = await session.get_one(User, user_id)
    member = await session.scalar(select(Membership).where(Membership.user_id == user_id).order_by(Membership.id))
    month = now.astimezone(ZoneInfo(user.timezone)).month
    if member is None:
        # No family here (a neighbour, a teacher, a caseworker): every age, both audiences.
        return Reader(None, frozenset(library.AGE_BANDS), "any", month)
    children = (await session.scalars(select(Child).where(Child.household_id == member.household_id))).all()
    bands = frozenset(library.band(households.age_on(c.birth_year, c.birth_month, now)) for c in children)
    return Reader(member.household_id, bands or frozenset(library.AGE_BANDS), member.kind, month)


def fitting(
    lib: library.Library, who: Reader, topic: str | None = None, *, out_of_season: bool = False
) -> list[library.Tip]:
    """Tips for these children and this role, in the file's order, the ones in season now first.

    Sent by message, a tip out of season never comes (no drowning tips in December). Browsing a topic, the
    person asked for it: tips out of season come after the rest.
    """
    tips = [
        t
        for t in lib.tips
        if t.ages & who.bands
        and t.for_audience(who.role)
        and (out_of_season or lib.in_season(t, who.month))
        and (topic is None or topic in t.topics)
    ]
    # Stable sort: in season and seasonal first (now is the time to say it), then all-year, then out of season.
    return sorted(tips, key=lambda t: 0 if t.season and lib.in_season(t, who.month) else 1 if t.season is None else 2)


async def next_tip(
    session: AsyncSession,
    who: Reader,
    *,
    topic: str | None = None,
    now: datetime,
    via: str = "browse",
    user_id: int | None = None,
    slot: str | None = None,
) -> library.Tip | None:
    """The next fitting tip the household has not seen (or seen longest ago), recorded as seen."""
    pool = fitting(library.library(), who, topic, out_of_season=via == "browse")
    if user_id is not None:
        # 👎 "not for me": those come last, after every other fitting tip.
        disliked = set(
            (
                await session.scalars(
                    select(TipFeedback.tip_id).where(TipFeedback.user_id == user_id, TipFeedback.helpful.is_(False))
                )
            ).all()
        )
        pool = [t for t in pool if t.id not in disliked] or pool
    if not pool:
        return None
    last_seen: dict[str, datetime] = {}
    if who.household_id is not None:
        rows = await session.execute(
            select(TipDelivery.tip_id, func.max(TipDelivery.sent_at))
            .where(TipDelivery.household_id == who.household_id)
            .group_by(TipDelivery.tip_id)
        )
        last_seen = {tip_id: at for tip_id, at in rows.all()}
    unseen = [t for t in pool if t.id not in last_seen]
    tip = unseen[0] if unseen else min(pool, key=lambda t: last_seen[t.id])
    if who.household_id is not None:
        session.add(
            TipDelivery(household_id=who.household_id, user_id=user_id, tip_id=tip.id, via=via, slot=slot, sent_at=now)
        )
        await session.flush()
    return tip


async def feedback(session: AsyncSession, *, user_id: int, tip_id: str, helpful: bool, now: datetime) -> None:
    """👍 / 👎 on a tip; the latest answer counts."""
    if library.library().tip(tip_id) is None:
        raise NotAllowed
    row = await session.scalar(select(TipFeedback).where(TipFeedback.user_id == user_id, TipFeedback.tip_id == tip_id))
    if row is None:
        session.add(TipFeedback(user_id=user_id, tip_id=tip_id, helpful=helpful, at=now))
    else:
        row.helpful, row.at = helpful, now


def buttons(tr: Tr, tip_id: str) -> list[list[tuple[str, str]]]:
    _ = tr.gettext
    return [[(_("👍 Helpful"), f"{HELPFUL}{tip_id}"), (_("👎 Not for me"), f"{NOT_FOR_ME}{tip_id}")]]


def render(tr: Tr, tip: library.Tip) -> str:
    source = library.library().sources[tip.source]
    name = source.zh if tr.locale == "zh_Hans" else source.en
    credit = tr.gettext("Source: {name}").format(name=name)  # outside the f-string, so it is extracted
    return f"💡 {tip.text(tr.locale)}\n\n<i>{credit}</i>"


# --- subscriptions -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SubscriptionView:
    frequency: str
    weekday: str | None
    at: time
    status: str
    next_due_at: datetime | None


def _rule(sub: TipSubscription) -> recurrence.Weekly:
    days = recurrence.WEEKDAYS if sub.frequency == "daily" else (sub.weekday or "sun",)
    return recurrence.Weekly(tuple(days), time.fromisoformat(sub.local_time), sub.timezone)


def _view(sub: TipSubscription) -> SubscriptionView:
    return SubscriptionView(sub.frequency, sub.weekday, time.fromisoformat(sub.local_time), sub.status, sub.next_due_at)


async def subscription(session: AsyncSession, user_id: int) -> SubscriptionView | None:
    sub = await session.scalar(select(TipSubscription).where(TipSubscription.user_id == user_id))
    return _view(sub) if sub else None


async def subscribe(
    session: AsyncSession, *, user_id: int, frequency: str, weekday: str | None, at: time, now: datetime
) -> SubscriptionView:
    if frequency not in FREQUENCIES or (frequency == "weekly" and weekday not in recurrence.WEEKDAYS):
        raise Invalid("frequency")
    household_id = await households.household_of(session, user_id)
    if household_id is None:
        raise NotAllowed
    user = await session.get_one(User, user_id)
    sub = await session.scalar(select(TipSubscription).where(TipSubscription.user_id == user_id))
    if sub is None:
        sub = TipSubscription(user_id=user_id, household_id=household_id, created_at=now)
        session.add(sub)
    sub.household_id = household_id
    sub.frequency, sub.weekday = frequency, weekday if frequency == "weekly" else None
    sub.local_time, sub.timezone, sub.status = at.strftime("%H:%M"), user.timezone, "active"
    sub.next_due_at = recurrence.next_occurrence(_rule(sub), now)
    await session.flush()
    return _view(sub)


async def set_status(session: AsyncSession, *, user_id: int, status: str, now: datetime) -> SubscriptionView | None:
    """Pause, resume (from now on), or stop (the subscription is deleted)."""
    sub = await session.scalar(select(TipSubscription).where(TipSubscription.user_id == user_id))
    if sub is None:
        raise NotAllowed
    if status == "stopped":
        await session.delete(sub)
        return None
    if status not in ("active", "paused"):
        raise ValueError(status)
    sub.status = status
    sub.next_due_at = recurrence.next_occurrence(_rule(sub), now) if status == "active" else None
    return _view(sub)


async def tick(session: AsyncSession, *, now: datetime | None = None, limit: int = 200) -> list[int]:
    """Due subscriptions: one fitting tip each, through the outbox; quiet hours hold it until morning."""
    now = now or utcnow()
    query = (
        select(TipSubscription)
        .where(TipSubscription.status == "active", TipSubscription.next_due_at <= now)
        .order_by(TipSubscription.next_due_at)
        .limit(limit)
    )
    query = skip_locked(session, query)
    ids: list[int] = []
    policy = call_policy.policy()
    for sub in (await session.scalars(query)).all():
        slot_at = sub.next_due_at
        assert slot_at is not None
        rule = _rule(sub)
        sub.next_due_at = recurrence.next_occurrence(
            rule, max(now, slot_at), not_on=recurrence.local_date(slot_at, sub.timezone)
        )
        user = await session.get(User, sub.user_id)
        if user is None or user.unreachable:
            continue
        try:
            async with session.begin_nested():
                who = await reader(session, user.id, now)
                tip = await next_tip(
                    session, who, now=now, via="subscription", user_id=user.id, slot=slot_at.isoformat()
                )
        except IntegrityError:
            continue  # this slot was already sent (a second dispatcher)
        if tip is None:
            continue
        tr = Tr(user.locale, user.timezone)
        hours = call_policy.quiet_hours_of(user, policy)
        new_id = await outbox.enqueue(
            session,
            user_id=user.id,
            chat_id=user.chat_id,
            kind="tip.subscription",
            text=render(tr, tip),
            buttons=buttons(tr, tip.id),
            dedupe_key=f"tip:{user.id}:{slot_at.isoformat()}",
            delay=call_policy.wait(hours, user.timezone, now),
        )
        if new_id is not None:
            ids.append(new_id)
    return ids
