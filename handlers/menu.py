"""The menu, help, language, and the family page: the screens a person returns to between journeys."""

from __future__ import annotations

from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, ContextTypes, ConversationHandler

from bot import labels
from bot.services import caseworker, drafts, people
from bot.services import household as households
from bot.services.codes import pretty
from bot.services.errors import NotAllowed
from bot.services.household import IssuedCode
from handlers import ask, calls, cases, find_help, members, privacy, stats, tips
from handlers.common import MENU, Ctx, esc, expired, load, resume_row, say, show

END = ConversationHandler.END
FLOWS = ("family", "report", "case", "calls", "ask")


async def show_menu(c: Ctx, *, new_message: bool = False) -> None:
    _ = c._
    p = c.person
    rows: list[list[tuple[str, str]]] = []
    lines = [_("What would you like to do?")]
    if p.has_household:
        async with c.rt.db.transaction() as session:
            h = await households.view(session, user_id=p.id, household_id=p.household_ids[0])
        lines.insert(0, _("Family in {place}").format(place=esc(labels.village_line(c.tr, h))))
        if h.consent_pending:
            lines.insert(1, _("⏳ Parent's consent pending"))
        rows.append([(_("👨‍👩‍👧 My family"), "menu:family")])
        rows.append([(_("➕ Add a child"), "menu:add_child"), (_("🔗 Invite family"), "menu:invite")])
        rows.append([(_("📞 Video calls"), "menu:calls"), (_("🤝 Backup adult"), "menu:backup")])
        member = h.member(p.id)
        if h.consent_pending and member is not None and member.kind == "parent":
            rows.append([(_("✍️ Give my consent"), "menu:consent")])
    elif p.is_caseworker:
        rows.append([(_("📋 Open concerns"), "menu:cases")])
        rows.append([(_("🪪 My post"), "menu:post"), (_("📊 Figures"), "menu:stats")])
    elif p.notice_declined:
        rows.append([(_("📄 Read the rules again and set up"), "menu:setup")])
    elif p.notice_accepted:
        rows.append([(_("🏠 Set up our family"), "menu:setup")])
        rows.append([(_("🔑 I have a code"), "menu:code")])
    else:
        rows.append([(_("🏠 Start"), "menu:setup")])
        rows.append([(_("🔑 I have a code"), "menu:code")])
    # Everyone, in any role, can report a worry: first and alone on its row.
    rows = [[(_("🚨 Report a worry about a child"), "menu:report")], *await resume_row(c), *rows]
    rows.append([(_("💡 Tips"), "menu:tips"), (_("❓ Ask a question"), "menu:ask")])
    rows.append([(_("🔒 My information"), "menu:privacy"), (_("🌐 Language"), "menu:language")])
    rows.append([(_("🆘 Find help"), "menu:help")])
    await show(c, "\n".join(lines), rows, menu=False, new_message=new_message)


def link_code_text(c: Ctx, issued: IssuedCode) -> str:
    _ = c._
    link = f"https://t.me/{c.context.bot.username}?start={issued.code}"
    return "\n\n".join(
        [
            _("🔗 Your family code: <code>{code}</code>").format(code=pretty(issued.code)),
            _("Give it to the child's parent or another carer. They open this bot and type the code, or tap this link:")
            + f"\n{link}",
            _("It works once and expires on {date}.").format(date=c.tr.when(issued.expires_at)),
        ]
    )


async def end_flows(c: Ctx) -> None:
    async with c.rt.db.transaction() as session:
        for flow in FLOWS:
            await drafts.clear(session, c.person.id, flow)


async def on_menu(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    c = await load(update, context)
    await end_flows(c)
    await show_menu(c)
    return END


async def on_language(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Language buttons; inside a flow the step stays, and is shown again in the new language."""
    c = await load(update, context)
    await show(c, "请选择语言 · Please choose your language", [[("中文", "lang:zh_Hans"), ("English", "lang:en")]])


async def on_language_choice(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int | None:
    c = await load(update, context)
    assert c.query is not None and c.query.data is not None
    choice = c.query.data.split(":", 1)[1]
    if choice not in ("zh_Hans", "en"):
        await expired(c)
        return None
    async with c.rt.db.transaction() as session:
        await people.set_locale(session, c.person.id, choice)
        person = await people.find(session, c.person.telegram_id, c.rt.settings.admin_telegram_ids)
    assert person is not None
    await show_menu(c.with_person(person))
    return END


async def on_family(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int | None:
    c = await load(update, context)
    if not c.person.has_household:
        await expired(c)
        return None  # a refused button leaves any flow where it was
    await end_flows(c)
    async with c.rt.db.transaction() as session:
        h = await households.view(session, user_id=c.person.id, household_id=c.person.household_ids[0])
    await show(
        c,
        family_text(c, h),
        [
            [(c._("➕ Add a child"), "menu:add_child"), (c._("🔗 Invite family"), "menu:invite")],
            [(c._("🤝 Backup adult"), "menu:backup"), (c._("👥 Family members"), "menu:members")],
        ],
    )
    return END


def family_text(c: Ctx, h: households.HouseholdView) -> str:
    _ = c._
    lines = [_("<b>Our family</b> · {place}").format(place=esc(labels.village_line(c.tr, h))), ""]
    if not h.children:
        lines.append(_("No children added yet."))
    for child in h.children:
        line = _("👧 {name}, born {month}/{year} ({age} years)").format(
            name=esc(child.nickname), month=child.birth_month, year=child.birth_year, age=child.age
        )
        if child.school:
            line += " · " + esc(child.school)
        if child.needs_consent:
            line += "\n   " + _("⏳ Parent's consent pending")
        lines.append(line)
    lines.append("")
    members = [labels.relation(c.tr, m.relation) + (_(" (you)") if m.user_id == c.person.id else "") for m in h.members]
    lines.append(_("Family members here: {list}").format(list=labels.join(c.tr, members)))
    for b in h.backups:
        lines.append(
            _("Backup adult: {name} ({relation}), {phone}").format(
                name=esc(b.name), relation=labels.relation(c.tr, b.relation), phone=esc(b.phone)
            )
        )
    return "\n".join(lines)


async def on_invite(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int | None:
    c = await load(update, context)
    if not c.person.has_household:
        await expired(c)
        return None  # a refused button leaves any flow where it was
    await end_flows(c)
    try:
        async with c.rt.db.transaction() as session:
            issued = await households.issue_link_code(
                session, user_id=c.person.id, household_id=c.person.household_ids[0]
            )
    except NotAllowed:
        await expired(c)
        return None
    await show(c, link_code_text(c, issued))
    return END


async def on_post(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int | None:
    c = await load(update, context)
    async with c.rt.db.transaction() as session:
        posts = await caseworker.posts_of(session, c.person.id)
    if not posts:
        await expired(c)
        return None
    await end_flows(c)
    text = "\n".join(esc(labels.badge(c.tr, p)) for p in posts)
    await show(c, text)
    return END


def leaving_handlers() -> list[BaseHandler[Update, ContextTypes.DEFAULT_TYPE, object]]:
    """Commands and menu buttons that leave any flow; the same handlers serve outside a flow."""
    return [
        CommandHandler(["menu", "cancel"], on_menu),
        CommandHandler("language", on_language),
        CommandHandler("privacy", privacy.on_privacy),
        CommandHandler("deletemydata", privacy.on_delete),
        CallbackQueryHandler(on_menu, pattern=rf"^{MENU}$"),
        CallbackQueryHandler(on_language, pattern=r"^menu:language$"),
        CallbackQueryHandler(on_family, pattern=r"^menu:family$"),
        CallbackQueryHandler(on_invite, pattern=r"^menu:invite$"),
        CallbackQueryHandler(on_post, pattern=r"^menu:post$"),
        CallbackQueryHandler(privacy.on_privacy, pattern=r"^menu:privacy$"),
        CallbackQueryHandler(privacy.on_delete_answer, pattern=r"^del:"),
        *members.handlers(),
        *find_help.handlers(),
        *cases.handlers(),
        *calls.handlers(),
        *tips.handlers(),
        *ask.handlers(),
        *stats.handlers(),
    ]


def global_handlers() -> list[BaseHandler[Update, ContextTypes.DEFAULT_TYPE, object]]:
    return [*leaving_handlers(), CallbackQueryHandler(on_language_choice, pattern=r"^lang:")]


async def say_then_menu(c: Ctx, text: str) -> None:
    await say(c, text)
    await show_menu(c, new_message=True)
