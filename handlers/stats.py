"""/stats: the figures of a township (its supervisors) or the county (its officers), as charts."""

from __future__ import annotations

import asyncio

from telegram import InputMediaPhoto, Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, ContextTypes

from bot.i18n import N_
from bot.services import charts, stats
from handlers.common import Ctx, answer, expired, load, show

PERIOD_LABELS = {
    "week": N_("This week"),
    "month": N_("This month"),
    "quarter": N_("Last 3 months"),
}


async def _scope(c: Ctx) -> stats.Scope | None:
    # Asked again on every press: a post withdrawn a minute ago sees nothing (callback data carries no authority).
    async with c.rt.db.transaction() as session:
        return await stats.scope_for(session, c.person.id, is_admin=c.person.is_admin)


async def on_stats(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    c = await load(update, context)
    scope = await _scope(c)
    _ = c._
    if scope is None:
        from handlers.menu import say_then_menu  # the menu offers this screen: imported here, not at the top

        await say_then_menu(c, _("The figures are for township supervisors and county officers."))
        return
    rows = [[(_(label), f"st:{key}")] for key, label in PERIOD_LABELS.items()]
    text = _(
        "📊 Figures for {place}: concerns, how fast they are taken up, contact with parents, tips and "
        "questions. Which period?"
    ).format(place=scope.area.name(c.tr.locale))
    await show(c, text, rows)


async def on_period(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    c = await load(update, context)
    assert c.query is not None and c.query.data is not None
    key = c.query.data.split(":", 1)[1]
    scope = await _scope(c)
    if key not in stats.PERIODS or scope is None:
        await expired(c)
        return
    await answer(c, c._("Drawing the charts…"))
    now = c.rt.clock()
    when = stats.period(key, now, c.rt.settings.default_timezone)
    async with c.rt.db.transaction() as session:
        figures = await stats.figures(session, scope, when, now=now)
    drawn = await asyncio.to_thread(charts.all_charts, c.tr, figures)
    await show(c, charts.summary(c.tr, figures), [[(c._(label), f"st:{k}")] for k, label in PERIOD_LABELS.items()])
    chat = c.update.effective_chat
    assert chat is not None
    await c.context.bot.send_media_group(
        chat.id, [InputMediaPhoto(chart.png, caption=chart.title, filename=f"{chart.name}.png") for chart in drawn]
    )


def handlers() -> list[BaseHandler[Update, ContextTypes.DEFAULT_TYPE, object]]:
    return [
        CommandHandler("stats", on_stats),
        CallbackQueryHandler(on_stats, pattern=r"^menu:stats$"),
        CallbackQueryHandler(on_period, pattern=r"^st:[a-z]{1,8}$"),
    ]
