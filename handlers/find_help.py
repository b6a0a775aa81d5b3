"""Find help: a need → the person's village (or township → village) → nearest right contacts, open first.

Buttons only, so it needs no ConversationHandler: it works from the menu and in the middle of another
flow, which stays where it was. The village chosen and the entries shown live in the "help" draft; a
button is honoured only if it matches them (callback data carries no authority).
"""

from __future__ import annotations

from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, ContextTypes, ConversationHandler

from bot import labels
from bot.i18n import N_
from bot.services import areas, directory, drafts, hours
from bot.services import household as households
from bot.services.directory import Entry, Ranked
from handlers.common import Ctx, esc, expired, load, resume_row, show, small_int

FLOW = "help"
# Opened in the middle of setting up the family, help ends that conversation (so the next thing typed is
# not taken as the answer to a question no longer on screen); the answers stay, and "continue" resumes.
END = ConversationHandler.END

NEED_LABELS = {
    "emergency": N_("🚨 Emergency"),
    "protection": N_("🛡️ Child safety"),
    "health": N_("🏥 Health"),
    "mental_health": N_("💬 Feelings and worries"),
    "school": N_("🏫 School"),
    "legal": N_("⚖️ Legal help"),
    "women_family": N_("👩 Violence at home, family trouble"),
    "assistance": N_("💰 Benefits and money help"),
    "volunteers": N_("🤝 Volunteers and groups"),
}
POST_HELPS = {
    "village": N_("Your village's child director: home visits, school, benefits and safety."),
    "township": N_("The township's child supervisor: cases the village cannot solve."),
}


async def on_help(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    await ask_need(await load(update, context))
    return END


async def ask_need(c: Ctx) -> None:
    _ = c._
    # One need a row: big buttons, labels never cut off on a small phone.
    rows = [[(_(NEED_LABELS[need]), f"need:{need}")] for need in directory.NEEDS]
    rows.append([(_("ℹ️ About this bot"), "help:about")])
    rows += await resume_row(c)
    text = "\n\n".join(
        [_("What do you need help with?"), _("In danger now? Call 110 (police), 120 (ambulance) or 119 (fire).")]
    )
    await show(c, text, rows)


async def on_about(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
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
    return END


async def on_needs(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    await ask_need(await load(update, context))
    return END


async def on_need(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int | None:
    c = await load(update, context)
    need = _tail(c)
    if need not in directory.NEEDS:
        await expired(c)
        return None
    village_id = await _village(c)
    async with c.rt.db.transaction() as session:
        await drafts.update(session, c.person.id, FLOW, need=need)
    if village_id is None and need == "emergency":
        # In an emergency, never ask where first: the national numbers work anywhere.
        await show_results(c, need, None)
    elif village_id is None:
        await ask_township(c, need)
    else:
        await show_results(c, need, village_id)
    return END


async def _village(c: Ctx) -> int | None:
    """The household's village; else one chosen in this flow today; else None (ask)."""
    async with c.rt.db.transaction() as session:
        if c.person.has_household:
            h = await households.view(session, user_id=c.person.id, household_id=c.person.household_ids[0])
            chosen = (await drafts.get(session, c.person.id, FLOW)).get("village_id")
            return int(chosen) if isinstance(chosen, int) else h.village_id
        chosen = (await drafts.get(session, c.person.id, FLOW)).get("village_id")
    return chosen if isinstance(chosen, int) else None


async def ask_township(c: Ctx, need: str | None) -> None:
    async with c.rt.db.transaction() as session:
        towns = await areas.townships(session)
    buttons = [(t.name(c.tr.locale), f"hv:tw:{t.id}") for t in towns]
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    rows.append([(c._("⬅️ Back"), "help:needs")])
    text = c._("Which town or township are you in?")
    if need in directory.MAY_BE_EMERGENCY:
        text = danger_block(c, need) + "\n\n" + text
    await show(c, text, rows)


async def on_change_place(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int | None:
    c = await load(update, context)
    async with c.rt.db.transaction() as session:
        need = (await drafts.get(session, c.person.id, FLOW)).get("need")
    if not isinstance(need, str):
        await expired(c)
        return None
    await ask_township(c, need)
    return END


async def on_township(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int | None:
    c = await load(update, context)
    arg = _tail(c)
    async with c.rt.db.transaction() as session:
        area = await areas.get_area(session, small_int(arg) or 0)
        need = (await drafts.get(session, c.person.id, FLOW)).get("need")
        if area is None or area.level != "township" or need is None:
            await expired(c)
            return None
        await drafts.update(session, c.person.id, FLOW, township_id=area.id)
        villages = await areas.villages(session, area.id)
    rows = [[(v.name(c.tr.locale), f"hv:vil:{v.id}")] for v in villages]
    rows.append([(c._("⬅️ Back"), "help:place")])
    await show(c, c._("Which village?"), rows)
    return END


async def on_village(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int | None:
    c = await load(update, context)
    arg = _tail(c)
    async with c.rt.db.transaction() as session:
        area = await areas.get_area(session, small_int(arg) or 0)
        draft = await drafts.get(session, c.person.id, FLOW)
        need = draft.get("need")
        # The village must belong to the township chosen on the previous screen.
        if area is None or area.level != "village" or area.parent_id != draft.get("township_id") or need is None:
            await expired(c)
            return None
        await drafts.update(session, c.person.id, FLOW, village_id=area.id)
    await show_results(c, str(need), area.id)
    return END


def danger_block(c: Ctx, need: str) -> str:
    """When to call which emergency number, for needs where a child may be in danger now."""
    _ = c._
    lines = [
        _("🚨 <b>If a child is in danger now, call first:</b>"),
        _("110 police: someone is hurting a child, a child is missing, a fight."),
        _("120 ambulance: injury, poisoning, drowning, not breathing, cannot wake."),
        _("119 fire and rescue: fire, flood, someone trapped."),
    ]
    if need == "mental_health":
        lines.append(
            _("Someone is about to end their life, or has swallowed pesticide or many pills: call 120 and 110 now.")
        )
    if need == "women_family":
        lines.append(_("Violence at home happening now: call 110."))
    return "\n".join(lines)


async def show_results(c: Ctx, need: str, village_id: int | None) -> None:
    now = c.rt.clock()
    async with c.rt.db.transaction() as session:
        if village_id is None:
            place, village_name = directory.Place(None, None, None), None
        else:
            place = await directory.place_of(session, village_id)
            village = await areas.get_area(session, village_id)
            village_name = village.name(c.tr.locale) if village else None
        entries = await directory.entries_for(session, place)
        if need == "emergency":
            # Never a made-up number when a child may be in danger.
            entries = [e for e in entries if not e.is_sample]
        ranked = directory.rank(entries, need, now)
        await drafts.update(session, c.person.id, FLOW, shown=[r.entry.key for r in ranked])
    _ = c._
    parts: list[str] = []
    if need in directory.MAY_BE_EMERGENCY:
        parts.append(danger_block(c, need))
    need_label = _(NEED_LABELS[need])
    if village_name:
        parts.append(_("<b>{need}</b> · near {place}").format(need=need_label, place=esc(village_name)))
    else:
        parts.append(f"<b>{need_label}</b>")
    if not ranked:
        parts.append(_("No contact for this need is known here yet. The 12345 hotline can point you on."))
    elif not any(r.open_now for r in ranked):
        parts.append(_("Nobody on this list answers now. The 12345 hotline answers day and night."))
    for number, item in enumerate(ranked, start=1):
        parts.append(_entry_text(c, number, item))
    if any(r.entry.is_sample for r in ranked):
        parts.append(_("⚠️ Numbers marked (sample) are made up for the demonstration: they do not work."))
    cards = [(f"📇 {n}", f"card:{r.entry.key}") for n, r in enumerate(ranked, start=1) if _card_allowed(r.entry)]
    rows = [cards[i : i + 5] for i in range(0, len(cards), 5)]
    rows.append([(_("🔎 Another need"), "help:needs"), (_("📍 Another village"), "help:place")])
    rows += await resume_row(c)
    text = "\n\n".join(parts)
    if cards:
        text += "\n\n" + _("Tap a 📇 button below to save that number in your phone.")
    await show(c, text, rows)


def _card_allowed(entry: Entry) -> bool:
    # A made-up number must not end up in a grandparent's phone book, where it would outlive the demo.
    return bool(entry.phone) and not entry.is_sample


def _entry_name(c: Ctx, e: Entry) -> str:
    if e.post is not None:
        return labels.post_title(c.tr, e.post) + "  " + c._("✅ verified")
    name = e.name(c.tr.locale)
    # The sample mark comes from the data, not only from how the name happens to be written.
    if e.is_sample and "（示例）" not in name and "(sample)" not in name:
        name = f"{name} {c._('(sample)')}"
    return name


def _entry_text(c: Ctx, number: int, item: Ranked) -> str:
    e = item.entry
    locale = c.tr.locale
    helps = c._(POST_HELPS[e.level]) if e.post is not None else e.helps(locale)
    lines = [f"{number}. <b>{esc(_entry_name(c, e))}</b>", "   " + esc(helps)]
    when = esc(hours.describe(hours.parse(e.hours), locale))
    lines.append(f"   📞 {e.phone} · 🕘 {when}" if e.phone else f"   🕘 {when}")
    if not item.open_now and item.opens_at is not None:
        opens = hours.describe_next(item.opens_at, c.rt.clock(), locale, directory.CONTACT_TZ)
        lines.append("   " + c._("⏸ Not answering now; try from {when}").format(when=esc(opens)))
    return "\n".join(lines)


async def on_card(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int | None:
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
        if key in shown:
            place = (
                await directory.place_of(session, village_id)
                if isinstance(village_id, int)
                else directory.Place(None, None, None)
            )
            entry = directory.find(await directory.entries_for(session, place), key)
    if entry is None or entry.phone is None or not _card_allowed(entry):
        await expired(c)
        return None
    name = _entry_name(c, entry)
    assert c.query is not None
    await c.query.answer()
    chat = c.update.effective_chat
    assert chat is not None
    # Telegram keeps names to 64 characters a field; a long official name continues in the last name.
    await c.context.bot.send_contact(
        chat.id, phone_number=entry.phone, first_name=name[:64], last_name=name[64:128] or None
    )
    return END


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
