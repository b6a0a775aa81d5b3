"""People: who is talking to the bot, in which language and role, and what they have agreed to."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, String, bindparam, cast, literal, null, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import SUPPORTED_LOCALES
from db.models import CaseworkerPost, Membership, User
from db.session import fetch_core
from db.types import utcnow

ROLES = ("guardian", "parent", "caseworker")


@dataclass(frozen=True)
class Person:
    id: int
    telegram_id: int
    chat_id: int
    locale: str
    timezone: str
    role: str | None
    notice_accepted: bool
    notice_declined: bool
    household_ids: tuple[int, ...]
    post_ids: tuple[int, ...]
    is_admin: bool
    is_new: bool = False
    timezone_chosen: bool = False
    last_seen_at: datetime | None = None

    @property
    def has_household(self) -> bool:
        return bool(self.household_ids)

    @property
    def is_caseworker(self) -> bool:
        return bool(self.post_ids)


_U, _MB, _CP = (t.__table__.c for t in (User, Membership, CaseworkerPost))  # type: ignore[attr-defined]
# Core reads, built once: the first update of everyone not in memory runs both (bench/interactive.py).
_BY_TELEGRAM = select(
    _U.id,
    _U.telegram_id,
    _U.chat_id,
    _U.locale,
    _U.timezone,
    _U.role,
    _U.notice_accepted_at,
    _U.notice_declined_at,
    _U.timezone_chosen,
    _U.last_seen_at,
    _U.unreachable,
).where(_U.telegram_id == bindparam("telegram_id"))
# Households and active posts in one round trip.
_TIES = (
    select(literal("household").label("what"), _MB.household_id.label("ref"), _MB.id.label("n"), cast(null(), String))
    .where(_MB.user_id == bindparam("user_id"))
    .union_all(
        select(literal("post"), _CP.id, _CP.id, _CP.level).where(
            _CP.user_id == bindparam("user_id"), _CP.active.is_(True)
        )
    )
    .order_by("what", "n")
)


async def _view(
    session: AsyncSession, user: User | Row[Any], admin_ids: frozenset[int], is_new: bool = False
) -> Person:
    # `user`: the ORM row, or the Core row read by telegram id with the same names.
    rows = (await fetch_core(session, _TIES, {"user_id": user.id})).all()
    households = [ref for what, ref, _n, _level in rows if what == "household"]
    posts = [ref for what, ref, _n, _level in rows if what == "post"]
    admin_post = next((ref for what, ref, _n, level in rows if what == "post" and level == "admin"), None)
    return Person(
        id=user.id,
        telegram_id=user.telegram_id,
        chat_id=user.chat_id,
        locale=user.locale,
        timezone=user.timezone,
        role=user.role,
        notice_accepted=user.notice_accepted_at is not None,
        notice_declined=user.notice_declined_at is not None and user.notice_accepted_at is None,
        household_ids=tuple(households),
        post_ids=tuple(posts),
        is_admin=user.telegram_id in admin_ids or admin_post is not None,
        is_new=is_new,
        timezone_chosen=bool(user.timezone_chosen),
        last_seen_at=user.last_seen_at,
    )


async def find(session: AsyncSession, telegram_id: int, admin_ids: frozenset[int] = frozenset()) -> Person | None:
    row = (await fetch_core(session, _BY_TELEGRAM, {"telegram_id": telegram_id})).first()
    return None if row is None else await _view(session, row, admin_ids)


# Kept to the hour: enough to notice two weeks of silence, without a write on every message.
SEEN_STEP = timedelta(hours=1)


async def get_or_create(
    session: AsyncSession,
    *,
    telegram_id: int,
    chat_id: int,
    locale: str,
    timezone: str,
    admin_ids: frozenset[int] = frozenset(),
    now: datetime | None = None,
    record_seen: bool = True,
) -> Person:
    """The person behind an update; created on first contact with the language Telegram reports.

    `record_seen=False`: the caller records the sign of life itself (handlers batch it: Identities.seen)."""
    now = now or utcnow()
    row = (await fetch_core(session, _BY_TELEGRAM, {"telegram_id": telegram_id})).first()
    if row is not None:
        seen_due = record_seen and (row.last_seen_at is None or now - row.last_seen_at >= SEEN_STEP)
        if row.chat_id == chat_id and not row.unreachable and not seen_due:
            return await _view(session, row, admin_ids)  # nothing to write: the row as read
        # Written through the ORM, so what keeps people in memory hears of it (bot/services/identities.py).
        user = await session.get_one(User, row.id)
        if user.chat_id != chat_id:
            user.chat_id = chat_id
        if user.unreachable:
            # They wrote to us, so they can be reached again.
            user.unreachable = False
        if seen_due:
            user.last_seen_at = now
        return await _view(session, user, admin_ids)
    user = User(
        telegram_id=telegram_id, chat_id=chat_id, locale=locale, timezone=timezone, created_at=now, last_seen_at=now
    )
    session.add(user)
    await session.flush()
    return await _view(session, user, admin_ids, is_new=True)


async def set_locale(session: AsyncSession, user_id: int, locale: str) -> None:
    if locale not in SUPPORTED_LOCALES:
        raise ValueError(locale)
    user = await session.get_one(User, user_id)
    user.locale = locale


async def set_role(session: AsyncSession, user_id: int, role: str) -> None:
    if role not in ROLES:
        raise ValueError(role)
    user = await session.get_one(User, user_id)
    user.role = role


async def accept_notice(session: AsyncSession, user_id: int, now: datetime | None = None) -> None:
    user = await session.get_one(User, user_id)
    user.notice_accepted_at = now or utcnow()
    user.notice_declined_at = None


async def decline_notice(session: AsyncSession, user_id: int, now: datetime | None = None) -> None:
    user = await session.get_one(User, user_id)
    user.notice_declined_at = now or utcnow()
    user.notice_accepted_at = None


async def administrators(session: AsyncSession, admin_ids: frozenset[int]) -> list[User]:
    """Everyone who administers the county: an active admin post, or a Telegram id in ADMIN_TELEGRAM_IDS."""
    return list(
        (
            await session.scalars(
                select(User)
                .outerjoin(CaseworkerPost, (CaseworkerPost.user_id == User.id) & CaseworkerPost.active.is_(True))
                .where(or_(User.telegram_id.in_(admin_ids), CaseworkerPost.level == "admin"))
                .distinct()
            )
        ).all()
    )


async def set_timezone(session: AsyncSession, user_id: int, zone: str) -> None:
    """The person's own zone (a parent working abroad); every time they see is shown in it."""
    from bot.services.recurrence import load_zone  # ValueError for a name that is not an IANA zone

    load_zone(zone)
    user = await session.get_one(User, user_id)
    user.timezone = zone
    user.timezone_chosen = True


async def set_quiet_hours(session: AsyncSession, user_id: int, hours: str | None) -> None:
    """The person's own quiet hours ("22:00-07:00"), or None for the default; "00:00-00:00" means none."""
    from bot.services import quiet  # ValueError for a window that does not parse

    user = await session.get_one(User, user_id)
    user.quiet_hours = None if hours is None else str(quiet.parse(hours))


async def quiet_hours(session: AsyncSession, user_id: int) -> str | None:
    user = await session.get_one(User, user_id)
    return user.quiet_hours
