"""Messages to the other people of a household, written to the outbox with the change that caused them."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot import labels
from bot.i18n import Tr
from bot.services import household as households
from bot.services import outbox
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
