"""The caseworker's side of a concern (first part): acknowledging it from the notification."""

from __future__ import annotations

from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler, ContextTypes

from bot import labels
from bot.services import concerns
from bot.services.errors import NotAllowed
from handlers.common import Ctx, esc, expired, load, say


async def on_acknowledge(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    c = await load(update, context)
    tail = c.query.data.rsplit(":", 1)[-1] if c.query and c.query.data else ""
    if not tail.isdigit():
        await expired(c)
        return
    try:
        # Only a post whose area covers the concern's village may take it up; a refusal is audited.
        async with c.rt.db.transaction() as session:
            result = await concerns.acknowledge(
                session, concern_id=int(tail), user_id=c.person.id, admin=c.person.is_admin, now=c.rt.clock()
            )
    except NotAllowed:
        async with c.rt.db.transaction() as session:
            await concerns.record_refusal(session, user_id=c.person.id, concern_id=int(tail))
        await expired(c)
        return
    await c.rt.dispatcher.deliver(list(result.outbox_ids))
    await say(c, acknowledged_text(c, result))


def acknowledged_text(c: Ctx, result: concerns.Acknowledged) -> str:
    if result.first:
        return c._("✅ You have taken up concern {ref}. The reporter has been told.").format(ref=result.ref)
    who = labels.post_title(c.tr, result.post) if result.post else c._("an administrator")
    return c._("Concern {ref} was already taken up by {who}.").format(ref=result.ref, who=esc(who))


def handlers() -> list[BaseHandler[Update, ContextTypes.DEFAULT_TYPE, object]]:
    return [CallbackQueryHandler(on_acknowledge, pattern=rf"^{concerns.ACK}\d+$")]
