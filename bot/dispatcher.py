"""Delivers outbox rows to Telegram: right after a handler commits, and from a periodic tick.

Claim in one short transaction, send outside any transaction, record each outcome in its own short
transaction. Retries are the outbox's job, not the rate limiter's: a 429 puts the row back due after
`retry_after` (counted from when the 429 came), network errors and 5xx back off exponentially, 400 fails
for good and 403 marks the person unreachable and calls `on_unreachable` (escalation). Logs carry ids,
kinds and error class names only, never message text or names.

Pacing is the rate limiter's (bot/ratelimit.py): routine rows go in its bulk lane, evenly spaced under
Telegram's overall limit; rows that put a concern in front of a caseworker or an administrator go in its
urgent lane, ahead of everything else, and are claimed before any routine backlog.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from time import monotonic
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, InputMediaPhoto
from telegram.error import BadRequest, ChatMigrated, Forbidden, RetryAfter, TelegramError
from telegram.ext import ExtBot, JobQueue

from bot.ratelimit import NO_RETRIES, URGENT, RateLimiter
from bot.services import outbox
from bot.services.outbox import OutboxItem
from bot.turns import Turns
from db.session import Database
from db.types import utcnow

log = logging.getLogger(__name__)

# A concern reaching someone who must act on it: sent ahead of tips, reminders and summaries.
URGENT_KINDS = frozenset(
    {"concern.notify", "concern.media", "concern.admins", "concern.moved_up", "concern.more", "concern.transfer"}
)
# Concern notices that reach one caseworker in a burst go as one message (up to MAX_TOGETHER, within
# Telegram's 4096 characters): fifty reports at once are then a handful of messages, not fifty, inside
# Telegram's 30 a second, and each still arrives within the second. A notice alone is sent as it is.
TOGETHER_KINDS = frozenset({"concern.notify"})
MAX_TOGETHER = 8
MAX_TEXT = 4096
DIVIDER = "\n\n━━━━━━━━\n\n"
WAKE_MARGIN = timedelta(milliseconds=100)  # a row due this close to the next tick is left to that tick
MIN_WAIT = 0.05  # seconds


class Dispatcher:
    def __init__(
        self,
        db: Database,
        bot: Bot,
        *,
        batch_size: int = 50,
        lease_seconds: float = 60,
        on_unreachable: Callable[[int], Awaitable[None]] | None = None,
    ) -> None:
        self.db = db
        self.bot = bot
        self.batch_size = batch_size
        self.lease_seconds = lease_seconds
        self.on_unreachable = on_unreachable
        self.interval: float | None = None  # the tick's period, once scheduled
        self.turns = Turns()  # per chat: one burst of concern notices at a time

    def _bookkeeping(self) -> AbstractAsyncContextManager[AsyncSession]:
        """A transaction for claims, "sent" marks and releases: it does not wait for the disk (durable=False).
        A kill or crash keeps it; a power cut may lose the last ones, and then a row goes out again (at least
        once, never lost)."""
        return self.db.transaction(durable=False)

    async def deliver(self, ids: list[int]) -> None:
        """Send rows a handler just committed (those already due). Never raises: the tick retries."""
        try:
            # A batch at a time, so a long list never outlives its lease (and is not handed to the tick).
            for start in range(0, len(ids), self.batch_size):
                chunk = ids[start : start + self.batch_size]
                now, leased_at = utcnow(), monotonic()
                async with self._bookkeeping() as session:
                    # Concern notices wait for their chat's turn (below); the rest is claimed now, and when the
                    # rows are all notices (a report just filed) nothing is claimed here at all.
                    waiting = await outbox.waiting(session, chunk, TOGETHER_KINDS)
                    items = (
                        []
                        if len(waiting) == len(chunk)
                        else await outbox.claim(
                            session,
                            now=now,
                            limit=len(chunk),
                            lease_seconds=self.lease_seconds,
                            ids=chunk,
                            except_kinds=TOGETHER_KINDS,
                        )
                    )
                chats = list(dict.fromkeys(chat for _id, chat in waiting))
                for chat in chats:  # the notices first, then what follows them (a voice note, a photo)
                    await self._deliver_together(chat)
                await self._send_all(items, now, leased_at)
        except Exception as exc:  # the handler's change is committed; a failure here must not undo its reply
            log.error("outbox deliver of %d rows failed: %s", len(ids), type(exc).__name__)

    async def _deliver_together(self, chat_id: int) -> None:
        """Concern notices for one chat, claimed only once this chat's previous burst has gone: those that
        came in meanwhile (other handlers' rows among them) go out with this one, as one message."""
        async with self.turns.turn(chat_id):
            now = utcnow()
            async with self._bookkeeping() as session:
                items = await outbox.claim(
                    session,
                    now=now,
                    limit=MAX_TOGETHER,
                    lease_seconds=self.lease_seconds,
                    chat_id=chat_id,
                    kinds=TOGETHER_KINDS,
                )
            await self._send_all(items, now)

    async def run_due(self, now: datetime | None = None) -> int:
        """Claim one batch of due rows and deliver it; returns how many rows were claimed."""
        now = now or utcnow()
        async with self._bookkeeping() as session:
            items = await outbox.claim(
                session, now=now, limit=self.batch_size, lease_seconds=self.lease_seconds, first_kinds=URGENT_KINDS
            )
        await self._send_all(items, now)
        return len(items)

    async def tick(self, context: Any) -> None:
        """JobQueue callback: drain every due row; then, once scheduled, wait for rows falling due before
        the next tick (a 429's `retry_after`, a backoff) and send them on time rather than at that tick."""
        application = getattr(context, "application", None)
        next_tick = utcnow() + timedelta(seconds=self.interval or 0)
        try:
            while application is None or application.running:
                if await self.run_due():
                    continue  # a short batch may only mean another dispatcher took the rest: look again
                if self.interval is None:
                    return
                async with self.db.transaction() as session:
                    due = await outbox.next_due(session)
                now = utcnow()
                if due is None or max(due, now) >= next_tick - WAKE_MARGIN:
                    return
                # At least a moment: a due row can be unclaimable for a while (locked by another dispatcher).
                await asyncio.sleep(max(MIN_WAIT, (due - now).total_seconds()))
        except Exception as exc:  # next tick tries again; leases recover anything half-done
            log.error("outbox tick failed: %s", type(exc).__name__)

    def schedule(self, job_queue: JobQueue[Any], interval: float) -> None:
        self.interval = interval
        job_queue.run_repeating(
            self.tick,
            interval=interval,
            first=interval,
            name="outbox-tick",
            # Default misfire_grace_time is 1s: a slow loop would silently skip ticks.
            job_kwargs={"max_instances": 1, "coalesce": True, "misfire_grace_time": 60},
        )

    # --- internals -------------------------------------------------------------------------------
    async def _send_all(self, items: list[OutboxItem], now: datetime, leased_at: float | None = None) -> None:
        # Stop using the lease well before it expires; otherwise another dispatcher could reclaim a
        # row this one is about to send and the person would get it twice.
        deadline = (leased_at or monotonic()) + self.lease_seconds / 2
        started = utcnow()
        # Urgent rows first; otherwise oldest first, so one chat's messages keep their order.
        items = sorted(items, key=lambda item: (item.kind not in URGENT_KINDS, item.id))
        messages = _together(items)
        waiting: dict[int, datetime] = {}  # chat id -> due again (that chat answered 429 in this batch)
        for index, rows in enumerate(messages):
            chat_id = rows[0].chat_id
            if monotonic() > deadline:
                rest = [row for later in messages[index:] for row in later]
                async with self._bookkeeping() as session:
                    for row in rest:
                        await outbox.release(session, row.id, attempt=row.attempts)
                log.warning("outbox lease running out; released %d rows", len(rest))
                return
            if chat_id in waiting:
                # Telegram just told this chat to wait: its next message would only draw another 429.
                async with self._bookkeeping() as session:
                    for row in rows:
                        await outbox.release(session, row.id, attempt=row.attempts, due_at=waiting[chat_id])
                continue
            due = await self._send_one(rows, now, started)
            if due is not None:
                waiting[chat_id] = due

    async def _send_one(self, rows: list[OutboxItem], now: datetime, started: datetime) -> datetime | None:
        """Send one message standing for `rows` (one row, or notices joined by `_together`) and record the
        outcome on each; returns when it is due again after a 429, else None."""
        item = rows[0]
        payload = item.payload if len(rows) == 1 else _joined(rows)
        text = str(payload.get("text", ""))
        kwargs: dict[str, Any] = {}
        if isinstance(self.bot, ExtBot) and isinstance(self.bot.rate_limiter, RateLimiter):
            # No limiter-side retries (only our limiter understands the marker; plain AIORateLimiter
            # would read a negative number as "make no attempt at all"): a 429 comes back here and the row
            # is rescheduled instead. The marker also picks the limiter's lane.
            kwargs["rate_limit_args"] = URGENT if item.kind in URGENT_KINDS else NO_RETRIES
        media = payload.get("media")
        try:
            if isinstance(media, dict) and media.get("kind") == "album":
                # Pictures the bot drew (the Monday digest's charts): one album; its first message stands for it.
                album = [
                    InputMediaPhoto(png, caption=caption or None, filename=f"chart-{n}.png")
                    for n, (png, caption) in enumerate(outbox.pictures(media), 1)
                ]
                message = (await self.bot.send_media_group(chat_id=item.chat_id, media=album, **kwargs))[0]
            elif isinstance(media, dict) and media.get("kind") == "voice":
                message = await self.bot.send_voice(
                    chat_id=item.chat_id,
                    voice=str(media["file_id"]),
                    caption=text or None,
                    parse_mode=payload.get("parse_mode"),
                    **kwargs,
                )
            elif isinstance(media, dict) and media.get("kind") == "photo":
                message = await self.bot.send_photo(
                    chat_id=item.chat_id,
                    photo=str(media["file_id"]),
                    caption=text or None,
                    parse_mode=payload.get("parse_mode"),
                    **kwargs,
                )
            else:
                message = await self.bot.send_message(
                    chat_id=item.chat_id,
                    text=text,
                    parse_mode=payload.get("parse_mode"),
                    reply_markup=_markup(payload.get("buttons")),
                    **kwargs,
                )
        except RetryAfter as exc:
            # From when Telegram answered, on the caller's clock: the batch may have been sending for a while.
            due = now + (utcnow() - started) + _seconds(exc.retry_after)
            error = _describe(exc, text)
            await self._record(
                rows, exc, lambda s, row: outbox.mark_retry(s, row.id, due_at=due, error=error, attempt=row.attempts)
            )
            return due
        except Forbidden as exc:
            error = _describe(exc, text)
            users: set[int] = set()

            async def unreachable(session: AsyncSession, row: OutboxItem) -> None:
                user_id = await outbox.mark_unreachable(session, row.id, error, attempt=row.attempts)
                if user_id is not None:
                    users.add(user_id)

            await self._record(rows, exc, unreachable)
            for user_id in sorted(users) if self.on_unreachable is not None else ():
                try:
                    await self.on_unreachable(user_id)
                except Exception as cb_exc:  # the row is recorded; the escalation hook must not stop sending
                    log.error("on_unreachable for outbox %d failed: %s", item.id, type(cb_exc).__name__)
        except (BadRequest, ChatMigrated) as exc:  # before NetworkError: BadRequest subclasses it
            if len(rows) > 1:
                # Something in the joined message was refused: each notice on its own, so one cannot sink all.
                log.warning("outbox %d (%s) joined with %d: %s", item.id, item.kind, len(rows) - 1, type(exc).__name__)
                for row in rows:
                    await self._send_one([row], now, started)
                return None
            error = _describe(exc, text)
            await self._record(rows, exc, lambda s, row: outbox.mark_failed(s, row.id, error, attempt=row.attempts))
        except TelegramError as exc:  # TimedOut, NetworkError (incl. 5xx) and anything else: back off
            due = now + outbox.backoff(item.attempts)
            error = _describe(exc, text)
            await self._record(
                rows, exc, lambda s, row: outbox.mark_retry(s, row.id, due_at=due, error=error, attempt=row.attempts)
            )
        except Exception as exc:  # a malformed payload: retrying will not help
            error = type(exc).__name__
            await self._record(rows, exc, lambda s, row: outbox.mark_failed(s, row.id, error, attempt=row.attempts))
        else:
            async with self._bookkeeping() as session:
                for row in rows:
                    await outbox.mark_sent(session, row.id, message.message_id, attempt=row.attempts, now=now)
            log.debug("outbox %d (%s) sent, with %d more", item.id, item.kind, len(rows) - 1)
        return None

    async def _record(
        self,
        rows: list[OutboxItem],
        exc: BaseException,
        apply: Callable[[AsyncSession, OutboxItem], Awaitable[object]],
    ) -> None:
        async with self._bookkeeping() as session:
            for row in rows:
                log.warning("outbox %d (%s) attempt %d: %s", row.id, row.kind, row.attempts, type(exc).__name__)
                await apply(session, row)


def _together(items: list[OutboxItem]) -> list[list[OutboxItem]]:
    """The messages to send for `items`, in their order: rows that may go together (`TOGETHER_KINDS` with a
    `together` part) to the same chat are joined, up to MAX_TOGETHER and Telegram's length; others alone."""
    messages: list[list[OutboxItem]] = []
    open_group: dict[int, list[OutboxItem]] = {}  # chat -> the group still taking rows
    for item in items:
        if item.kind not in TOGETHER_KINDS or "together" not in item.payload:  # (never with media: outbox._row)
            messages.append([item])
            continue
        group = open_group.get(item.chat_id)
        if group is not None and len(group) < MAX_TOGETHER and len(_joined([*group, item])["text"]) <= MAX_TEXT:
            group.append(item)
            continue
        group = [item]
        open_group[item.chat_id] = group
        messages.append(group)
    return messages


def _joined(rows: list[OutboxItem]) -> dict[str, Any]:
    """One message for several notices: the first one's heading with the count, each notice in full, and
    each notice's own row of buttons (every press is authorised again when it comes back)."""
    first = rows[0].payload["together"]
    heading = str(first["heading"]).format(count=len(rows))
    text = DIVIDER.join([heading, *(str(row.payload.get("text", "")) for row in rows)])
    buttons = [button_row for row in rows for button_row in row.payload["together"]["buttons"]]
    return {"text": text, "parse_mode": rows[0].payload.get("parse_mode"), "buttons": buttons}


def _markup(rows: list[list[dict[str, str]]] | None) -> InlineKeyboardMarkup | None:
    if not rows:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(b["text"], callback_data=b["callback_data"]) for b in row] for row in rows]
    )


def _seconds(retry_after: int | float | timedelta) -> timedelta:
    """`RetryAfter.retry_after` is a timedelta with PTB_TIMEDELTA=1 and a number of seconds otherwise."""
    return retry_after if isinstance(retry_after, timedelta) else timedelta(seconds=retry_after)


def _describe(exc: BaseException, text: str) -> str:
    """Class name and Telegram's description, with any echo of the message text removed."""
    detail = exc.message if isinstance(exc, TelegramError) else ""
    if text:
        detail = detail.replace(text, "<text>")
    return f"{type(exc).__name__}: {detail}"[: outbox.MAX_ERROR_CHARS]
