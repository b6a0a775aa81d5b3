"""Households: who lives with the child, the children themselves, the backup adult, link codes, consent.

Every function takes the acting person's user id and checks that they belong to the household; a
forged button or a foreign household id raises `NotAllowed` and changes nothing.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, delete, exists, inspect, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from bot.services import areas, codes
from bot.services.errors import Invalid, NotAllowed
from bot.services.memory import ALL, Forgetful, Shelf
from db.models import (
    Area,
    AuditEvent,
    BackupAdult,
    Child,
    ChildConsent,
    Household,
    InviteCode,
    Membership,
    User,
)
from db.session import Database, fetch_core
from db.types import utcnow

# relation -> kind of membership. Parents are the legal guardians; the others are entrusted carers.
RELATIONS: dict[str, str] = {
    "grandmother": "guardian",
    "grandfather": "guardian",
    "mother": "parent",
    "father": "parent",
    "aunt": "guardian",
    "uncle": "guardian",
    "sibling": "guardian",
    "other": "guardian",
}
PARENT_RELATIONS = ("mother", "father")
GUARDIAN_RELATIONS = tuple(r for r, kind in RELATIONS.items() if kind == "guardian")
BACKUP_RELATIONS = ("grandmother", "grandfather", "aunt", "uncle", "sibling", "neighbour", "other")
CONSENT_AGE = 14  # PIPL Art. 31: under 14 a parent consents.
MAX_CHILDREN = 8
NICKNAME_MAX = 12
SCHOOL_MAX = 30
OLDEST_CHILD_AGE = 17


@dataclass(frozen=True)
class ChildView:
    id: int
    nickname: str
    birth_year: int
    birth_month: int
    school: str | None
    age: int
    consent_given: bool

    @property
    def needs_consent(self) -> bool:
        return self.age < CONSENT_AGE and not self.consent_given


@dataclass(frozen=True)
class MemberView:
    user_id: int
    relation: str
    kind: str


@dataclass(frozen=True)
class BackupView:
    name: str
    relation: str
    phone: str


@dataclass(frozen=True)
class HouseholdView:
    id: int
    village_id: int
    township_id: int | None
    village_zh: str
    village_en: str
    township_zh: str
    township_en: str
    village_is_sample: bool
    children: tuple[ChildView, ...]
    members: tuple[MemberView, ...]
    backups: tuple[BackupView, ...]

    @property
    def consent_pending(self) -> bool:
        return any(c.needs_consent for c in self.children)

    def member(self, user_id: int) -> MemberView | None:
        return next((m for m in self.members if m.user_id == user_id), None)


@dataclass(frozen=True)
class IssuedCode:
    code: str
    expires_at: datetime


def age_on(birth_year: int, birth_month: int, now: datetime) -> int:
    years = now.year - birth_year
    if now.month < birth_month:
        years -= 1
    return max(years, 0)


def birth_years(now: datetime) -> list[int]:
    """The years a child in the household may be born in, newest first."""
    return list(range(now.year, now.year - OLDEST_CHILD_AGE - 1, -1))


def check_birth(year: int, month: int, now: datetime) -> None:
    if year not in birth_years(now) or not 1 <= month <= 12:
        raise Invalid("bad_birth")
    if (year, month) > (now.year, now.month):
        raise Invalid("future_birth")


async def membership(session: AsyncSession, user_id: int, household_id: int) -> Membership:
    m = await session.scalar(
        select(Membership).where(Membership.user_id == user_id, Membership.household_id == household_id)
    )
    if m is None:
        raise NotAllowed
    return m


async def household_of(session: AsyncSession, user_id: int) -> int | None:
    return await session.scalar(
        select(Membership.household_id).where(Membership.user_id == user_id).order_by(Membership.id).limit(1)
    )


async def create_household(session: AsyncSession, *, user_id: int, village_id: int, relation: str) -> int:
    if relation not in RELATIONS:
        raise NotAllowed
    user = await session.get_one(User, user_id)
    if user.notice_accepted_at is None:
        raise Invalid("notice_not_accepted")
    village = await session.get(Area, village_id)
    if village is None or village.level != "village":
        raise NotAllowed
    if await household_of(session, user_id) is not None:
        raise Invalid("already_in_household")
    household = Household(village_id=village_id, created_at=utcnow())
    session.add(household)
    await session.flush()
    session.add(Membership(household_id=household.id, user_id=user_id, relation=relation, kind=RELATIONS[relation]))
    session.add(AuditEvent(actor_user_id=user_id, action="household.create", subject=f"household:{household.id}"))
    await session.flush()
    return household.id


async def add_child(
    session: AsyncSession,
    *,
    user_id: int,
    household_id: int,
    nickname: str,
    birth_year: int,
    birth_month: int,
    school: str | None,
    now: datetime | None = None,
) -> int:
    now = now or utcnow()
    await membership(session, user_id, household_id)
    check_birth(birth_year, birth_month, now)
    count = len((await session.scalars(select(Child.id).where(Child.household_id == household_id))).all())
    if count >= MAX_CHILDREN:
        raise Invalid("too_many_children")
    child = Child(
        household_id=household_id,
        nickname=nickname,
        birth_year=birth_year,
        birth_month=birth_month,
        school=school,
        created_at=now,
    )
    session.add(child)
    await session.flush()
    session.add(AuditEvent(actor_user_id=user_id, action="child.add", subject=f"child:{child.id}"))
    await session.flush()
    return child.id


class HouseholdViews(Forgetful):
    """Households as `view` shows them, kept in memory: a report reads its household three times, three
    queries each. Forgotten when any of the rows it is built from changes (bot/services/memory.py)."""

    KEY = "household_views"
    # app_user too: deleting a person takes their memberships and consents with it, by cascade.
    WATCHED = frozenset(t.__tablename__ for t in (Household, Child, ChildConsent, Membership, BackupAdult, Area, User))

    def __init__(self, db: Database, *, ttl: float = 60.0, size: int = 5_000) -> None:
        super().__init__(db, ttl=ttl)
        self._views: Shelf[int, tuple[tuple[int, int], HouseholdView]] = self.shelf(size)  # (year, month), view
        db.memory[self.KEY] = self

    def get(self, household_id: int, now: datetime) -> HouseholdView | None:
        kept = self._views.get(household_id)
        # Ages are counted in months: a view from another month is read again.
        return kept[1] if kept is not None and kept[0] == (now.year, now.month) else None

    def put(self, session: AsyncSession, view: HouseholdView, generation: int, now: datetime) -> None:
        if self.may_keep(session, generation):
            self._views.put(view.id, ((now.year, now.month), view))

    def keys_of(self, obj: object) -> set[Hashable] | object:
        if isinstance(obj, Household):
            return {obj.id}
        if isinstance(obj, Child | Membership | BackupAdult):
            return {obj.household_id}
        if isinstance(obj, ChildConsent | Area):
            return ALL
        if isinstance(obj, User) and inspect(obj).deleted:  # their memberships and consents go by cascade
            return ALL
        return set()

    def forget(self, keys: set[Hashable]) -> None:
        for key in keys:
            self._views.pop(key)  # type: ignore[arg-type]

    def forget_all(self) -> None:
        self._views.clear()


async def members_of(session: AsyncSession, household_ids: Collection[int]) -> list[tuple[User, int, str, str]]:
    """(person, household id, kind, relation) of every member of these households, in the order they joined: the
    ticks read a whole batch's families at once."""
    rows = await session.execute(
        select(User, Membership.household_id, Membership.kind, Membership.relation)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.household_id.in_(household_ids))
        .order_by(Membership.id)
    )
    return [(user, household_id, kind, relation) for user, household_id, kind, relation in rows.all()]


_H, _M, _C, _K, _B = (t.__table__.c for t in (Household, Membership, Child, ChildConsent, BackupAdult))  # type: ignore[attr-defined]
_MEMBERS = (
    select(_H.village_id, _M.user_id, _M.relation, _M.kind)
    .join_from(Household.__table__, Membership.__table__, _M.household_id == _H.id)
    .where(_H.id == bindparam("household_id"))
    .order_by(_M.id)
)
# A child's consent counts when one of the household's parents gave it.
_PARENT_CONSENT = (
    exists()
    .where(_K.child_id == _C.id, _M.user_id == _K.user_id, _M.household_id == _C.household_id, _M.kind == "parent")
    .label("consent_given")
)
_CHILDREN = (
    select(_C.id, _C.nickname, _C.birth_year, _C.birth_month, _C.school, _PARENT_CONSENT)
    .where(_C.household_id == bindparam("household_id"))
    .order_by(_C.id)
)
_BACKUPS = select(_B.name, _B.relation, _B.phone).where(_B.household_id == bindparam("household_id")).order_by(_B.id)


async def view(session: AsyncSession, *, user_id: int, household_id: int, now: datetime | None = None) -> HouseholdView:
    now = now or utcnow()
    views: HouseholdViews | None = session.info.get(HouseholdViews.KEY)
    cached = views.get(household_id, now) if views is not None else None
    if cached is not None and cached.member(user_id) is not None:
        return cached
    generation = views.generation if views is not None else 0
    # Three Core reads (members, children with their consent, backups) rather than the ORM with four
    # selectinloads: the ORM's loading machinery cost more than the queries (bench/interactive.py, /report).
    members = (await fetch_core(session, _MEMBERS, {"household_id": household_id})).all()
    # Only a member sees it (checked on the members just read, not with a query of its own).
    if not any(m.user_id == user_id for m in members):
        raise NotAllowed
    village = await areas.area_view(session, members[0].village_id)  # places from memory (areas.Atlas)
    assert village is not None
    township = await areas.area_view(session, village.parent_id) if village.parent_id is not None else None
    children = tuple(
        ChildView(
            id=c.id,
            nickname=c.nickname,
            birth_year=c.birth_year,
            birth_month=c.birth_month,
            school=c.school,
            age=age_on(c.birth_year, c.birth_month, now),
            consent_given=bool(c.consent_given),
        )
        for c in await fetch_core(session, _CHILDREN, {"household_id": household_id})
    )
    backups = await fetch_core(session, _BACKUPS, {"household_id": household_id})
    result = HouseholdView(
        id=household_id,
        village_id=village.id,
        township_id=township.id if township else None,
        village_zh=village.name_zh,
        village_en=village.name_en,
        township_zh=township.name_zh if township else "",
        township_en=township.name_en if township else "",
        village_is_sample=village.is_sample,
        children=children,
        members=tuple(MemberView(m.user_id, m.relation, m.kind) for m in members),
        backups=tuple(BackupView(b.name, b.relation, b.phone) for b in backups),
    )
    if views is not None:
        views.put(session, result, generation, now)
    return result


async def issue_link_code(
    session: AsyncSession, *, user_id: int, household_id: int, now: datetime | None = None
) -> IssuedCode:
    now = now or utcnow()
    await membership(session, user_id, household_id)
    code = codes.new_code()
    expires = now + codes.HOUSEHOLD_CODE_TTL
    session.add(
        InviteCode(
            code_hash=codes.code_hash(code),
            kind="household",
            household_id=household_id,
            created_by_user_id=user_id,
            created_at=now,
            expires_at=expires,
        )
    )
    session.add(AuditEvent(actor_user_id=user_id, action="household.code", subject=f"household:{household_id}"))
    await session.flush()
    return IssuedCode(code, expires)


async def join(
    session: AsyncSession, *, user_id: int, invite_id: int, relation: str, now: datetime | None = None
) -> int:
    """Use a household link code that `invites.check` accepted earlier in the conversation."""
    now = now or utcnow()
    if relation not in RELATIONS:
        raise NotAllowed
    invite = await session.get(InviteCode, invite_id, with_for_update=True)
    if invite is None or invite.kind != "household" or invite.household_id is None:
        raise Invalid("code_invalid")
    if invite.used_at is not None:
        raise Invalid("code_used")
    if invite.expires_at <= now:
        raise Invalid("code_expired")
    user = await session.get_one(User, user_id)
    if user.notice_accepted_at is None:
        raise Invalid("notice_not_accepted")
    existing = await household_of(session, user_id)
    if existing == invite.household_id:
        raise Invalid("already_member")
    if existing is not None:
        raise Invalid("already_in_household")
    invite.used_at = now
    invite.used_by_user_id = user_id
    session.add(
        Membership(household_id=invite.household_id, user_id=user_id, relation=relation, kind=RELATIONS[relation])
    )
    session.add(AuditEvent(actor_user_id=user_id, action="household.join", subject=f"household:{invite.household_id}"))
    await session.flush()
    return invite.household_id


async def give_consent(
    session: AsyncSession, *, user_id: int, household_id: int, now: datetime | None = None
) -> list[int]:
    """A parent consents for every child of the household under 14 who lacks it; returns their ids."""
    now = now or utcnow()
    member = await membership(session, user_id, household_id)
    if member.kind != "parent":
        raise NotAllowed
    children = (
        await session.scalars(
            select(Child).where(Child.household_id == household_id).options(selectinload(Child.consents))
        )
    ).all()
    consented: list[int] = []
    for child in children:
        if age_on(child.birth_year, child.birth_month, now) >= CONSENT_AGE:
            continue
        if any(c.user_id == user_id for c in child.consents):
            continue
        session.add(ChildConsent(child_id=child.id, user_id=user_id, given_at=now))
        consented.append(child.id)
    if consented:
        session.add(AuditEvent(actor_user_id=user_id, action="consent.give", subject=f"household:{household_id}"))
    await session.flush()
    return consented


async def set_backup_adult(
    session: AsyncSession, *, user_id: int, household_id: int, name: str, relation: str, phone: str
) -> None:
    await membership(session, user_id, household_id)
    if relation not in BACKUP_RELATIONS:
        raise NotAllowed
    existing = (await session.scalars(select(BackupAdult).where(BackupAdult.household_id == household_id))).all()
    for row in existing:
        # One backup adult per household keeps the screen simple; a new answer replaces the old one.
        await session.delete(row)
    session.add(
        BackupAdult(household_id=household_id, name=name, relation=relation, phone=phone, added_by_user_id=user_id)
    )
    session.add(AuditEvent(actor_user_id=user_id, action="backup.set", subject=f"household:{household_id}"))
    await session.flush()


async def other_members(session: AsyncSession, household_id: int, user_id: int) -> list[User]:
    return list(
        (
            await session.scalars(
                select(User)
                .join(Membership, Membership.user_id == User.id)
                .where(Membership.household_id == household_id, User.id != user_id)
                .order_by(Membership.id)
            )
        ).all()
    )


@dataclass(frozen=True)
class MemberRow:
    membership_id: int
    user_id: int
    relation: str
    kind: str
    removable: bool


async def members_for(session: AsyncSession, *, user_id: int, household_id: int) -> list[MemberRow]:
    """The household's members as the acting person sees them, with whom they may remove."""
    actor = await membership(session, user_id, household_id)
    rows = (
        await session.scalars(select(Membership).where(Membership.household_id == household_id).order_by(Membership.id))
    ).all()
    invited_by_actor = set(
        (
            await session.scalars(
                select(InviteCode.used_by_user_id).where(
                    InviteCode.household_id == household_id, InviteCode.created_by_user_id == user_id
                )
            )
        ).all()
    )
    return [MemberRow(m.id, m.user_id, m.relation, m.kind, _may_remove(actor, m, invited_by_actor)) for m in rows]


def _may_remove(actor: Membership, target: Membership, invited_by_actor: set[int | None]) -> bool:
    # Parents are the legal guardians and may remove anyone else; others only whom they let in themselves.
    if target.user_id == actor.user_id:
        return False
    return actor.kind == "parent" or target.user_id in invited_by_actor


async def remove_member(
    session: AsyncSession, *, user_id: int, household_id: int, membership_id: int
) -> tuple[User, str]:
    """Take someone off the family page (a code that reached the wrong person, a family that changed).

    Returns the removed person and their relation, for the notice they are sent.
    """
    rows = await members_for(session, user_id=user_id, household_id=household_id)
    target = next((r for r in rows if r.membership_id == membership_id), None)
    if target is None or not target.removable:
        raise NotAllowed
    child_ids = select(Child.id).where(Child.household_id == household_id).scalar_subquery()
    await session.execute(
        delete(ChildConsent).where(ChildConsent.user_id == target.user_id, ChildConsent.child_id.in_(child_ids))
    )
    await session.execute(delete(Membership).where(Membership.id == membership_id))
    session.add(AuditEvent(actor_user_id=user_id, action="household.remove", subject=f"household:{household_id}"))
    await session.flush()
    return await session.get_one(User, target.user_id), target.relation


async def cancel_codes(session: AsyncSession, *, user_id: int, household_id: int, now: datetime | None = None) -> int:
    """End every unused family code this person made for the household; returns how many."""
    now = now or utcnow()
    await membership(session, user_id, household_id)
    result = await session.execute(
        update(InviteCode)
        .where(
            InviteCode.household_id == household_id,
            InviteCode.created_by_user_id == user_id,
            InviteCode.used_at.is_(None),
            InviteCode.expires_at > now,
        )
        .values(expires_at=now)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def live_codes(session: AsyncSession, *, user_id: int, household_id: int, now: datetime | None = None) -> int:
    now = now or utcnow()
    return len(
        (
            await session.scalars(
                select(InviteCode.id).where(
                    InviteCode.household_id == household_id,
                    InviteCode.created_by_user_id == user_id,
                    InviteCode.used_at.is_(None),
                    InviteCode.expires_at > now,
                )
            )
        ).all()
    )
