"""A carer who has gone quiet: call reminders keep going out, and nothing comes back for two weeks.

Asked "Are you and the children well?"; no answer in 48 hours, the parent is told; no answer in another 48
hours, the village child director is asked to visit. Anything the carer does in the bot ends the watch.
Thresholds in `content/calls/policy.toml`.
"""

from __future__ import annotations

import weakref
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot import labels
from bot.i18n import Tr
from bot.services import call_policy, outbox, quiet, welfare
from db.models import CallOccurrence, Membership, SilenceWatch, User
from db.session import skip_locked

WELL = "sl:well"
HELP = "sl:help"


def _seen(user: User) -> datetime:
    return user.last_seen_at or user.created_at


async def tick(session: AsyncSession, *, now: datetime, limit: int = 200) -> list[int]:
    policy = call_policy.policy()
    ids: list[int] = []
    # Watches under way that need something: a sign of life ends one; otherwise the next step after each wait.
    seen = func.coalesce(User.last_seen_at, User.created_at)
    due = (
        select(SilenceWatch)
        .join(User, User.id == SilenceWatch.guardian_user_id)
        .where(
            (seen > SilenceWatch.stage_at)
            | ((SilenceWatch.stage != "welfare") & (SilenceWatch.stage_at <= now - policy.silence_answer))
        )
        .order_by(SilenceWatch.stage_at)
        .limit(limit)
    )
    due = skip_locked(session, due, of=SilenceWatch)
    for watch in (await session.scalars(due)).all():
        carer = await session.get(User, watch.guardian_user_id)
        if carer is None or _seen(carer) > watch.stage_at:
            await session.delete(watch)
            continue
        if watch.stage == "welfare" or now - watch.stage_at < policy.silence_answer:
            continue
        if watch.stage == "asked":
            watch.stage, watch.stage_at = "parent_told", now
            ids += await _tell_parents(session, watch, carer)
        else:
            watch.stage, watch.stage_at = "welfare", now
            ids += await welfare.request(session, household_id=watch.household_id, reason="guardian_silent", now=now)
    if _discovery_due(session, now):
        ids += await _discover(session, now, policy, limit)
    return ids


# New watches are looked for at most this often: the search reads every carer (134 ms with 100,000 households),
# and a silence of `silence_days` noticed up to an hour late changes nothing that matters.
DISCOVER_EVERY = timedelta(hours=1)
_discovered: weakref.WeakKeyDictionary[Any, datetime] = weakref.WeakKeyDictionary()  # per database: last search


def _discovery_due(session: AsyncSession, now: datetime) -> bool:
    last = _discovered.get(session.get_bind())
    return last is None or not last <= now < last + DISCOVER_EVERY  # a clock set back searches again


async def _discover(session: AsyncSession, now: datetime, policy: call_policy.CallPolicy, limit: int) -> list[int]:
    """New watches: carers silent for `silence` while call reminders kept reaching them."""
    ids: list[int] = []
    reminded = exists().where(
        CallOccurrence.household_id == Membership.household_id,
        CallOccurrence.guardian_reminded_at >= now - policy.silence,
    )
    watched = exists().where(
        SilenceWatch.household_id == Membership.household_id, SilenceWatch.guardian_user_id == Membership.user_id
    )
    quiet_ones = (
        await session.execute(
            select(User, Membership.household_id)
            .join(Membership, Membership.user_id == User.id)
            .where(
                Membership.kind == "guardian",
                func.coalesce(User.last_seen_at, User.created_at) <= now - policy.silence,
                User.unreachable.is_(False),
                reminded,
                ~watched,
            )
            .limit(limit)
        )
    ).all()
    if len(quiet_ones) < limit:  # all found: the next search can wait; a full batch means more are waiting
        _discovered[session.get_bind()] = now
    for carer, household_id in quiet_ones:
        if quiet.is_quiet(call_policy.quiet_hours_of(carer, policy), carer.timezone, now):
            continue
        watch = SilenceWatch(household_id=household_id, guardian_user_id=carer.id, stage="asked", stage_at=now)
        try:
            async with session.begin_nested():  # a second dispatcher got there first: nothing more to do
                session.add(watch)
                await session.flush()
        except IntegrityError:
            continue
        tr = Tr(carer.locale, carer.timezone)
        new_id = await outbox.enqueue(
            session,
            user_id=carer.id,
            chat_id=carer.chat_id,
            kind="silence.ask",
            text=tr.gettext("🌱 We have not heard from you for a while. Are you and the children well?"),
            buttons=[[(tr.gettext("✅ We are well"), WELL)], [(tr.gettext("🆘 We need help"), HELP)]],
            dedupe_key=f"silence:{watch.id}:ask",
        )
        if new_id is not None:
            ids.append(new_id)
    return ids


async def _tell_parents(session: AsyncSession, watch: SilenceWatch, carer: User) -> list[int]:
    relation = await session.scalar(
        select(Membership.relation).where(Membership.user_id == carer.id, Membership.household_id == watch.household_id)
    )
    parents = (
        await session.scalars(
            select(User)
            .join(Membership, Membership.user_id == User.id)
            .where(Membership.household_id == watch.household_id, Membership.kind == "parent")
        )
    ).all()
    ids: list[int] = []
    for parent in parents:
        tr = Tr(parent.locale, parent.timezone)
        text = tr.gettext(
            "🌱 {carer} has not answered the bot for over two weeks, nor our question whether all is well. Could you "
            "phone home, or ask a neighbour to look in?"
        ).format(carer=labels.relation(tr, relation or "other"))
        new_id = await outbox.enqueue(
            session,
            user_id=parent.id,
            chat_id=parent.chat_id,
            kind="silence.parent",
            text=text,
            dedupe_key=f"silence:{watch.id}:parent:{parent.id}",
        )
        if new_id is not None:
            ids.append(new_id)
    return ids


async def answered(session: AsyncSession, *, user_id: int) -> None:
    """The carer answered: every watch on them ends (seeing them is enough; this makes it explicit)."""
    for watch in (await session.scalars(select(SilenceWatch).where(SilenceWatch.guardian_user_id == user_id))).all():
        await session.delete(watch)
