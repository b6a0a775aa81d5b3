"""Unfinished answers of one person in one flow, written as each step is taken."""

from __future__ import annotations

from collections.abc import Collection, Hashable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy import update as sql_update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from bot.services.memory import Forgetful, Shelf
from db.models import Draft
from db.session import Database, execute_core, upsert
from db.types import utcnow

# An unfinished flow is kept this long; after that its answers are deleted and the flow starts afresh.
TTL = timedelta(hours=24)


async def get(session: AsyncSession, user_id: int, flow: str) -> dict[str, Any]:
    memory = kept(session)
    if memory is not None:
        known = memory.get(user_id, flow)
        if known is not None:
            return known[0]
        if memory.is_absent(user_id, flow):
            return {}
    row = await session.get(Draft, (user_id, flow))
    return dict(row.data) if row else {}


async def update(session: AsyncSession, user_id: int, flow: str, **values: Any) -> dict[str, Any]:
    row = await session.get(Draft, (user_id, flow))
    if row is None:
        row = Draft(user_id=user_id, flow=flow, data={})
        session.add(row)
    data = merged(row.data, values)
    row.data = data  # a new dict, so SQLAlchemy sees the change
    row.updated_at = utcnow()
    await session.flush()
    return data


class Kept(Forgetful):
    """Drafts kept in memory between a person's steps: most steps need no read (bot/services/memory.py).

    `put` and `clear` write with the OWN option and keep or forget the one draft themselves; anything else
    that changes drafts (an ORM flush, a bulk statement) makes them forgotten as usual."""

    KEY = "drafts"
    WATCHED = frozenset({Draft.__tablename__})
    OWN = "drafts_own"

    def __init__(self, db: Database, *, ttl: float = 600.0, size: int = 20_000) -> None:
        super().__init__(db, ttl=ttl)
        # (user id, flow) -> (answers, last step), or None: known to have no draft
        self._drafts: Shelf[tuple[int, str], tuple[dict[str, Any], datetime] | None] = self.shelf(size)
        db.memory[self.KEY] = self

    def get(self, user_id: int, flow: str) -> tuple[dict[str, Any], datetime] | None:
        kept = self._drafts.get((user_id, flow))
        return None if kept is None else (dict(kept[0]), kept[1])

    def is_absent(self, user_id: int, flow: str) -> bool:
        """Known to have no draft (cleared or looked for by this process, nothing written since)."""
        return self._drafts.holds((user_id, flow)) and self._drafts.get((user_id, flow)) is None

    def absent(self, user_id: int, flow: str, generation: int) -> None:
        if generation == self.generation:
            self._drafts.put((user_id, flow), None)

    def _after_flush(self, session: Session, flush: Any) -> None:
        super()._after_flush(session, flush)
        cleared = session.info.get(_CLEARED)
        if cleared:  # cleared, then written again in the same transaction: not absent after all
            cleared -= {key for obj in (*session.new, *session.dirty) for key in self.keys_of(obj)}  # type: ignore[union-attr]

    def _after_commit(self, session: Session) -> None:
        cleared = session.info.pop(_CLEARED, set())
        super()._after_commit(session)
        for user_id, flow in cleared:
            self.absent(user_id, flow, self.generation)

    def keep(self, user_id: int, flow: str, data: dict[str, Any], updated_at: datetime, generation: int) -> None:
        """Keep a draft as committed, read or written while `generation` was current."""
        if generation != self.generation:
            return
        self._drafts.put((user_id, flow), (dict(data), updated_at))

    def keys_of(self, obj: object) -> set[Hashable] | object:
        return {(obj.user_id, obj.flow)} if isinstance(obj, Draft) else set()

    def forget(self, keys: set[Hashable]) -> None:
        for key in keys:
            self._drafts.pop(key)  # type: ignore[arg-type]

    def forget_all(self) -> None:
        self._drafts.clear()


_CLEARED = "drafts_cleared"


def kept(session: AsyncSession) -> Kept | None:
    return session.info.get(Kept.KEY)


async def read(session: AsyncSession, user_id: int, flow: str) -> tuple[dict[str, Any], datetime] | None:
    """The draft's answers and when its last step was taken, in one query; None when there is none."""
    row = (
        await session.execute(select(Draft.data, Draft.updated_at).where(Draft.user_id == user_id, Draft.flow == flow))
    ).first()
    return None if row is None else (dict(row[0]), row[1])


async def recall(session: AsyncSession, user_id: int, flows: Collection[str]) -> None:
    """Learn in one query which of these flows the person has a draft of, and keep the answer in memory (a
    flow that starts by clearing or looking at several drafts then needs no statement for each)."""
    memory = kept(session)
    if memory is None:
        return
    unknown = [f for f in flows if memory.get(user_id, f) is None and not memory.is_absent(user_id, f)]
    if not unknown:
        return
    generation = memory.generation
    rows = await session.execute(
        select(Draft.flow, Draft.data, Draft.updated_at).where(Draft.user_id == user_id, Draft.flow.in_(unknown))
    )
    found = {flow: (dict(data), updated_at) for flow, data, updated_at in rows.all()}
    for flow in unknown:
        if flow in found:
            memory.keep(user_id, flow, found[flow][0], found[flow][1], generation)
        else:
            memory.absent(user_id, flow, generation)


async def put(
    session: AsyncSession, user_id: int, flow: str, data: dict[str, Any], now: datetime | None = None
) -> None:
    """Store the whole draft in one statement (no read first: the caller knows it already). The caller keeps
    the in-memory copy right (Kept.keep), as with the OWN option."""
    statement = upsert(session.get_bind().dialect.name, Draft.__table__, ("user_id", "flow"))
    await execute_core(
        session, statement, {"user_id": user_id, "flow": flow, "data": data, "updated_at": now or utcnow()}
    )


def merged(data: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """`data` with `values` applied: None removes a key."""
    data = dict(data)
    for key, value in values.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


async def clear(session: AsyncSession, user_id: int, flow: str) -> None:
    memory = kept(session)
    if memory is not None and memory.is_absent(user_id, flow):
        return  # this process cleared it or found none, and nothing was written since: no statement
    await session.execute(
        delete(Draft).where(Draft.user_id == user_id, Draft.flow == flow).execution_options(**{Kept.OWN: True})
    )
    if memory is not None:
        memory.forget_with(session, {(user_id, flow)})
        session.info.setdefault(_CLEARED, set()).add((user_id, flow))  # known absent once committed


async def age(session: AsyncSession, user_id: int, flow: str, now: datetime | None = None) -> timedelta | None:
    """How long since the flow's last step; None when there is no draft."""
    updated = await session.scalar(select(Draft.updated_at).where(Draft.user_id == user_id, Draft.flow == flow))
    return None if updated is None else (now or utcnow()) - updated


async def fresh_draft(
    session: AsyncSession, user_id: int, flow: str, now: datetime | None = None
) -> dict[str, Any] | None:
    """The answers of a flow under way and touched within TTL; a stale draft is cleared (None)."""
    memory = kept(session)
    found = memory.get(user_id, flow) if memory is not None else None
    if found is None:
        generation = memory.generation if memory is not None else 0
        found = await read(session, user_id, flow)
        if memory is not None:
            if found is not None:
                memory.keep(user_id, flow, found[0], found[1], generation)
            else:
                memory.absent(user_id, flow, generation)
    if found is not None and (now or utcnow()) - found[1] <= TTL:
        return found[0]
    await clear(session, user_id, flow)
    return None


async def purge_stale(session: AsyncSession, now: datetime | None = None) -> int:
    """Delete drafts untouched for longer than TTL (they may hold nicknames and names)."""
    result = await session.execute(delete(Draft).where(Draft.updated_at < (now or utcnow()) - TTL))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def set_flag(session: AsyncSession, user_id: int, flow: str, key: str, value: Any) -> None:
    """Note something about a draft without counting it as a step (its age stays the person's)."""
    row = await session.get(Draft, (user_id, flow))
    if row is not None:
        # An explicit updated_at in the statement keeps the column's onupdate from stamping "now".
        await session.execute(
            sql_update(Draft)
            .where(Draft.user_id == user_id, Draft.flow == flow)
            .values(data={**row.data, key: value}, updated_at=row.updated_at)
            .execution_options(synchronize_session="fetch")
        )


async def waiting(session: AsyncSession, flow: str, *, idle: timedelta, now: datetime | None = None) -> list[Draft]:
    """Drafts of a flow untouched for at least `idle` (and younger than TTL), not yet reminded."""
    now = now or utcnow()
    rows = (
        await session.scalars(
            select(Draft).where(Draft.flow == flow, Draft.updated_at <= now - idle, Draft.updated_at > now - TTL)
        )
    ).all()
    return [r for r in rows if r.data.get("state") and not r.data.get("reminded")]
