"""Messages to the other people of a household, written to the outbox with the change that caused them."""

from __future__ import annotations

import html
from datetime import date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot import labels
from bot.i18n import Tr
from bot.services import contacts, drafts, outbox, people
from bot.services import household as households
from db.models import User
from db.types import utcnow


async def joined(session: AsyncSession, household_id: int, user_id: int, relation: str) -> list[int]:
    ids: list[int] = []
    for member in await households.other_members(session, household_id, user_id):
        tr = Tr(member.locale, member.timezone)
        text = tr.gettext("👋 {who} has joined your family's page.").format(who=labels.relation(tr, relation))
        new_id = await outbox.enqueue(
            session,
            user_id=member.id,
            chat_id=member.chat_id,
            kind="household.joined",
            text=text,
            dedupe_key=f"household:{household_id}:joined:{user_id}:to:{member.id}",
        )
        if new_id is not None:
            ids.append(new_id)
    return ids


async def consent_given(session: AsyncSession, household_id: int, user_id: int, child_ids: list[int]) -> list[int]:
    children = len(child_ids)
    which = "-".join(map(str, sorted(child_ids)))
    if not children:
        return []
    ids: list[int] = []
    for member in await households.other_members(session, household_id, user_id):
        tr = Tr(member.locale, member.timezone)
        text = tr.ngettext(
            "✅ A parent has agreed to the children's information rules for {n} child.",
            "✅ A parent has agreed to the children's information rules for {n} children.",
            children,
        ).format(n=children)
        new_id = await outbox.enqueue(
            session,
            user_id=member.id,
            chat_id=member.chat_id,
            kind="household.consent",
            text=text,
            dedupe_key=f"household:{household_id}:consent:{user_id}:{which}:to:{member.id}",
        )
        if new_id is not None:
            ids.append(new_id)
    return ids


async def removed(session: AsyncSession, household_id: int, person: User, by_relation: str) -> list[int]:
    """Tell someone they were taken off a family page, and by whom (never silently)."""
    tr = Tr(person.locale, person.timezone)
    text = tr.gettext("You are no longer on a family page here: the child's {who} removed you.").format(
        who=labels.relation(tr, by_relation)
    )
    new_id = await outbox.enqueue(
        session,
        user_id=person.id,
        chat_id=person.chat_id,
        kind="household.removed",
        text=text,
        dedupe_key=f"household:{household_id}:removed:{person.id}:{utcnow().isoformat()}",
    )
    return [new_id] if new_id is not None else []


async def contacts_review(session: AsyncSession, *, admin_telegram_ids: frozenset[int], today: date) -> list[int]:
    """Once a month, tell the county's administrators which directory entries are due for checking."""
    stale = await contacts.stale_contacts(session, today=today)
    samples = await contacts.sample_count(session)
    if not stale and not samples:
        return []
    admins = await people.administrators(session, admin_telegram_ids)
    ids: list[int] = []
    for admin in admins:
        tr = Tr(admin.locale, admin.timezone)
        lines = []
        if samples:
            lines.append(
                tr.ngettext(
                    "⚠️ {n} sample contact with a made-up number is still shown to families. Please import the "
                    "verified county list with 'guardian-bot admin contacts import FILE.csv --replace'.",
                    "⚠️ {n} sample contacts with made-up numbers are still shown to families. Please import the "
                    "verified county list with 'guardian-bot admin contacts import FILE.csv --replace'.",
                    samples,
                ).format(n=samples)
            )
        if stale:
            lines.append(
                tr.ngettext(
                    "📋 {n} directory entry was last checked more than 180 days ago. Please check it, then import "
                    "the corrected list with 'guardian-bot admin contacts import'.",
                    "📋 {n} directory entries were last checked more than 180 days ago. Please check them, then "
                    "import the corrected list with 'guardian-bot admin contacts import'.",
                    len(stale),
                ).format(n=len(stale))
            )
        for contact in stale[:15]:
            name = contact.name_zh if tr.locale == "zh_Hans" else contact.name_en
            lines.append(f"• {html.escape(name, quote=False)} ({contact.phone}) · {tr.date_only(contact.verified_on)}")
        if len(stale) > 15:
            lines.append(tr.gettext("… and {n} more.").format(n=len(stale) - 15))
        new_id = await outbox.enqueue(
            session,
            user_id=admin.id,
            chat_id=admin.chat_id,
            kind="contacts.review",
            text="\n".join(lines),
            dedupe_key=f"contacts-review:{today:%Y-%m}:{admin.id}",
        )
        if new_id is not None:
            ids.append(new_id)
    return ids


REPORT_REMINDER_AFTER = timedelta(hours=1)


async def unfinished_reports(session: AsyncSession, *, now: datetime) -> list[int]:
    """One gentle reminder for a report started and not sent; the draft itself goes after a day."""
    ids: list[int] = []
    for draft in await drafts.waiting(session, "report", idle=REPORT_REMINDER_AFTER, now=now):
        user = await session.get(User, draft.user_id)
        if user is None:
            continue
        tr = Tr(user.locale, user.timezone)
        text = tr.gettext(
            "You started telling us about a worry about a child, but it was not sent. If you are still worried, "
            "you can finish it now; what you wrote is kept for one day."
        )
        new_id = await outbox.enqueue(
            session,
            user_id=user.id,
            chat_id=user.chat_id,
            kind="report.reminder",
            text=text,
            buttons=[[(tr.gettext("↩️ Finish the report"), "report:resume")]],
            dedupe_key=f"report-reminder:{user.id}:{draft.updated_at.isoformat()}",
        )
        await drafts.set_flag(session, user.id, "report", "reminded", True)
        if new_id is not None:
            ids.append(new_id)
    return ids
