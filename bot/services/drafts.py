"""Unfinished answers of one person in one flow, written as each step is taken."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Draft
from db.types import utcnow


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
