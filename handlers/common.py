"""What every handler shares: who is talking (and in which language), and how a screen is shown."""

from __future__ import annotations

import html
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from telegram import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest
from telegram.ext import ContextTypes, ConversationHandler

from bot.i18n import N_, Tr, catalog_key
from bot.persistence import SqlConversationPersistence
from bot.runtime import Runtime
from bot.services import people
from bot.services.people import Person
from db.types import utcnow

log = logging.getLogger(__name__)

Button = tuple[str, str]  # (label, callback_data)
Keyboard = Sequence[Sequence[Button]]

BACK = "nav:back"
MENU = "nav:menu"
BACK_LABEL = N_("⬅️ Back")
MENU_LABEL = N_("🏠 Menu")


@dataclass
class Ctx:
    """One update's view of the world: runtime, the person, and their language."""

    rt: Runtime
    update: Update
    context: ContextTypes.DEFAULT_TYPE
    person: Person
    tr: Tr
    # Per-update flags shared by copies of this context (e.g. whether the button press was answered).
    flags: dict[str, bool] = field(default_factory=dict)

    @property
    def _(self) -> Callable[[str], str]:
        return self.tr.gettext

    @property
    def query(self) -> CallbackQuery | None:
        return self.update.callback_query

    @property
    def message(self) -> Message | None:
        return self.update.effective_message

    def with_person(self, person: Person) -> Ctx:
        return Ctx(self.rt, self.update, self.context, person, Tr(person.locale, person.timezone), self.flags)


def runtime(context: ContextTypes.DEFAULT_TYPE) -> Runtime:
    rt: Runtime = context.application.bot_data[Runtime.KEY]
    return rt


async def load(update: Update, context: ContextTypes.DEFAULT_TYPE) -> Ctx:
    """The person behind the update, created on first contact in the language Telegram reports."""
    rt = runtime(context)
    user = update.effective_user
    chat = update.effective_chat
    assert user is not None and chat is not None
    now = rt.clock()
    person = rt.identities.person(user.id, chat_id=chat.id, now=now)
    if person is not None:
        return Ctx(rt, update, context, person, Tr(person.locale, person.timezone))
    generation = rt.identities.generation
    async with rt.db.transaction() as session:
        person = await people.get_or_create(
            session,
            telegram_id=user.id,
            chat_id=chat.id,
            locale=catalog_key(user.language_code, rt.settings.default_locale),
            timezone=rt.settings.default_timezone,
            admin_ids=rt.settings.admin_telegram_ids,
            now=now,
            record_seen=False,
        )
    person = rt.identities.seen(person, now)
    rt.identities.remember(person, generation)
    return Ctx(rt, update, context, person, Tr(person.locale, person.timezone))


async def remember(c: Ctx, flow: str, state: str, **values: object) -> dict[str, object]:
    """Save a flow's step and answers (the draft), committed now; returns the whole draft."""
    from bot.services import drafts  # a service; imported here to keep this module's imports light

    kept = c.rt.drafts
    generation = kept.generation
    known: tuple[dict[str, Any], object] | None = kept.get(c.person.id, flow)
    if known is None and kept.is_absent(c.person.id, flow):
        known = ({}, None)  # cleared or looked for earlier: nothing to read
    now = utcnow()
    # The flow's conversation state goes in the same transaction: a crash cannot part the two, and the
    # state is not written again after the step (the persistence knows it is stored).
    persistence = c.context.application.persistence
    chat = c.update.effective_chat
    key = (chat.id, c.person.telegram_id) if chat is not None else None
    with_state = isinstance(persistence, SqlConversationPersistence) and persistence.persists(flow) and key
    # Not durable: a power cut may cost the person this one step (never the report it leads to).
    async with c.rt.db.transaction(durable=False) as session:
        if known is not None:  # the draft as this process last wrote or read it: one statement, no read
            data = drafts.merged(known[0], {"state": state, **values})
            await drafts.put(session, c.person.id, flow, data, now)
        else:
            data = await drafts.update(session, c.person.id, flow, state=state, **values)
        if with_state:
            await persistence.write(session, flow, key, state)
    if with_state:
        persistence.written(flow, key, state)
    if known is not None:
        kept.keep(c.person.id, flow, data, now, generation)
    return dict(data)


async def end_flow(c: Ctx, session: AsyncSession, flow: str) -> None:
    """The flow ends in the caller's transaction: its draft and its stored conversation state are deleted with
    whatever that transaction saves (the report filed), so no transaction of their own follows."""
    from bot.services import drafts

    await drafts.clear(session, c.person.id, flow)
    persistence = c.context.application.persistence
    chat = c.update.effective_chat
    if not (isinstance(persistence, SqlConversationPersistence) and persistence.persists(flow) and chat):
        return
    key = (chat.id, c.person.telegram_id)
    await persistence.write(session, flow, key, None)
    # Known to be gone once committed: the handler's END then costs the persistence nothing.
    event.listen(session.sync_session, "after_commit", lambda _s: persistence.written(flow, key, None), once=True)


async def draft_of(c: Ctx, flow: str) -> dict[str, object]:
    from bot.services import drafts

    known = c.rt.drafts.get(c.person.id, flow)
    if known is not None:
        return known[0]
    async with c.rt.db.transaction() as session:
        return await drafts.get(session, c.person.id, flow)


Step = Callable[[Update, ContextTypes.DEFAULT_TYPE], Awaitable[object]]


def stale_guard(flow: str, on_stale: Callable[[Ctx], Awaitable[None]]) -> Callable[[Step], Step]:
    """A step answered more than a day after it was asked is not taken: `on_stale` shows where to go instead.

    Someone who stopped at "Tell us what happened" and writes a week later about something else must not
    have that message filed as a description.
    """

    from bot.services import drafts

    def wrap(callback: Step) -> Step:
        async def guarded(update: Update, context: ContextTypes.DEFAULT_TYPE) -> object:
            c = await load(update, context)
            async with c.rt.db.transaction() as session:
                draft = await drafts.fresh_draft(session, c.person.id, flow)
            if draft is None:
                await on_stale(c)
                return ConversationHandler.END
            return await callback(update, context)

        return guarded

    return wrap


def small_int(text: str) -> int | None:
    """An id from callback data: digits that fit a database integer, else None (forged data is refused)."""
    return int(text) if text.isdigit() and len(text) <= 9 else None


def esc(text: object) -> str:
    """Everything a person typed is escaped before it is shown in HTML mode."""
    return html.escape(str(text), quote=False)


def keyboard(rows: Keyboard, c: Ctx, *, back: bool = False, menu: bool = True) -> InlineKeyboardMarkup | None:
    buttons = [[InlineKeyboardButton(label, callback_data=data) for label, data in row] for row in rows]
    nav = []
    if back:
        nav.append(InlineKeyboardButton(c._(BACK_LABEL), callback_data=BACK))
    if menu:
        nav.append(InlineKeyboardButton(c._(MENU_LABEL), callback_data=MENU))
    if nav:
        buttons.append(nav)
    return InlineKeyboardMarkup(buttons) if buttons else None


async def show(
    c: Ctx,
    text: str,
    rows: Keyboard = (),
    *,
    back: bool = False,
    menu: bool = True,
    new_message: bool = False,
) -> None:
    """Show a screen: edit the message whose button was pressed, or send a new one."""
    markup = keyboard(rows, c, back=back, menu=menu)
    query = c.query
    # After a separate line was sent, the screen follows it as a new message so the order reads right.
    if query is not None and query.message is not None and not new_message and not c.flags.get("said"):
        await answer(c)
        try:
            await query.edit_message_text(text, reply_markup=markup)
            return
        except BadRequest as exc:
            # The same screen again (a double tap) or a message too old to edit: send it afresh.
            if "not modified" in str(exc).lower():
                return
            log.info("edit failed (%s); sending a new message", type(exc).__name__)
    chat = c.update.effective_chat
    assert chat is not None
    await c.context.bot.send_message(chat.id, text, reply_markup=markup)


async def say(c: Ctx, text: str) -> None:
    """A short line on its own (an error or a confirmation), before the screen is shown again."""
    chat = c.update.effective_chat
    assert chat is not None
    await answer(c)
    await c.context.bot.send_message(chat.id, text)
    c.flags["said"] = True


async def answer(c: Ctx, text: str | None = None, *, alert: bool = False) -> None:
    query = c.query
    # Telegram accepts one answer per button press.
    if query is None or c.flags.get("answered"):
        return
    c.flags["answered"] = True
    await query.answer(text, show_alert=alert)


async def expired(c: Ctx) -> None:
    """A forged, foreign or stale button: say so and change nothing."""
    if c.query is not None:
        await answer(c, c._("This button has expired. Please use the latest message, or tap /menu."), alert=True)
    else:
        await say(c, c._("That is no longer possible here. Tap /menu to start again."))


RESUME = "family:resume"
RESUME_LABEL = N_("↩️ Continue where I was")
REPORT_RESUME_LABEL = N_("↩️ Finish my unsent report")


async def resume_row(c: Ctx) -> list[list[Button]]:
    """A way back into an unsent report or an unfinished setup, for screens opened in the middle of one."""
    from bot.services import drafts  # a service; imported here to keep this module's imports light

    rows: list[list[Button]] = []
    for flow, label, data in (
        ("report", REPORT_RESUME_LABEL, "report:resume"),
        ("family", RESUME_LABEL, RESUME),
    ):
        async with c.rt.db.transaction() as session:
            age = await drafts.age(session, c.person.id, flow)
            state = (await drafts.get(session, c.person.id, flow)).get("state")
        if age is not None and age <= drafts.TTL and state:
            rows.append([(c._(label), data)])
    return rows
