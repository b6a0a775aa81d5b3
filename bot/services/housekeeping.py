"""Periodic clean-up of data that has served its purpose (PIPL Art. 19, 47: keep no longer than needed)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import codes, concerns, drafts, outbox
from db.models import CodeAttempt
from db.types import utcnow


@dataclass(frozen=True)
class Purged:
    drafts: int
    code_attempts: int
    concerns: int = 0  # resolved concerns whose free text and media references were purged
    messages: int = 0  # delivered messages whose words were dropped after 30 days


async def purge(session: AsyncSession, now: datetime | None = None, *, retention_days: int = 365) -> Purged:
    now = now or utcnow()
    stale_drafts = await drafts.purge_stale(session, now)
    attempts = await session.execute(delete(CodeAttempt).where(CodeAttempt.at < now - codes.LOCK_WINDOW))
    old = await concerns.purge_resolved(session, before=now - timedelta(days=retention_days))
    words = await outbox.purge_sent_text(session, before=now - outbox.SENT_TEXT_KEPT)
    return Purged(stale_drafts, int(attempts.rowcount or 0), old, words)  # type: ignore[attr-defined]
