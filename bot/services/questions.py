"""Questions for a person: when the library's answers are not enough, or the question came as a voice note.

The village child director answers in the bot, and the answer reaches the asker under the verified post.
Unanswered after 48 hours, the question moves to the township supervisor. Through the outbox, like every
important message. A question the library answered is counted without keeping its words.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import labels
from bot.i18n import Tr
from bot.services import areas, caseworker, outbox
from bot.services.caseworker import PostView
from bot.services.errors import Invalid, NotAllowed
from db.models import AuditEvent, CaseworkerPost, Question, User
from db.session import skip_locked

ANSWER_WITHIN = timedelta(hours=48)
TEXT_MAX = 1000


@dataclass(frozen=True)
class QuestionView:
    id: int
    text: str | None
    voice_file_id: str | None
    status: str
    level: str
    created_at: datetime
    village_zh: str
    village_en: str
    answer: str | None


async def library_helped(session: AsyncSession, *, user_id: int, village_id: int | None, now: datetime) -> None:
    """ "This helped": counted for the county's figures, without the question's words."""
    if village_id is None:
        return
    session.add(
        Question(asker_user_id=user_id, village_id=village_id, status="library", created_at=now, library_helped=True)
    )


async def ask(
    session: AsyncSession,
    *,
    user_id: int,
    village_id: int,
    text: str | None,
    voice_file_id: str | None,
    now: datetime,
    after_library: bool = False,
) -> tuple[int, list[int]]:
    """A question for the village's child directors (the township's supervisors when there is none)."""
    if not text and not voice_file_id:
        raise Invalid("empty")
    village = await areas.get_area(session, village_id)
    if village is None or village.level != "village":
        raise NotAllowed
    question = Question(
        asker_user_id=user_id,
        village_id=village_id,
        text=text,
        voice_file_id=voice_file_id,
        status="open",
        level="village",
        created_at=now,
        due_at=now + ANSWER_WITHIN,
        library_helped=False if after_library else None,
    )
    session.add(question)
    await session.flush()
    people = await _posts_at(session, village_id, "village")
    if not people:
        question.level, question.due_at = "township", None
        people = await _posts_at(session, village_id, "township")
    return question.id, await _notify(session, question, people, moved=False)


async def _posts_at(session: AsyncSession, village_id: int, level: str) -> list[tuple[User, int]]:
    path = {a.level: a.id for a in await areas.area_path(session, village_id)}
    if level not in path:
        return []
    rows = (
        await session.execute(
            select(User, CaseworkerPost.id)
            .join(CaseworkerPost, CaseworkerPost.user_id == User.id)
            .where(
                CaseworkerPost.area_id == path[level],
                CaseworkerPost.level == level,
                CaseworkerPost.active.is_(True),
                User.unreachable.is_(False),
            )
            .order_by(CaseworkerPost.id)
        )
    ).all()
    return [(u, p) for u, p in rows]


async def _notify(
    session: AsyncSession, question: Question, people: list[tuple[User, int]], *, moved: bool
) -> list[int]:
    ids: list[int] = []
    for user, post_id in people:
        tr = Tr(user.locale, user.timezone)
        head = (
            tr.gettext("❓ A question not answered in 48 hours below; now with you.")
            if moved
            else tr.gettext("❓ A family has a question for you.")
        )
        body = html.escape(question.text, quote=False) if question.text else tr.gettext("(a voice message)")
        new_id = await outbox.enqueue(
            session,
            user_id=user.id,
            chat_id=user.chat_id,
            kind="question.notify",
            text=f"{head}\n\n{body}",
            buttons=[
                [(tr.gettext("✍️ Answer"), f"qa:ans:{question.id}"), (tr.gettext("📂 Open"), f"qa:open:{question.id}")]
            ],
            dedupe_key=f"question:{question.id}:{question.level}:{post_id}",
            media=("voice", question.voice_file_id) if question.voice_file_id else None,
        )
        if new_id is not None:
            ids.append(new_id)
    return ids


async def _authorised(session: AsyncSession, user_id: int, question_id: int) -> tuple[Question, PostView]:
    question = await session.get(Question, question_id)
    if question is None or question.status == "library":
        raise NotAllowed
    path = {a.level: a.id for a in await areas.area_path(session, question.village_id)}
    posts = [p for p in await caseworker.posts_of(session, user_id) if caseworker.covers(p, path)]
    if not posts:
        raise NotAllowed
    return question, posts[0]


async def record_refusal(session: AsyncSession, *, user_id: int, question_id: int) -> None:
    session.add(AuditEvent(actor_user_id=user_id, action="question.refused", subject=f"question:{question_id}"))


async def _view(session: AsyncSession, q: Question) -> QuestionView:
    village = (await areas.area_path(session, q.village_id))[-1]
    return QuestionView(
        q.id, q.text, q.voice_file_id, q.status, q.level, q.created_at, village.name_zh, village.name_en, q.answer
    )


async def open_question(session: AsyncSession, *, user_id: int, question_id: int) -> QuestionView:
    question, _post = await _authorised(session, user_id, question_id)
    session.add(AuditEvent(actor_user_id=user_id, action="question.view", subject=f"question:{question.id}"))
    return await _view(session, question)


async def waiting(session: AsyncSession, user_id: int) -> list[QuestionView]:
    """Open questions in the caseworker's area, oldest first."""
    posts = await caseworker.posts_of(session, user_id)
    if not posts:
        return []
    out: list[QuestionView] = []
    for q in (
        await session.scalars(select(Question).where(Question.status == "open").order_by(Question.created_at))
    ).all():
        path = {a.level: a.id for a in await areas.area_path(session, q.village_id)}
        if any(caseworker.covers(p, path) for p in posts):
            out.append(await _view(session, q))
    return out


async def answer(session: AsyncSession, *, user_id: int, question_id: int, text: str, now: datetime) -> list[int]:
    """The answer goes to the asker under the verified post, never the caseworker's own details."""
    question, post = await _authorised(session, user_id, question_id)
    if question.status != "open":
        raise Invalid("answered")
    question.status, question.answer, question.answered_at = "answered", text, now
    question.answered_by_post_id, question.due_at = post.id, None
    if question.asker_user_id is None:
        return []
    asker = await session.get(User, question.asker_user_id)
    if asker is None:
        return []
    tr = Tr(asker.locale, asker.timezone)
    asked = html.escape(question.text, quote=False) if question.text else tr.gettext("(your voice message)")
    body = "\n\n".join(
        [
            tr.gettext("💬 An answer to your question:"),
            f"<i>{asked}</i>",
            html.escape(text, quote=False),
            labels.badge(tr, post),
        ]
    )
    new_id = await outbox.enqueue(
        session,
        user_id=asker.id,
        chat_id=asker.chat_id,
        kind="question.answer",
        text=body,
        dedupe_key=f"question:{question.id}:answer",
    )
    return [new_id] if new_id is not None else []


async def escalate_due(session: AsyncSession, *, now: datetime, limit: int = 100) -> list[int]:
    """Unanswered after 48 hours: the township's supervisors get the question too."""
    query = (
        select(Question)
        .where(Question.status == "open", Question.due_at.is_not(None), Question.due_at <= now)
        .order_by(Question.due_at)
        .limit(limit)
    )
    query = skip_locked(session, query)
    ids: list[int] = []
    for question in (await session.scalars(query)).all():
        question.level, question.due_at = "township", None
        ids += await _notify(session, question, await _posts_at(session, question.village_id, "township"), moved=True)
    return ids
