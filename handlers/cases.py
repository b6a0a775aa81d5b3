"""The caseworker's side of a concern: take it up, see the cases in scope, the timeline, notes, the police
report, and resolving. Every button is checked against the caseworker's posts; a refusal is audited."""

from __future__ import annotations

from datetime import date, timedelta

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
from bot.services import concerns, drafts, questions, welfare
from bot.services import validate as check
from bot.services.errors import Invalid, NotAllowed
from handlers.common import Ctx, esc, expired, load, say, show, small_int

FLOW = "case"
TEXT = "case.text"
END = ConversationHandler.END
PAGE = 8  # concerns per /cases page: a phone screen
FIELD_MAX = 60
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
    "reopened": N_("open again: could not reach"),
    "follow_up": N_("reminder to record or resolve sent to"),
    "raised": N_("more urgent after new information"),
}
ASK = {
    "note": N_("Type the note (what you did or found). Do not write the child's full name."),
    "police": N_("👮 Which police station was it reported to? (For example: 大塘派出所)"),
    "receipt": N_("The receipt number of the report (回执编号)? If the police gave none, type the officer's name."),
    "police_date": N_("When was it reported? Tap a day, or type the date, for example 2026-12-01."),
    "nopolice": N_("Type why no police report was needed."),
    "resolve": N_("Type the outcome in one or two sentences."),
    "msg": N_("Type your message to the reporter. It is sent with your verified post, not your name or number."),
    "welfare": N_("What did you find? Type a short note; it closes the request."),
    "answer": N_("Type your answer. It goes to the family with your verified post, not your name or number."),
}


def _id(c: Ctx) -> int | None:
    tail = c.query.data.rsplit(":", 1)[-1] if c.query and c.query.data else ""
    return small_int(tail)


async def _refused(c: Ctx, concern_id: int | None, *, action: str = "") -> None:
    """Audited in its own transaction, after the refused one was rolled back."""
    if concern_id is not None:
        async with c.rt.db.transaction() as session:
            if action == "welfare":
                await welfare.record_refusal(session, user_id=c.person.id, check_id=concern_id)
            elif action == "answer":
                await questions.record_refusal(session, user_id=c.person.id, question_id=concern_id)
            else:
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
    data = c.query.data if c.query and c.query.data else ""
    page = int(data.rsplit(":", 1)[-1]) if data.startswith("cs:page:") else 0
    async with c.rt.db.transaction() as session:
        rows = await concerns.cases_in_scope(session, c.person.id)
        await concerns.record_listing(session, user_id=c.person.id, page=page)
    _ = c._
    checks = await _checks(c)
    more = [[(_("🏠 Welfare checks ({n})").format(n=len(checks)), "wc:list")]] if checks else []
    async with c.rt.db.transaction() as session:
        asked = await questions.waiting(session, c.person.id)
    if asked:
        more.append([(_("❓ Questions from families ({n})").format(n=len(asked)), "qa:list")])
    if not rows:
        await show(c, _("No open concerns in your area. Thank you."), more)
        return END
    pages = (len(rows) + PAGE - 1) // PAGE
    page = min(page, pages - 1)
    shown = rows[page * PAGE : (page + 1) * PAGE]
    lines = [_("<b>Open concerns</b> (most urgent first)")]
    if pages > 1:
        lines[0] += " · " + _("page {page} of {pages}").format(page=page + 1, pages=pages)
    buttons: list[list[tuple[str, str]]] = []
    now = c.rt.clock()
    for row in shown:
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
    paging: list[tuple[str, str]] = []
    if page > 0:
        paging.append((_("◀️ More urgent"), f"cs:page:{page - 1}"))
    if page < pages - 1:
        paging.append((_("Next ▶️"), f"cs:page:{page + 1}"))
    if paging:
        buttons.append(paging)
    await show(c, "\n".join(lines), buttons + more)
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
        if event.kind in ("note", "message", "more_info") and event.detail.get("text"):
            text += f": {esc(event.detail['text'])}"
        if event.kind == "police_report":
            text += ": " + police_line(c, event.detail)
        if event.kind == "resolved" and event.detail.get("outcome"):
            text += f": {esc(event.detail['outcome'])}"
        lines.append(text)
    # The same actions as on the notification, less "Timeline": this screen is the timeline.
    buttons = [[b for b in row if not b[1].startswith("cs:open:")] for row in concerns.case_buttons(c.tr, concern)]
    buttons.append([(_("📋 All open concerns"), "menu:cases")])
    await show(c, "\n".join(lines), buttons, new_message=True)
    return True


async def on_questions(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int | None:
    c = await load(update, context)
    if not c.person.is_caseworker:
        await expired(c)
        return None
    await show_questions(c)
    return END


async def show_questions(c: Ctx, *, new_message: bool = False) -> None:
    _ = c._
    async with c.rt.db.transaction() as session:
        asked = await questions.waiting(session, c.person.id)
    if not asked:
        await show(c, _("No questions waiting. Thank you."), [[(_("📋 All open concerns"), "menu:cases")]])
        return
    lines = [_("<b>❓ Questions from families</b> (oldest first)")]
    rows: list[list[tuple[str, str]]] = []
    for q in asked:
        place = q.village_zh if c.tr.locale == "zh_Hans" else q.village_en
        preview = (q.text or _("(a voice message)"))[:40]
        lines.append(f"• {esc(place)} · {c.tr.when(q.created_at)} · {esc(preview)}")
        rows.append([(f"✍️ {place} · {c.tr.when(q.created_at)}", f"qa:open:{q.id}")])
    rows.append([(_("📋 All open concerns"), "menu:cases")])
    await show(c, "\n".join(lines), rows, new_message=new_message)


async def on_question(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int | None:
    c = await load(update, context)
    question_id = _id(c)
    try:
        async with c.rt.db.transaction() as session:
            q = await questions.open_question(session, user_id=c.person.id, question_id=question_id or 0)
    except NotAllowed:
        if question_id is not None:
            async with c.rt.db.transaction() as session:
                await questions.record_refusal(session, user_id=c.person.id, question_id=question_id)
        await expired(c)
        return None
    _ = c._
    place = q.village_zh if c.tr.locale == "zh_Hans" else q.village_en
    lines = [
        _("<b>❓ A question</b> · {place} · {when}").format(place=esc(place), when=c.tr.when(q.created_at)),
        esc(q.text) if q.text else _("(a voice message, sent to you with the notice)"),
    ]
    if q.answer:
        lines.append(_("Answered: {text}").format(text=esc(q.answer)))
    rows = [[(_("✍️ Answer"), f"qa:ans:{q.id}")]] if q.status == "open" else []
    rows.append([(_("❓ Questions from families"), "qa:list")])
    await show(c, "\n".join(lines), rows)
    return END


async def _checks(c: Ctx) -> list[welfare.CheckView]:
    async with c.rt.db.transaction() as session:
        return await welfare.open_checks(session, c.person.id)


async def on_checks(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int | None:
    c = await load(update, context)
    if not c.person.is_caseworker:
        await expired(c)
        return None
    await show_checks(c)
    return END


async def show_checks(c: Ctx, *, new_message: bool = False) -> None:
    _ = c._
    checks = await _checks(c)
    if not checks:
        await show(c, _("No welfare checks waiting. Thank you."), [[(_("📋 All open concerns"), "menu:cases")]])
        return
    lines = [_("<b>🏠 Welfare checks</b> (not urgent; oldest first)")]
    rows: list[list[tuple[str, str]]] = []
    for view in checks:
        place = view.village_zh if c.tr.locale == "zh_Hans" else view.village_en
        lines.append(f"• {esc(place)} · {c.tr.date(view.created_at, 'medium')} · {_(welfare.REASONS[view.reason])}")
        rows.append([(f"📂 {place} · {c.tr.date(view.created_at, 'medium')}", f"wc:open:{view.id}")])
    rows.append([(_("📋 All open concerns"), "menu:cases")])
    await show(c, "\n".join(lines), rows, new_message=new_message)


async def on_check(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int | None:
    c = await load(update, context)
    check_id = _id(c)
    try:
        async with c.rt.db.transaction() as session:
            view = await welfare.open_check(session, user_id=c.person.id, check_id=check_id or 0)
    except NotAllowed:
        await _refused(c, check_id, action="welfare")
        return None
    _ = c._
    place = view.village_zh if c.tr.locale == "zh_Hans" else view.village_en
    lines = [
        _("<b>🏠 Welfare check</b> · {place}").format(place=esc(place)),
        _(welfare.REASONS[view.reason]),
        _("Requested on {date}").format(date=c.tr.date(view.created_at)),
    ]
    if view.carers:
        lines.append(_("Carers at home: {who}").format(who=esc(welfare.carers_line(c.tr, view))))
    rows = [[(_("✅ Close with a note"), f"wc:close:{view.id}")]] if view.status == "open" else []
    rows.append([(_("🏠 Welfare checks"), "wc:list")])
    await show(c, "\n".join(lines), rows)
    return END


def police_line(c: Ctx, detail: dict[str, object]) -> str:
    if detail.get("station"):
        return c._("{station}, receipt {receipt}, reported on {day}").format(
            station=esc(detail["station"]),
            receipt=esc(detail.get("receipt") or ""),
            day=c.tr.date_only(date.fromisoformat(str(detail["reported_on"]))),
        )
    return c._("not needed: {why}").format(why=esc(detail.get("not_needed_because") or detail.get("text") or ""))


async def on_action(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str | int | None:
    """Note, police report, resolve or a message: check the post covers the concern, then ask for the text."""
    c = await load(update, context)
    assert c.query is not None and c.query.data is not None
    kind = c.query.data.split(":")[0]
    action = {"wc": "welfare", "qa": "answer"}.get(kind) or c.query.data.split(":")[1]
    concern_id = _id(c)  # for "welfare", the id of the welfare check
    if action not in ASK or concern_id is None:
        await expired(c)
        return None
    try:
        async with c.rt.db.transaction() as session:
            if action == "welfare":
                await welfare.open_check(session, user_id=c.person.id, check_id=concern_id)
            elif action == "answer":
                await questions.open_question(session, user_id=c.person.id, question_id=concern_id)
            else:
                await concerns.authorised(session, c.person.id, concern_id)
            await drafts.clear(session, c.person.id, FLOW)
            await drafts.update(session, c.person.id, FLOW, state=TEXT, action=action, concern_id=concern_id)
    except NotAllowed:
        await _refused(c, concern_id, action=action)
        return None
    await show(c, c._(ASK[action]), new_message=True)
    return TEXT


def _day_buttons(c: Ctx) -> list[list[tuple[str, str]]]:
    return [[(c._("Today"), "cs:day:0"), (c._("Yesterday"), "cs:day:1")]]


async def _ask_step(c: Ctx, step: str) -> str:
    async with c.rt.db.transaction() as session:
        await drafts.update(session, c.person.id, FLOW, action=step)
    await show(c, c._(ASK[step]), _day_buttons(c) if step == "police_date" else (), new_message=True)
    return TEXT


async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str | int:
    c = await load(update, context)
    async with c.rt.db.transaction() as session:
        draft = await drafts.get(session, c.person.id, FLOW)
        age = await drafts.age(session, c.person.id, FLOW)
    action, concern_id = draft.get("action"), draft.get("concern_id")
    if action not in ASK or not isinstance(concern_id, int) or age is None or age > drafts.TTL:
        # Nothing is waiting for this text (it was long ago, or another flow took over): do not file it anywhere.
        async with c.rt.db.transaction() as session:
            await drafts.clear(session, c.person.id, FLOW)
        from handlers.menu import say_then_menu  # the menu module imports this one

        await say_then_menu(c, c._("Please choose from the menu below."))
        return END
    text = " ".join((c.message.text or "").split()) if c.message else ""
    limit = FIELD_MAX if action in ("police", "receipt") else concerns.NOTE_MAX
    if not text or len(text) > limit:
        await say(c, c._("Please type it in one message of at most {n} characters.").format(n=limit))
        return await _ask_step(c, str(action))
    if action == "police":
        async with c.rt.db.transaction() as session:
            await drafts.update(session, c.person.id, FLOW, station=text)
        return await _ask_step(c, "receipt")
    if action == "receipt":
        async with c.rt.db.transaction() as session:
            await drafts.update(session, c.person.id, FLOW, receipt=text)
        return await _ask_step(c, "police_date")
    if action == "police_date":
        try:
            day = check.day(text, c.tr.today(c.rt.clock()))
        except Invalid:
            await say(c, c._("I could not read that date. Please type it like 2026-12-01."))
            return await _ask_step(c, "police_date")
        return await _save(c, concern_id, "police_date", day.isoformat(), draft)
    return await _save(c, concern_id, str(action), text, draft)


async def on_day(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str | int:
    """Today / Yesterday for the date of the police report."""
    c = await load(update, context)
    async with c.rt.db.transaction() as session:
        draft = await drafts.get(session, c.person.id, FLOW)
    concern_id = draft.get("concern_id")
    if draft.get("action") != "police_date" or not isinstance(concern_id, int):
        await expired(c)
        return END
    back = 1 if _id(c) == 1 else 0
    day = c.tr.today(c.rt.clock()) - timedelta(days=back)
    return await _save(c, concern_id, "police_date", day.isoformat(), draft)


async def _save(c: Ctx, concern_id: int, action: str, text: str, draft: dict[str, object]) -> int:
    ids: list[int] = []
    try:
        async with c.rt.db.transaction() as session:
            now = c.rt.clock()
            if action == "note":
                await concerns.add_note(session, user_id=c.person.id, concern_id=concern_id, text=text, now=now)
            elif action == "police_date":
                report = concerns.PoliceReport(
                    station=str(draft.get("station") or ""),
                    receipt=str(draft.get("receipt") or ""),
                    reported_on=date.fromisoformat(text),
                )
                await concerns.record_police_report(
                    session,
                    user_id=c.person.id,
                    concern_id=concern_id,
                    report=report,
                    today=c.tr.today(now),
                    now=now,
                )
            elif action == "nopolice":
                await concerns.record_police_report(
                    session,
                    user_id=c.person.id,
                    concern_id=concern_id,
                    not_needed_because=text,
                    today=c.tr.today(now),
                    now=now,
                )
            elif action == "welfare":
                await welfare.close(session, user_id=c.person.id, check_id=concern_id, note=text, now=now)
            elif action == "answer":
                ids = await questions.answer(session, user_id=c.person.id, question_id=concern_id, text=text, now=now)
            elif action == "msg":
                ids = await concerns.message_reporter(
                    session, user_id=c.person.id, concern_id=concern_id, text=text, now=now
                )
            else:
                ids = await concerns.resolve(session, user_id=c.person.id, concern_id=concern_id, outcome=text, now=now)
            await drafts.clear(session, c.person.id, FLOW)
    except NotAllowed:
        await _refused(c, concern_id, action=action)
        return END
    except Invalid as exc:
        if action in ("welfare", "answer"):
            async with c.rt.db.transaction() as session:
                await drafts.clear(session, c.person.id, FLOW)
            done = c._("This request is already closed.") if action == "welfare" else c._("Already answered.")
            await say(c, done)
            return END
        if exc.reason == "police_date":
            await say(c, c._("That date is in the future, or long before the concern. Please check it."))
            return await _ask_step(c, "police_date")
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
    if action == "welfare":
        await show_checks(c, new_message=True)
        return END
    if action == "answer":
        await say(c, c._("✅ Sent to the family."))
        await show_questions(c, new_message=True)
        return END
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
    concern_id = small_int(raw_id)
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
    concern_id = small_int(parts[2]) if len(parts) == 4 else None
    post_id = small_int(parts[3]) if len(parts) == 4 else None
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


ACTION_PATTERN = r"^(cs:(note|police|nopolice|resolve|msg)|wc:close|qa:ans):\d{1,9}$"


def handlers() -> list[BaseHandler[Update, ContextTypes.DEFAULT_TYPE, object]]:
    return [
        CallbackQueryHandler(on_refer_options, pattern=r"^cs:refer:\d{1,9}$"),
        CallbackQueryHandler(on_refer, pattern=r"^cs:rf:\d{1,9}:[a-z0-9-]{1,40}$"),
        CallbackQueryHandler(on_transfer_options, pattern=r"^cs:transfer:\d{1,9}$"),
        CallbackQueryHandler(on_transfer, pattern=r"^cs:tr:\d{1,9}:\d{1,9}$"),
        CallbackQueryHandler(on_acknowledge, pattern=rf"^{concerns.ACK}\d{{1,9}}$"),
        CommandHandler("cases", on_cases),
        CallbackQueryHandler(on_cases, pattern=r"^(menu:cases|cs:page:\d{1,4})$"),
        CallbackQueryHandler(on_open, pattern=r"^cs:open:\d{1,9}$"),
        CallbackQueryHandler(on_checks, pattern=r"^wc:list$"),
        CallbackQueryHandler(on_check, pattern=r"^wc:open:\d{1,9}$"),
        CallbackQueryHandler(on_questions, pattern=r"^qa:list$"),
        CallbackQueryHandler(on_question, pattern=r"^qa:open:\d{1,9}$"),
    ]


def build(
    leaving: list[BaseHandler[Update, ContextTypes.DEFAULT_TYPE, object]],
) -> ConversationHandler[ContextTypes.DEFAULT_TYPE]:
    return ConversationHandler(
        entry_points=[CallbackQueryHandler(on_action, pattern=ACTION_PATTERN)],
        states={
            TEXT: [
                MessageHandler(filters.TEXT & ~filters.COMMAND, on_text),
                CallbackQueryHandler(on_day, pattern=r"^cs:day:[01]$"),
                MessageHandler(~filters.COMMAND, on_wrong_kind),
            ]
        },
        fallbacks=leaving,
        name=FLOW,
        persistent=True,
        allow_reentry=True,
    )
