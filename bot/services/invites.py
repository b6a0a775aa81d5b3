"""Checking a typed code of either kind, with the lock against guessing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import codes
from db.types import utcnow


@dataclass(frozen=True)
class CodeCheck:
    status: str  # ok | invalid | expired | used | locked
    kind: str | None = None  # household | caseworker
    invite_id: int | None = None
    locked_until: datetime | None = None
    attempts_left: int | None = None


async def check(session: AsyncSession, *, telegram_id: int, typed: str, now: datetime | None = None) -> CodeCheck:
    """Look a typed code up without using it. Every wrong answer counts towards the lock."""
    now = now or utcnow()
    lock = await codes.lock_state(session, telegram_id, now)
    if lock.locked:
        return CodeCheck("locked", locked_until=lock.until)
    code = codes.normalise(typed)
    invite = await codes.find_by_code(session, code) if code else None
    if invite is None:
        status = "invalid"
    elif invite.used_at is not None:
        status = "used"
    elif invite.expires_at <= now:
        status = "expired"
    else:
        return CodeCheck("ok", kind=invite.kind, invite_id=invite.id)
    lock = await codes.record_failure(session, telegram_id, now)
    if lock.locked:
        return CodeCheck("locked", locked_until=lock.until)
    return CodeCheck(status, attempts_left=codes.MAX_FAILURES - lock.failures)
