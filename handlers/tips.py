"""Tips: browse by topic (another, helpful, not for me), and tips by message (daily or weekly)."""

from __future__ import annotations

from datetime import time

from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, ContextTypes, ConversationHandler

from bot.i18n import N_
from bot.services import library, recurrence, tips
from bot.services.calls import weekday_names
from bot.services.errors import NotAllowed
from handlers.common import Ctx, expired, load, say, show

END = ConversationHandler.END
TOPIC_LABELS = {
    "play": N_("🧸 Play and time together"),
    "praise": N_("👏 Praise and calm words"),
    "routines": N_("🛏 Routines and sleep"),
    "nutrition": N_("🥣 Food"),
    "drowning": N_("🌊 Water safety"),
    "safety": N_("🏠 Road and home safety"),
    "body_safety": N_("🛡 Body safety"),
    "bullying": N_("🤝 Bullying"),
    "school": N_("📚 School and homework"),
    "online": N_("📱 Phones and the internet"),
    "feelings": N_("💗 Feelings, missing parents"),
    "depression": N_("🌧 Sadness and where to get help"),
    "carer_health": N_("🌿 Your own health and rest"),
    "video_calls": N_("📞 Video calls that matter"),
}
TIMES = ("07:30", "12:00", "19:30", "20:30")


async def on_tips(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    c = await load(update, context)
    _ = c._
    buttons = [(_(TOPIC_LABELS[t]), f"tp:t:{t}") for t in library.TOPICS]
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    if c.person.has_household:
        rows.append([(_("🔔 Tips by message"), "tp:sub")])
    await show(c, _("💡 Tips for looking after children. Choose a topic:"), rows)
    return END


async def on_topic(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int | None:
    c = await load(update, context)
    assert c.query is not None and c.query.data is not None
    topic = c.query.data.split(":", 2)[2]
    if topic not in library.TOPICS:
        await expired(c)
        return None
    await show_tip(c, topic)
    return END


async def show_tip(c: Ctx, topic: str) -> None:
    now = c.rt.clock()
    async with c.rt.db.lazy_transaction() as session:  # none at all when the household is in memory
        who = await tips.browsing_reader(
            session,
            c.rt.identities,
            user_id=c.person.id,
            household_ids=c.person.household_ids,
            timezone=c.person.timezone,
            now=now,
        )
        tip = await c.rt.tip_views.next_tip(session, who, topic=topic, now=now, user_id=c.person.id)
    await c.rt.tip_views.flush_if_full()
    _ = c._
    back = [(_("🔁 Another"), f"tp:t:{topic}"), (_("⬅️ Topics"), "menu:tips")]
    if tip is None:
        await show(c, _("No tip on this topic fits your children's ages just now."), [back])
        return
    await show(c, tips.render(c.tr, tip), [*tips.buttons(c.tr, tip.id), back])


async def on_feedback(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    c = await load(update, context)
    assert c.query is not None and c.query.data is not None
    helpful = c.query.data.startswith(tips.HELPFUL)
    tip_id = c.query.data.rsplit(":", 1)[-1]
    try:
        async with c.rt.db.transaction() as session:
            await tips.feedback(session, user_id=c.person.id, tip_id=tip_id, helpful=helpful, now=c.rt.clock())
    except NotAllowed:
        await expired(c)
        return
    from handlers.common import answer  # the toast: the tip stays on screen

    await answer(c, c._("Thank you! Noted.") if helpful else c._("Thank you. We will show fewer like this."))


# --- tips by message -----------------------------------------------------------------------------------


async def on_subscription(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int | None:
    c = await load(update, context)
    if not c.person.has_household:
        await expired(c)
        return None
    await show_subscription(c)
    return END


async def show_subscription(c: Ctx, *, new_message: bool = False) -> None:
    _ = c._
    async with c.rt.db.transaction() as session:
        sub = await tips.subscription(session, c.person.id)
    rows: list[list[tuple[str, str]]] = [
        [(_("Every day"), "tp:f:daily"), (_("Once a week"), "tp:f:weekly")],
    ]
    if sub is None:
        text = _("🔔 Get one short tip by message, for your children's ages. How often?")
    else:
        when = (
            _("every day at {time}")
            if sub.frequency == "daily"
            else _("every {day} at {time}").format(day=weekday_names(c.tr, (sub.weekday or "sun",)), time="{time}")
        ).format(time=sub.at.strftime("%H:%M"))
        state = _("paused") if sub.status == "paused" else _("on")
        text = _("🔔 Tips by message: {when} ({state}). Change how often, or:").format(when=when, state=state)
        if sub.status == "paused":
            rows.append([(_("▶️ Resume"), "tp:s:active")])
        else:
            rows.append([(_("⏸ Pause"), "tp:s:paused")])
        rows.append([(_("✖️ Stop"), "tp:s:stopped")])
    rows.append([(_("⬅️ Topics"), "menu:tips")])
    await show(c, text, rows, new_message=new_message)


async def on_frequency(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int | None:
    c = await load(update, context)
    frequency = c.query.data.rsplit(":", 1)[-1] if c.query and c.query.data else ""
    if frequency == "weekly":
        rows = [[(weekday_names(c.tr, (d,)), f"tp:w:{d}")] for d in recurrence.WEEKDAYS]
        await show(c, c._("On which day?"), rows)
        return END
    if frequency != "daily":
        await expired(c)
        return None
    await _ask_time(c, "daily", "-")
    return END


async def on_weekday(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int | None:
    c = await load(update, context)
    day = c.query.data.rsplit(":", 1)[-1] if c.query and c.query.data else ""
    if day not in recurrence.WEEKDAYS:
        await expired(c)
        return None
    await _ask_time(c, "weekly", day)
    return END


async def _ask_time(c: Ctx, frequency: str, day: str) -> None:
    # The choice travels in the button; it is checked again when pressed, so it carries no authority.
    buttons = [(t, f"tp:at:{frequency}:{day}:{t.replace(':', '')}") for t in TIMES]
    await show(c, c._("At what time? (Most people choose 19:30.)"), [buttons[:2], buttons[2:]])


async def on_time(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int | None:
    c = await load(update, context)
    assert c.query is not None and c.query.data is not None
    _tp, _at, frequency, day, raw = c.query.data.split(":")
    clock = f"{raw[:2]}:{raw[2:]}"
    if (
        frequency not in tips.FREQUENCIES
        or clock not in TIMES
        or (frequency == "weekly" and day not in recurrence.WEEKDAYS)
    ):
        await expired(c)
        return None
    try:
        async with c.rt.db.transaction() as session:
            await tips.subscribe(
                session,
                user_id=c.person.id,
                frequency=frequency,
                weekday=day if frequency == "weekly" else None,
                at=time.fromisoformat(clock),
                now=c.rt.clock(),
            )
    except NotAllowed:
        await expired(c)
        return None
    await say(c, c._("✅ Saved. Tips never come in your quiet hours."))
    await show_subscription(c, new_message=True)
    return END


async def on_status(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int | None:
    c = await load(update, context)
    status = c.query.data.rsplit(":", 1)[-1] if c.query and c.query.data else ""
    if status not in ("active", "paused", "stopped"):
        await expired(c)
        return None
    try:
        async with c.rt.db.transaction() as session:
            await tips.set_status(session, user_id=c.person.id, status=status, now=c.rt.clock())
    except NotAllowed:
        await expired(c)
        return None
    done = {
        "active": c._("▶️ Resumed."),
        "paused": c._("⏸ Paused."),
        "stopped": c._("✖️ Stopped. No more tips by message."),
    }
    await say(c, done[status])
    await show_subscription(c, new_message=True)
    return END


def handlers() -> list[BaseHandler[Update, ContextTypes.DEFAULT_TYPE, object]]:
    return [
        CommandHandler("tips", on_tips),
        CallbackQueryHandler(on_tips, pattern=r"^menu:tips$"),
        CallbackQueryHandler(on_topic, pattern=r"^tp:t:[a-z_]{1,20}$"),
        CallbackQueryHandler(on_feedback, pattern=r"^tp:(up|down):[a-z0-9-]{1,64}$"),
        CallbackQueryHandler(on_subscription, pattern=r"^tp:sub$"),
        CallbackQueryHandler(on_frequency, pattern=r"^tp:f:[a-z]{1,8}$"),
        CallbackQueryHandler(on_weekday, pattern=r"^tp:w:[a-z]{3}$"),
        CallbackQueryHandler(on_time, pattern=r"^tp:at:[a-z]{1,8}:[a-z-]{1,3}:\d{4}$"),
        CallbackQueryHandler(on_status, pattern=r"^tp:s:[a-z]{1,8}$"),
    ]
