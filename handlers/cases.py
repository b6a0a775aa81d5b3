"""The caseworker's side of a concern: take it up, see the cases in scope, the timeline, notes, the police
report, and resolving. Every button is checked against the caseworker's posts; a refusal is audited."""

from __future__ import annotations

from telegram import Update
from telegram.ext import (
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    ConversationHandler,
    MessageHandler,
    filters,
)

from bot import labels
from bot.i18n import N_
from bot.services import concerns, drafts
from bot.services.errors import Invalid, NotAllowed
from handlers.common import Ctx, esc, expired, load, say, show

FLOW = "case"
TEXT = "case.text"
END = ConversationHandler.END
EVENT_LABELS = {
    "created": N_("reported"),
    "notified": N_("sent to"),
    "escalated": N_("went up a level"),
    "unreachable": N_("could not reach"),
    "admins_told": N_("administrators told"),
    "viewed": N_("opened by"),
    "acknowledged": N_("taken up by"),
    "note": N_("note by"),
    "police_report": N_("police report recorded by"),
    "resolved": N_("resolved by"),
    "referral": N_("referred by"),
    "transferred": N_("passed to"),
    "message": N_("message to the reporter from"),
    "more_info": N_("more information from the reporter"),
}
ASK = {
    "note": N_("Type the note (what you did or found). Do not write the child's full name."),
    "police": N_("Type the police station and the receipt number of the report."),
    "nopolice": N_("Type why no police report was needed."),
    "resolve": N_("Type the outcome in one or two sentences."),
    "msg": N_("Type your message to the reporter. It is sent with your verified post, not your name or number."),
}


def _id(c: Ctx) -> int | None:
    tail = c.query.data.rsplit(":", 1)[-1] if c.query and c.query.data else ""
    return int(tail) if tail.isdigit() else None


async def _refused(c: Ctx, concern_id: int | None) -> None:
    if concern_id is not None:
        async with c.rt.db.transaction() as session:
            await concerns.record_refusal(session, user_id=c.person.id, concern_id=concern_id)
    await expired(c)


async def on_acknowledge(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    c = await load(update, context)
    concern_id = _id(c)
    if concern_id is None:
        await expired(c)
        return
    try:
        # Only a post whose area covers the concern's village may take it up; a refusal is audited.
        async with c.rt.db.transaction() as session:
            result = await concerns.acknowledge(session, concern_id=concern_id, user_id=c.person.id, now=c.rt.clock())
    except NotAllowed:
        await _refused(c, concern_id)
        return
    await c.rt.dispatcher.deliver(list(result.outbox_ids))
    await say(c, acknowledged_text(c, result))
    await show_case(c, concern_id)


def acknowledged_text(c: Ctx, result: concerns.Acknowledged) -> str:
    if result.first:
        return c._("✅ You have taken up concern {ref}. The reporter has been told.").format(ref=result.ref)
    who = labels.post_title(c.tr, result.post) if result.post else c._("an administrator")
    return c._("Concern {ref} was already taken up by {who}.").format(ref=result.ref, who=esc(who))


async def on_cases(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int | None:
    c = await load(update, context)
    if not c.person.is_caseworker:
        await expired(c)
        return None
    async with c.rt.db.transaction() as session:
        rows = await concerns.cases_in_scope(session, c.person.id)
    _ = c._
    if not rows:
        await show(c, _("No open concerns in your area. Thank you."))
        return END
    lines = [_("<b>Open concerns</b> (most urgent first)")]
    buttons: list[list[tuple[str, str]]] = []
    now = c.rt.clock()
    for row in rows[:20]:
        place = row.village_zh if c.tr.locale == "zh_Hans" else row.village_en
        status = _("waiting") if row.status == "open" else _("taken up")
        what = _(concerns.CATEGORY_LABELS[row.category])
        line = f"• {row.ref} · {_(concerns.URGENCY_LABELS[row.urgency])} · {what} · {esc(place)} · {status}"
        if row.ack_due_at is not None:
            minutes = int((row.ack_due_at - now).total_seconds() // 60)
            line += " · " + (
                _("{n} min left").format(n=minutes) if minutes >= 0 else _("{n} min overdue").format(n=-minutes)
            )
        lines.append(line)
        buttons.append([(f"📂 {row.ref}", f"cs:open:{row.concern_id}")])
    await show(c, "\n".join(lines), buttons)
    return END


async def on_open(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int | None:
    c = await load(update, context)
    concern_id = _id(c)
    if concern_id is None:
        await expired(c)
        return None
    if not await show_case(c, concern_id):
        return None
    return END


async def show_case(c: Ctx, concern_id: int) -> bool:
    try:
        async with c.rt.db.transaction() as session:
            concern, timeline = await concerns.view_case(
                session, user_id=c.person.id, concern_id=concern_id, now=c.rt.clock()
            )
            summary = await concerns.render_for_caseworker(session, concern, c.tr, "")
    except NotAllowed:
        await _refused(c, concern_id)
        return False
    _ = c._
    lines = [summary, "", _("<b>Timeline</b>")]
    for event in timeline[-15:]:
        who = labels.post_title(c.tr, event.post) if event.post else ""
        text = f"{c.tr.when(event.at)} · {_(EVENT_LABELS.get(event.kind, event.kind))} {esc(who)}".rstrip()
        if event.kind == "referral":
            name = event.detail.get("name_zh") if c.tr.locale == "zh_Hans" else event.detail.get("name_en")
            text += f" → {esc(name)} {esc(event.detail.get('phone') or '')}".rstrip()
        if event.kind in ("note", "police_report", "message", "more_info") and event.detail.get("text"):
            text += f": {esc(event.detail['text'])}"
        if event.kind == "resolved" and event.detail.get("outcome"):
            text += f": {esc(event.detail['outcome'])}"
        lines.append(text)
    buttons: list[list[tuple[str, str]]] = []
    if concern.status == "open":
        buttons.append([(_("✅ I will look at it (acknowledge)"), f"{concerns.ACK}{concern.id}")])
    if concern.status != "resolved":
        buttons.append([(_("📝 Add a note"), f"cs:note:{concern.id}")])
        buttons.append([(_("👮 Record the police report"), f"cs:police:{concern.id}")])
        buttons.append([(_("No police report needed"), f"cs:nopolice:{concern.id}")])
        buttons.append([(_("🔀 Refer to a service"), f"cs:refer:{concern.id}")])
        buttons.append([(_("↪️ Pass to another caseworker"), f"cs:transfer:{concern.id}")])
        if concern.reporter_shares_contact and concern.reporter_user_id is not None:
            buttons.append([(_("💬 Message the reporter"), f"cs:msg:{concern.id}")])
        buttons.append([(_("🏁 Resolve"), f"cs:resolve:{concern.id}")])
    buttons.append([(_("📋 All open concerns"), "menu:cases")])
    await show(c, "\n".join(lines), buttons, new_message=True)
    return True


async def on_action(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str | int | None:
    """Note, police report or resolve: check the post covers the concern, then ask for the text."""
    c = await load(update, context)
    assert c.query is not None and c.query.data is not None
    action = c.query.data.split(":")[1]
    concern_id = _id(c)
    if action not in ASK or concern_id is None:
        await expired(c)
        return None
    try:
        async with c.rt.db.transaction() as session:
            await concerns.authorised(session, c.person.id, concern_id)
            await drafts.update(session, c.person.id, FLOW, state=TEXT, action=action, concern_id=concern_id)
    except NotAllowed:
        await _refused(c, concern_id)
        return None
    await show(c, c._(ASK[action]), new_message=True)
    return TEXT


async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str | int:
    c = await load(update, context)
    text = " ".join((c.message.text or "").split()) if c.message else ""
    if not text or len(text) > concerns.NOTE_MAX:
        await say(c, c._("Please type it in one message of at most {n} characters.").format(n=concerns.NOTE_MAX))
        return TEXT
    async with c.rt.db.transaction() as session:
        draft = await drafts.get(session, c.person.id, FLOW)
    action, concern_id = draft.get("action"), draft.get("concern_id")
    if action not in ASK or not isinstance(concern_id, int):
        await expired(c)
        return END
    ids: list[int] = []
    try:
        async with c.rt.db.transaction() as session:
            now = c.rt.clock()
            if action == "note":
                await concerns.add_note(session, user_id=c.person.id, concern_id=concern_id, text=text, now=now)
            elif action in ("police", "nopolice"):
                await concerns.record_police_report(
                    session,
                    user_id=c.person.id,
                    concern_id=concern_id,
                    text=text,
                    not_needed=action == "nopolice",
                    now=now,
                )
            elif action == "msg":
                ids = await concerns.message_reporter(
                    session, user_id=c.person.id, concern_id=concern_id, text=text, now=now
                )
            else:
                ids = await concerns.resolve(session, user_id=c.person.id, concern_id=concern_id, outcome=text, now=now)
            await drafts.clear(session, c.person.id, FLOW)
    except NotAllowed:
        await _refused(c, concern_id)
        return END
    except Invalid as exc:
        async with c.rt.db.transaction() as session:
            await drafts.clear(session, c.person.id, FLOW)
        if exc.reason == "police_report_needed":
            await say(
                c,
                c._(
                    "This kind of concern must be reported to the police (Minors Protection Law, Art. 11). Record "
                    "the police report, or why none was needed, before resolving it."
                ),
            )
        else:
            await say(c, c._("This concern is already resolved."))
        await show_case(c, concern_id)
        return END
    await c.rt.dispatcher.deliver(ids)
    await say(c, c._("Saved."))
    await show_case(c, concern_id)
    return END


async def on_wrong_kind(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str:
    c = await load(update, context)
    await say(c, c._("Please type your answer as text."))
    return TEXT


async def on_refer_options(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int | None:
    c = await load(update, context)
    concern_id = _id(c)
    try:
        async with c.rt.db.transaction() as session:
            options = await concerns.referral_options(
                session, user_id=c.person.id, concern_id=concern_id or 0, now=c.rt.clock()
            )
    except NotAllowed:
        await _refused(c, concern_id)
        return None
    rows = [[(e.name(c.tr.locale), f"cs:rf:{concern_id}:{e.key}")] for e in options]
    rows.append([(c._("⬅️ Back"), f"cs:open:{concern_id}")])
    await show(c, c._("Refer to which service? The referral is recorded in the timeline."), rows)
    return END


async def on_refer(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int | None:
    c = await load(update, context)
    assert c.query is not None and c.query.data is not None
    _cs, _rf, raw_id, key = [*c.query.data.split(":"), "", "", "", ""][:4]
    concern_id = int(raw_id) if raw_id.isdigit() else None
    try:
        async with c.rt.db.transaction() as session:
            entry = await concerns.refer(
                session, user_id=c.person.id, concern_id=concern_id or 0, entry_key=key, now=c.rt.clock()
            )
    except NotAllowed:
        await _refused(c, concern_id)
        return None
    await say(
        c,
        c._("🔀 Referral recorded: {name} {phone}").format(name=esc(entry.name(c.tr.locale)), phone=entry.phone or ""),
    )
    assert concern_id is not None
    await show_case(c, concern_id)
    return END


async def on_transfer_options(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int | None:
    c = await load(update, context)
    concern_id = _id(c)
    try:
        async with c.rt.db.transaction() as session:
            options = await concerns.transfer_options(session, user_id=c.person.id, concern_id=concern_id or 0)
    except NotAllowed:
        await _refused(c, concern_id)
        return None
    rows = [[(labels.post_title(c.tr, p), f"cs:tr:{concern_id}:{p.id}")] for p in options]
    rows.append([(c._("⬅️ Back"), f"cs:open:{concern_id}")])
    text = c._("Pass it to whom?") if options else c._("There is nobody else on this concern's ladder to pass it to.")
    await show(c, text, rows)
    return END


async def on_transfer(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int | None:
    c = await load(update, context)
    assert c.query is not None and c.query.data is not None
    parts = c.query.data.split(":")
    concern_id = int(parts[2]) if len(parts) == 4 and parts[2].isdigit() else None
    post_id = int(parts[3]) if len(parts) == 4 and parts[3].isdigit() else None
    try:
        async with c.rt.db.transaction() as session:
            ids = await concerns.transfer(
                session, user_id=c.person.id, concern_id=concern_id or 0, post_id=post_id or 0, now=c.rt.clock()
            )
    except NotAllowed:
        await _refused(c, concern_id)
        return None
    await c.rt.dispatcher.deliver(ids)
    await say(c, c._("↪️ Passed on. They have been told."))
    assert concern_id is not None
    await show_case(c, concern_id)
    return END


def handlers() -> list[BaseHandler[Update, ContextTypes.DEFAULT_TYPE, object]]:
    return [
        CallbackQueryHandler(on_refer_options, pattern=r"^cs:refer:\d+$"),
        CallbackQueryHandler(on_refer, pattern=r"^cs:rf:\d+:[a-z0-9-]+$"),
        CallbackQueryHandler(on_transfer_options, pattern=r"^cs:transfer:\d+$"),
        CallbackQueryHandler(on_transfer, pattern=r"^cs:tr:\d+:\d+$"),
        CallbackQueryHandler(on_acknowledge, pattern=rf"^{concerns.ACK}\d+$"),
        CommandHandler("cases", on_cases),
        CallbackQueryHandler(on_cases, pattern=r"^menu:cases$"),
        CallbackQueryHandler(on_open, pattern=r"^cs:open:\d+$"),
    ]


def build(
    leaving: list[BaseHandler[Update, ContextTypes.DEFAULT_TYPE, object]],
) -> ConversationHandler[ContextTypes.DEFAULT_TYPE]:
    return ConversationHandler(
        entry_points=[CallbackQueryHandler(on_action, pattern=r"^cs:(note|police|nopolice|resolve|msg):\d+$")],
        states={
            TEXT: [
                MessageHandler(filters.TEXT & ~filters.COMMAND, on_text),
                MessageHandler(~filters.COMMAND, on_wrong_kind),
            ]
        },
        fallbacks=leaving,
        name=FLOW,
        persistent=True,
        allow_reentry=True,
    )
