"""Who is on the family page: see the members, take someone off, and end family codes not yet used."""

from __future__ import annotations

from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler, ContextTypes, ConversationHandler

from bot import labels
from bot.services import household as households
from bot.services import notify
from bot.services.errors import NotAllowed
from handlers.common import Ctx, expired, load, resume_row, say, show, small_int

# Opened in the middle of setting up, these screens end that conversation; its answers stay to resume.
END = ConversationHandler.END


async def on_members(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int | None:
    c = await load(update, context)
    if not c.person.has_household:
        await expired(c)
        return None
    await show_members(c)
    return END


async def show_members(c: Ctx) -> None:
    _ = c._
    household_id = c.person.household_ids[0]
    async with c.rt.db.transaction() as session:
        rows = await households.members_for(session, user_id=c.person.id, household_id=household_id)
        live = await households.live_codes(session, user_id=c.person.id, household_id=household_id)
    lines = [_("<b>Family members here</b>"), ""]
    buttons: list[list[tuple[str, str]]] = []
    for row in rows:
        name = labels.relation(c.tr, row.relation)
        lines.append(("• " + name) + (_(" (you)") if row.user_id == c.person.id else ""))
        if row.removable:
            buttons.append([(_("❌ Remove {who}").format(who=name), f"mem:rm:{row.membership_id}")])
    if live:
        lines += [
            "",
            c.tr.ngettext(
                "You have {n} family code not used yet.", "You have {n} family codes not used yet.", live
            ).format(n=live),
        ]
        buttons.append([(_("🚫 Cancel my unused codes"), "mem:cancel")])
    buttons += await resume_row(c)
    await show(c, "\n".join(lines), buttons, back=False)


async def on_remove(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int | None:
    c = await load(update, context)
    membership_id = _number(c)
    if not c.person.has_household or membership_id is None:
        await expired(c)
        return None
    async with c.rt.db.transaction() as session:
        rows = await households.members_for(session, user_id=c.person.id, household_id=c.person.household_ids[0])
    target = next((r for r in rows if r.membership_id == membership_id and r.removable), None)
    if target is None:
        await expired(c)
        return None
    _ = c._
    who = labels.relation(c.tr, target.relation)
    await show(
        c,
        _("Remove {who} from the family page? They will no longer see the children's page.").format(who=who),
        [[(_("Yes, remove"), f"mem:ok:{membership_id}")], [(_("No"), "mem:list")]],
    )
    return END


async def on_remove_confirmed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int | None:
    c = await load(update, context)
    membership_id = _number(c)
    if not c.person.has_household or membership_id is None:
        await expired(c)
        return None
    household_id = c.person.household_ids[0]
    try:
        async with c.rt.db.transaction() as session:
            me = (await households.view(session, user_id=c.person.id, household_id=household_id)).member(c.person.id)
            assert me is not None
            person, relation = await households.remove_member(
                session, user_id=c.person.id, household_id=household_id, membership_id=membership_id
            )
            ids = await notify.removed(session, household_id, person, me.relation)
    except NotAllowed:
        await expired(c)
        return None
    await c.rt.dispatcher.deliver(ids)
    await say(c, c._("{who} has been removed from the family page.").format(who=labels.relation(c.tr, relation)))
    await show_members(c)
    return END


async def on_cancel_codes(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int | None:
    c = await load(update, context)
    if not c.person.has_household:
        await expired(c)
        return None
    async with c.rt.db.transaction() as session:
        n = await households.cancel_codes(session, user_id=c.person.id, household_id=c.person.household_ids[0])
    await say(c, c.tr.ngettext("{n} code no longer works.", "{n} codes no longer work.", n).format(n=n))
    await show_members(c)
    return END


def _number(c: Ctx) -> int | None:
    assert c.query is not None and c.query.data is not None
    tail = c.query.data.rsplit(":", 1)[-1]
    return small_int(tail)


def handlers() -> list[BaseHandler[Update, ContextTypes.DEFAULT_TYPE, object]]:
    return [
        CallbackQueryHandler(on_members, pattern=r"^(menu:members|mem:list)$"),
        CallbackQueryHandler(on_remove, pattern=r"^mem:rm:"),
        CallbackQueryHandler(on_remove_confirmed, pattern=r"^mem:ok:"),
        CallbackQueryHandler(on_cancel_codes, pattern=r"^mem:cancel$"),
    ]
