"""What the bot keeps about a person and their household, and deleting it (PIPL Art. 47, MPL Art. 72)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import call_policy, caseworker, codes, concerns
from bot.services import household as households
from db.models import (
    AuditEvent,
    CallOccurrence,
    CallSchedule,
    Child,
    ChildConsent,
    Concern,
    Draft,
    Household,
    InviteCode,
    Membership,
    Outbox,
    User,
)
from db.types import utcnow


@dataclass(frozen=True)
class Kept:
    telegram_id: int
    locale: str
    timezone: str
    role: str | None
    joined_at: datetime
    notice_accepted_at: datetime | None
    household: households.HouseholdView | None
    posts: tuple[caseworker.PostView, ...]
    consents_given: int
    pending_messages: int
    live_codes: int
    unfinished_steps: bool
    recent_code_failures: int
    calls_booked: int = 0  # regular or single calls this person booked, still active or paused
    call_answers: int = 0  # whether the family's calls happened, as answered
    quiet_hours: str = ""
    last_seen_at: datetime | None = None


@dataclass(frozen=True)
class Deleted:
    household_deleted: bool
    household_kept_for_others: bool
    children_deleted: int
    consents_withdrawn: int
    reports_kept: int  # concerns this person reported: kept, without their identity
    outbox_ids: tuple[int, ...] = ()  # concerns this caseworker held, passed on: deliver these now


async def what_we_keep(session: AsyncSession, user_id: int, now: datetime | None = None) -> Kept:
    now = now or utcnow()
    user = await session.get_one(User, user_id)
    household_id = await households.household_of(session, user_id)
    view = await households.view(session, user_id=user_id, household_id=household_id) if household_id else None
    consents = await session.scalar(
        select(func.count()).select_from(ChildConsent).where(ChildConsent.user_id == user_id)
    )
    pending = await session.scalar(
        select(func.count()).select_from(Outbox).where(Outbox.user_id == user_id, Outbox.status == "pending")
    )
    return Kept(
        telegram_id=user.telegram_id,
        locale=user.locale,
        timezone=user.timezone,
        role=user.role,
        joined_at=user.created_at,
        notice_accepted_at=user.notice_accepted_at,
        household=view,
        posts=tuple(await caseworker.posts_of(session, user_id)),
        consents_given=int(consents or 0),
        pending_messages=int(pending or 0),
        live_codes=int(
            await session.scalar(
                select(func.count())
                .select_from(InviteCode)
                .where(
                    InviteCode.created_by_user_id == user_id, InviteCode.used_at.is_(None), InviteCode.expires_at > now
                )
            )
            or 0
        ),
        unfinished_steps=bool(
            await session.scalar(select(func.count()).select_from(Draft).where(Draft.user_id == user_id))
        ),
        recent_code_failures=(await codes.lock_state(session, user.telegram_id, now)).failures,
        calls_booked=int(
            await session.scalar(
                select(func.count())
                .select_from(CallSchedule)
                .where(CallSchedule.parent_user_id == user_id, CallSchedule.status.in_(("active", "paused")))
            )
            or 0
        ),
        call_answers=int(
            await session.scalar(
                select(func.count())
                .select_from(CallOccurrence)
                .where(CallOccurrence.household_id == household_id, CallOccurrence.outcome.is_not(None))
            )
            or 0
        )
        if household_id
        else 0,
        quiet_hours=user.quiet_hours or str(call_policy.policy().quiet_hours),
        last_seen_at=user.last_seen_at,
    )


async def delete_person(
    session: AsyncSession, user_id: int, *, admin_ids: frozenset[int] = frozenset(), now: datetime | None = None
) -> Deleted:
    """Remove the person and everything that is only theirs.

    A household shared with others stays for them (children are theirs too); the person's consents go
    with them, so a child under 14 shows "consent pending" again. A household with nobody left is
    deleted with its children and backup adult. Audit rows lose the actor, keeping only what happened.
    """
    await session.get_one(User, user_id)  # raises if the person is already gone
    # A caseworker leaving: the concerns waiting on them or taken up by them go to the next person first.
    handed_over = await concerns.person_unreachable(session, user_id, admin_ids=admin_ids, now=now or utcnow())
    household_id = await households.household_of(session, user_id)
    consents = int(
        await session.scalar(select(func.count()).select_from(ChildConsent).where(ChildConsent.user_id == user_id)) or 0
    )
    # A report about a child's safety must not be lost (MPL Art. 11): it stays, and loses the reporter's
    # identity through ON DELETE SET NULL; a deleted household's children are unlinked the same way.
    reports = int(
        await session.scalar(select(func.count()).select_from(Concern).where(Concern.reporter_user_id == user_id)) or 0
    )
    household_deleted = kept_for_others = False
    children_deleted = 0
    if household_id is not None:
        others = await session.scalar(
            select(func.count())
            .select_from(Membership)
            .where(Membership.household_id == household_id, Membership.user_id != user_id)
        )
        if others:
            kept_for_others = True
        else:
            children_deleted = int(
                await session.scalar(select(func.count()).select_from(Child).where(Child.household_id == household_id))
                or 0
            )
            # Children, memberships, backup adult and codes go by ON DELETE CASCADE.
            await session.execute(delete(Household).where(Household.id == household_id))
            household_deleted = True
    await session.execute(update(AuditEvent).where(AuditEvent.actor_user_id == user_id).values(actor_user_id=None))
    await session.execute(delete(Outbox).where(Outbox.user_id == user_id))
    await session.execute(delete(Draft).where(Draft.user_id == user_id))
    # Wrong-code attempts stay until they age out (an hour): deleting them would reset the lock on guessing.
    # Memberships, posts, consents, drafts and messages go by ON DELETE CASCADE; references elsewhere become NULL.
    await session.execute(delete(User).where(User.id == user_id))
    session.expunge_all()
    session.add(AuditEvent(actor_user_id=None, action="person.delete", subject="person"))
    await session.flush()
    return Deleted(household_deleted, kept_for_others, children_deleted, consents, reports, tuple(handed_over))
