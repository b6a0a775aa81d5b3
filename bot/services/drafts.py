"""Unfinished answers of one person in one flow, written as each step is taken."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy import update as sql_update
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Draft
from db.types import utcnow

# An unfinished flow is kept this long; after that its answers are deleted and the flow starts afresh.
TTL = timedelta(hours=24)


async def get(session: AsyncSession, user_id: int, flow: str) -> dict[str, Any]:
    row = await session.get(Draft, (user_id, flow))
    return dict(row.data) if row else {}


async def update(session: AsyncSession, user_id: int, flow: str, **values: Any) -> dict[str, Any]:
    row = await session.get(Draft, (user_id, flow))
    if row is None:
        row = Draft(user_id=user_id, flow=flow, data={})
        session.add(row)
    data = dict(row.data)
    for key, value in values.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    row.data = data  # a new dict, so SQLAlchemy sees the change
    row.updated_at = utcnow()
    await session.flush()
    return data


async def clear(session: AsyncSession, user_id: int, flow: str) -> None:
    await session.execute(delete(Draft).where(Draft.user_id == user_id, Draft.flow == flow))


async def age(session: AsyncSession, user_id: int, flow: str, now: datetime | None = None) -> timedelta | None:
    """How long since the flow's last step; None when there is no draft."""
    updated = await session.scalar(select(Draft.updated_at).where(Draft.user_id == user_id, Draft.flow == flow))
    return None if updated is None else (now or utcnow()) - updated


async def is_fresh(session: AsyncSession, user_id: int, flow: str) -> bool:
    """A flow under way and touched within TTL; a stale one is cleared, so its answers are not taken up again."""
    current = await age(session, user_id, flow)
    if current is not None and current <= TTL:
        return True
    await clear(session, user_id, flow)
    return False


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
