"""Sample caseworkers for the offline console and pilot demos: one per level, on the sample village.

Idempotent: areas are seeded if missing and an account that already holds its post is left alone.
Accounts go through the same services as real ones (an invite issued, then redeemed), so the demo
exercises the real path. The Telegram ids are made up and never reach Telegram (console only).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import func, select

from bot.services import caseworker, codes, people
from bot.services.areas import ensure_default_areas
from db.models import Area, User
from db.session import Database

log = logging.getLogger(__name__)

LOCALE = "zh_Hans"
TIMEZONE = "Asia/Shanghai"


@dataclass(frozen=True)
class DemoCaseworker:
    name: str  # the console person name
    telegram_id: int
    post: str  # a key of caseworker.POSTS
    area_code: str
    title: str  # how the post reads in the summary


# Made-up Telegram ids far above any real account's (Telegram's are about 10^10), still exact in JSON.
FAKE_ID_BASE = 900_000_000_000_000

DEMO_CASEWORKERS: tuple[DemoCaseworker, ...] = (
    DemoCaseworker("director", FAKE_ID_BASE + 1, "child-director", "451321-02-S1", "child director"),
    DemoCaseworker("supervisor", FAKE_ID_BASE + 2, "township-supervisor", "451321-02", "township supervisor"),
    DemoCaseworker("officer", FAKE_ID_BASE + 3, "county-officer", "451321", "county officer"),
)


class DemoRefused(Exception):
    """The database holds real people: sample caseworkers must not be planted among them."""


# Console name -> fake Telegram id, so `/as director` talks as the seeded account.
DEMO_PEOPLE: dict[str, int] = {c.name: c.telegram_id for c in DEMO_CASEWORKERS}


async def seed_demo(db: Database) -> list[str]:
    """Make sure the sample caseworkers exist; return one line per account describing it."""
    async with db.transaction() as session:
        real = await session.scalar(select(func.count()).select_from(User).where(User.telegram_id < FAKE_ID_BASE))
        if real:
            raise DemoRefused(
                f"this database has {real} real account(s); the demo county is only for an empty or demo database"
            )
        await ensure_default_areas(session)

    lines: list[str] = []
    for spec in DEMO_CASEWORKERS:
        # One transaction per account: a failure leaves the others (and this one) consistent.
        async with db.transaction() as session:
            area = await session.scalar(select(Area).where(Area.code == spec.area_code))
            if area is None:
                # The areas table was imported from another file without the sample places.
                lines.append(f"{spec.name}: skipped, area {spec.area_code} is not in the database")
                continue
            person = await people.get_or_create(
                session, telegram_id=spec.telegram_id, chat_id=spec.telegram_id, locale=LOCALE, timezone=TIMEZONE
            )
            if not person.notice_accepted:
                await people.accept_notice(session, person.id)
            level = caseworker.POSTS[spec.post][0]
            held = any(p.level == level and p.area_id == area.id for p in await caseworker.posts_of(session, person.id))
            if not held:
                issued = await caseworker.issue_invite(session, post=spec.post, area_code=spec.area_code)
                invite = await codes.find_by_code(session, issued.code)
                assert invite is not None  # just flushed in this session
                await caseworker.redeem(session, user_id=person.id, invite_id=invite.id)
            status = "created" if not held else "already there"
            lines.append(f"{spec.name}: {spec.title} of {area.name_zh}, console name '{spec.name}' ({status})")
    # Counts only: the accounts are fake, but the habit of logging no personal data holds.
    log.debug("demo caseworkers ensured: %d", len(DEMO_CASEWORKERS))
    return lines
