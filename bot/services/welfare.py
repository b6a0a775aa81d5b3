"""Welfare-check requests: "please visit this family and see how they are". Low priority, not a concern: no
deadline and no ladder. The village child director gets it (the township supervisor when the village has no
director), sees it in /cases, and closes it with a note."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot import labels
from bot.i18n import N_, Tr
from bot.services import areas, caseworker, outbox
from bot.services.errors import Invalid, NotAllowed
from db.models import AuditEvent, CaseworkerPost, Household, Membership, User, WelfareCheck

REASONS = {
    "no_contact": N_("The parent has had no video call with the children for 30 days."),
    "guardian_silent": N_("The carer has not answered for over two weeks, nor the question whether all is well."),
}
NOTE_MAX = 500


@dataclass(frozen=True)
class CheckView:
    id: int
    reason: str
    status: str
    created_at: datetime
    village_zh: str
    village_en: str
    carers: tuple[str, ...]  # relations, e.g. grandmother: who to ask for at the door
    note: str | None


async def request(session: AsyncSession, *, household_id: int, reason: str, now: datetime) -> list[int]:
    """Open a check for the household (one open per reason) and tell the people who will visit."""
    if reason not in REASONS:
        raise ValueError(reason)
    household = await session.get(Household, household_id)
    if household is None:
        return []
    existing = await session.scalar(
        select(WelfareCheck.id).where(
            WelfareCheck.household_id == household_id, WelfareCheck.reason == reason, WelfareCheck.status == "open"
        )
    )
    if existing is not None:
        return []
    check = WelfareCheck(household_id=household_id, village_id=household.village_id, reason=reason, created_at=now)
    try:
        # The unique index on open requests settles a race between two dispatchers: the second adds nothing.
        async with session.begin_nested():
            session.add(check)
            await session.flush()
    except IntegrityError:
        return []
    ids: list[int] = []
    for user in await _visitors(session, household.village_id):
        tr = Tr(user.locale, user.timezone)
        text = "\n".join(
            [
                tr.gettext("🏠 Welfare check requested (not urgent)"),
                tr.gettext(REASONS[reason]),
                tr.gettext("Please visit the family when you can, then close it with a note."),
            ]
        )
        new_id = await outbox.enqueue(
            session,
            user_id=user.id,
            chat_id=user.chat_id,
            kind="welfare.request",
            text=text,
            buttons=[[(tr.gettext("📂 Open"), f"wc:open:{check.id}")]],
            dedupe_key=f"welfare:{check.id}:{user.id}",
        )
        if new_id is not None:
            ids.append(new_id)
    return ids


async def _visitors(session: AsyncSession, village_id: int) -> list[User]:
    """The village's child directors; with none, the township's supervisors."""
    path = {a.level: a.id for a in await areas.area_path(session, village_id)}
    for level in ("village", "township", "county"):
        if level not in path:
            continue
        users = (
            await session.scalars(
                select(User)
                .join(CaseworkerPost, CaseworkerPost.user_id == User.id)
                .where(
                    CaseworkerPost.area_id == path[level],
                    CaseworkerPost.level == level,
                    CaseworkerPost.active.is_(True),
                    User.unreachable.is_(False),
                )
                .order_by(CaseworkerPost.id)
            )
        ).all()
        if users:
            return list(users)
    return []


async def _authorised(session: AsyncSession, user_id: int, check_id: int) -> WelfareCheck:
    check = await session.get(WelfareCheck, check_id)
    if check is None:
        raise NotAllowed
    path = {a.level: a.id for a in await areas.area_path(session, check.village_id)}
    if not any(caseworker.covers(p, path) for p in await caseworker.posts_of(session, user_id)):
        raise NotAllowed
    return check


async def record_refusal(session: AsyncSession, *, user_id: int, check_id: int) -> None:
    """In its own transaction, after the refused one was rolled back, so the record survives."""
    session.add(AuditEvent(actor_user_id=user_id, action="welfare.refused", subject=f"welfare:{check_id}"))


async def _view(session: AsyncSession, check: WelfareCheck) -> CheckView:
    village = (await areas.area_path(session, check.village_id))[-1]
    carers: tuple[str, ...] = ()
    if check.household_id is not None:
        carers = tuple(
            (
                await session.scalars(
                    select(Membership.relation)
                    .where(Membership.household_id == check.household_id, Membership.kind == "guardian")
                    .order_by(Membership.id)
                )
            ).all()
        )
    return CheckView(
        check.id, check.reason, check.status, check.created_at, village.name_zh, village.name_en, carers, check.note
    )


async def open_checks(session: AsyncSession, user_id: int) -> list[CheckView]:
    posts = await caseworker.posts_of(session, user_id)
    if not posts:
        return []
    out: list[CheckView] = []
    for check in (
        await session.scalars(select(WelfareCheck).where(WelfareCheck.status == "open").order_by(WelfareCheck.id))
    ).all():
        path = {a.level: a.id for a in await areas.area_path(session, check.village_id)}
        if any(caseworker.covers(p, path) for p in posts):
            out.append(await _view(session, check))
    return out


async def open_check(session: AsyncSession, *, user_id: int, check_id: int) -> CheckView:
    check = await _authorised(session, user_id, check_id)
    session.add(AuditEvent(actor_user_id=user_id, action="welfare.view", subject=f"welfare:{check.id}"))
    return await _view(session, check)


async def close(session: AsyncSession, *, user_id: int, check_id: int, note: str, now: datetime) -> None:
    check = await _authorised(session, user_id, check_id)
    if check.status != "open":
        raise Invalid("closed")
    check.status, check.closed_at, check.closed_by_user_id, check.note = "closed", now, user_id, note


def carers_line(tr: Tr, view: CheckView) -> str:
    return labels.join(tr, [labels.relation(tr, r) for r in view.carers])
