"""Caseworker posts: invites issued by an administrator, redeemed in the bot, shown as a verified badge."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import areas, codes, validate
from bot.services.errors import Invalid
from db.models import Area, AuditEvent, CaseworkerPost, InviteCode, User
from db.types import utcnow

# The CLI's post names, the level stored, and the area level the post must sit on.
POSTS: dict[str, tuple[str, str]] = {
    "child-director": ("village", "village"),
    "township-supervisor": ("township", "township"),
    "county-officer": ("county", "county"),
    "admin": ("admin", "county"),
}


@dataclass(frozen=True)
class PostView:
    id: int
    level: str  # village | township | county | admin
    area_zh: str  # the area path as a person reads it, e.g. 大塘镇示例一村
    area_en: str
    area_id: int
    phone: str | None = None  # the work phone given with the invite, if any


@dataclass(frozen=True)
class IssuedInvite:
    code: str
    expires_at: datetime
    post: str
    area_code: str


async def _area_names(session: AsyncSession, area_id: int) -> tuple[str, str]:
    """A post's place: a village is named with its township ("…镇…村" / "… Village, … Town")."""
    area = await areas.area_view(session, area_id)
    assert area is not None
    chain = [area]
    while chain[-1].parent_id is not None and chain[-1].level == "village":
        parent = await areas.area_view(session, chain[-1].parent_id)
        if parent is None:
            break
        chain.append(parent)
    chain.reverse()
    return "".join(a.name_zh for a in chain), ", ".join(a.name_en for a in reversed(chain))


async def issue_invite(
    session: AsyncSession,
    *,
    post: str,
    area_code: str,
    phone: str | None = None,
    created_by_user_id: int | None = None,
    now: datetime | None = None,
) -> IssuedInvite:
    now = now or utcnow()
    if post not in POSTS:
        raise Invalid("unknown_post", post=post)
    work_phone = validate.phone(phone) if phone else None
    level, area_level = POSTS[post]
    area = await session.scalar(select(Area).where(Area.code == area_code))
    if area is None:
        raise Invalid("unknown_area", area=area_code)
    if area.level != area_level:
        raise Invalid("wrong_area_level", expected=area_level, got=area.level)
    code = codes.new_code()
    expires = now + codes.CASEWORKER_CODE_TTL
    session.add(
        InviteCode(
            code_hash=codes.code_hash(code),
            kind="caseworker",
            post_level=level,
            post_phone=work_phone,
            area_id=area.id,
            created_by_user_id=created_by_user_id,
            created_at=now,
            expires_at=expires,
        )
    )
    session.add(AuditEvent(actor_user_id=created_by_user_id, action="invite.issue", subject=f"area:{area.id}:{level}"))
    await session.flush()
    return IssuedInvite(code, expires, post, area_code)


async def redeem(session: AsyncSession, *, user_id: int, invite_id: int, now: datetime | None = None) -> PostView:
    now = now or utcnow()
    invite = await session.get(InviteCode, invite_id, with_for_update=True)
    if invite is None or invite.kind != "caseworker" or invite.area_id is None or invite.post_level is None:
        raise Invalid("code_invalid")
    if invite.used_at is not None:
        raise Invalid("code_used")
    if invite.expires_at <= now:
        raise Invalid("code_expired")
    existing = await session.scalar(
        select(CaseworkerPost).where(
            CaseworkerPost.user_id == user_id,
            CaseworkerPost.area_id == invite.area_id,
            CaseworkerPost.level == invite.post_level,
        )
    )
    invite.used_at = now
    invite.used_by_user_id = user_id
    if existing is None:
        existing = CaseworkerPost(user_id=user_id, area_id=invite.area_id, level=invite.post_level, verified_at=now)
        session.add(existing)
    else:
        existing.active = True
        existing.verified_at = now
    existing.phone = invite.post_phone
    user = await session.get_one(User, user_id)
    user.role = "caseworker"
    await session.flush()
    session.add(AuditEvent(actor_user_id=user_id, action="invite.redeem", subject=f"post:{existing.id}"))
    await session.flush()
    return await post_view(session, existing.id)


async def post_view(session: AsyncSession, post_id: int) -> PostView:
    post = await session.get(CaseworkerPost, post_id)
    assert post is not None
    zh, en = await _area_names(session, post.area_id)
    return PostView(post.id, post.level, zh, en, post.area_id, post.phone)


async def posts_of(session: AsyncSession, user_id: int) -> list[PostView]:
    ids = (
        await session.scalars(
            select(CaseworkerPost.id)
            .where(CaseworkerPost.user_id == user_id, CaseworkerPost.active.is_(True))
            .order_by(CaseworkerPost.id)
        )
    ).all()
    return [await post_view(session, i) for i in ids]


async def posts_for_area(session: AsyncSession, area_id: int, level: str) -> list[PostView]:
    """Active posts sitting on one area at one level (the contacts for a village or township)."""
    ids = (
        await session.scalars(
            select(CaseworkerPost.id)
            .join(User, User.id == CaseworkerPost.user_id)
            .where(
                CaseworkerPost.area_id == area_id,
                CaseworkerPost.level == level,
                CaseworkerPost.active.is_(True),
            )
            .order_by(CaseworkerPost.id)
        )
    ).all()
    return [await post_view(session, i) for i in ids]


def covers(post: PostView, path: dict[str, int]) -> bool:
    """Does this post cover a place with this area path (level -> area id)? Admin posts cover all."""
    if post.level == "admin":
        return True
    return path.get(post.level) == post.area_id
