"""The family journey: language, role, notice and consent, household, children, backup adult, codes.

One ConversationHandler ("family") with one callback per state, string state names (they are persisted),
and the answers given so far kept in the `draft` table so that a restart resumes where the person was.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

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
from bot.services import areas, caseworker, drafts, invites, notify, people
from bot.services import household as households
from bot.services import validate as check
from bot.services.errors import Invalid, NotAllowed
from db.types import utcnow
from handlers import menu
from handlers.common import (
    BACK,
    RESUME,
    RESUME_LABEL,
    Ctx,
    draft_of,
    esc,
    expired,
    load,
    remember,
    say,
    show,
    small_int,
)

FLOW = "family"
END = ConversationHandler.END

LANG = "family.lang"
ROLE = "family.role"
NOTICE = "family.notice"
START = "family.start"
TOWNSHIP = "family.township"
VILLAGE = "family.village"
RELATION = "family.relation"
CHILD_NAME = "family.child_name"
CHILD_YEAR = "family.child_year"
CHILD_MONTH = "family.child_month"
CHILD_SCHOOL = "family.child_school"
MORE = "family.more_children"
BACKUP_ASK = "family.backup_ask"
BACKUP_NAME = "family.backup_name"
BACKUP_RELATION = "family.backup_relation"
BACKUP_PHONE = "family.backup_phone"
CODE = "family.code"
JOIN_RELATION = "family.join_relation"
CONSENT = "family.consent"

# Where "Back" leads from each screen; screens not listed offer only the menu.
BACK_TO = {
    ROLE: LANG,
    NOTICE: ROLE,
    START: ROLE,
    TOWNSHIP: START,
    VILLAGE: TOWNSHIP,
    RELATION: VILLAGE,
    CHILD_YEAR: CHILD_NAME,
    CHILD_MONTH: CHILD_YEAR,
    CHILD_SCHOOL: CHILD_MONTH,
    BACKUP_NAME: BACKUP_ASK,
    BACKUP_RELATION: BACKUP_NAME,
    BACKUP_PHONE: BACKUP_RELATION,
    CODE: START,
    JOIN_RELATION: CODE,
}
TEXT_STATES = {CHILD_NAME, CHILD_SCHOOL, BACKUP_NAME, BACKUP_PHONE, CODE}

INVALID_TEXT = {
    "empty": N_("That was empty. Please type it again."),
    "not_text": N_("Please type it as text."),
    "no_letters": N_("Please use letters or characters, not only symbols or emoji."),
    "bad_phone": N_("That does not look like a phone number. Please type digits only, for example 13800138000."),
}


# --- screens --------------------------------------------------------------------------------------


async def _remember(c: Ctx, state: str, **values: object) -> dict[str, object]:
    return await remember(c, FLOW, state, **values)


async def _draft(c: Ctx) -> dict[str, object]:
    return await draft_of(c, FLOW)


async def ask_lang(c: Ctx) -> str:
    await _remember(c, LANG)
    await show(
        c,
        "请选择语言 · Please choose your language",
        [[("中文", "lang:zh_Hans"), ("English", "lang:en")]],
    )
    return LANG


async def ask_role(c: Ctx) -> str:
    await _remember(c, ROLE)
    _ = c._
    await show(
        c,
        _("Who are you?"),
        [
            [(_("👵 I look after a child (grandparent or relative)"), "role:guardian")],
            [(_("👷 I am a parent working away"), "role:parent")],
            [(_("🔑 I have an invitation code"), "role:code")],
        ],
        back=True,
    )
    return ROLE


def notice_text(c: Ctx) -> str:
    _ = c._
    return "\n\n".join(
        [
            _("<b>How we look after your information</b>"),
            _(
                "<b>What we keep:</b> your Telegram account number, language and role; your village; each child's "
                "nickname, birth year and month, and school if you give it; who else is in the family; and "
                "a backup adult if you add one. We never keep ID numbers, photos of children or addresses."
            ),
            _(
                "<b>Why:</b> to send advice that fits each child's age, to remind you of calls with the "
                "parents, and to bring help quickly when a child may be at risk."
            ),
            _(
                "<b>Who sees it:</b> the people in your family who joined with your code, and the verified "
                "child director of your village and the supervisors above them, only when help is needed."
            ),
            _(
                "<b>Where and how long:</b> on the project's server in China, for as long as you use the bot. "
                "Children under 14 need a parent's agreement; until then we show \"parent's consent pending\"."
            ),
            _("<b>Your rights:</b> /privacy shows everything we keep. /deletemydata deletes it."),
            _("Do you agree?"),
        ]
    )


async def ask_notice(c: Ctx) -> str:
    await _remember(c, NOTICE)
    _ = c._
    await show(
        c,
        notice_text(c),
        [[(_("✅ I agree"), "notice:yes")], [(_("❌ I do not agree"), "notice:no")]],
        back=True,
    )
    return NOTICE


async def ask_start(c: Ctx) -> str:
    await _remember(c, START)
    _ = c._
    await show(
        c,
        _("Has someone in your family already set up the child's page in this bot?"),
        [
            [(_("🏠 No, I will set it up now"), "start:new")],
            [(_("🔑 Yes, they gave me a code"), "start:code")],
        ],
        back=True,
    )
    return START


async def ask_township(c: Ctx) -> str:
    await _remember(c, TOWNSHIP)
    async with c.rt.db.transaction() as session:
        towns = await areas.townships(session)
    rows = [[(t.name(c.tr.locale), f"tw:{t.id}") for t in towns[i : i + 2]] for i in range(0, len(towns), 2)]
    await show(c, c._("Which town or township does the child live in?"), rows, back=True)
    return TOWNSHIP


async def ask_village(c: Ctx) -> str:
    draft = await _remember(c, VILLAGE)
    async with c.rt.db.transaction() as session:
        villages = await areas.villages(session, int(str(draft["township_id"])))
    rows = [[(v.name(c.tr.locale), f"vil:{v.id}")] for v in villages]
    await show(c, c._("Which village?"), rows, back=True)
    return VILLAGE


def _relation_rows(c: Ctx, keys: tuple[str, ...]) -> list[list[tuple[str, str]]]:
    buttons = [(labels.relation(c.tr, k), f"rel:{k}") for k in keys]
    return [buttons[i : i + 2] for i in range(0, len(buttons), 2)]


def _setup_relations(role: str | None) -> tuple[str, ...]:
    if role == "parent":
        return households.PARENT_RELATIONS
    if role == "guardian":
        return households.GUARDIAN_RELATIONS
    return tuple(households.RELATIONS)  # came by "I have a code" and then set up instead


async def ask_relation(c: Ctx) -> str:
    await _remember(c, RELATION)
    await show(c, c._("Who are you to the child?"), _relation_rows(c, _setup_relations(c.person.role)), back=True)
    return RELATION


async def ask_child_name(c: Ctx) -> str:
    await _remember(c, CHILD_NAME)
    await show(
        c,
        c._("What do you call the child? Type a nickname (not the full name), for example 小明."),
    )
    return CHILD_NAME


async def ask_child_year(c: Ctx) -> str:
    draft = await _remember(c, CHILD_YEAR)
    years = households.birth_years(utcnow())
    buttons = [(str(y), f"yr:{y}") for y in years]
    rows = [buttons[i : i + 6] for i in range(0, len(buttons), 6)]
    text = c._("In which year was {name} born?").format(name=esc(draft.get("child_name", "")))
    await show(c, text, rows, back=True)
    return CHILD_YEAR


async def ask_child_month(c: Ctx) -> str:
    draft = await _remember(c, CHILD_MONTH)
    names = c.tr.month_names()
    buttons = [(names[m], f"mo:{m}") for m in range(1, 13)]
    rows = [buttons[i : i + 4] for i in range(0, 12, 4)]
    text = c._("In which month of {year}?").format(year=draft.get("child_year"))
    await show(c, text, rows, back=True)
    return CHILD_MONTH


async def ask_child_school(c: Ctx) -> str:
    await _remember(c, CHILD_SCHOOL)
    await show(
        c,
        c._("Which school or kindergarten does the child go to? Type its name, or skip."),
        [[(c._("Skip"), "skip")]],
        back=True,
    )
    return CHILD_SCHOOL


async def ask_more(c: Ctx) -> str:
    await _remember(c, MORE)
    _ = c._
    await show(
        c,
        _("Saved. Is there another child in the family?"),
        [[(_("➕ Add another child"), "more:yes")], [(_("✅ That is all"), "more:no")]],
    )
    return MORE


async def ask_backup(c: Ctx) -> str:
    await _remember(c, BACKUP_ASK)
    _ = c._
    await show(
        c,
        _(
            "If you fall ill one day, who could look after the child? A neighbour or relative you trust. "
            "You can add this later too."
        ),
        [[(_("Add a backup adult"), "backup:yes")], [(_("Not now"), "backup:no")]],
    )
    return BACKUP_ASK


async def ask_backup_name(c: Ctx) -> str:
    await _remember(c, BACKUP_NAME)
    await show(c, c._("What is their name? (How you call them is enough.)"), back=True)
    return BACKUP_NAME


async def ask_backup_relation(c: Ctx) -> str:
    await _remember(c, BACKUP_RELATION)
    await show(c, c._("Who are they to the child?"), _relation_rows(c, households.BACKUP_RELATIONS), back=True)
    return BACKUP_RELATION


async def ask_backup_phone(c: Ctx) -> str:
    await _remember(c, BACKUP_PHONE)
    await show(c, c._("What is their phone number?"), back=True)
    return BACKUP_PHONE


async def ask_code(c: Ctx) -> str:
    await _remember(c, CODE)
    await show(c, c._("Please type the code you were given, for example ABCDE-FGHJK."), back=True)
    return CODE


async def ask_join_relation(c: Ctx) -> str:
    await _remember(c, JOIN_RELATION)
    await show(c, c._("Who are you to the child?"), _relation_rows(c, tuple(households.RELATIONS)), back=True)
    return JOIN_RELATION


async def ask_consent(c: Ctx) -> str:
    await _remember(c, CONSENT)
    _ = c._
    household_id = c.person.household_ids[0]
    async with c.rt.db.transaction() as session:
        h = await households.view(session, user_id=c.person.id, household_id=household_id)
    names = "、".join(esc(ch.nickname) for ch in h.children if ch.needs_consent)
    text = "\n\n".join(
        [
            _("You are the parent, so the law asks you to agree before we keep information about children under 14."),
            _("Children: {names}").format(names=names),
            _("We keep only the nickname, birth year and month, village and school. Do you agree?"),
        ]
    )
    await show(c, text, [[(_("✅ I agree, as the parent"), "consent:yes")], [(_("Not now"), "consent:no")]])
    return CONSENT


SCREENS: dict[str, Callable[[Ctx], Awaitable[str]]] = {
    LANG: ask_lang,
    ROLE: ask_role,
    NOTICE: ask_notice,
    START: ask_start,
    TOWNSHIP: ask_township,
    VILLAGE: ask_village,
    RELATION: ask_relation,
    CHILD_NAME: ask_child_name,
    CHILD_YEAR: ask_child_year,
    CHILD_MONTH: ask_child_month,
    CHILD_SCHOOL: ask_child_school,
    MORE: ask_more,
    BACKUP_ASK: ask_backup,
    BACKUP_NAME: ask_backup_name,
    BACKUP_RELATION: ask_backup_relation,
    BACKUP_PHONE: ask_backup_phone,
    CODE: ask_code,
    JOIN_RELATION: ask_join_relation,
    CONSENT: ask_consent,
}


async def current(c: Ctx) -> str | int:
    """Show the screen the person is on again (after a bad answer, a language change or a restart)."""
    state = (await _draft(c)).get("state")
    if isinstance(state, str) and state in SCREENS:
        return await SCREENS[state](c)
    return await finish(c)


async def finish(c: Ctx, note: str | None = None) -> int:
    async with c.rt.db.transaction() as session:
        await drafts.clear(session, c.person.id, FLOW)
    c = await _reload(c)
    if note:
        await say(c, note)
    await menu.show_menu(c, new_message=note is not None)
    return END


async def _reload(c: Ctx) -> Ctx:
    async with c.rt.db.transaction() as session:
        person = await people.find(session, c.person.telegram_id, c.rt.settings.admin_telegram_ids)
    assert person is not None
    return c.with_person(person)


# --- entry points ---------------------------------------------------------------------------------


async def on_start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str | int:
    c = await load(update, context)
    # "/start ABCDE FGHJK" typed from a code read out over the phone is one code.
    payload = "".join(context.args) if context.args else None
    if payload:
        return await _deep_link(c, payload)
    if c.person.has_household or c.person.is_caseworker or c.person.notice_declined:
        return await finish(c)
    async with c.rt.db.transaction() as session:
        await drafts.clear(session, c.person.id, FLOW)
    if c.person.role is None:
        return await ask_lang(c)
    if not c.person.notice_accepted:
        return await ask_notice(c)
    return await ask_start(c)


async def _deep_link(c: Ctx, payload: str) -> str | int:
    """`/start CODE` from a link: check the code first, then the notice if needed, then use it."""
    async with c.rt.db.transaction() as session:
        result = await invites.check(session, telegram_id=c.person.telegram_id, typed=payload)
        await drafts.clear(session, c.person.id, FLOW)
    if result.status != "ok":
        await say(c, _code_problem(c, result))
        if c.person.has_household or c.person.is_caseworker:
            return await finish(c)
        return await (
            ask_lang(c) if c.person.role is None else ask_start(c) if c.person.notice_accepted else ask_notice(c)
        )
    await _remember(c, NOTICE, invite_id=result.invite_id, invite_kind=result.kind)
    if not c.person.notice_accepted:
        if c.person.role is None:
            async with c.rt.db.transaction() as session:
                await people.set_role(session, c.person.id, "guardian" if result.kind == "household" else "caseworker")
        return await ask_notice(c)
    return await _use_invite(c)


async def on_menu_setup(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str | int | None:
    c = await load(update, context)
    if c.person.has_household:
        return await refuse(c)
    async with c.rt.db.transaction() as session:
        await drafts.clear(session, c.person.id, FLOW)
    if not c.person.notice_accepted:
        return await ask_notice(c)
    return await ask_township(c)


async def on_menu_code(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str | int:
    c = await load(update, context)
    async with c.rt.db.transaction() as session:
        await drafts.clear(session, c.person.id, FLOW)
    if not c.person.notice_accepted:
        await _remember(c, NOTICE, then="code")
        return await ask_notice(c)
    return await ask_code(c)


async def on_menu_add_child(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str | int | None:
    c = await load(update, context)
    if not c.person.has_household:
        return await refuse(c)
    async with c.rt.db.transaction() as session:
        await drafts.clear(session, c.person.id, FLOW)
    await _remember(c, CHILD_NAME, from_menu_child=True)
    return await ask_child_name(c)


async def on_menu_backup(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str | int | None:
    c = await load(update, context)
    if not c.person.has_household:
        return await refuse(c)
    async with c.rt.db.transaction() as session:
        await drafts.clear(session, c.person.id, FLOW)
    await _remember(c, BACKUP_ASK, from_menu=True)
    return await ask_backup_name(c)


async def on_menu_consent(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str | int | None:
    c = await load(update, context)
    if not c.person.has_household:
        return await refuse(c)
    async with c.rt.db.transaction() as session:
        h = await households.view(session, user_id=c.person.id, household_id=c.person.household_ids[0])
    member = h.member(c.person.id)
    if member is None or member.kind != "parent" or not h.consent_pending:
        return await refuse(c)
    return await ask_consent(c)


async def on_resume(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str | int | None:
    """Back into an unfinished setup after looking something up (help, the family page)."""
    c = await load(update, context)
    async with c.rt.db.transaction() as session:
        age = await drafts.age(session, c.person.id, FLOW)
        state = (await drafts.get(session, c.person.id, FLOW)).get("state")
    if age is None or age > drafts.TTL or state not in SCREENS:
        return await refuse(c)
    async with c.rt.db.transaction() as session:
        await drafts.update(session, c.person.id, FLOW, suspended=None)
    return await current(c)


async def expired_here(c: Ctx) -> int:
    await expired(c)
    return END


async def refuse(c: Ctx) -> None:
    """A menu button that is not for this person: say so, and leave any flow exactly where it was."""
    await expired(c)


# --- answers --------------------------------------------------------------------------------------


def _arg(c: Ctx) -> str:
    assert c.query is not None and c.query.data is not None
    return c.query.data.split(":", 1)[1] if ":" in c.query.data else ""


async def on_lang(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str:
    c = await load(update, context)
    choice = _arg(c)
    if choice not in ("zh_Hans", "en"):
        await expired(c)
        return LANG
    async with c.rt.db.transaction() as session:
        await people.set_locale(session, c.person.id, choice)
    c = await _reload(c)
    return await ask_role(c)


async def on_role(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str:
    c = await load(update, context)
    choice = _arg(c)
    if choice not in ("guardian", "parent", "code"):
        await expired(c)
        return ROLE
    if choice == "code":
        await _remember(c, ROLE, then="code")
    else:
        async with c.rt.db.transaction() as session:
            await people.set_role(session, c.person.id, choice)
        await _remember(c, ROLE, then=None)
    return await ask_notice(await _reload(c))


async def on_notice(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str | int:
    c = await load(update, context)
    choice = _arg(c)
    if choice not in ("yes", "no"):
        await expired(c)
        return NOTICE
    draft = await _draft(c)
    if choice == "no":
        async with c.rt.db.transaction() as session:
            await people.decline_notice(session, c.person.id)
        return await finish(
            c,
            c._(
                "That is fine. We keep nothing about children for you. You can still read advice and find "
                "help. If you change your mind, tap /start."
            ),
        )
    async with c.rt.db.transaction() as session:
        await people.accept_notice(session, c.person.id)
    c = await _reload(c)
    if draft.get("invite_id"):
        return await _use_invite(c)
    if draft.get("then") == "code":
        return await ask_code(c)
    return await ask_start(c)


async def on_start_choice(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str | int:
    c = await load(update, context)
    choice = _arg(c)
    if choice == "new":
        if c.person.has_household:
            return await expired_here(c)
        return await ask_township(c)
    if choice == "code":
        return await ask_code(c)
    await expired(c)
    return START


async def on_township(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str:
    c = await load(update, context)
    arg = _arg(c)
    async with c.rt.db.transaction() as session:
        area = await areas.get_area(session, small_int(arg) or 0)
    if area is None or area.level != "township":
        await expired(c)
        return TOWNSHIP
    await _remember(c, TOWNSHIP, township_id=area.id)
    return await ask_village(c)


async def on_village(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str:
    c = await load(update, context)
    arg = _arg(c)
    draft = await _draft(c)
    async with c.rt.db.transaction() as session:
        area = await areas.get_area(session, small_int(arg) or 0)
    # The village must belong to the township chosen on the previous screen.
    if area is None or area.level != "village" or area.parent_id != draft.get("township_id"):
        await expired(c)
        return VILLAGE
    await _remember(c, VILLAGE, village_id=area.id)
    return await ask_relation(c)


async def on_relation(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str | int:
    c = await load(update, context)
    relation = _arg(c)
    draft = await _draft(c)
    if relation not in _setup_relations(c.person.role) or not draft.get("village_id"):
        await expired(c)
        return RELATION
    try:
        async with c.rt.db.transaction() as session:
            await households.create_household(
                session, user_id=c.person.id, village_id=int(str(draft["village_id"])), relation=relation
            )
            await people.set_role(session, c.person.id, households.RELATIONS[relation])
    except (Invalid, NotAllowed):
        return await expired_here(c)
    c = await _reload(c)
    await say(c, c._("Your family's page is ready. Now let us add the children."))
    return await ask_child_name(c)


async def on_child_name(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str:
    c = await load(update, context)
    try:
        name = check.short_name(c.message.text if c.message else None, max_len=households.NICKNAME_MAX)
    except Invalid as exc:
        await _bad_text(c, exc)
        return await ask_child_name(c)
    await _remember(c, CHILD_NAME, child_name=name)
    return await ask_child_year(c)


async def on_child_year(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str:
    c = await load(update, context)
    arg = _arg(c)
    if not arg.isdigit() or int(arg) not in households.birth_years(utcnow()):
        await expired(c)
        return CHILD_YEAR
    await _remember(c, CHILD_YEAR, child_year=int(arg))
    return await ask_child_month(c)


async def on_child_month(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str:
    c = await load(update, context)
    arg = _arg(c)
    draft = await _draft(c)
    year = draft.get("child_year")
    if not arg.isdigit() or not isinstance(year, int):
        await expired(c)
        return CHILD_MONTH
    try:
        households.check_birth(year, int(arg), utcnow())
    except Invalid:
        await say(c, c._("That month has not come yet. Please choose again."))
        return await ask_child_month(c)
    await _remember(c, CHILD_MONTH, child_month=int(arg))
    return await ask_child_school(c)


async def on_child_school_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str:
    c = await load(update, context)
    try:
        school = check.short_name(c.message.text if c.message else None, max_len=households.SCHOOL_MAX)
    except Invalid as exc:
        await _bad_text(c, exc)
        return await ask_child_school(c)
    return await _save_child(c, school)


async def on_child_school_skip(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str:
    return await _save_child(await load(update, context), None)


async def _save_child(c: Ctx, school: str | None) -> str:
    draft = await _draft(c)
    name, year, month = draft.get("child_name"), draft.get("child_year"), draft.get("child_month")
    if (
        not c.person.has_household
        or not isinstance(name, str)
        or not isinstance(year, int)
        or not isinstance(month, int)
    ):
        await expired(c)
        return await ask_child_name(c)
    try:
        async with c.rt.db.transaction() as session:
            await households.add_child(
                session,
                user_id=c.person.id,
                household_id=c.person.household_ids[0],
                nickname=name,
                birth_year=year,
                birth_month=month,
                school=school,
            )
            await drafts.update(session, c.person.id, FLOW, child_name=None, child_year=None, child_month=None)
    except Invalid as exc:
        if exc.reason == "too_many_children":
            await say(c, c._("A family can have at most {n} children here.").format(n=households.MAX_CHILDREN))
            return await ask_backup(c)
        raise
    return await ask_more(c)


async def on_more(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str | int:
    c = await load(update, context)
    choice = _arg(c)
    if choice == "yes":
        return await ask_child_name(c)
    if choice == "no":
        draft = await _draft(c)
        after = "menu" if draft.get("from_menu_child") else "backup"
        if await _consent_pending_for(c):
            await _remember(c, MORE, after_consent=after)
            return await ask_consent(c)
        if after == "menu":
            return await finish(c)
        return await ask_backup(c)
    await expired(c)
    return MORE


async def _consent_pending_for(c: Ctx) -> bool:
    """Is this person a parent of the household, with children under 14 still waiting for consent?"""
    if not c.person.has_household:
        return False
    async with c.rt.db.transaction() as session:
        h = await households.view(session, user_id=c.person.id, household_id=c.person.household_ids[0])
    member = h.member(c.person.id)
    return member is not None and member.kind == "parent" and h.consent_pending


async def on_backup_choice(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str | int:
    c = await load(update, context)
    choice = _arg(c)
    if choice == "yes":
        return await ask_backup_name(c)
    if choice == "no":
        if (await _draft(c)).get("from_menu"):
            return await finish(c)
        return await _done(c)
    await expired(c)
    return BACKUP_ASK


async def on_backup_name(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str:
    c = await load(update, context)
    try:
        name = check.short_name(c.message.text if c.message else None, max_len=20)
    except Invalid as exc:
        await _bad_text(c, exc)
        return await ask_backup_name(c)
    await _remember(c, BACKUP_NAME, backup_name=name)
    return await ask_backup_relation(c)


async def on_backup_relation(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str:
    c = await load(update, context)
    relation = _arg(c)
    if relation not in households.BACKUP_RELATIONS:
        await expired(c)
        return BACKUP_RELATION
    await _remember(c, BACKUP_RELATION, backup_relation=relation)
    return await ask_backup_phone(c)


async def on_backup_phone(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str | int:
    c = await load(update, context)
    try:
        phone = check.phone(c.message.text if c.message else None)
    except Invalid as exc:
        await _bad_text(c, exc)
        return await ask_backup_phone(c)
    draft = await _draft(c)
    name, relation = draft.get("backup_name"), draft.get("backup_relation")
    if not c.person.has_household or not isinstance(name, str) or not isinstance(relation, str):
        return await expired_here(c)
    async with c.rt.db.transaction() as session:
        await households.set_backup_adult(
            session,
            user_id=c.person.id,
            household_id=c.person.household_ids[0],
            name=name,
            relation=relation,
            phone=phone,
        )
    await say(c, c._("Thank you. The backup adult is saved."))
    if draft.get("from_menu"):
        return await finish(c)
    return await _done(c)


async def _done(c: Ctx) -> int:
    """The end of setting up: the household link code for the other side of the family."""
    async with c.rt.db.transaction() as session:
        issued = await households.issue_link_code(session, user_id=c.person.id, household_id=c.person.household_ids[0])
        await drafts.clear(session, c.person.id, FLOW)
    await say(c, menu.link_code_text(c, issued))
    await menu.show_menu(c, new_message=True)
    return END


async def on_code(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str | int:
    c = await load(update, context)
    typed = c.message.text if c.message and c.message.text else ""
    async with c.rt.db.transaction() as session:
        result = await invites.check(session, telegram_id=c.person.telegram_id, typed=typed)
    if result.status != "ok":
        await say(c, _code_problem(c, result))
        if result.status == "locked":
            return await finish(c)
        return await ask_code(c)
    await _remember(c, CODE, invite_id=result.invite_id, invite_kind=result.kind)
    return await _use_invite(c)


async def _use_invite(c: Ctx) -> str | int:
    draft = await _draft(c)
    invite_id = draft.get("invite_id")
    if not isinstance(invite_id, int):
        return await expired_here(c)
    if draft.get("invite_kind") == "caseworker":
        try:
            async with c.rt.db.transaction() as session:
                post = await caseworker.redeem(session, user_id=c.person.id, invite_id=invite_id)
        except Invalid as exc:
            await say(c, _invalid_code(c, exc.reason))
            return await finish(c)
        c = await _reload(c)
        return await finish(
            c,
            c._("Welcome. Your account is now linked to your post.") + "\n" + esc(labels.badge(c.tr, post)),
        )
    if c.person.has_household:
        await say(c, c._("You are already in a family here. Ask them to use /deletemydata first if you must move."))
        return await finish(c)
    return await ask_join_relation(c)


async def on_join_relation(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str | int:
    c = await load(update, context)
    relation = _arg(c)
    draft = await _draft(c)
    invite_id = draft.get("invite_id")
    if relation not in households.RELATIONS or not isinstance(invite_id, int):
        await expired(c)
        return JOIN_RELATION
    try:
        async with c.rt.db.transaction() as session:
            household_id = await households.join(session, user_id=c.person.id, invite_id=invite_id, relation=relation)
            await people.set_role(session, c.person.id, households.RELATIONS[relation])
            ids = await notify.joined(session, household_id, c.person.id, relation)
    except Invalid as exc:
        await say(c, _invalid_code(c, exc.reason))
        return await finish(c)
    await c.rt.dispatcher.deliver(ids)
    c = await _reload(c)
    async with c.rt.db.transaction() as session:
        h = await households.view(session, user_id=c.person.id, household_id=household_id)
    await say(c, c._("You have joined the family in {place}.").format(place=esc(labels.village_line(c.tr, h))))
    if households.RELATIONS[relation] == "parent" and h.consent_pending:
        return await ask_consent(c)
    return await finish(c)


async def on_consent(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str | int:
    c = await load(update, context)
    choice = _arg(c)
    if not c.person.has_household or choice not in ("yes", "no"):
        return await expired_here(c)
    after = (await _draft(c)).get("after_consent")
    if choice == "no":
        note = c._("All right. The children's page shows \"parent's consent pending\" until you agree in the menu.")
        if after == "backup":
            await say(c, note)
            return await ask_backup(c)
        return await finish(c, note)
    try:
        async with c.rt.db.transaction() as session:
            given = await households.give_consent(session, user_id=c.person.id, household_id=c.person.household_ids[0])
            ids = await notify.consent_given(session, c.person.household_ids[0], c.person.id, given)
    except NotAllowed:
        return await expired_here(c)
    await c.rt.dispatcher.deliver(ids)
    if after == "backup":
        await say(c, c._("Thank you. Your agreement is recorded."))
        return await ask_backup(c)
    return await finish(c, c._("Thank you. Your agreement is recorded."))


# --- going back, bad input, and leaving ----------------------------------------------------------------


async def on_back(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str | int:
    c = await load(update, context)
    state = (await _draft(c)).get("state")
    target = BACK_TO.get(state) if isinstance(state, str) else None
    if target is None:
        return await finish(c)
    if target == START and (c.person.has_household or not c.person.notice_accepted):
        return await finish(c)
    return await SCREENS[target](c)


async def on_wrong_kind(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str | int:
    """A sticker, photo or typed text where a button is expected (or media where text is expected)."""
    c = await load(update, context)
    state = (await _draft(c)).get("state")
    if state in TEXT_STATES:
        await say(c, c._("Please type your answer as text."))
    else:
        await say(c, c._("Please tap one of the buttons below."))
    return await current(c)


async def on_unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str | int:
    c = await load(update, context)
    await say(c, c._("I do not know that command. Let us continue here, or tap /menu."))
    return await current(c)


async def on_language_keep_state(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str | int:
    """A language button pressed mid-flow: switch, then show the same step in the new language."""
    c = await load(update, context)
    choice = _arg(c)
    if choice not in ("zh_Hans", "en"):
        await expired(c)
        return await current(c)
    async with c.rt.db.transaction() as session:
        await people.set_locale(session, c.person.id, choice)
    return await current(await _reload(c))


async def on_stale_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await expired(await load(update, context))


async def _bad_text(c: Ctx, exc: Invalid) -> None:
    if exc.reason == "too_long":
        await say(c, c._("That is too long. Please use at most {n} characters.").format(n=exc.details["max"]))
    else:
        await say(c, c._(INVALID_TEXT.get(exc.reason, INVALID_TEXT["not_text"])))


def _code_problem(c: Ctx, result: invites.CodeCheck) -> str:
    if result.status == "locked" and result.locked_until is not None:
        return c._("Too many wrong codes. For safety, please try again after {time}.").format(
            time=c.tr.when(result.locked_until)
        )
    text = _invalid_code(c, f"code_{result.status}")
    if result.attempts_left is not None and result.attempts_left <= 2:
        text += "\n" + c.tr.ngettext(
            "You can try {n} more time before code entry is locked for an hour.",
            "You can try {n} more times before code entry is locked for an hour.",
            result.attempts_left,
        ).format(n=result.attempts_left)
    return text


def _invalid_code(c: Ctx, reason: str) -> str:
    messages = {
        "code_expired": c._("This code has expired. Please ask for a new one."),
        "code_used": c._("This code has already been used. Each code works once; please ask for a new one."),
        "already_member": c._("You are already in this family."),
        "already_in_household": c._("You are already in a family here."),
    }
    return messages.get(reason, c._("That code is not right. Please check it and type it again."))


def fresh(
    callback: Callable[[Update, ContextTypes.DEFAULT_TYPE], Awaitable[object]],
) -> Callable[..., Awaitable[object]]:
    """A step answered long after it was asked (or with its answers gone) starts again from the menu.

    Someone who stopped at "Which school?" and writes a week later about a fever must not have that
    message saved as the school.
    """

    async def guarded(update: Update, context: ContextTypes.DEFAULT_TYPE) -> object:
        c = await load(update, context)
        async with c.rt.db.transaction() as session:
            age = await drafts.age(session, c.person.id, FLOW)
        if age is None or age > drafts.TTL:
            return await finish(c, c._("Welcome back. That was a while ago, so let us start again from the menu."))
        async with c.rt.db.transaction() as session:
            suspended = (await drafts.get(session, c.person.id, FLOW)).get("suspended")
        if suspended:
            # Something else happened in between (a report); this answer may not be meant for the old question.
            await show(
                c,
                c._("You were setting up your family's page. Continue there?"),
                [[(c._(RESUME_LABEL), RESUME)]],
                new_message=True,
            )
            return None
        return await callback(update, context)

    return guarded


def build() -> ConversationHandler[ContextTypes.DEFAULT_TYPE]:
    def buttons(
        pattern: str, callback: Callable[..., Awaitable[object]]
    ) -> list[BaseHandler[Update, ContextTypes.DEFAULT_TYPE, object]]:
        return [
            CallbackQueryHandler(fresh(callback), pattern=pattern),
            MessageHandler(~filters.COMMAND, fresh(on_wrong_kind)),
        ]

    def text(
        callback: Callable[..., Awaitable[object]],
        *extra: BaseHandler[Update, ContextTypes.DEFAULT_TYPE, object],
    ) -> list[BaseHandler[Update, ContextTypes.DEFAULT_TYPE, object]]:
        return [
            MessageHandler(filters.TEXT & ~filters.COMMAND, fresh(callback)),
            *extra,
            MessageHandler(~filters.COMMAND, fresh(on_wrong_kind)),
        ]

    states: dict[object, list[BaseHandler[Update, ContextTypes.DEFAULT_TYPE, object]]] = {
        LANG: buttons(r"^lang:", on_lang),
        ROLE: buttons(r"^role:", on_role),
        NOTICE: buttons(r"^notice:", on_notice),
        START: buttons(r"^start:", on_start_choice),
        TOWNSHIP: buttons(r"^tw:", on_township),
        VILLAGE: buttons(r"^vil:", on_village),
        RELATION: buttons(r"^rel:", on_relation),
        CHILD_NAME: text(on_child_name),
        CHILD_YEAR: buttons(r"^yr:", on_child_year),
        CHILD_MONTH: buttons(r"^mo:", on_child_month),
        CHILD_SCHOOL: text(on_child_school_text, CallbackQueryHandler(fresh(on_child_school_skip), pattern=r"^skip$")),
        MORE: buttons(r"^more:", on_more),
        BACKUP_ASK: buttons(r"^backup:", on_backup_choice),
        BACKUP_NAME: text(on_backup_name),
        BACKUP_RELATION: buttons(r"^rel:", on_backup_relation),
        BACKUP_PHONE: text(on_backup_phone),
        CODE: text(on_code),
        JOIN_RELATION: buttons(r"^rel:", on_join_relation),
        CONSENT: buttons(r"^consent:", on_consent),
    }
    return ConversationHandler(
        entry_points=[
            CommandHandler("start", on_start),
            CallbackQueryHandler(on_menu_setup, pattern=r"^menu:setup$"),
            CallbackQueryHandler(on_menu_code, pattern=r"^menu:code$"),
            CallbackQueryHandler(on_menu_add_child, pattern=r"^menu:add_child$"),
            CallbackQueryHandler(on_menu_backup, pattern=r"^menu:backup$"),
            CallbackQueryHandler(on_menu_consent, pattern=r"^menu:consent$"),
            CallbackQueryHandler(on_resume, pattern=rf"^{RESUME}$"),
        ],
        states=states,
        fallbacks=[
            CallbackQueryHandler(on_back, pattern=rf"^{BACK}$"),
            CallbackQueryHandler(on_language_keep_state, pattern=r"^lang:"),
            *menu.leaving_handlers(),
            MessageHandler(filters.COMMAND, on_unknown_command),
            CallbackQueryHandler(on_stale_button),
        ],
        name=FLOW,
        persistent=True,
        allow_reentry=True,
    )
