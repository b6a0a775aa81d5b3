"""Report a worry about a child: which child → what is happening → danger now? → description → send.

The concern is saved before the reporter is told anything; then they get the reference, who will look
at it and by when. When the child may be in danger the emergency numbers come first, before any question.
"""

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
from bot.services import areas, concerns, drafts, triage
from bot.services import household as households
from bot.services.errors import NotAllowed
from handlers import cases, menu
from handlers.common import (
    BACK,
    Ctx,
    draft_of,
    end_flow,
    esc,
    expired,
    load,
    remember,
    say,
    show,
    small_int,
    stale_guard,
)

FLOW = "report"
END = ConversationHandler.END
CHILD = "report.child"
TOWNSHIP = "report.township"
VILLAGE = "report.village"
WHO = "report.who"
CATEGORY = "report.category"
DANGER = "report.danger"
DESCRIBE = "report.describe"
SHARE = "report.share"
CONFIRM = "report.confirm"
DESCRIPTION_MAX = 1000

NUMBER_LINES = {
    "110": N_("📞 110 police: someone is hurting the child, or the child is missing."),
    "120": N_("📞 120 ambulance: injury, poisoning, not breathing, cannot wake."),
    "119": N_("📞 119 fire and rescue: fire, flood, trapped, fallen into water."),
}


async def _remember(c: Ctx, state: str, **values: object) -> dict[str, object]:
    return await remember(c, FLOW, state, **values)


async def _draft(c: Ctx) -> dict[str, object]:
    return await draft_of(c, FLOW)


def _arg(c: Ctx) -> str:
    assert c.query is not None and c.query.data is not None
    return c.query.data.rsplit(":", 1)[-1]


# --- screens -------------------------------------------------------------------------------------------


async def ask_child(c: Ctx, **answers: object) -> str:
    await _remember(c, CHILD, **answers)
    async with c.rt.db.transaction() as session:
        h = await households.view(session, user_id=c.person.id, household_id=c.person.household_ids[0])
    rows = [[(f"👧 {child.nickname}", f"rc:{child.id}")] for child in h.children]
    rows.append([(c._("🧒 A child not in my family"), "rc:other")])
    await show(c, c._("Which child are you worried about?"), rows)
    return CHILD


async def ask_township(c: Ctx, **answers: object) -> str:
    await _remember(c, TOWNSHIP, **answers)
    async with c.rt.db.transaction() as session:
        towns = await areas.townships(session)
    buttons = [(t.name(c.tr.locale), f"rt:{t.id}") for t in towns]
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    await show(c, c._("Where is the child? Which town or township?"), rows, back=c.person.has_household)
    return TOWNSHIP


async def ask_village(c: Ctx, **answers: object) -> str:
    draft = await _remember(c, VILLAGE, **answers)
    async with c.rt.db.transaction() as session:
        villages = await areas.villages(session, int(str(draft["township_id"])))
    rows = [[(v.name(c.tr.locale), f"rv:{v.id}")] for v in villages]
    await show(c, c._("Which village?"), rows, back=True)
    return VILLAGE


async def ask_who(c: Ctx, **answers: object) -> str:
    await _remember(c, WHO, **answers)
    keys = list(labels.REPORTER_LABELS)
    buttons = [(c._(labels.REPORTER_LABELS[k]), f"rw:{k}") for k in keys]
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    await show(c, c._("How do you know the child?"), rows, back=True)
    return WHO


async def ask_category(c: Ctx, **answers: object) -> str:
    await _remember(c, CATEGORY, **answers)
    rows = [[(c._(concerns.CATEGORY_LABELS[k]), f"rk:{k}")] for k in triage.CATEGORIES]
    await show(c, c._("What is happening?"), rows, back=True)
    return CATEGORY


async def ask_danger(c: Ctx, **answers: object) -> str:
    await _remember(c, DANGER, **answers)
    _ = c._
    rows = [
        [(_("⚠️ Yes, in danger now"), "rd:yes")],
        [(_("No, not right now"), "rd:no")],
        [(_("Not sure"), "rd:unsure")],
    ]
    await show(c, _("Is the child in danger right now?"), rows, back=True)
    return DANGER


async def ask_describe(c: Ctx, **answers: object) -> str:
    await _remember(c, DESCRIBE, **answers)
    await show(
        c,
        c._(
            "Tell us what happened, in your own words: type it, send a voice note, or a photo. Or skip. "
            "Please do not put the child's full name or ID number."
        ),
        [[(c._("Skip"), "rs:skip")]],
        back=True,
    )
    return DESCRIBE


async def ask_share(c: Ctx, **answers: object) -> str:
    await _remember(c, SHARE, **answers)
    _ = c._
    rows = [[(_("Yes, they may contact me"), "rsh:yes")], [(_("No, keep me out of it"), "rsh:no")]]
    await show(c, _("May the caseworker contact you through this bot about it?"), rows, back=True)
    return SHARE


async def ask_confirm(c: Ctx, **answers: object) -> str:
    draft = await _remember(c, CONFIRM, **answers)
    _ = c._
    category = str(draft.get("category"))
    lines = [_("<b>Please check, then send:</b>")]
    lines.append(_("What: {category}").format(category=_(concerns.CATEGORY_LABELS[category])))
    answer = _("not sure") if draft.get("danger_unsure") else _("yes") if draft.get("in_danger") else _("no")
    lines.append(_("In danger now: {answer}").format(answer=answer))
    if draft.get("description"):
        lines.append(_("Description: {text}").format(text=esc(draft["description"])))
    attachments = draft.get("attachments") or []
    if isinstance(attachments, list) and attachments:
        lines.append(_("Attached: {n} voice note(s) or photo(s)").format(n=len(attachments)))
    rows = [[(_("📨 Send now"), "rf:send")], [(_("✖️ Do not send"), "rf:cancel")]]
    await show(c, "\n".join(lines), rows, back=True)
    return CONFIRM


SCREENS = {
    CHILD: ask_child,
    TOWNSHIP: ask_township,
    VILLAGE: ask_village,
    WHO: ask_who,
    CATEGORY: ask_category,
    DANGER: ask_danger,
    DESCRIBE: ask_describe,
    SHARE: ask_share,
    CONFIRM: ask_confirm,
}
BACK_TO = {
    TOWNSHIP: CHILD,
    VILLAGE: TOWNSHIP,
    WHO: VILLAGE,
    DANGER: CATEGORY,
    DESCRIBE: DANGER,
    SHARE: DESCRIBE,
    CONFIRM: SHARE,
}


# --- answers -------------------------------------------------------------------------------------------


async def on_report(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str:
    c = await load(update, context)
    async with c.rt.db.transaction(durable=False) as session:  # drafts only, like a step
        await drafts.recall(session, c.person.id, (FLOW, "case", "family"))  # one read for the three below
        await drafts.clear(session, c.person.id, FLOW)
        await drafts.clear(session, c.person.id, "case")  # a half-typed case note is not kept waiting
        await _suspend_family(session, c.person.id)
        if c.person.has_household:  # read now, for the next screen (kept in memory: no transaction of its own)
            await households.view(session, user_id=c.person.id, household_id=c.person.household_ids[0])
    preset = (
        c.query.data.rsplit(":", 1)[-1] if c.query and c.query.data and c.query.data.startswith("report:") else None
    )
    answers = {"category": preset} if preset in triage.CATEGORIES else {}
    if c.person.has_household:
        return await ask_child(c, **answers)
    return await ask_township(c, **answers)


async def on_resume(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str | None:
    """Back into a report that was started and not sent (from the one reminder)."""
    c = await load(update, context)
    async with c.rt.db.transaction() as session:
        age = await drafts.age(session, c.person.id, FLOW)
        state = (await drafts.get(session, c.person.id, FLOW)).get("state")
    if age is None or age > drafts.TTL or state not in SCREENS:
        await expired(c)
        return None
    return await SCREENS[str(state)](c)


async def _suspend_family(session, user_id: int) -> None:  # type: ignore[no-untyped-def]
    # A report started in the middle of setting up the family: that flow waits, and offers to resume.
    if (await drafts.get(session, user_id, "family")).get("state"):
        await drafts.update(session, user_id, "family", suspended=True)


async def on_child(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str | None:
    c = await load(update, context)
    arg = _arg(c)
    if arg == "other":
        return await ask_township(c, child_id=None)
    if not arg.isdigit() or not c.person.has_household:
        await expired(c)
        return None
    async with c.rt.db.transaction() as session:
        h = await households.view(session, user_id=c.person.id, household_id=c.person.household_ids[0])
    if int(arg) not in {child.id for child in h.children}:
        await expired(c)
        return None
    return await _after_place(c, child_id=int(arg), village_id=h.village_id)


async def on_township(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str | None:
    c = await load(update, context)
    arg = _arg(c)
    async with c.rt.db.transaction() as session:
        area = await areas.get_area(session, small_int(arg) or 0)
    if area is None or area.level != "township":
        await expired(c)
        return None
    return await ask_village(c, township_id=area.id)


async def on_village(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str | None:
    c = await load(update, context)
    arg = _arg(c)
    draft = await _draft(c)
    async with c.rt.db.transaction() as session:
        area = await areas.get_area(session, small_int(arg) or 0)
    if area is None or area.level != "village" or area.parent_id != draft.get("township_id"):
        await expired(c)
        return None
    return await ask_who(c, village_id=area.id, child_id=None)


async def on_who(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str | None:
    c = await load(update, context)
    who = _arg(c)
    if who not in labels.REPORTER_LABELS:
        await expired(c)
        return None
    return await _after_place(c, relation=who)


async def _after_place(c: Ctx, **answers: object) -> str:
    draft = await _draft(c)
    if draft.get("category") in triage.CATEGORIES:
        return await ask_danger(c, **answers)  # the danger-phrase screen already said what is happening
    return await ask_category(c, **answers)


async def on_category(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str | None:
    c = await load(update, context)
    category = _arg(c)
    if category not in triage.CATEGORIES:
        await expired(c)
        return None
    return await ask_danger(c, category=category)


async def on_danger(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str | None:
    c = await load(update, context)
    answer = _arg(c)
    if answer not in ("yes", "no", "unsure"):
        await expired(c)
        return None
    in_danger = answer != "no"  # not sure counts as danger: better a call too many
    answers = {"in_danger": in_danger, "danger_unsure": answer == "unsure"}
    guidance = triage.guidance(triage.policy(), str((await _draft(c)).get("category")), in_danger)
    if guidance.numbers or guidance.keep_evidence:
        await _remember(c, DANGER, **answers)  # saved before anything is said
        await say(c, danger_first(c, guidance))
        return await ask_describe(c)
    return await ask_describe(c, **answers)


def danger_first(c: Ctx, guidance: triage.Guidance) -> str:
    """What to do now, before anything else."""
    _ = c._
    lines = [_("🚨 <b>First, keep the child safe. Call now:</b>")]
    lines += [_(NUMBER_LINES[n]) for n in guidance.numbers]
    if guidance.keep_evidence:
        lines.append(_("Do not wash the child or their clothes, and keep what they wore: it helps the police."))
    lines.append(_("Then finish this report, so the child director can help too."))
    return "\n".join(lines)


async def on_description_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str:
    c = await load(update, context)
    text = " ".join((c.message.text or "").split()) if c.message else ""
    if not text:
        await say(c, c._("That was empty. Please type it again."))
        return await ask_describe(c)
    if len(text) > DESCRIPTION_MAX:
        await say(c, c._("That is too long. Please use at most {n} characters.").format(n=DESCRIPTION_MAX))
        return await ask_describe(c)
    return await ask_share(c, description=text)


async def on_description_media(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str:
    c = await load(update, context)
    message = c.message
    assert message is not None
    if message.voice is not None:
        item = ["voice", message.voice.file_id]
    elif message.photo:
        item = ["photo", message.photo[-1].file_id]  # the largest size
    else:
        await say(c, c._("Please type it, or send a voice note or a photo."))
        return await ask_describe(c)
    draft = await _draft(c)
    attachments = list(draft.get("attachments") or [])  # type: ignore[call-overload]
    attachments.append(item)
    caption = " ".join((message.caption or "").split())[:DESCRIPTION_MAX]
    return await ask_share(c, attachments=attachments, description=draft.get("description") or caption or None)


async def on_skip(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str:
    return await ask_share(await load(update, context))


async def on_share(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str | None:
    c = await load(update, context)
    answer = _arg(c)
    if answer not in ("yes", "no"):
        await expired(c)
        return None
    return await ask_confirm(c, share=answer == "yes")


async def on_confirm(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int | str | None:
    c = await load(update, context)
    answer = _arg(c)
    if answer == "cancel":
        async with c.rt.db.transaction() as session:
            await drafts.clear(session, c.person.id, FLOW)
        await show(c, c._("Nothing was sent. If you are worried again, tap /report."), menu=True)
        return END
    if answer not in ("send", "new", "add"):
        await expired(c)
        return None
    draft = await _draft(c)
    village_id, category = draft.get("village_id"), draft.get("category")
    if not isinstance(village_id, int) or category not in triage.CATEGORIES:
        await expired(c)
        return END
    relation = draft.get("relation") if draft.get("child_id") is None else None
    if isinstance(draft.get("child_id"), int) and c.person.has_household:
        async with c.rt.db.transaction() as session:
            member = (
                await households.view(session, user_id=c.person.id, household_id=c.person.household_ids[0])
            ).member(c.person.id)
            relation = member.relation if member else None
    child_id = draft.get("child_id")
    attachments = tuple(tuple(a) for a in (draft.get("attachments") or []))  # type: ignore[union-attr]
    new = concerns.NewConcern(
        village_id=village_id,
        category=str(category),
        in_danger=bool(draft.get("in_danger")),
        reporter_user_id=c.person.id,
        child_id=child_id if isinstance(child_id, int) else None,
        description=str(draft["description"]) if draft.get("description") else None,
        attachments=attachments,  # type: ignore[arg-type]
        reporter_relation=str(relation) if relation else None,
        shares_contact=bool(draft.get("share")),
        danger_unsure=bool(draft.get("danger_unsure")),
    )
    filed: concerns.Filed | None = None
    added: list[int] | None = None
    try:
        # Saved first: the reporter is told nothing until the concern is in the database. The look for the
        # same worry a few minutes ago is in the same transaction.
        async with c.rt.db.transaction() as session:
            duplicate = await concerns.recent_duplicate(session, new=new, now=c.rt.clock())
            if duplicate is None or answer == "new":
                filed = await concerns.file_concern(
                    session, new, admin_ids=c.rt.settings.admin_telegram_ids, now=c.rt.clock()
                )
                await end_flow(c, session, FLOW)
            elif answer == "add":
                added = await concerns.add_to(session, concern_id=duplicate.id, new=new, now=c.rt.clock())
                await end_flow(c, session, FLOW)
    except NotAllowed:
        await expired(c)
        return END
    if added is not None and duplicate is not None:
        await c.rt.dispatcher.deliver(added)
        await show(
            c,
            c._("✅ Added to your report {ref}. The people looking at it have been told.").format(ref=duplicate.ref),
            menu=True,
        )
        return END
    if filed is None:
        # The same worry a few minutes ago: offer to add to it, so caseworkers see one concern, not two.
        assert duplicate is not None
        _ = c._
        await show(
            c,
            _("You reported this {n} minutes ago ({ref}). Add this to that report?").format(
                n=max(1, int((c.rt.clock() - duplicate.created_at).total_seconds() // 60)), ref=duplicate.ref
            ),
            [[(_("➕ Add to that report"), "rf:add")], [(_("📨 Send as a new report"), "rf:new")]],
        )
        return CONFIRM
    await c.rt.dispatcher.deliver(list(filed.outbox_ids))
    await show(c, filed_text(c, filed), menu=True)
    return END


def filed_text(c: Ctx, filed: concerns.Filed) -> str:
    _ = c._
    lines = [_("✅ <b>Your report is saved.</b> Reference: <code>{ref}</code>").format(ref=filed.ref)]
    if filed.nobody:
        hotline = triage.policy().hotline
        call = (
            _("call {number} and press {press}").format(number=hotline.number, press=hotline.press)
            if hotline.press
            else _("call {number}").format(number=hotline.number)
        )
        lines.append(
            _(
                "No caseworker can be reached through this bot right now. Please {call} (minors' protection, day "
                "and night). The administrators have been told."
            ).format(call=call)
        )
    else:
        who = labels.join(c.tr, [labels.post_title(c.tr, p) for p in filed.first_posts])
        lines.append(_("It has gone to: {who}").format(who=esc(who)))
        if filed.ack_due_at is not None:
            lines.append(
                _("They are asked to take it up by {time}. If nobody does, it goes up to the next level.").format(
                    time=c.tr.when(filed.ack_due_at)
                )
            )
    lines.append(_("If things get worse, call 110 (police) or 120 (ambulance) straight away."))
    return "\n\n".join(lines)


# --- going back, bad input -----------------------------------------------------------------------------


async def on_back(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str | int:
    c = await load(update, context)
    draft = await _draft(c)
    state = draft.get("state")
    target = BACK_TO.get(state) if isinstance(state, str) else None
    if state == CATEGORY:
        target = WHO if draft.get("child_id") is None and draft.get("village_id") else CHILD
    if target == CHILD and not c.person.has_household:
        target = None
    if target is None:
        return await ask_child(c) if c.person.has_household else await ask_township(c)
    return await SCREENS[target](c)


async def on_wrong_kind(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str | int:
    c = await load(update, context)
    await say(c, c._("Please tap one of the buttons below."))
    state = (await _draft(c)).get("state")
    if isinstance(state, str) and state in SCREENS:
        return await SCREENS[state](c)
    return END


async def _stale(c: Ctx) -> None:
    await menu.say_then_menu(
        c, c._("That report was started a while ago and was not sent. If you are still worried, start again.")
    )


fresh = stale_guard(FLOW, _stale)


async def on_case_action(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A caseworker taps "Add a note" on a concern while their own report is half done: one thing at a time.

    Both flows read typed text; the report keeps its step, so nothing typed next is filed in the wrong place.
    """
    c = await load(update, context)
    _ = c._
    await show(
        c,
        _("You have a report that is not sent yet. Send it or stop it first, then come back to this concern."),
        [[(_("↩️ Continue the report"), "report:resume")], [(_("✖️ Stop the report"), "report:drop")]],
        menu=False,
        new_message=True,
    )


async def on_drop(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    c = await load(update, context)
    async with c.rt.db.transaction() as session:
        await drafts.clear(session, c.person.id, FLOW)
    await menu.say_then_menu(c, c._("Nothing was sent. If you are worried again, tap /report."))
    return END


def build(
    leaving: list[BaseHandler[Update, ContextTypes.DEFAULT_TYPE, object]],
) -> ConversationHandler[ContextTypes.DEFAULT_TYPE]:
    def buttons(pattern: str, callback: object) -> list[BaseHandler[Update, ContextTypes.DEFAULT_TYPE, object]]:
        return [
            CallbackQueryHandler(fresh(callback), pattern=pattern),  # type: ignore[arg-type]
            MessageHandler(~filters.COMMAND, fresh(on_wrong_kind)),
        ]

    return ConversationHandler(
        entry_points=[
            CommandHandler("report", on_report),
            CallbackQueryHandler(on_resume, pattern=r"^report:resume$"),
            CallbackQueryHandler(on_report, pattern=r"^(menu:report|report:\w+)$"),
        ],
        states={
            CHILD: buttons(r"^rc:", on_child),
            TOWNSHIP: buttons(r"^rt:", on_township),
            VILLAGE: buttons(r"^rv:", on_village),
            WHO: buttons(r"^rw:", on_who),
            CATEGORY: buttons(r"^rk:", on_category),
            DANGER: buttons(r"^rd:", on_danger),
            DESCRIBE: [
                MessageHandler(filters.TEXT & ~filters.COMMAND, fresh(on_description_text)),
                MessageHandler(filters.VOICE | filters.PHOTO, fresh(on_description_media)),
                CallbackQueryHandler(fresh(on_skip), pattern=r"^rs:skip$"),
                MessageHandler(~filters.COMMAND, fresh(on_wrong_kind)),
            ],
            SHARE: buttons(r"^rsh:", on_share),
            CONFIRM: buttons(r"^rf:", on_confirm),
        },
        fallbacks=[
            CallbackQueryHandler(fresh(on_back), pattern=rf"^{BACK}$"),
            CallbackQueryHandler(on_drop, pattern=r"^report:drop$"),
            CallbackQueryHandler(on_case_action, pattern=cases.ACTION_PATTERN),
            *leaving,
        ],
        name=FLOW,
        persistent=True,
        allow_reentry=True,
    )
