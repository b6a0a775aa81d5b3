"""The outbox: messages written in the caller's transaction and delivered after it commits.

Pure SQLAlchemy (no Telegram imports). Every function runs inside a session/transaction the caller
owns and never commits. The dispatcher claims due rows under a lease, sends outside any transaction
and records each outcome; a sender that crashes mid-send leaves a row whose lease expires and is
claimed again.

Outcomes are fenced by the attempt number the claim returned: if a slow sender's lease expired and
another sender reclaimed the row, the slow sender's late outcome is dropped instead of overwriting
the current holder's.
"""

from __future__ import annotations

import base64
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import and_, bindparam, case, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Outbox, User
from db.session import fetch_core, insert_for
from db.types import utcnow

MAX_ERROR_CHARS = 200
MAX_DEDUPE_KEY_CHARS = 200
MAX_CALLBACK_DATA_BYTES = 64  # Bot API limit for InlineKeyboardButton.callback_data
BACKOFF_BASE = timedelta(seconds=2)
BACKOFF_CAP = timedelta(minutes=10)

Buttons = list[list[tuple[str, str]]]


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """A claimed row, detached from any session so it can be sent outside the transaction."""

    id: int
    user_id: int | None
    chat_id: int
    kind: str
    payload: dict[str, Any]
    attempts: int


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def _picture(png: bytes, caption: str) -> dict[str, str]:
    return {"png": base64.b64encode(png).decode("ascii"), "caption": caption}


def pictures(media: dict[str, Any]) -> list[tuple[bytes, str]]:
    """The album queued with `enqueue(album=...)`: (PNG bytes, caption) each."""
    return [(base64.b64decode(p["png"]), str(p.get("caption", ""))) for p in media.get("photos", [])]


@dataclass(frozen=True, slots=True)
class Together:
    """Lets a message be sent as part of one message with others of its kind waiting for the same chat (a
    burst of concerns reaching one caseworker), in the recipient's language. `heading` opens the joined
    message and has a `{count}` placeholder; `buttons` is this message's one row of buttons in it."""

    heading: str
    buttons: tuple[tuple[str, str], ...]


def _keyboard(buttons: Buttons | None) -> list[list[dict[str, str]]]:
    rows = []
    for row in buttons or []:
        out_row = []
        for label, data in row:
            # Caught here, in the handler's transaction, rather than as a permanent 400 at send time.
            if not 1 <= len(data.encode()) <= MAX_CALLBACK_DATA_BYTES:
                raise ValueError(f"callback_data must be 1-{MAX_CALLBACK_DATA_BYTES} bytes")
            out_row.append({"text": label, "callback_data": data})
        rows.append(out_row)
    return rows


def _row(
    *,
    user_id: int | None,
    chat_id: int,
    kind: str,
    text: str,
    dedupe_key: str,
    buttons: Buttons | None = None,
    due_at: datetime | None = None,
    media: tuple[str, str] | None = None,
    delay: timedelta | None = None,
    album: list[tuple[bytes, str]] | None = None,
    together: Together | None = None,
) -> dict[str, Any]:
    """One outbox row, checked: `enqueue` and `enqueue_many` build theirs here, so both keep one meaning."""
    if not dedupe_key or len(dedupe_key) > MAX_DEDUPE_KEY_CHARS:
        raise ValueError(f"dedupe_key must be 1-{MAX_DEDUPE_KEY_CHARS} characters")
    payload: dict[str, Any] = {"text": text, "parse_mode": "HTML", "buttons": _keyboard(buttons)}
    if together is not None:
        if media or album:
            raise ValueError("only a text message can be sent together with others")
        payload["together"] = {"heading": together.heading, "buttons": _keyboard([list(together.buttons)])}
    if media:  # (kind, Telegram file id): a voice note or photo sent on, with `text` as its caption
        payload["media"] = {"kind": media[0], "file_id": media[1]}
    if album:
        payload["media"] = {"kind": "album", "photos": [_picture(png, caption) for png, caption in album]}
    now = utcnow()  # the dispatcher's clock: a test clock set ahead or behind cannot strand a message
    return {
        "user_id": user_id,
        "chat_id": chat_id,
        "kind": kind,
        "payload": payload,
        "dedupe_key": dedupe_key,
        "status": "pending",
        "due_at": due_at or (now + delay if delay else now),
        "attempts": 0,
        "created_at": now,
    }


async def enqueue(
    session: AsyncSession,
    *,
    user_id: int | None,
    chat_id: int,
    kind: str,
    text: str,
    dedupe_key: str,
    buttons: Buttons | None = None,
    due_at: datetime | None = None,
    media: tuple[str, str] | None = None,
    delay: timedelta | None = None,
    album: list[tuple[bytes, str]] | None = None,
    together: Together | None = None,
) -> int | None:
    """Queue a message; returns its id, or None if `dedupe_key` was already queued (nothing inserted).

    `album`: pictures made by the bot (PNG bytes, caption), sent together as one album instead of `text`.
    `together`: how to show it inside one message with others of its kind to the same chat (see `Together`).

    `delay` holds it back from now (quiet hours); measured on the dispatcher's clock, whatever clock the
    caller reasons with, so a test clock set ahead or behind cannot strand a message.
    """
    values = _row(
        user_id=user_id,
        chat_id=chat_id,
        kind=kind,
        text=text,
        dedupe_key=dedupe_key,
        buttons=buttons,
        due_at=due_at,
        media=media,
        delay=delay,
        album=album,
        together=together,
    )
    # Built once per database; Core on the session's connection (no cache in memory watches the outbox), after
    # the pending ORM changes it may refer to are flushed.
    row = (await fetch_core(session, _insert_statement(insert_for(session)), values)).first()
    return None if row is None else int(row.id)


@cache
def _insert_statement(insert: Any) -> Any:
    """The outbox INSERT, built once per database, for `enqueue` and `enqueue_many`. ON CONFLICT DO NOTHING
    rather than catching IntegrityError: a failed INSERT would abort the caller's whole PostgreSQL transaction,
    and this must be safe inside it."""
    table = Outbox.__table__
    return (
        insert(table)
        .on_conflict_do_nothing(index_elements=[table.c.dedupe_key])
        .returning(table.c.id, table.c.dedupe_key)
    )


async def enqueue_many(session: AsyncSession, messages: list[dict[str, Any]]) -> list[int | None]:
    """`enqueue` for many messages in a few statements; each mapping holds `enqueue`'s keyword arguments.

    Returns, in the order given, each message's id, or None where its `dedupe_key` was already queued (before,
    or earlier in `messages`: the first one wins, as with calls to `enqueue` one after another).
    """

    all_values = [_row(**m) for m in messages]  # every message is checked before anything is written
    unique: list[dict[str, Any]] = []
    seen: set[str] = set()
    for v in all_values:  # the first of each key, in order: ids rise in the order given, as with `enqueue`
        if v["dedupe_key"] not in seen:
            seen.add(v["dedupe_key"])
            unique.append(v)
    if not unique:
        return [None] * len(all_values)
    # One statement with a list of rows: SQLAlchemy sends them as a few multi-row INSERTs.
    ids = {key: id for id, key in (await fetch_core(session, _insert_statement(insert_for(session)), unique)).all()}
    out: list[int | None] = []
    for v in all_values:
        out.append(ids.pop(v["dedupe_key"], None))  # popped: a repeated key in `messages` gets None
    return out


@cache
def _claim_statement(
    dialect: str, by_ids: bool, urgent_first: bool, by_chat: bool, by_kinds: bool, but_kinds: bool
) -> Any:
    """The claiming UPDATE for one shape of `claim`, built once: it runs for every delivery and every tick, and
    putting it together costs more than running it. Values come as bound parameters."""
    table = Outbox.__table__
    c = table.c
    now = bindparam("now", type_=c.due_at.type)
    due = or_(and_(c.status == "pending", c.due_at <= now), and_(c.status == "sending", c.claimed_until < now))
    order: list[Any] = [c.due_at, c.id]
    if urgent_first:
        order.insert(0, case((c.kind.in_(bindparam("first_kinds", expanding=True)), 0), else_=1))
    candidates = select(c.id).where(due).order_by(*order).limit(bindparam("limit"))
    if by_ids:
        candidates = candidates.where(c.id.in_(bindparam("of_ids", expanding=True)))
    if by_chat:
        candidates = candidates.where(c.chat_id == bindparam("for_chat"))
    if by_kinds:
        candidates = candidates.where(c.kind.in_(bindparam("of_kinds", expanding=True)))
    if but_kinds:
        candidates = candidates.where(c.kind.not_in(bindparam("except_kinds", expanding=True)))
    if dialect == "postgresql":
        # Concurrent dispatchers skip each other's rows instead of waiting or double-claiming. It is a
        # MATERIALIZED CTE so the locking SELECT runs exactly once: as a plain `IN (subquery)` PostgreSQL
        # may re-run it per outer row (nested-loop semi join), each re-run skipping the rows this
        # statement already updated and returning new ones, so LIMIT stops limiting.
        locked = candidates.with_for_update(skip_locked=True).cte("picked").prefix_with("MATERIALIZED")
        picked: Any = select(locked.c.id)
    else:
        # SQLite: no FOR UPDATE; the writer lock makes the UPDATE atomic and an uncorrelated IN runs
        # once. Not a CTE: Python's sqlite3 opens the transaction only for statements that start with
        # INSERT/UPDATE/DELETE, so `WITH ... UPDATE` would autocommit outside the caller's transaction.
        picked = candidates.scalar_subquery()
    return (
        update(table)
        # `due` again: PostgreSQL re-checks the outer WHERE against a row's newest version, so a row
        # claimed and committed by someone else in between is never claimed twice.
        .where(c.id.in_(picked), due)
        .values(status="sending", claimed_until=bindparam("until", type_=c.claimed_until.type), attempts=c.attempts + 1)
        .returning(c.id, c.user_id, c.chat_id, c.kind, c.payload, c.attempts)
    )


async def claim(
    session: AsyncSession,
    *,
    now: datetime,
    limit: int,
    lease_seconds: float,
    ids: list[int] | None = None,
    first_kinds: Collection[str] = (),
    chat_id: int | None = None,
    kinds: Collection[str] | None = None,
    except_kinds: Collection[str] = (),
) -> list[OutboxItem]:
    """Lease up to `limit` due rows (pending and due, or sending with an expired lease) to the caller.

    Rows of `first_kinds` are taken before any other due row, so an urgent message never waits behind a
    backlog of routine ones. `ids`, `chat_id`, `kinds` and `except_kinds` narrow what is taken.
    """
    if limit <= 0 or ids == []:
        return []
    stmt = _claim_statement(
        _dialect(session),
        ids is not None,
        bool(first_kinds),
        chat_id is not None,
        kinds is not None,
        bool(except_kinds),
    )
    params: dict[str, Any] = {"now": now, "until": now + timedelta(seconds=lease_seconds), "limit": limit}
    if ids is not None:
        params["of_ids"] = ids
    if chat_id is not None:
        params["for_chat"] = chat_id
    if kinds is not None:
        params["of_kinds"] = list(kinds)  # empty: nothing is taken
    if first_kinds:
        params["first_kinds"] = list(first_kinds)
    if except_kinds:
        params["except_kinds"] = list(except_kinds)
    rows = (await session.execute(stmt, params)).all()
    # RETURNING order is unspecified; send oldest first so one chat's messages keep their order.
    return sorted(
        (OutboxItem(r.id, r.user_id, r.chat_id, r.kind, dict(r.payload), r.attempts) for r in rows),
        key=lambda item: item.id,
    )


async def waiting(session: AsyncSession, ids: list[int], kinds: Collection[str]) -> list[tuple[int, int]]:
    """(id, chat) of the rows among `ids` of these kinds that are still pending, in id order."""
    rows = await session.execute(
        select(Outbox.id, Outbox.chat_id)
        .where(Outbox.id.in_(ids), Outbox.kind.in_(list(kinds)), Outbox.status == "pending")
        .order_by(Outbox.id)
    )
    return [(id, chat) for id, chat in rows.all()]


def _held(id: int, attempt: int | None) -> Any:
    """WHERE clause: the row is still leased by the claim that returned `attempt` (if given)."""
    clause = and_(Outbox.id == id, Outbox.status == "sending")
    if attempt is not None:
        clause = and_(clause, Outbox.attempts == attempt)
    return clause


def _error(error: str) -> str:
    return error[:MAX_ERROR_CHARS]


async def _finish(session: AsyncSession, id: int, attempt: int | None, **values: Any) -> bool:
    stmt = (
        update(Outbox)
        .where(_held(id, attempt))
        .values(claimed_until=None, **values)
        .returning(Outbox.id)
        .execution_options(synchronize_session=False)
    )
    return (await session.execute(stmt)).first() is not None


async def mark_sent(
    session: AsyncSession,
    id: int,
    message_id: int,
    *,
    attempt: int | None = None,
    now: datetime | None = None,
) -> bool:
    """Record delivery. Returns False if the row was no longer held by this claim."""
    return await _finish(
        session,
        id,
        attempt,
        status="sent",
        telegram_message_id=message_id,
        sent_at=now or utcnow(),
        last_error=None,
    )


async def mark_retry(
    session: AsyncSession, id: int, *, due_at: datetime, error: str, attempt: int | None = None
) -> bool:
    """Put the row back to pending, due at `due_at`. `error` must not contain message text."""
    return await _finish(session, id, attempt, status="pending", due_at=due_at, last_error=_error(error))


async def mark_failed(session: AsyncSession, id: int, error: str, *, attempt: int | None = None) -> bool:
    """Give up for good (a permanent error such as BadRequest)."""
    return await _finish(session, id, attempt, status="failed", last_error=_error(error))


async def release(session: AsyncSession, id: int, *, attempt: int, due_at: datetime | None = None) -> bool:
    """Hand an unsent claimed row back as if never claimed (the sender ran short of lease time, or the chat
    is waiting out a 429: then `due_at` is when it may be sent)."""
    values: dict[str, Any] = {"due_at": due_at} if due_at is not None else {}
    return await _finish(session, id, attempt, status="pending", attempts=Outbox.attempts - 1, **values)


async def next_due(session: AsyncSession) -> datetime | None:
    """When the next row becomes claimable: the earliest pending `due_at` or `sending` lease expiry."""
    pending = select(func.min(Outbox.due_at)).where(Outbox.status == "pending").scalar_subquery()
    leased = select(func.min(Outbox.claimed_until)).where(Outbox.status == "sending").scalar_subquery()
    row = (await session.execute(select(pending, leased))).one()
    times = [t for t in row if t is not None]
    return min(times) if times else None


async def mark_unreachable(session: AsyncSession, id: int, error: str, *, attempt: int | None = None) -> int | None:
    """The person blocked the bot (403): stop this row and flag the user. Returns the user id, if any.

    The caller should then run escalation for that user (the dispatcher's `on_unreachable` hook).
    """
    stmt = (
        update(Outbox)
        .where(_held(id, attempt))
        .values(status="unreachable", claimed_until=None, last_error=_error(error))
        .returning(Outbox.user_id)
        .execution_options(synchronize_session=False)
    )
    user_id = (await session.execute(stmt)).scalar_one_or_none()
    if user_id is not None:
        await session.execute(
            update(User).where(User.id == user_id).values(unreachable=True).execution_options(synchronize_session=False)
        )
    return user_id


def backoff(attempts: int) -> timedelta:
    """Delay before retry number `attempts` (1-based): 2s, 4s, 8s, ... capped at 10 minutes."""
    exponent = min(max(attempts, 1) - 1, 16)  # bounded so huge attempt counts cannot overflow
    return min(BACKOFF_BASE * 2**exponent, BACKOFF_CAP)


SENT_TEXT_KEPT = timedelta(days=30)


async def purge_sent_text(session: AsyncSession, *, before: datetime) -> int:
    """Messages delivered before `before` lose their words and buttons (they may name a child or quote a
    report); the row stays, so its dedupe key still stops a second send."""
    result = await session.execute(
        update(Outbox)
        .where(Outbox.status.in_(("sent", "failed", "unreachable")), Outbox.created_at < before)
        .where(Outbox.payload["purged"].as_boolean().is_(None))  # not yet: each row is rewritten once
        .values(payload={"purged": True})
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
