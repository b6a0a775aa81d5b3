"""Concerns: a worry about a child, filed, routed up the ladder until a caseworker acknowledges it.

The rules live in pure modules (`triage` for urgency and deadlines, `ladder` for who is told when); this
module keeps their state in the database and writes every message to the outbox in the same transaction
as the change that caused it, so a restart loses no concern, no deadline and no notification.
"""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache

from sqlalchemy import Select, and_, bindparam, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot import labels
from bot.i18n import N_, Tr
from bot.services import areas, caseworker, directory, ladder, outbox, people, screening, triage
from bot.services import household as households
from bot.services.caseworker import PostView
from bot.services.directory import Entry
from bot.services.errors import Invalid, NotAllowed
from db.models import Area, AuditEvent, CaseEvent, CaseworkerPost, Child, Concern, ConcernAttachment, User
from db.session import fetch_core, skip_locked
from db.types import utcnow

log = logging.getLogger(__name__)
LEVEL_OF_RUNG = ("village", "township", "county")
CATEGORY_LABELS = {
    "danger_now": N_("In danger right now"),
    "violence": N_("Hurt by someone, violence"),
    "sexual_abuse": N_("Sexual abuse"),
    "left_alone": N_("Left alone, nobody caring"),
    "missing": N_("Missing"),
    "injury_illness": N_("Injury or illness"),
    "self_harm": N_("Very sad, withdrawn, or talking about hurting themselves"),
    "not_in_school": N_("Not going to school"),
    "bullying": N_("Bullying"),
    "other": N_("Something else"),
}
URGENCY_RANK = {"emergency": 0, "high": 1, "normal": 2}
URGENCY_LABELS = {"emergency": N_("EMERGENCY"), "high": N_("High"), "normal": N_("Normal")}
ACK = "cs:ack:"
REOPENED = "reopened"  # the holder of a taken-up concern blocked the bot or left
RAISED = "raised"  # more information made the concern more urgent
ACK_LABEL = N_("✅ I will look at it (acknowledge)")


def case_buttons(tr: Tr, concern: Concern) -> list[list[tuple[str, str]]]:
    """The actions on a concern, on its notification and its screen; each is authorised again when pressed."""
    _ = tr.gettext
    rows: list[list[tuple[str, str]]] = []
    if concern.status == "open":
        rows.append([(_(ACK_LABEL), f"{ACK}{concern.id}")])
    if concern.status != "resolved":
        rows.append([(_("📝 Add a note"), f"cs:note:{concern.id}"), (_("🔀 Refer"), f"cs:refer:{concern.id}")])
        rows.append([(_("👮 Record the police report"), f"cs:police:{concern.id}")])
        rows.append([(_("No police report needed"), f"cs:nopolice:{concern.id}")])
        rows.append([(_("↪️ Pass to another caseworker"), f"cs:transfer:{concern.id}")])
        if concern.reporter_shares_contact and concern.reporter_user_id is not None:
            rows.append([(_("💬 Message the reporter"), f"cs:msg:{concern.id}")])
        rows.append([(_("🏁 Resolve"), f"cs:resolve:{concern.id}"), (_("📂 Timeline"), f"cs:open:{concern.id}")])
    return rows


def together_part(tr: Tr, concern: Concern) -> outbox.Together:
    """How this notice shows inside one message with others reaching the same caseworker at once: in full,
    with one row of buttons, acknowledge and open, each naming its reference."""
    row = [(f"✅ {concern.ref}", f"{ACK}{concern.id}")] if concern.status == "open" else []
    row.append((f"📂 {concern.ref}", f"cs:open:{concern.id}"))
    heading = tr.gettext(
        "🆘 <b>{count} concerns</b> have reached you at once; each is below. Press ✅ and its reference to "
        "acknowledge one, 📂 to open it."
    )
    return outbox.Together(heading=heading, buttons=tuple(row))


@dataclass(frozen=True)
class NewConcern:
    village_id: int
    category: str
    in_danger: bool
    reporter_user_id: int
    child_id: int | None = None
    description: str | None = None
    attachments: tuple[tuple[str, str], ...] = ()  # (kind, telegram file id)
    reporter_relation: str | None = None
    shares_contact: bool = False
    danger_unsure: bool = False  # "not sure" is handled as danger (in_danger True) but shown as what was said


@dataclass(frozen=True)
class Filed:
    concern_id: int
    ref: str
    urgency: str
    ack_due_at: datetime | None
    first_posts: tuple[PostView, ...]  # who will look at it first
    nobody: bool  # nobody reachable on any rung: the reporter must call the hotline
    outbox_ids: tuple[int, ...]


def reference(concern_id: int, created: datetime) -> str:
    return f"XC-{created.year}-{concern_id:05d}"


async def file_concern(
    session: AsyncSession, new: NewConcern, *, admin_ids: frozenset[int] = frozenset(), now: datetime | None = None
) -> Filed:
    """Save the concern and notify the first rung (every rung at once in an emergency)."""
    now = now or utcnow()
    policy = triage.policy()
    if new.category not in triage.CATEGORIES:
        raise NotAllowed
    village = await areas.area_view(session, new.village_id)
    if village is None or village.level != "village":
        raise NotAllowed
    household_id = None
    if new.child_id is not None:
        child = await session.get(Child, new.child_id)
        if child is None:
            raise NotAllowed
        # A registered child can be named only by a member of the child's own household (the view refuses
        # anyone else, from memory when the household was read lately).
        household_id = child.household_id
        household = await households.view(session, user_id=new.reporter_user_id, household_id=household_id)
        if household.village_id != new.village_id:
            raise NotAllowed
    urgency = _urgency(policy, new.category, new.in_danger, new.description)
    the_ladder = await load_ladder(session, new.village_id)
    decision = ladder.start(the_ladder, urgency)
    concern = Concern(
        village_id=new.village_id,
        household_id=household_id,
        child_id=new.child_id,
        about_other_child=new.child_id is None,
        description=new.description,
        category=new.category,
        in_danger=new.in_danger,
        danger_unsure=new.danger_unsure and new.in_danger,
        urgency=urgency,
        status="open",
        created_at=now,
        reporter_user_id=new.reporter_user_id,
        reporter_relation=new.reporter_relation,
        reporter_shares_contact=new.shares_contact,
        # Where the ladder puts it, in the INSERT (what _apply sets again, unchanged: no UPDATE).
        rung=decision.state.rung,
        at_admins=decision.state.at_admins,
        admin_reminders=decision.state.admin_reminders,
        ack_due_at=now + triage.ack_deadline(policy, urgency),
    )
    session.add(concern)
    await session.flush()
    concern.ref = reference(concern.id, now)
    attached = [
        ConcernAttachment(concern_id=concern.id, kind=kind, file_id=file_id, created_at=now)
        for kind, file_id in new.attachments
    ]
    session.add_all(attached)
    session.add(CaseEvent(concern_id=concern.id, at=now, kind="created", actor_user_id=new.reporter_user_id))
    if attached:
        await session.flush()  # their ids name the forwarded media
    ids = await _apply(session, concern, decision, policy, now, reason="new", admin_ids=admin_ids, fresh=attached)
    first = tuple([await caseworker.post_view(session, p.post_id) for p in decision.notify])
    await session.flush()
    return Filed(
        concern_id=concern.id,
        ref=concern.ref,
        urgency=urgency,
        ack_due_at=concern.ack_due_at,
        first_posts=first,
        nobody=decision.tell_reporter_call_hotline,
        outbox_ids=tuple(ids),
    )


def _urgency(policy: triage.Policy, category: str, in_danger: bool, description: str | None) -> str:
    urgency = triage.urgency(policy, category, in_danger)
    hit = screening.screen(description) if description else None
    if hit is not None:
        # "Not going to school" and then "he says he will drink pesticide": the words count, not only the button.
        worded = triage.urgency(policy, hit.category, hit.category == "danger_now")
        urgency = min(urgency, worded, key=URGENCY_RANK.__getitem__)
    return urgency


@cache
def _ladder_query() -> Select[tuple[CaseworkerPost, User]]:
    # Built once: putting three aliases and their joins together costs more than running the query. The posts
    # and their users are loaded whole: the notices that follow read both, then without a query of their own.
    village, township, county = aliased(Area), aliased(Area), aliased(Area)
    on_path = or_(
        *(
            and_(CaseworkerPost.area_id == area.id, CaseworkerPost.level == area.level)
            for area in (village, township, county)
        )
    )
    return (
        select(CaseworkerPost, User)
        .select_from(village)
        .outerjoin(township, township.id == village.parent_id)
        .outerjoin(county, county.id == township.parent_id)
        .join(CaseworkerPost, on_path)
        .join(User, User.id == CaseworkerPost.user_id)
        .where(village.id == bindparam("village_id"), CaseworkerPost.active.is_(True))
        .order_by(CaseworkerPost.id)
    )


async def load_ladder(session: AsyncSession, village_id: int) -> ladder.Ladder:
    """The people on each rung for one village: its child directors, township supervisors, county officers.

    One query (it runs for every concern filed and at every escalation): the village, its parent and
    grandparent, and the active posts sitting on each of them at that area's own level.
    """
    rows = (await session.execute(_ladder_query(), {"village_id": village_id})).all()
    rungs: dict[str, list[ladder.Person]] = {level: [] for level in LEVEL_OF_RUNG}
    for post, user in rows:
        if post.level in rungs:
            rungs[post.level].append(ladder.Person(post_id=post.id, user_id=user.id, reachable=not user.unreachable))
    village_rung, township_rung, county_rung = (tuple(rungs[level]) for level in LEVEL_OF_RUNG)
    # The session's identity map holds loaded rows only while something refers to them: the ladder does, so
    # the notices written next find each post and its user there.
    return ladder.Ladder(rungs=(village_rung, township_rung, county_rung), held=tuple(rows))


async def _state(session: AsyncSession, concern: Concern) -> ladder.State:
    notified = (
        await session.scalars(
            select(CaseEvent.post_id).where(
                CaseEvent.concern_id == concern.id, CaseEvent.kind == "notified", CaseEvent.post_id.is_not(None)
            )
        )
    ).all()
    return ladder.State(
        rung=concern.rung,
        notified=frozenset(p for p in notified if p is not None),
        acknowledged=concern.status != "open",
        at_admins=concern.at_admins,
        admin_reminders=concern.admin_reminders,
    )


async def _apply(
    session: AsyncSession,
    concern: Concern,
    decision: ladder.Decision,
    policy: triage.Policy,
    now: datetime,
    *,
    reason: str,
    admin_ids: frozenset[int],
    key: str = "",
    fresh: list[ConcernAttachment] | None = None,
) -> list[int]:
    """Record a ladder decision and write its messages to the outbox.

    `key` tells apart repeated decisions of the same kind (a second reopening) for the outbox dedupe keys.
    `fresh`: the concern was filed in this transaction, with these attachments and nothing added since.
    """
    state = decision.state
    climbed = reason != ladder.NEW and state.rung != concern.rung
    concern.rung = state.rung
    concern.at_admins = state.at_admins
    concern.admin_reminders = state.admin_reminders
    concern.ack_due_at = now + triage.ack_deadline(policy, concern.urgency)
    ids: list[int] = []
    for person in decision.notify:
        session.add(
            CaseEvent(concern_id=concern.id, at=now, kind="notified", post_id=person.post_id, detail={"why": reason})
        )
        ids += await _notify_caseworker(session, concern, person, decision.notify_reason, now, key, fresh)
    for person in decision.moved_up_tell:
        ids += await _tell_moved_up(session, concern, person, now)
    if decision.notify and climbed:
        session.add(
            CaseEvent(concern_id=concern.id, at=now, kind="escalated", detail={"rung": state.rung, "why": reason})
        )
    if decision.admins:
        ids += await _tell_admins(session, concern, now, admin_ids)
    return ids


async def _notify_caseworker(
    session: AsyncSession,
    concern: Concern,
    person: ladder.Person,
    why: str,
    now: datetime,
    key: str = "",
    fresh: list[ConcernAttachment] | None = None,
) -> list[int]:
    user = await session.get_one(User, person.user_id)
    tr = Tr(user.locale, user.timezone)
    text = await render_for_caseworker(session, concern, tr, why, fresh=fresh)
    new_id = await outbox.enqueue(
        session,
        user_id=user.id,
        chat_id=user.chat_id,
        kind="concern.notify",
        text=text,
        buttons=case_buttons(tr, concern),
        dedupe_key=f"concern:{concern.id}:notify:{person.post_id}:{why}:{concern.admin_reminders}:{key}",
        together=together_part(tr, concern),
    )
    ids = [new_id] if new_id is not None else []
    attachments = (
        fresh
        if fresh is not None
        else (
            await session.scalars(
                select(ConcernAttachment)
                .where(ConcernAttachment.concern_id == concern.id)
                .order_by(ConcernAttachment.id)
            )
        ).all()
    )
    return ids + await _forward_media(session, concern, user, tr, list(attachments), person.post_id)


async def _forward_media(
    session: AsyncSession, concern: Concern, user: User, tr: Tr, attachments: list[ConcernAttachment], post_id: int
) -> list[int]:
    """Voice notes and photos go with the notification (by Telegram file id; the bot keeps no files)."""
    ids: list[int] = []
    for attachment in attachments:
        media_id = await outbox.enqueue(
            session,
            user_id=user.id,
            chat_id=user.chat_id,
            kind="concern.media",
            text=tr.gettext("Attached to {ref}").format(ref=concern.ref),
            dedupe_key=f"concern:{concern.id}:media:{attachment.id}:{post_id}",
            media=(attachment.kind, attachment.file_id),
        )
        if media_id is not None:
            ids.append(media_id)
    return ids


async def _tell_moved_up(session: AsyncSession, concern: Concern, person: ladder.Person, now: datetime) -> list[int]:
    user = await session.get_one(User, person.user_id)
    tr = Tr(user.locale, user.timezone)
    text = tr.gettext(
        "⬆️ Concern {ref} was not acknowledged in time, so it has gone up to the next level. You can still help."
    ).format(ref=concern.ref)
    new_id = await outbox.enqueue(
        session,
        user_id=user.id,
        chat_id=user.chat_id,
        kind="concern.moved_up",
        text=text,
        dedupe_key=f"concern:{concern.id}:moved-up:{person.post_id}:{concern.rung}",
    )
    return [new_id] if new_id is not None else []


async def _tell_admins(session: AsyncSession, concern: Concern, now: datetime, admin_ids: frozenset[int]) -> list[int]:
    admins = await people.administrators(session, admin_ids)
    ids: list[int] = []
    for admin in admins:
        tr = Tr(admin.locale, admin.timezone)
        text = tr.gettext(
            "🚨 Concern {ref} ({urgency}) has nobody acknowledging it at any level. Please act now, or make sure "
            "the village, township and county posts are filled."
        ).format(ref=concern.ref, urgency=tr.gettext(URGENCY_LABELS[concern.urgency]))
        new_id = await outbox.enqueue(
            session,
            user_id=admin.id,
            chat_id=admin.chat_id,
            kind="concern.admins",
            text=text,
            buttons=case_buttons(tr, concern),
            dedupe_key=f"concern:{concern.id}:admins:{admin.id}:{concern.admin_reminders}",
        )
        if new_id is not None:
            ids.append(new_id)
    session.add(CaseEvent(concern_id=concern.id, at=now, kind="admins_told", detail={"n": concern.admin_reminders}))
    return ids


async def render_for_caseworker(
    session: AsyncSession, concern: Concern, tr: Tr, why: str, *, fresh: list[ConcernAttachment] | None = None
) -> str:
    """The concern as its caseworker reads it. `fresh`: filed in this transaction with these attachments (no
    later information yet, nothing to read)."""
    _ = tr.gettext
    village_path = await areas.area_path(session, concern.village_id)
    place = (
        "".join(a.name_zh for a in village_path[1:])
        if tr.locale == "zh_Hans"
        else ", ".join(a.name_en for a in reversed(village_path[1:]))
    )
    header = {
        "escalated_deadline": _("⬆️ Not acknowledged in time below; now with you."),
        "escalated_unreachable": _("⬆️ The person below cannot be reached; now with you."),
        REOPENED: _("🔁 Open again: the person who took it up can no longer be reached. Please take it up."),
        RAISED: _("⚠️ New information makes this more urgent."),
    }.get(why)
    lines = [header] if header else []
    lines.append(
        _("🆘 <b>Concern {ref}</b> · {urgency}").format(ref=concern.ref, urgency=_(URGENCY_LABELS[concern.urgency]))
    )
    lines.append(_("What: {category}").format(category=_(CATEGORY_LABELS[concern.category])))
    if concern.danger_unsure:
        lines.append(_("The reporter is not sure whether the child is in danger right now."))
    elif concern.in_danger:
        lines.append(_("The reporter says the child is in danger right now."))
    lines.append(_("Where: {place}").format(place=html.escape(place, quote=False)))
    if concern.child_id is not None:
        child = await session.get(Child, concern.child_id)
        if child is not None:
            age = households.age_on(child.birth_year, child.birth_month, utcnow())
            lines.append(_("Child: {name}, {age} years").format(name=html.escape(child.nickname, quote=False), age=age))
    else:
        lines.append(_("Child: not in a registered family"))
    if concern.reporter_relation:
        lines.append(_("Reported by: {who}").format(who=labels.reporter(tr, concern.reporter_relation)))
    if concern.description:
        lines.append(_("Description: {text}").format(text=html.escape(concern.description, quote=False)))
    more = (
        []
        if fresh is not None
        else (
            await session.scalars(
                select(CaseEvent.detail)
                .where(CaseEvent.concern_id == concern.id, CaseEvent.kind == "more_info")
                .order_by(CaseEvent.id)
            )
        ).all()
    )
    for detail in more:
        if detail.get("text"):
            lines.append(
                _("Later from the reporter: {text}").format(text=html.escape(str(detail["text"]), quote=False))
            )
    attachments = (
        [a.kind for a in fresh]
        if fresh is not None
        else (
            await session.scalars(select(ConcernAttachment.kind).where(ConcernAttachment.concern_id == concern.id))
        ).all()
    )
    if attachments:
        lines.append(_("Attached: {n} voice note(s) or photo(s)").format(n=len(attachments)))
    if concern.ack_due_at is not None:
        lines.append(_("Please acknowledge by {time}.").format(time=tr.when(concern.ack_due_at)))
    return "\n".join(lines)


async def escalate_due(
    session: AsyncSession, *, admin_ids: frozenset[int] = frozenset(), now: datetime | None = None, limit: int = 50
) -> list[int]:
    """Climb one rung for every open concern whose acknowledgement deadline has passed."""
    now = now or utcnow()
    policy = triage.policy()
    query = (
        select(Concern)
        .where(Concern.status == "open", Concern.ack_due_at.is_not(None), Concern.ack_due_at <= now)
        .order_by(Concern.ack_due_at)
        .limit(limit)
    )
    query = skip_locked(session, query)
    ids: list[int] = []
    for concern in (await session.scalars(query)).all():
        try:
            # A savepoint each: one concern that fails (bad data) must not stop the others from climbing.
            async with session.begin_nested():
                the_ladder = await load_ladder(session, concern.village_id)
                decision = ladder.on_deadline(the_ladder, await _state(session, concern))
                ids += await _apply(
                    session, concern, decision, policy, now, reason="escalated_deadline", admin_ids=admin_ids
                )
        except Exception:
            log.exception("escalating concern %s failed", concern.id)
    return ids


async def person_unreachable(
    session: AsyncSession, user_id: int, *, admin_ids: frozenset[int] = frozenset(), now: datetime | None = None
) -> list[int]:
    """A caseworker blocked the bot or is leaving: concerns waiting only on them move on at once.

    An open concern they were notified of fails over to the next person; one they had taken up opens again.
    """
    now = now or utcnow()
    policy = triage.policy()
    ids: list[int] = []
    held = (
        await session.scalars(
            select(Concern)
            .where(Concern.status == "acknowledged", Concern.acknowledged_by_user_id == user_id)
            .order_by(Concern.id)
        )
    ).all()
    for concern in held:
        ids += await _reopen(session, concern, policy, now, leaving_user_id=user_id, admin_ids=admin_ids)
    reopened = {c.id for c in held}
    posts = (await session.scalars(select(CaseworkerPost.id).where(CaseworkerPost.user_id == user_id))).all()
    if not posts:
        return ids
    concern_ids = (
        await session.scalars(
            select(CaseEvent.concern_id)
            .join(Concern, Concern.id == CaseEvent.concern_id)
            .where(CaseEvent.kind == "notified", CaseEvent.post_id.in_(posts), Concern.status == "open")
            .distinct()
        )
    ).all()
    for concern_id in concern_ids:
        if concern_id in reopened:
            continue
        concern = await session.get_one(Concern, concern_id)
        the_ladder = await load_ladder(session, concern.village_id)
        state = await _state(session, concern)
        for post_id in posts:
            decision = ladder.on_unreachable(the_ladder, state, post_id)
            if decision.notify or decision.admins:
                session.add(CaseEvent(concern_id=concern.id, at=now, kind="unreachable", post_id=post_id))
                ids += await _apply(
                    session, concern, decision, policy, now, reason="escalated_unreachable", admin_ids=admin_ids
                )
                break
    return ids


async def _reopen(
    session: AsyncSession,
    concern: Concern,
    policy: triage.Policy,
    now: datetime,
    *,
    leaving_user_id: int | None,
    admin_ids: frozenset[int],
) -> list[int]:
    """The holder of a taken-up concern is gone: it is open again, with a fresh deadline, for the ladder."""
    times = int(
        await session.scalar(
            select(func.count())
            .select_from(CaseEvent)
            .where(CaseEvent.concern_id == concern.id, CaseEvent.kind == REOPENED)
        )
        or 0
    )
    session.add(
        CaseEvent(concern_id=concern.id, at=now, kind=REOPENED, post_id=concern.acknowledged_post_id, detail={})
    )
    concern.status = "open"
    concern.acknowledged_at = None
    concern.acknowledged_post_id = None
    concern.acknowledged_by_user_id = None
    concern.follow_up_at = None
    the_ladder = await load_ladder(session, concern.village_id)
    if leaving_user_id is not None:
        for rung in the_ladder.rungs:
            for person in rung:
                if person.user_id == leaving_user_id:
                    the_ladder = ladder.mark_unreachable(the_ladder, person.post_id)
    decision = ladder.reopen(the_ladder, await _state(session, concern))
    return await _apply(
        session, concern, decision, policy, now, reason=REOPENED, admin_ids=admin_ids, key=f"r{times + 1}"
    )


async def record_refusal(session: AsyncSession, *, user_id: int, concern_id: int) -> None:
    """Someone tried to open or take up a concern outside their scope: kept in the audit log.

    Its own transaction, after the refused one was rolled back, so the record survives the refusal.
    """
    session.add(AuditEvent(actor_user_id=user_id, action="concern.refused", subject=f"concern:{concern_id}"))


in_scope = caseworker.covers  # does this post cover the concern's village (or township, county)?


@dataclass(frozen=True)
class Acknowledged:
    ref: str
    post: PostView | None
    first: bool  # False when someone had already acknowledged it
    outbox_ids: tuple[int, ...]


async def acknowledge(
    session: AsyncSession, *, concern_id: int, user_id: int, admin: bool = False, now: datetime | None = None
) -> Acknowledged:
    now = now or utcnow()
    concern = await session.get(Concern, concern_id, with_for_update=True)
    if concern is None:
        raise NotAllowed
    path = {a.level: a.id for a in await areas.area_path(session, concern.village_id)}
    posts = [p for p in await caseworker.posts_of(session, user_id) if in_scope(p, path)]
    if not posts and not admin:
        raise NotAllowed
    post = posts[0] if posts else None
    if concern.status != "open":
        existing = (
            await caseworker.post_view(session, concern.acknowledged_post_id) if concern.acknowledged_post_id else None
        )
        return Acknowledged(concern.ref or "", existing, False, ())
    concern.status = "acknowledged"
    concern.acknowledged_at = now
    concern.acknowledged_post_id = post.id if post else None
    concern.acknowledged_by_user_id = user_id
    concern.ack_due_at = None
    concern.follow_up_at = now + triage.follow_up(triage.policy(), concern.urgency)
    session.add(
        CaseEvent(
            concern_id=concern.id,
            at=now,
            kind="acknowledged",
            actor_user_id=user_id,
            post_id=concern.acknowledged_post_id,
        )
    )
    ids: list[int] = []
    if concern.reporter_user_id is not None:
        reporter = await session.get(User, concern.reporter_user_id)
        if reporter is not None:
            tr = Tr(reporter.locale, reporter.timezone)
            who = labels.badge(tr, post) if post else tr.gettext("an administrator")
            text = tr.gettext("👀 Your report {ref} is being looked at by: {who}").format(ref=concern.ref, who=who)
            new_id = await outbox.enqueue(
                session,
                user_id=reporter.id,
                chat_id=reporter.chat_id,
                kind="concern.acknowledged",
                text=text,
                dedupe_key=f"concern:{concern.id}:acknowledged:reporter",
            )
            if new_id is not None:
                ids.append(new_id)
    await session.flush()
    return Acknowledged(concern.ref or "", post, True, tuple(ids))


# --- the caseworker's side -----------------------------------------------------------------------------

URGENCY_ORDER = {"emergency": 0, "high": 1, "normal": 2}
NOTE_MAX = 500


@dataclass(frozen=True)
class CaseRow:
    concern_id: int
    ref: str
    urgency: str
    category: str
    status: str
    village_zh: str
    village_en: str
    created_at: datetime
    ack_due_at: datetime | None


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    kind: str
    post: PostView | None
    detail: dict[str, object]


async def _scope_posts(session: AsyncSession, user_id: int, village_id: int) -> list[PostView]:
    path = {a.level: a.id for a in await areas.area_path(session, village_id)}
    return [p for p in await caseworker.posts_of(session, user_id) if in_scope(p, path)]


async def record_listing(session: AsyncSession, *, user_id: int, page: int) -> None:
    """Seeing the list is seeing which children have concerns: audited like opening one."""
    session.add(AuditEvent(actor_user_id=user_id, action="concern.list", subject=f"page:{page}"))


async def cases_in_scope(session: AsyncSession, user_id: int) -> list[CaseRow]:
    """Open and acknowledged concerns in the caseworker's villages: most urgent, then oldest, first."""
    posts = await caseworker.posts_of(session, user_id)
    if not posts:
        return []
    rows = (await session.scalars(select(Concern).where(Concern.status.in_(("open", "acknowledged"))))).all()
    out: list[CaseRow] = []
    for concern in rows:
        path = await areas.area_path(session, concern.village_id)
        by_level = {a.level: a.id for a in path}
        if not any(in_scope(p, by_level) for p in posts):
            continue
        village = path[-1]
        out.append(
            CaseRow(
                concern.id,
                concern.ref or "",
                concern.urgency,
                concern.category,
                concern.status,
                village.name_zh,
                village.name_en,
                concern.created_at,
                concern.ack_due_at,
            )
        )
    out.sort(key=lambda r: (URGENCY_ORDER[r.urgency], r.created_at))
    return out


async def authorised(session: AsyncSession, user_id: int, concern_id: int) -> tuple[Concern, PostView]:
    """The concern and the caller's post covering it; NotAllowed otherwise (the caller audits the refusal)."""
    concern = await session.get(Concern, concern_id)
    if concern is None:
        raise NotAllowed
    posts = await _scope_posts(session, user_id, concern.village_id)
    if not posts:
        raise NotAllowed
    return concern, posts[0]


async def view_case(
    session: AsyncSession, *, user_id: int, concern_id: int, now: datetime | None = None
) -> tuple[Concern, list[TimelineEntry]]:
    """Open one concern: every view is recorded (who and when) in its timeline and in the audit log."""
    now = now or utcnow()
    concern, post = await authorised(session, user_id, concern_id)
    session.add(CaseEvent(concern_id=concern.id, at=now, kind="viewed", actor_user_id=user_id, post_id=post.id))
    session.add(AuditEvent(actor_user_id=user_id, action="concern.view", subject=f"concern:{concern.id}"))
    await session.flush()
    events = (
        await session.scalars(select(CaseEvent).where(CaseEvent.concern_id == concern.id).order_by(CaseEvent.id))
    ).all()
    timeline = [
        TimelineEntry(
            e.at, e.kind, await caseworker.post_view(session, e.post_id) if e.post_id else None, dict(e.detail)
        )
        for e in events
    ]
    return concern, timeline


async def add_note(
    session: AsyncSession, *, user_id: int, concern_id: int, text: str, now: datetime | None = None
) -> None:
    now = now or utcnow()
    concern, post = await authorised(session, user_id, concern_id)
    _touch(concern, now)
    session.add(
        CaseEvent(
            concern_id=concern.id, at=now, kind="note", actor_user_id=user_id, post_id=post.id, detail={"text": text}
        )
    )


def _touch(concern: Concern, now: datetime) -> None:
    """Something was done on a taken-up concern: its holder's next reminder moves on."""
    if concern.status == "acknowledged":
        concern.follow_up_at = now + triage.follow_up(triage.policy(), concern.urgency)


@dataclass(frozen=True)
class PoliceReport:
    """What MPL Art. 11 asks to be kept: where and when it was reported, and the receipt number."""

    station: str
    receipt: str
    reported_on: date


POLICE_EARLIEST = timedelta(days=30)  # a report made before the concern was filed still counts


async def record_police_report(
    session: AsyncSession,
    *,
    user_id: int,
    concern_id: int,
    report: PoliceReport | None = None,
    not_needed_because: str | None = None,
    today: date,
    now: datetime | None = None,
) -> None:
    """The police report, or why none was needed; `today` is the caseworker's own date."""
    now = now or utcnow()
    if (report is None) == (not_needed_because is None):
        raise ValueError("give the report or why none was needed, not both")
    concern, post = await authorised(session, user_id, concern_id)
    if concern.status == "resolved":
        raise Invalid("already_resolved")
    detail: dict[str, object]
    if report is not None:
        if not (concern.created_at - POLICE_EARLIEST).date() <= report.reported_on <= today:
            raise Invalid("police_date")
        detail = {"station": report.station, "receipt": report.receipt, "reported_on": report.reported_on.isoformat()}
    else:
        detail = {"not_needed_because": not_needed_because}
    concern.police_report = {"recorded_at": now.isoformat(), **detail}
    _touch(concern, now)
    session.add(
        CaseEvent(
            concern_id=concern.id,
            at=now,
            kind="police_report",
            actor_user_id=user_id,
            post_id=post.id,
            detail={"not_needed": report is None, **detail},
        )
    )


async def resolve(
    session: AsyncSession, *, user_id: int, concern_id: int, outcome: str, now: datetime | None = None
) -> list[int]:
    """Close the concern; a mandatory-report category needs the police report (or why none) first."""
    now = now or utcnow()
    concern, post = await authorised(session, user_id, concern_id)
    if concern.status == "resolved":
        raise Invalid("already_resolved")
    if triage.needs_police_report(triage.policy(), concern.category) and not concern.police_report:
        raise Invalid("police_report_needed")
    if concern.status == "open":
        # Resolving is also taking it up: the ladder stops.
        concern.acknowledged_at = now
        concern.acknowledged_post_id = post.id
        concern.acknowledged_by_user_id = user_id
    concern.status = "resolved"
    concern.resolved_at = now
    concern.outcome = outcome
    concern.ack_due_at = None
    concern.follow_up_at = None
    session.add(
        CaseEvent(
            concern_id=concern.id,
            at=now,
            kind="resolved",
            actor_user_id=user_id,
            post_id=post.id,
            detail={"outcome": outcome},
        )
    )
    ids: list[int] = []
    if concern.reporter_user_id is not None:
        reporter = await session.get(User, concern.reporter_user_id)
        if reporter is not None:
            tr = Tr(reporter.locale, reporter.timezone)
            text = tr.gettext("✅ Your report {ref} has been dealt with by: {who}. Thank you for speaking up.").format(
                ref=concern.ref, who=labels.badge(tr, post)
            )
            new_id = await outbox.enqueue(
                session,
                user_id=reporter.id,
                chat_id=reporter.chat_id,
                kind="concern.resolved",
                text=text,
                dedupe_key=f"concern:{concern.id}:resolved:reporter",
            )
            if new_id is not None:
                ids.append(new_id)
    await session.flush()
    return ids


DUPLICATE_WINDOW = timedelta(minutes=10)


@dataclass(frozen=True)
class Duplicate:
    id: int
    ref: str
    created_at: datetime


_CN = Concern.__table__.c  # type: ignore[attr-defined]
_SAME_WORRY = (
    select(_CN.id, _CN.ref, _CN.created_at)
    .where(
        _CN.reporter_user_id == bindparam("reporter"),
        _CN.category == bindparam("category"),
        _CN.status != "resolved",
        _CN.created_at >= bindparam("since"),
    )
    .order_by(_CN.id.desc())
    .limit(1)
)
# About a registered child: the same child; about another child: the same village.
_SAME_WORRY_CHILD = _SAME_WORRY.where(_CN.child_id == bindparam("child_id"))
_SAME_WORRY_VILLAGE = _SAME_WORRY.where(_CN.child_id.is_(None), _CN.village_id == bindparam("village_id"))


async def recent_duplicate(session: AsyncSession, *, new: NewConcern, now: datetime | None = None) -> Duplicate | None:
    """The same reporter, child (or village) and category within ten minutes, still open: add to it instead?

    Asked at every report filed: one Core query, built once."""
    now = now or utcnow()
    params: dict[str, object] = {
        "reporter": new.reporter_user_id,
        "category": new.category,
        "since": now - DUPLICATE_WINDOW,
    }
    if new.child_id is not None:
        query, params["child_id"] = _SAME_WORRY_CHILD, new.child_id
    else:
        query, params["village_id"] = _SAME_WORRY_VILLAGE, new.village_id
    row = (await fetch_core(session, query, params)).first()
    return None if row is None else Duplicate(row.id, row.ref, row.created_at)


async def add_to(session: AsyncSession, *, concern_id: int, new: NewConcern, now: datetime | None = None) -> list[int]:
    """More information on an existing concern, from the same reporter; its caseworkers are told."""
    now = now or utcnow()
    concern = await session.get_one(Concern, concern_id)
    if concern.reporter_user_id != new.reporter_user_id:
        raise NotAllowed
    added = []
    for kind, file_id in new.attachments:
        attachment = ConcernAttachment(concern_id=concern.id, kind=kind, file_id=file_id, created_at=now)
        session.add(attachment)
        added.append(attachment)
    detail: dict[str, object] = {"text": new.description or "", "in_danger": new.in_danger}
    event = CaseEvent(
        concern_id=concern.id, at=now, kind="more_info", actor_user_id=new.reporter_user_id, detail=detail
    )
    session.add(event)
    newly_in_danger = new.in_danger and not concern.in_danger
    if newly_in_danger:
        concern.in_danger, concern.danger_unsure = True, new.danger_unsure
    ids: list[int] = []
    told_in_full: set[int] = set()  # newly notified: their notification already carries the new words
    policy = triage.policy()
    before = concern.urgency
    after = min(before, _urgency(policy, concern.category, new.in_danger, new.description), key=URGENCY_RANK.get)
    if after != before:
        # "Now he is threatening her": the same triage as a new report, and the ladder catches up.
        concern.urgency = after
        session.add(CaseEvent(concern_id=concern.id, at=now, kind=RAISED, detail={"from": before, "to": after}))
        if concern.status == "acknowledged" and concern.follow_up_at is not None:
            concern.follow_up_at = min(concern.follow_up_at, now + triage.follow_up(policy, after))
        if concern.status == "open":
            tighter = now + triage.ack_deadline(policy, after)
            if after == "emergency":
                decision = ladder.raised_to_emergency(
                    await load_ladder(session, concern.village_id), await _state(session, concern)
                )
                ids += await _apply(session, concern, decision, policy, now, reason=RAISED, admin_ids=frozenset())
                told_in_full = {p.post_id for p in decision.notify}
            concern.ack_due_at = min(concern.ack_due_at or tighter, tighter)
    await session.flush()
    holders = (
        {concern.acknowledged_post_id}
        if concern.acknowledged_post_id
        else set((await _state(session, concern)).notified)
    )
    for post_id in holders:
        if post_id is None or post_id in told_in_full:
            continue
        post = await session.get(CaseworkerPost, post_id)
        user = await session.get(User, post.user_id) if post else None
        if user is None:
            continue
        tr = Tr(user.locale, user.timezone)
        text = tr.gettext("➕ More information on concern {ref} from the reporter:").format(ref=concern.ref)
        if new.description:
            text += "\n" + html.escape(new.description, quote=False)
        if newly_in_danger:
            text += "\n" + tr.gettext("The reporter now says the child is in danger right now.")
        if after != before:
            text += "\n" + tr.gettext("⚠️ This is now: {urgency}").format(urgency=tr.gettext(URGENCY_LABELS[after]))
        new_id = await outbox.enqueue(
            session,
            user_id=user.id,
            chat_id=user.chat_id,
            kind="concern.more",
            text=text,
            buttons=[[(tr.gettext("📂 Open"), f"cs:open:{concern.id}")]],
            dedupe_key=f"concern:{concern.id}:more:{event.id}:{post_id}",
        )
        if new_id is not None:
            ids.append(new_id)
        # New voice notes and photos go to the people holding the concern, like the first ones did.
        ids += await _forward_media(session, concern, user, tr, added, post_id)
    return ids


# --- referral, transfer, a message to the reporter -----------------------------------------------------

NEED_FOR_CATEGORY = {
    "danger_now": "protection",
    "violence": "protection",
    "sexual_abuse": "protection",
    "left_alone": "protection",
    "missing": "protection",
    "injury_illness": "health",
    "self_harm": "mental_health",
    "not_in_school": "school",
    "bullying": "school",
    "other": "assistance",
}


async def referral_options(session: AsyncSession, *, user_id: int, concern_id: int, now: datetime) -> list[Entry]:
    """Directory contacts that fit the concern, for its village: the same ranking families see."""
    concern, _post = await authorised(session, user_id, concern_id)
    place = await directory.place_of(session, concern.village_id)
    entries = [e for e in await directory.entries_for(session, place) if e.post is None]
    return [r.entry for r in directory.rank(entries, NEED_FOR_CATEGORY[concern.category], now, limit=8)]


async def refer(session: AsyncSession, *, user_id: int, concern_id: int, entry_key: str, now: datetime) -> Entry:
    concern, post = await authorised(session, user_id, concern_id)
    _touch(concern, now)
    entry = directory.find(await referral_options(session, user_id=user_id, concern_id=concern_id, now=now), entry_key)
    if entry is None:
        raise NotAllowed
    session.add(
        CaseEvent(
            concern_id=concern.id,
            at=now,
            kind="referral",
            actor_user_id=user_id,
            post_id=post.id,
            detail={"contact": entry.key, "name_zh": entry.name_zh, "name_en": entry.name_en, "phone": entry.phone},
        )
    )
    return entry


async def transfer_options(session: AsyncSession, *, user_id: int, concern_id: int) -> list[PostView]:
    """Other active posts that cover the concern's village (its village, township and county)."""
    concern, _post = await authorised(session, user_id, concern_id)
    the_ladder = await load_ladder(session, concern.village_id)
    mine = {p.id for p in await caseworker.posts_of(session, user_id)}
    out: list[PostView] = []
    for rung in the_ladder.rungs:
        for person in rung:
            if person.post_id not in mine and person.reachable:
                out.append(await caseworker.post_view(session, person.post_id))
    return out


async def transfer(session: AsyncSession, *, user_id: int, concern_id: int, post_id: int, now: datetime) -> list[int]:
    concern, post = await authorised(session, user_id, concern_id)
    target = next(
        (p for p in await transfer_options(session, user_id=user_id, concern_id=concern_id) if p.id == post_id), None
    )
    if target is None:
        raise NotAllowed
    target_post = await session.get_one(CaseworkerPost, target.id)
    if concern.status == "acknowledged":
        # The receiver holds it now: their follow-up reminders, and a reopening if they cannot be reached.
        concern.acknowledged_post_id = target.id
        concern.acknowledged_by_user_id = target_post.user_id
        _touch(concern, now)
    session.add(
        CaseEvent(
            concern_id=concern.id,
            at=now,
            kind="transferred",
            actor_user_id=user_id,
            post_id=target.id,
            detail={"from": post.id},
        )
    )
    user = await session.get_one(User, target_post.user_id)
    tr = Tr(user.locale, user.timezone)
    text = (
        tr.gettext("↪️ Concern {ref} has been passed to you by: {who}").format(
            ref=concern.ref, who=labels.badge(tr, post)
        )
        + "\n\n"
        + await render_for_caseworker(session, concern, tr, "")
    )
    buttons = case_buttons(tr, concern)
    new_id = await outbox.enqueue(
        session,
        user_id=user.id,
        chat_id=user.chat_id,
        kind="concern.transfer",
        text=text,
        buttons=buttons,
        dedupe_key=f"concern:{concern.id}:transfer:{target.id}:{now.isoformat()}",
    )
    return [new_id] if new_id is not None else []


async def message_reporter(
    session: AsyncSession, *, user_id: int, concern_id: int, text: str, now: datetime
) -> list[int]:
    """A caseworker's words relayed to the reporter (only if they agreed), under the verified post's badge."""
    concern, post = await authorised(session, user_id, concern_id)
    if not concern.reporter_shares_contact or concern.reporter_user_id is None:
        raise NotAllowed
    reporter = await session.get(User, concern.reporter_user_id)
    if reporter is None:
        raise NotAllowed
    tr = Tr(reporter.locale, reporter.timezone)
    body = tr.gettext("💬 About your report {ref}:").format(ref=concern.ref)
    relayed = f"{body}\n{html.escape(text, quote=False)}\n\n{labels.badge(tr, post)}"
    _touch(concern, now)
    event = CaseEvent(
        concern_id=concern.id, at=now, kind="message", actor_user_id=user_id, post_id=post.id, detail={"text": text}
    )
    session.add(event)
    await session.flush()
    new_id = await outbox.enqueue(
        session,
        user_id=reporter.id,
        chat_id=reporter.chat_id,
        kind="concern.message",
        text=relayed,
        dedupe_key=f"concern:{concern.id}:message:{event.id}",
    )
    return [new_id] if new_id is not None else []


async def reconcile_unreachable(
    session: AsyncSession, *, admin_ids: frozenset[int] = frozenset(), now: datetime | None = None
) -> list[int]:
    """Unreachable caseworkers still holding open concerns: fail over (idempotent; run by every tick).

    The dispatcher's 403 hook does this at once; this catches a hook that failed or a crash in between.
    """
    holders = (
        await session.scalars(
            select(User.id)
            .join(CaseworkerPost, CaseworkerPost.user_id == User.id)
            .join(CaseEvent, (CaseEvent.post_id == CaseworkerPost.id) & (CaseEvent.kind == "notified"))
            .join(Concern, (Concern.id == CaseEvent.concern_id) & (Concern.status == "open"))
            .where(User.unreachable.is_(True))
            .distinct()
        )
    ).all()
    ids: list[int] = []
    for user_id in holders:
        ids += await person_unreachable(session, user_id, admin_ids=admin_ids, now=now)
    # Taken up by someone who has since blocked the bot or deleted their data (a crash before the failover).
    orphans = (
        await session.scalars(
            select(Concern)
            .outerjoin(User, User.id == Concern.acknowledged_by_user_id)
            .where(Concern.status == "acknowledged", (User.id.is_(None)) | (User.unreachable.is_(True)))
            .order_by(Concern.id)
        )
    ).all()
    for concern in orphans:
        ids += await _reopen(
            session,
            concern,
            triage.policy(),
            now or utcnow(),
            leaving_user_id=concern.acknowledged_by_user_id,
            admin_ids=admin_ids,
        )
    return ids


async def follow_up_due(session: AsyncSession, *, now: datetime | None = None, limit: int = 50) -> list[int]:
    """Taken-up concerns with nothing recorded for a while: their holder is reminded to record or resolve."""
    now = now or utcnow()
    policy = triage.policy()
    query = (
        select(Concern)
        .where(Concern.status == "acknowledged", Concern.follow_up_at.is_not(None), Concern.follow_up_at <= now)
        .order_by(Concern.follow_up_at)
        .limit(limit)
    )
    query = skip_locked(session, query)
    ids: list[int] = []
    for concern in (await session.scalars(query)).all():
        holder = await session.get(User, concern.acknowledged_by_user_id) if concern.acknowledged_by_user_id else None
        concern.follow_up_at = now + triage.follow_up(policy, concern.urgency)
        if holder is None or holder.unreachable:
            continue  # reconcile_unreachable opens it again
        times = int(
            await session.scalar(
                select(func.count())
                .select_from(CaseEvent)
                .where(CaseEvent.concern_id == concern.id, CaseEvent.kind == "follow_up")
            )
            or 0
        )
        session.add(
            CaseEvent(concern_id=concern.id, at=now, kind="follow_up", post_id=concern.acknowledged_post_id, detail={})
        )
        tr = Tr(holder.locale, holder.timezone)
        taken = concern.acknowledged_at or concern.created_at
        text = tr.gettext(
            "⏰ Concern {ref} ({category}) was taken up on {when} and is not resolved. Please add a note on what "
            "has been done, or resolve it."
        ).format(ref=concern.ref, category=tr.gettext(CATEGORY_LABELS[concern.category]), when=tr.when(taken))
        new_id = await outbox.enqueue(
            session,
            user_id=holder.id,
            chat_id=holder.chat_id,
            kind="concern.follow_up",
            text=text,
            buttons=case_buttons(tr, concern),
            dedupe_key=f"concern:{concern.id}:follow-up:{times + 1}",
        )
        if new_id is not None:
            ids.append(new_id)
    return ids


FREE_TEXT_EVENTS = ("note", "message", "more_info", "police_report", "resolved")


async def purge_resolved(session: AsyncSession, *, before: datetime, limit: int = 500) -> int:
    """Concerns resolved before `before`: their free text and voice/photo references go; the timeline stays.

    What stays: the reference, village, category, urgency, every event's kind, time and post (the county's
    figures and the MPL Art. 11 record). What goes: the description, the outcome, notes, messages, more
    information from the reporter, the police report's station and receipt, and the attachments.
    """
    rows = (
        await session.scalars(
            select(Concern)
            .where(Concern.status == "resolved", Concern.resolved_at < before, Concern.purged_at.is_(None))
            .order_by(Concern.resolved_at)
            .limit(limit)
        )
    ).all()
    for concern in rows:
        concern.description = None
        concern.outcome = None
        if concern.police_report:
            concern.police_report = {"recorded_at": concern.police_report.get("recorded_at"), "purged": True}
        concern.purged_at = before
        await session.execute(ConcernAttachment.__table__.delete().where(ConcernAttachment.concern_id == concern.id))
        events = (
            await session.scalars(
                select(CaseEvent).where(CaseEvent.concern_id == concern.id, CaseEvent.kind.in_(FREE_TEXT_EVENTS))
            )
        ).all()
        for event in events:
            # Kept: whether it was "no report needed", so the MPL Art. 11 gate's history still reads right.
            event.detail = {k: v for k, v in dict(event.detail).items() if k in ("not_needed", "n", "why", "rung")}
    return len(rows)
