"""People: who is talking to the bot, in which language and role, and what they have agreed to."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import literal, null, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import SUPPORTED_LOCALES
from db.models import CaseworkerPost, Membership, User
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


async def _view(session: AsyncSession, user: User, admin_ids: frozenset[int], is_new: bool = False) -> Person:
    # Households and active posts in one round trip: this runs on every update whose person is not in memory.
    households_q = select(
        literal("household").label("what"), Membership.household_id.label("ref"), Membership.id.label("n"), null()
    ).where(Membership.user_id == user.id)
    posts_q = select(literal("post"), CaseworkerPost.id, CaseworkerPost.id, CaseworkerPost.level).where(
        CaseworkerPost.user_id == user.id, CaseworkerPost.active.is_(True)
    )
    rows = (await session.execute(households_q.union_all(posts_q).order_by("what", "n"))).all()
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
    user = await session.scalar(select(User).where(User.telegram_id == telegram_id))
    return None if user is None else await _view(session, user, admin_ids)


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
    user = await session.scalar(select(User).where(User.telegram_id == telegram_id))
    if user is not None:
        if user.chat_id != chat_id:
            user.chat_id = chat_id
        if user.unreachable:
            # They wrote to us, so they can be reached again.
            user.unreachable = False
        if record_seen and (user.last_seen_at is None or now - user.last_seen_at >= SEEN_STEP):
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
