"""Parenting tips: the right short advice for the household's children, by topic or by subscription.

A tip fits when one of the household's children is in its age band, it is for the reader's role (carer or
parent), and it is in season. A household is not shown the same tip again until every fitting tip has been
shown; then the one seen longest ago comes first. Subscriptions store `next_due_at` and are sent by the tick
through the outbox (DESIGN-NOTES §4–5), one tip per person per slot, quiet hours respected.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import String, bindparam, cast, func, literal, null, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.i18n import Tr
from bot.services import call_policy, library, outbox, recurrence
from bot.services import household as households
from bot.services.errors import Invalid, NotAllowed
from bot.services.identities import Identities
from db.models import Child, Membership, TipDelivery, TipFeedback, TipSubscription, User
from db.session import fetch_core, skip_locked
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


def reader_of(
    household_id: int | None, kind: str | None, births: Iterable[tuple[int, int]], month: int, now: datetime
) -> Reader:
    """Whose tip, from their first household's kind of member and its children's births (year, month)."""
    if household_id is None or kind is None:
        # No family here (a neighbour, a teacher, a caseworker): every age, both audiences.
        return Reader(None, frozenset(library.AGE_BANDS), "any", month)
    bands = frozenset(library.band(households.age_on(year, month_, now)) for year, month_ in births)
    return Reader(household_id, bands or frozenset(library.AGE_BANDS), kind, month)


_C, _M = Child.__table__.c, Membership.__table__.c  # type: ignore[attr-defined]
# The children's births and the members' kinds in one Core query (what browsing needs of a family).
_FAMILY = (
    select(literal("child"), _C.birth_year, _C.birth_month, cast(null(), String))
    .where(_C.household_id == bindparam("household_id"))
    .union_all(
        select(literal("member"), _M.user_id, null(), _M.kind).where(_M.household_id == bindparam("household_id"))
    )
)


async def browsing_reader(
    session: Callable[[], Awaitable[AsyncSession]],
    identities: Identities,
    *,
    user_id: int,
    household_ids: tuple[int, ...],
    timezone: str,
    now: datetime,
) -> Reader:
    """The reader of someone pressing buttons: their household from memory when it is there (`session` is
    awaited only when it is not: Database.lazy_transaction)."""
    month = now.astimezone(ZoneInfo(timezone)).month
    if not household_ids:
        return reader_of(None, None, (), month, now)
    household_id = household_ids[0]
    family = identities.family(household_id)
    if family is None:
        generation = identities.generation
        rows = (await fetch_core(await session(), _FAMILY, {"household_id": household_id})).all()
        births = tuple((a, b) for what, a, b, _kind in rows if what == "child")
        kinds = {a: kind for what, a, _b, kind in rows if what == "member"}
        family = identities.remember_family(household_id, births, kinds, generation)
    # Not a member any more (they left since): as for someone without a household.
    return reader_of(household_id, family.kinds.get(user_id), family.births, month, now)


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


def choose(pool: list[library.Tip], disliked: set[str], last_seen: dict[str, datetime]) -> library.Tip | None:
    """The first fitting tip not seen yet, else the one seen longest ago; 👎 "not for me" ones only when
    nothing else fits."""
    pool = [t for t in pool if t.id not in disliked] or pool
    if not pool:
        return None
    unseen = [t for t in pool if t.id not in last_seen]
    return unseen[0] if unseen else min(pool, key=lambda t: last_seen[t.id])


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
    """Due subscriptions: one fitting tip each, through the outbox; quiet hours hold it until morning.

    The batch is read with one query per kind (people, families, 👎, what each household has seen) and written
    with one INSERT per table; tips are chosen as browsing chooses them (`reader_of`, `choose`), one subscriber
    after another, so two subscribers of one household still get different tips.
    """
    now = now or utcnow()
    query = (
        select(TipSubscription)
        .where(TipSubscription.status == "active", TipSubscription.next_due_at <= now)
        .order_by(TipSubscription.next_due_at)
        .limit(limit)
    )
    query = skip_locked(session, query)
    due: list[tuple[TipSubscription, datetime]] = []
    # Subscribers of the same slot (the default time, say) come due together and share their next slot:
    # `recurrence.next_occurrence` is a pure function, worked out once for each of its questions.
    memo: dict[tuple[recurrence.Weekly, datetime, object], datetime] = {}
    for sub in (await session.scalars(query)).all():
        slot_at = sub.next_due_at
        assert slot_at is not None
        rule, after, day = _rule(sub), max(now, slot_at), recurrence.local_date(slot_at, sub.timezone)
        if (rule, after, day) not in memo:
            memo[rule, after, day] = recurrence.next_occurrence(rule, after, not_on=day)
        sub.next_due_at = memo[rule, after, day]
        due.append((sub, slot_at))
    if not due:
        return []
    users = await _users(session, [sub.user_id for sub, _slot in due])
    due = [(sub, slot_at) for sub, slot_at in due if (u := users.get(sub.user_id)) is not None and not u.unreachable]
    batch = await _TickBatch.read(session, [users[sub.user_id] for sub, _slot in due], due, now)
    lib = library.library()
    chosen: list[tuple[User, library.Tip, datetime, Reader]] = []
    for sub, slot_at in due:
        user = users[sub.user_id]
        who = batch.readers[user.id]
        if who.household_id is not None and (user.id, slot_at.isoformat()) in batch.sent:
            continue  # this slot was already sent (a second dispatcher, a restart)
        tip = batch.pick(lib, who, user.id, now)
        if tip is not None:
            chosen.append((user, tip, slot_at, who))
    await _record_deliveries(session, chosen, now)
    policy = call_policy.policy()
    messages: list[dict[str, object]] = []
    for user, tip, slot_at, _who in chosen:
        tr = Tr(user.locale, user.timezone)
        hours = call_policy.quiet_hours_of(user, policy)
        messages.append(
            {
                "user_id": user.id,
                "chat_id": user.chat_id,
                "kind": "tip.subscription",
                "text": render(tr, tip),
                "buttons": buttons(tr, tip.id),
                "dedupe_key": f"tip:{user.id}:{slot_at.isoformat()}",
                "delay": call_policy.wait(hours, user.timezone, now),
            }
        )
    return [i for i in await outbox.enqueue_many(session, messages) if i is not None]


_TICK_CHUNK = 500  # ids per IN (...): far below the bind-parameter limits of SQLite and asyncpg


def _tick_chunks(values: list[int]) -> list[list[int]]:
    unique = list(dict.fromkeys(values))
    return [unique[i : i + _TICK_CHUNK] for i in range(0, len(unique), _TICK_CHUNK)]


async def _users(session: AsyncSession, ids: list[int]) -> dict[int, User]:
    out: dict[int, User] = {}
    for chunk in _tick_chunks(ids):
        out.update((u.id, u) for u in (await session.scalars(select(User).where(User.id.in_(chunk)))).all())
    return out


@dataclass
class _TickBatch:
    """What each subscriber of a tick's batch needs to choose a tip (as browsing does), read once for all."""

    readers: dict[int, Reader]  # user id -> whose tip
    disliked: dict[int, set[str]]  # user id -> tips marked 👎
    last_seen: dict[int, dict[str, datetime]]  # household id -> tip id -> last shown
    sent: set[tuple[int, str]]  # (user id, slot) already delivered

    @classmethod
    async def read(
        cls, session: AsyncSession, users: list[User], due: list[tuple[TipSubscription, datetime]], now: datetime
    ) -> _TickBatch:
        user_ids = [u.id for u in users]
        first: dict[int, Membership] = {}  # each person's first membership: the household tips are for
        for chunk in _tick_chunks(user_ids):
            for m in (
                await session.scalars(select(Membership).where(Membership.user_id.in_(chunk)).order_by(Membership.id))
            ).all():
                first.setdefault(m.user_id, m)
        household_ids = sorted({m.household_id for m in first.values()})
        births: dict[int, list[tuple[int, int]]] = {}
        last_seen: dict[int, dict[str, datetime]] = {}
        for chunk in _tick_chunks(household_ids):
            rows = await session.execute(
                select(Child.household_id, Child.birth_year, Child.birth_month).where(Child.household_id.in_(chunk))
            )
            for household_id, year, month in rows.all():
                births.setdefault(household_id, []).append((year, month))
            rows = await session.execute(
                select(TipDelivery.household_id, TipDelivery.tip_id, func.max(TipDelivery.sent_at))
                .where(TipDelivery.household_id.in_(chunk))
                .group_by(TipDelivery.household_id, TipDelivery.tip_id)
            )
            for household_id, tip_id, at in rows.all():
                last_seen.setdefault(household_id, {})[tip_id] = at
        readers: dict[int, Reader] = {}
        for user in users:
            month = now.astimezone(ZoneInfo(user.timezone)).month
            member = first.get(user.id)
            if member is None:
                readers[user.id] = reader_of(None, None, (), month, now)
            else:
                readers[user.id] = reader_of(
                    member.household_id, member.kind, births.get(member.household_id, []), month, now
                )
        disliked: dict[int, set[str]] = {}
        sent: set[tuple[int, str]] = set()
        slots = sorted({slot_at.isoformat() for _sub, slot_at in due})
        for chunk in _tick_chunks(user_ids):
            rows = await session.execute(
                select(TipFeedback.user_id, TipFeedback.tip_id).where(
                    TipFeedback.user_id.in_(chunk), TipFeedback.helpful.is_(False)
                )
            )
            for user_id, tip_id in rows.all():
                disliked.setdefault(user_id, set()).add(tip_id)
            rows = await session.execute(
                select(TipDelivery.user_id, TipDelivery.slot).where(
                    TipDelivery.user_id.in_(chunk), TipDelivery.slot.in_(slots)
                )
            )
            sent.update((user_id, slot) for user_id, slot in rows.all() if slot is not None)
        return cls(readers, disliked, last_seen, sent)

    def pick(self, lib: library.Library, who: Reader, user_id: int, now: datetime) -> library.Tip | None:
        """The tip by subscription (`choose`), recorded as seen for the next subscriber of the household."""
        seen = self.last_seen.setdefault(who.household_id, {}) if who.household_id is not None else {}
        tip = choose(fitting(lib, who, None, out_of_season=False), self.disliked.get(user_id, set()), seen)
        if tip is not None and who.household_id is not None:
            seen[tip.id] = max(seen.get(tip.id, now), now)
        return tip


async def _record_deliveries(
    session: AsyncSession, chosen: list[tuple[User, library.Tip, datetime, Reader]], now: datetime
) -> None:
    """The tips as seen by their households, in one INSERT; a slot sent meanwhile drops out of `chosen`."""

    def row(user: User, tip: library.Tip, slot_at: datetime, who: Reader) -> dict[str, object]:
        return {
            "household_id": who.household_id,
            "user_id": user.id,
            "tip_id": tip.id,
            "via": "subscription",
            "slot": slot_at.isoformat(),
            "sent_at": now,
        }

    rows = [(entry, row(*entry)) for entry in chosen if entry[3].household_id is not None]
    if not rows:
        return
    insert = TipDelivery.__table__.insert()
    try:
        async with session.begin_nested():
            await session.execute(insert, [values for _entry, values in rows])
        return
    except IntegrityError:
        pass  # the slots were checked just before, so only a race gets here: sort it out one by one
    for entry, values in rows:
        try:
            async with session.begin_nested():
                await session.execute(insert, [values])
        except IntegrityError:
            chosen.remove(entry)  # this slot was already sent (a second dispatcher)
