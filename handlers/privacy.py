"""/privacy shows everything kept about a person and their household; /deletemydata removes it."""

from __future__ import annotations

from datetime import datetime, timedelta

from telegram import Update
from telegram.ext import ContextTypes, ConversationHandler

from bot import labels
from bot.services import drafts, privacy
from db.types import utcnow
from handlers.common import Ctx, esc, expired, load, say, show

END = ConversationHandler.END
DELETE_FLOW = "delete"
CONFIRM_WINDOW = timedelta(minutes=10)


async def on_privacy(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    c = await load(update, context)
    async with c.rt.db.transaction() as session:
        await drafts.clear(session, c.person.id, "family")
        kept = await privacy.what_we_keep(session, c.person.id)
    await show(c, privacy_text(c, kept), [[(c._("🗑 Delete my information"), "del:ask")]])
    return END


def privacy_text(c: Ctx, k: privacy.Kept) -> str:
    _ = c._
    lines = [_("<b>What we keep about you</b>"), ""]
    lines.append(_("Telegram account number: {id}").format(id=k.telegram_id))
    lines.append(
        _("Language: {lang} · Time zone: {tz}").format(
            lang="中文" if k.locale == "zh_Hans" else "English", tz=k.timezone
        )
    )
    if k.role:
        lines.append(_("Role: {role}").format(role=_(labels.ROLE_LABELS[k.role])))
    lines.append(_("With us since: {date}").format(date=c.tr.date(k.joined_at)))
    if k.notice_accepted_at:
        lines.append(_("You agreed to the information rules on {date}.").format(date=c.tr.date(k.notice_accepted_at)))
    else:
        lines.append(_("You have not agreed to the information rules, so we keep nothing about children for you."))
    for post in k.posts:
        lines.append(esc(labels.badge(c.tr, post)))
    h = k.household
    if h is not None:
        lines += ["", _("<b>Your family</b> · {place}").format(place=esc(labels.village_line(c.tr, h)))]
        for child in h.children:
            school = f" · {esc(child.school)}" if child.school else ""
            consent = (
                _("parent's consent given")
                if child.consent_given
                else (_("parent's consent pending") if child.needs_consent else _("14 or older"))
            )
            lines.append(
                _("👧 {name}: born {month}/{year}{school} ({consent})").format(
                    name=esc(child.nickname),
                    month=child.birth_month,
                    year=child.birth_year,
                    school=school,
                    consent=consent,
                )
            )
        relations = [labels.relation(c.tr, m.relation) for m in h.members]
        lines.append(_("Family members: {list}").format(list=labels.join(c.tr, relations)))
        for b in h.backups:
            lines.append(
                _("Backup adult: {name} ({relation}), {phone}").format(
                    name=esc(b.name), relation=labels.relation(c.tr, b.relation), phone=esc(b.phone)
                )
            )
    if k.consents_given:
        lines.append(_("Consents you gave as a parent: {n}").format(n=k.consents_given))
    if k.live_codes:
        lines.append(_("Family codes you made that are not used yet: {n}").format(n=k.live_codes))
    if k.pending_messages:
        lines.append(_("Messages waiting to reach you: {n}").format(n=k.pending_messages))
    if k.calls_booked:
        lines.append(_("Video calls you booked: {n} (days, time, which children, how long)").format(n=k.calls_booked))
    if k.call_answers:
        lines.append(_("Answers on whether your family's calls happened: {n}").format(n=k.call_answers))
    lines.append(_("Quiet hours: {hours}").format(hours=k.quiet_hours))
    if k.last_seen_at:
        lines.append(
            _("When you last used the bot, to the hour ({when}): so we notice if a carer goes quiet.").format(
                when=c.tr.when(k.last_seen_at)
            )
        )
    if k.unfinished_steps:
        lines.append(_("Answers of a step you have not finished (deleted after a day)."))
    if k.recent_code_failures:
        lines.append(
            _("Wrong codes typed in the last hour: {n} (kept an hour, to stop guessing).").format(
                n=k.recent_code_failures
            )
        )
    lines += [
        "",
        _(
            "We keep only the answers you give on these screens. We never keep your name from Telegram, your "
            "other messages, ID numbers or photos of children."
        ),
    ]
    return "\n".join(lines)


async def on_delete(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    c = await load(update, context)
    return await ask_delete(c)


async def ask_delete(c: Ctx) -> int:
    async with c.rt.db.transaction() as session:
        await drafts.clear(session, c.person.id, "family")
        await drafts.update(session, c.person.id, DELETE_FLOW, asked_at=utcnow().isoformat())
    _ = c._
    text = "\n\n".join(
        [
            _("<b>Delete my information?</b>"),
            _(
                "This removes you, and your family's page if nobody else from your family uses it. If others "
                "still use it, the children's page stays for them. This cannot be undone."
            ),
        ]
    )
    await show(c, text, [[(_("🗑 Yes, delete everything"), "del:yes")], [(_("Keep it"), "del:no")]])
    return END


async def on_delete_answer(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int | None:
    c = await load(update, context)
    assert c.query is not None and c.query.data is not None
    choice = c.query.data.split(":", 1)[1]
    if choice == "ask":
        return await ask_delete(c)
    async with c.rt.db.transaction() as session:
        draft = await drafts.get(session, c.person.id, DELETE_FLOW)
    asked = draft.get("asked_at")
    # Only a confirmation of a request made just now counts; the button itself carries no authority.
    if (
        choice not in ("yes", "no")
        or not isinstance(asked, str)
        or utcnow() - datetime.fromisoformat(asked) > CONFIRM_WINDOW
    ):
        await expired(c)
        return None  # a refused button leaves any flow where it was
    async with c.rt.db.transaction() as session:
        await drafts.clear(session, c.person.id, DELETE_FLOW)
    if choice == "no":
        await say(c, c._("Nothing was deleted."))
        from handlers.menu import show_menu  # the menu module imports this one

        await show_menu(c, new_message=True)
        return END
    async with c.rt.db.transaction() as session:
        result = await privacy.delete_person(
            session, c.person.id, admin_ids=c.rt.settings.admin_telegram_ids, now=c.rt.clock()
        )
    await c.rt.dispatcher.deliver(list(result.outbox_ids))
    _ = c._
    lines = [_("Your information has been deleted.")]
    if result.household_deleted:
        lines.append(_("Your family's page and its children's information were deleted too."))
    elif result.household_kept_for_others:
        lines.append(_("Your family's page stays for the other family members who use it."))
    if result.reports_kept:
        lines.append(
            _(
                "The reports you made about a child's safety are kept without your name, because the law asks "
                "that such reports are not lost (Minors Protection Law, Art. 11). What you wrote in them stays "
                "as written, so it may still say who you are."
            )
        )
    lines.append(_("If you write to the bot again, it will start afresh. Take care."))
    await show(c, "\n".join(lines), menu=False)
    return END
