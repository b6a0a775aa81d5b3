"""Find help: a need → the person's village (or township → village) → nearest right contacts, open first.

Buttons only, so it needs no ConversationHandler: it works from the menu and in the middle of another
flow, which stays where it was. The village chosen and the entries shown live in the "help" draft; a
button is honoured only if it matches them (callback data carries no authority).
"""

from __future__ import annotations

from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, ContextTypes

from bot import labels
from bot.i18n import N_
from bot.services import areas, directory, drafts, hours
from bot.services import household as households
from bot.services.directory import Entry, Ranked
from handlers.common import Ctx, esc, expired, load, show

FLOW = "help"

NEED_LABELS = {
    "emergency": N_("🚨 Emergency"),
    "protection": N_("🛡️ Child safety"),
    "health": N_("🏥 Health"),
    "mental_health": N_("💬 Feelings and worries"),
    "school": N_("🏫 School"),
    "legal": N_("⚖️ Legal help"),
    "women_family": N_("👩 Women and family"),
    "assistance": N_("💰 Benefits and money help"),
    "volunteers": N_("🤝 Volunteers and groups"),
}
POST_HELPS = {
    "village": N_("Your village's child director: home visits, school, benefits and safety."),
    "township": N_("The township's child supervisor: cases the village cannot solve."),
}


async def on_help(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await ask_need(await load(update, context))


async def ask_need(c: Ctx) -> None:
    _ = c._
    buttons = [(_(NEED_LABELS[need]), f"need:{need}") for need in directory.NEEDS]
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    rows.append([(_("ℹ️ About this bot"), "help:about")])
    text = "\n\n".join(
        [_("What do you need help with?"), _("In danger now? Call 110 (police), 120 (ambulance) or 119 (fire).")]
    )
    await show(c, text, rows)


async def on_about(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    c = await load(update, context)
    _ = c._
    text = "\n\n".join(
        [
            _("<b>How this bot helps</b>"),
            _(
                "It links the grandparents who care for a child with the parents working away, and with the "
                "village child director when help is needed."
            ),
            _(
                "/menu – all choices\n/help – find help near you\n/language – 中文 or English\n"
                "/privacy – what we keep about you\n/deletemydata – delete it\n/start – set up again"
            ),
        ]
    )
    await show(c, text, [[(_("⬅️ Back"), "help:needs")]])


async def on_needs(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await ask_need(await load(update, context))


async def on_need(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    c = await load(update, context)
    need = _tail(c)
    if need not in directory.NEEDS:
        await expired(c)
        return
    village_id = await _village(c)
    async with c.rt.db.transaction() as session:
        await drafts.update(session, c.person.id, FLOW, need=need)
    if village_id is None:
        await ask_township(c)
    else:
        await show_results(c, need, village_id)


async def _village(c: Ctx) -> int | None:
    """The household's village; else one chosen in this flow today; else None (ask)."""
    async with c.rt.db.transaction() as session:
        if c.person.has_household:
            h = await households.view(session, user_id=c.person.id, household_id=c.person.household_ids[0])
            chosen = (await drafts.get(session, c.person.id, FLOW)).get("village_id")
            return int(chosen) if isinstance(chosen, int) else h.village_id
        chosen = (await drafts.get(session, c.person.id, FLOW)).get("village_id")
    return chosen if isinstance(chosen, int) else None


async def ask_township(c: Ctx) -> None:
    async with c.rt.db.transaction() as session:
        towns = await areas.townships(session)
    buttons = [(t.name(c.tr.locale), f"hv:tw:{t.id}") for t in towns]
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    rows.append([(c._("⬅️ Back"), "help:needs")])
    await show(c, c._("Which town or township are you in?"), rows)


async def on_change_place(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    c = await load(update, context)
    async with c.rt.db.transaction() as session:
        if not (await drafts.get(session, c.person.id, FLOW)).get("need"):
            await expired(c)
            return
    await ask_township(c)


async def on_township(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    c = await load(update, context)
    arg = _tail(c)
    async with c.rt.db.transaction() as session:
        area = await areas.get_area(session, int(arg)) if arg.isdigit() else None
        need = (await drafts.get(session, c.person.id, FLOW)).get("need")
        if area is None or area.level != "township" or need is None:
            await expired(c)
            return
        await drafts.update(session, c.person.id, FLOW, township_id=area.id)
        villages = await areas.villages(session, area.id)
    rows = [[(v.name(c.tr.locale), f"hv:vil:{v.id}")] for v in villages]
    rows.append([(c._("⬅️ Back"), "help:place")])
    await show(c, c._("Which village?"), rows)


async def on_village(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    c = await load(update, context)
    arg = _tail(c)
    async with c.rt.db.transaction() as session:
        area = await areas.get_area(session, int(arg)) if arg.isdigit() else None
        draft = await drafts.get(session, c.person.id, FLOW)
        need = draft.get("need")
        # The village must belong to the township chosen on the previous screen.
        if area is None or area.level != "village" or area.parent_id != draft.get("township_id") or need is None:
            await expired(c)
            return
        await drafts.update(session, c.person.id, FLOW, village_id=area.id)
    await show_results(c, str(need), area.id)


async def show_results(c: Ctx, need: str, village_id: int) -> None:
    now = c.rt.clock()
    async with c.rt.db.transaction() as session:
        place = await directory.place_of(session, village_id)
        village = await areas.get_area(session, village_id)
        ranked = directory.rank(await directory.entries_for(session, place), need, now)
        await drafts.update(session, c.person.id, FLOW, shown=[r.entry.key for r in ranked])
    assert village is not None
    _ = c._
    parts: list[str] = []
    if need in directory.MAY_BE_EMERGENCY:
        parts.append(
            "\n".join(
                [
                    _("🚨 <b>If a child is in danger now, call first:</b>"),
                    _("110 police: someone is hurting a child, a child is missing, a fight."),
                    _("120 ambulance: injury, poisoning, drowning, not breathing, cannot wake."),
                    _("119 fire and rescue: fire, flood, someone trapped."),
                ]
            )
        )
    parts.append(
        _("<b>{need}</b> · near {place}").format(need=_(NEED_LABELS[need]), place=esc(village.name(c.tr.locale)))
    )
    if not ranked:
        parts.append(_("No contact for this need is known here yet. The 12345 hotline can point you on."))
    for number, item in enumerate(ranked, start=1):
        parts.append(_entry_text(c, number, item, now))
    if any(r.entry.is_sample for r in ranked):
        parts.append(_("⚠️ Entries marked (sample) are examples, not real contacts yet."))
    cards = [(f"📇 {n}", f"card:{r.entry.key}") for n, r in enumerate(ranked, start=1) if r.entry.phone]
    rows = [cards[i : i + 5] for i in range(0, len(cards), 5)]
    rows.append([(_("🔎 Another need"), "help:needs"), (_("📍 Another village"), "help:place")])
    text = "\n\n".join(parts)
    if cards:
        text += "\n\n" + _("Tap 📇 and a number to save that contact to your phone.")
    await show(c, text, rows)


def _entry_text(c: Ctx, number: int, item: Ranked, now: object) -> str:
    e = item.entry
    locale = c.tr.locale
    if e.post is not None:
        name = labels.post_title(c.tr, e.post) + "  " + c._("✅ verified")
        helps = c._(POST_HELPS[e.level])
    else:
        name, helps = e.name(locale), e.helps(locale)
    lines = [f"{number}. <b>{esc(name)}</b>", "   " + esc(helps)]
    when = hours.describe(hours.parse(e.hours), locale)
    if e.phone:
        lines.append(f"   📞 {e.phone} · 🕘 {esc(when)}")
    else:
        lines.append("   " + c._("Reach them through this bot") + f" · 🕘 {esc(when)}")
    if not item.open_now and item.opens_at is not None:
        opens = hours.describe_next(item.opens_at, c.rt.clock(), locale, directory.CONTACT_TZ)
        lines.append("   " + c._("⏸ Closed now, opens {when}").format(when=esc(opens)))
    return "\n".join(lines)


async def on_card(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    c = await load(update, context)
    key = _tail(c)
    async with c.rt.db.transaction() as session:
        draft = await drafts.get(session, c.person.id, FLOW)
        shown = draft.get("shown") or []
        village_id = draft.get("village_id")
        if not isinstance(village_id, int) and c.person.has_household:
            h = await households.view(session, user_id=c.person.id, household_id=c.person.household_ids[0])
            village_id = h.village_id
        entry: Entry | None = None
        if key in shown and isinstance(village_id, int):
            entry = directory.find(
                await directory.entries_for(session, await directory.place_of(session, village_id)), key
            )
    if entry is None or not entry.phone:
        await expired(c)
        return
    name = labels.post_title(c.tr, entry.post) if entry.post is not None else entry.name(c.tr.locale)
    assert c.query is not None
    await c.query.answer()
    chat = c.update.effective_chat
    assert chat is not None
    # Telegram keeps names to 64 characters a field; a long official name continues in the last name.
    await c.context.bot.send_contact(
        chat.id, phone_number=entry.phone, first_name=name[:64], last_name=name[64:128] or None
    )


def _tail(c: Ctx) -> str:
    assert c.query is not None and c.query.data is not None
    return c.query.data.rsplit(":", 1)[-1]


def handlers() -> list[BaseHandler[Update, ContextTypes.DEFAULT_TYPE, object]]:
    return [
        CommandHandler("help", on_help),
        CallbackQueryHandler(on_help, pattern=r"^menu:help$"),
        CallbackQueryHandler(on_needs, pattern=r"^help:needs$"),
        CallbackQueryHandler(on_about, pattern=r"^help:about$"),
        CallbackQueryHandler(on_change_place, pattern=r"^help:place$"),
        CallbackQueryHandler(on_need, pattern=r"^need:"),
        CallbackQueryHandler(on_township, pattern=r"^hv:tw:"),
        CallbackQueryHandler(on_village, pattern=r"^hv:vil:"),
        CallbackQueryHandler(on_card, pattern=r"^card:"),
    ]
