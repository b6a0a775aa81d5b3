"""The Monday digest: every Monday from 09:00 county time, each county officer gets last week's key numbers,
what changed since the week before, and the charts, through the outbox (once per officer and week, even with
two processes or a restart: the dedupe key names the post and the Monday)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.i18n import Tr
from bot.services import outbox, stats
from db.models import CaseworkerPost, Outbox, User

SEND_AT = time(9, 0)


def monday_due(now: datetime, zone: str) -> date | None:
    """The Monday whose digest is due at `now`: this Monday from 09:00, until the next one (a bot that was
    down on Monday sends it when it is back, the same week)."""
    local = now.astimezone(ZoneInfo(zone))
    monday = local.date() - timedelta(days=local.weekday())
    if local.weekday() == 0 and local.time() < SEND_AT:
        monday -= timedelta(days=7)
    return monday


def last_week(monday: date, zone: str) -> stats.Period:
    """Monday to Sunday before `monday`."""
    return stats.days(monday - timedelta(days=7), monday - timedelta(days=1), zone)


def _key(post_id: int, monday: date, part: str) -> str:
    return f"digest:{post_id}:{monday.isoformat()}:{part}"


@dataclass(frozen=True)
class Officer:
    post_id: int
    area_id: int
    user_id: int
    chat_id: int
    locale: str
    timezone: str


async def waiting(session: AsyncSession, monday: date) -> list[Officer]:
    """County officers (reachable, active) who have not had this Monday's digest queued yet."""
    rows = (
        await session.execute(
            select(CaseworkerPost.id, CaseworkerPost.area_id, User.id, User.chat_id, User.locale, User.timezone)
            .join(User, User.id == CaseworkerPost.user_id)
            .where(CaseworkerPost.level == "county", CaseworkerPost.active.is_(True), User.unreachable.is_(False))
            .order_by(CaseworkerPost.id)
        )
    ).all()
    officers = [Officer(*row) for row in rows]
    if not officers:
        return []
    keys = {_key(o.post_id, monday, "text"): o for o in officers}
    queued = set((await session.scalars(select(Outbox.dedupe_key).where(Outbox.dedupe_key.in_(keys)))).all())
    return [o for key, o in keys.items() if key not in queued]


def changes(tr: Tr, now_: stats.Figures, before: stats.Figures) -> list[str]:
    """What moved since the week before, in words (only what moved)."""
    _ = tr.gettext

    def moved(label: str, a: int, b: int) -> str | None:
        if a == b:
            return None
        return label.format(now=a, before=b, sign="▲" if a > b else "▼")

    in_time_now = sum(a.in_time for a in now_.acknowledgement)
    in_time_before = sum(a.in_time for a in before.acknowledgement)
    lines = [
        moved(_("{sign} concerns reported: {now} (the week before: {before})"), now_.concerns, before.concerns),
        moved(_("{sign} taken up in time: {now} (the week before: {before})"), in_time_now, in_time_before),
        moved(_("{sign} climbed a level: {now} (the week before: {before})"), now_.climbed, before.climbed),
        moved(
            _("{sign} welfare checks asked for: {now} (the week before: {before})"),
            now_.welfare_raised,
            before.welfare_raised,
        ),
        moved(_("{sign} questions: {now} (the week before: {before})"), now_.questions_asked, before.questions_asked),
    ]
    share_now, share_before = now_.contact_share, before.contact_share
    if share_now is not None and share_before is not None and round(100 * share_now) != round(100 * share_before):
        lines.append(
            _("{sign} parents in touch: {now}% (the week before: {before}%)").format(
                sign="▲" if share_now > share_before else "▼",
                now=round(100 * share_now),
                before=round(100 * share_before),
            )
        )
    found = [line for line in lines if line]
    return found or [_("No change from the week before.")]


async def queue(
    session: AsyncSession,
    officer: Officer,
    monday: date,
    *,
    text: str,
    album: list[tuple[bytes, str]],
) -> list[int]:
    """The digest's words, then its charts, for one officer (nothing if already queued)."""
    ids = []
    for part, kwargs in (("text", {"text": text}), ("charts", {"text": "", "album": album})):
        queued = await outbox.enqueue(
            session,
            user_id=officer.user_id,
            chat_id=officer.chat_id,
            kind=f"digest_{part}",
            dedupe_key=_key(officer.post_id, monday, part),
            **kwargs,  # type: ignore[arg-type]
        )
        if queued is not None:
            ids.append(queued)
    return ids
