"""One-time codes: household link codes and caseworker invites.

A code is 10 characters from a 31-symbol alphabet without look-alikes (no 0/O, 1/I/L): 49.5 bits of
entropy, read out easily over the phone. Only its SHA-256 is stored. Five wrong codes within an hour
lock code entry for that person for an hour, so guessing is hopeless.
"""

from __future__ import annotations

import hashlib
import math
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import CodeAttempt, InviteCode

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 10
ENTROPY_BITS = CODE_LENGTH * math.log2(len(ALPHABET))
MAX_FAILURES = 5
LOCK_WINDOW = timedelta(hours=1)
HOUSEHOLD_CODE_TTL = timedelta(days=7)
CASEWORKER_CODE_TTL = timedelta(hours=72)

_SEPARATORS = re.compile(r"[\s\-_.·]+")


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def pretty(code: str) -> str:
    """Grouped for reading aloud: ABCDE-FGHJK."""
    return f"{code[:5]}-{code[5:]}"


def normalise(typed: str) -> str | None:
    """What a person typed, as a canonical code; None when it cannot be a code at all."""
    if not typed:
        return None
    # Full-width letters and digits from a Chinese keyboard become ASCII first.
    ascii_form = "".join(chr(ord(c) - 0xFEE0) if "！" <= c <= "～" else c for c in typed)
    cleaned = _SEPARATORS.sub("", ascii_form.strip().upper())
    if len(cleaned) != CODE_LENGTH or any(c not in ALPHABET for c in cleaned):
        return None
    return cleaned


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode("ascii")).hexdigest()


@dataclass(frozen=True)
class LockState:
    locked: bool
    until: datetime | None
    failures: int


async def lock_state(session: AsyncSession, telegram_id: int, now: datetime) -> LockState:
    recent = (
        await session.scalars(
            select(CodeAttempt.at)
            .where(CodeAttempt.telegram_id == telegram_id, CodeAttempt.at > now - LOCK_WINDOW)
            .order_by(CodeAttempt.at)
        )
    ).all()
    if len(recent) >= MAX_FAILURES:
        # Locked until the oldest of the last five failures leaves the window.
        until = recent[-MAX_FAILURES] + LOCK_WINDOW
        if until > now:
            return LockState(True, until, len(recent))
    return LockState(False, None, len(recent))


async def record_failure(session: AsyncSession, telegram_id: int, now: datetime) -> LockState:
    session.add(CodeAttempt(telegram_id=telegram_id, at=now))
    await session.flush()
    return await lock_state(session, telegram_id, now)


async def find_by_code(session: AsyncSession, code: str) -> InviteCode | None:
    return await session.scalar(select(InviteCode).where(InviteCode.code_hash == code_hash(code)))
