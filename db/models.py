"""The data the product keeps: the minimum necessary (PIPL Art. 28/31, MPL Art. 72).

No Telegram names, usernames or message text are stored. Children are kept by nickname and birth
year-month only; the backup adult by the name, relation and phone the guardian chooses to give.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from db.types import UTCDateTime, utcnow

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# SQLite reuses the largest rowid after a delete unless AUTOINCREMENT is set; outbox dedupe keys and audit
# subjects name rows by id, so a deleted person's id must never come back as someone else's.
NO_ID_REUSE: dict[str, Any] = {"sqlite_autoincrement": True}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime, dict[str, Any]: JSON}


class Area(Base):
    """County > township > village. `is_sample` marks made-up places shipped for the pilot demo."""

    __tablename__ = "area"
    __table_args__ = NO_ID_REUSE

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("area.id", ondelete="RESTRICT"), index=True)
    level: Mapped[str] = mapped_column(String(16))  # county | township | village
    name_zh: Mapped[str] = mapped_column(String(64))
    name_en: Mapped[str] = mapped_column(String(96))
    is_sample: Mapped[bool] = mapped_column(Boolean, default=False)

    parent: Mapped[Area | None] = relationship(remote_side=[id])


class User(Base):
    __tablename__ = "app_user"
    __table_args__ = NO_ID_REUSE

    id: Mapped[int] = mapped_column(primary_key=True)
    telegram_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    locale: Mapped[str] = mapped_column(String(16))
    timezone: Mapped[str] = mapped_column(String(64))
    # guardian | parent | caseworker | None until chosen
    role: Mapped[str | None] = mapped_column(String(16))
    notice_accepted_at: Mapped[datetime | None]
    notice_declined_at: Mapped[datetime | None]
    unreachable: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The parent's own zone is asked once, when they first book a call; until then the default.
    timezone_chosen: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    quiet_hours: Mapped[str | None] = mapped_column(String(11))  # "21:30-07:00"; None: the policy's default
    # The last time the person did anything in the bot (kept to the hour), for the guardian-silence check.
    last_seen_at: Mapped[datetime | None]

    memberships: Mapped[list[Membership]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )
    posts: Mapped[list[CaseworkerPost]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )


class Household(Base):
    __tablename__ = "household"
    __table_args__ = NO_ID_REUSE

    id: Mapped[int] = mapped_column(primary_key=True)
    village_id: Mapped[int] = mapped_column(ForeignKey("area.id", ondelete="RESTRICT"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    village: Mapped[Area] = relationship()
    children: Mapped[list[Child]] = relationship(
        back_populates="household", cascade="all, delete-orphan", passive_deletes=True, order_by="Child.id"
    )
    members: Mapped[list[Membership]] = relationship(
        back_populates="household", cascade="all, delete-orphan", passive_deletes=True, order_by="Membership.id"
    )
    backup_adults: Mapped[list[BackupAdult]] = relationship(
        back_populates="household", cascade="all, delete-orphan", passive_deletes=True, order_by="BackupAdult.id"
    )


class Membership(Base):
    """A person's place in a household: `kind` is guardian (entrusted carer) or parent (legal guardian)."""

    __tablename__ = "membership"
    __table_args__ = (UniqueConstraint("household_id", "user_id"), NO_ID_REUSE)

    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("household.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    relation: Mapped[str] = mapped_column(String(24))
    kind: Mapped[str] = mapped_column(String(16))
    joined_at: Mapped[datetime] = mapped_column(default=utcnow)

    household: Mapped[Household] = relationship(back_populates="members")
    user: Mapped[User] = relationship(back_populates="memberships")


class Child(Base):
    __tablename__ = "child"
    __table_args__ = NO_ID_REUSE

    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("household.id", ondelete="CASCADE"), index=True)
    nickname: Mapped[str] = mapped_column(String(32))
    birth_year: Mapped[int] = mapped_column(Integer)
    birth_month: Mapped[int] = mapped_column(Integer)
    school: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    household: Mapped[Household] = relationship(back_populates="children")
    consents: Mapped[list[ChildConsent]] = relationship(
        back_populates="child", cascade="all, delete-orphan", passive_deletes=True
    )


class ChildConsent(Base):
    """A parent's consent to processing a child's information (PIPL Art. 31, MPL Art. 72)."""

    __tablename__ = "child_consent"
    __table_args__ = (UniqueConstraint("child_id", "user_id"), NO_ID_REUSE)

    id: Mapped[int] = mapped_column(primary_key=True)
    child_id: Mapped[int] = mapped_column(ForeignKey("child.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    given_at: Mapped[datetime] = mapped_column(default=utcnow)

    child: Mapped[Child] = relationship(back_populates="consents")


class BackupAdult(Base):
    """Who looks after the child if the guardian falls ill (MPL Art. 21/22)."""

    __tablename__ = "backup_adult"
    __table_args__ = NO_ID_REUSE

    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("household.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(32))
    relation: Mapped[str] = mapped_column(String(24))
    phone: Mapped[str] = mapped_column(String(20))
    added_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    household: Mapped[Household] = relationship(back_populates="backup_adults")


class InviteCode(Base):
    """Household link codes and caseworker invites. Only a hash of the code is stored."""

    __tablename__ = "invite_code"
    __table_args__ = NO_ID_REUSE

    id: Mapped[int] = mapped_column(primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # household | caseworker
    household_id: Mapped[int | None] = mapped_column(ForeignKey("household.id", ondelete="CASCADE"))
    post_level: Mapped[str | None] = mapped_column(String(16))  # village | township | county | admin
    post_phone: Mapped[str | None] = mapped_column(String(20))
    area_id: Mapped[int | None] = mapped_column(ForeignKey("area.id", ondelete="RESTRICT"))
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    used_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))


class CodeAttempt(Base):
    """A wrong code typed by a person; five within an hour lock code entry for an hour."""

    __tablename__ = "code_attempt"
    __table_args__ = NO_ID_REUSE

    id: Mapped[int] = mapped_column(primary_key=True)
    telegram_id: Mapped[int] = mapped_column(BigInteger, index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class CaseworkerPost(Base):
    __tablename__ = "caseworker_post"
    __table_args__ = NO_ID_REUSE

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    area_id: Mapped[int] = mapped_column(ForeignKey("area.id", ondelete="RESTRICT"), index=True)
    level: Mapped[str] = mapped_column(String(16))  # village | township | county | admin
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # A work phone the administrator gave with the invite, shown in the directory; never a private number.
    phone: Mapped[str | None] = mapped_column(String(20))
    verified_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[User] = relationship(back_populates="posts")
    area: Mapped[Area] = relationship()


class Contact(Base):
    """A place or service that can help: a hotline, the township clinic, the county civil-affairs bureau.

    `scope` is "CN" (national), "GX" (Guangxi) or "area" with `area_id` set (county, township or village).
    `categories` are the needs it serves (see `bot.services.contacts.CATEGORIES`); `hours` is a small
    opening-hours language parsed by `bot.services.hours` ("24h", "mon-fri 08:30-11:30 14:30-17:30", ...).
    """

    __tablename__ = "contact"
    __table_args__ = NO_ID_REUSE

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(48), unique=True)
    name_zh: Mapped[str] = mapped_column(String(64))
    name_en: Mapped[str] = mapped_column(String(96))
    kind: Mapped[str] = mapped_column(String(32))
    categories: Mapped[list[str]] = mapped_column(JSON)
    scope: Mapped[str] = mapped_column(String(8))
    area_id: Mapped[int | None] = mapped_column(ForeignKey("area.id", ondelete="RESTRICT"), index=True)
    phone: Mapped[str] = mapped_column(String(20))
    hours: Mapped[str] = mapped_column(String(120))
    address_zh: Mapped[str] = mapped_column(String(120), default="")
    address_en: Mapped[str] = mapped_column(String(160), default="")
    helps_zh: Mapped[str] = mapped_column(String(80))
    helps_en: Mapped[str] = mapped_column(String(140))
    source: Mapped[str] = mapped_column(String(200))
    verified_on: Mapped[date]
    is_sample: Mapped[bool] = mapped_column(Boolean, default=False)
    position: Mapped[int] = mapped_column(Integer, default=0)  # order within the file, for stable ranking


class Concern(Base):
    """A worry about a child, from anyone, until a caseworker resolves it.

    The child is linked while the household exists; if the family deletes its data the link goes and the
    record stays with its village, category and timeline (MPL Art. 11: a report must not be lost).
    """

    __tablename__ = "concern"
    __table_args__ = (
        Index("ix_concern_status_due", "status", "ack_due_at"),
        Index("ix_concern_status_follow_up", "status", "follow_up_at"),
        NO_ID_REUSE,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ref: Mapped[str | None] = mapped_column(String(24), unique=True)
    village_id: Mapped[int] = mapped_column(ForeignKey("area.id", ondelete="RESTRICT"), index=True)
    household_id: Mapped[int | None] = mapped_column(ForeignKey("household.id", ondelete="SET NULL"))
    child_id: Mapped[int | None] = mapped_column(ForeignKey("child.id", ondelete="SET NULL"))
    about_other_child: Mapped[bool] = mapped_column(Boolean, default=False)
    description: Mapped[str | None] = mapped_column(String(1000))
    category: Mapped[str] = mapped_column(String(24))
    in_danger: Mapped[bool] = mapped_column(Boolean, default=False)  # "yes" or "not sure": treated as danger
    danger_unsure: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    urgency: Mapped[str] = mapped_column(String(12))
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | acknowledged | resolved
    rung: Mapped[int | None] = mapped_column(Integer)  # 0 village, 1 township, 2 county; None: nobody
    at_admins: Mapped[bool] = mapped_column(Boolean, default=False)
    admin_reminders: Mapped[int] = mapped_column(Integer, default=0)
    ack_due_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    acknowledged_at: Mapped[datetime | None]
    acknowledged_post_id: Mapped[int | None] = mapped_column(ForeignKey("caseworker_post.id", ondelete="SET NULL"))
    acknowledged_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    follow_up_at: Mapped[datetime | None]  # taken up: when its holder is next reminded to record or resolve
    resolved_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(500))
    police_report: Mapped[dict[str, Any] | None] = mapped_column()
    reporter_user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"), index=True)
    reporter_relation: Mapped[str | None] = mapped_column(String(24))
    reporter_shares_contact: Mapped[bool] = mapped_column(Boolean, default=False)
    purged_at: Mapped[datetime | None]  # free text and media references removed after the retention period


class ConcernAttachment(Base):
    """A voice note or photo sent with a concern: only Telegram's file id is kept, never the file."""

    __tablename__ = "concern_attachment"
    __table_args__ = NO_ID_REUSE

    id: Mapped[int] = mapped_column(primary_key=True)
    concern_id: Mapped[int] = mapped_column(ForeignKey("concern.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(12))  # voice | photo
    file_id: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CaseEvent(Base):
    """The timeline and audit of a concern: created, notified, viewed, acknowledged, escalated, ..."""

    __tablename__ = "case_event"
    __table_args__ = NO_ID_REUSE

    id: Mapped[int] = mapped_column(primary_key=True)
    concern_id: Mapped[int] = mapped_column(ForeignKey("concern.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    kind: Mapped[str] = mapped_column(String(24))
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    post_id: Mapped[int | None] = mapped_column(ForeignKey("caseworker_post.id", ondelete="SET NULL"))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Draft(Base):
    """A person's unfinished answers in one flow, so a restart mid-flow resumes where they were."""

    __tablename__ = "draft"

    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), primary_key=True)
    flow: Mapped[str] = mapped_column(String(32), primary_key=True)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ConversationState(Base):
    """python-telegram-bot ConversationHandler states (the persistence stores nothing else)."""

    __tablename__ = "conversation_state"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    state: Mapped[Any] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Outbox(Base):
    """A message that must reach a person, written in the same transaction as the change that caused it."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_due", "status", "due_at"), NO_ID_REUSE)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column()
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    # pending | sending | sent | failed (permanent, e.g. BadRequest) | unreachable (403)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    due_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_until: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    telegram_message_id: Mapped[int | None] = mapped_column(BigInteger)


class AuditEvent(Base):
    """Who did what to which record, without personal data in the row itself."""

    __tablename__ = "audit_event"
    __table_args__ = NO_ID_REUSE

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(48))
    subject: Mapped[str] = mapped_column(String(64))


class CallSchedule(Base):
    """A parent's regular (weekly) or one-off video call with the children of a household.

    The next occurrence is a stored `next_due_at`, advanced by the tick (DESIGN-NOTES §4): no job per call.
    """

    __tablename__ = "call_schedule"
    __table_args__ = (Index("ix_call_schedule_status_due", "status", "next_due_at"), NO_ID_REUSE)

    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("household.id", ondelete="CASCADE"), index=True)
    parent_user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(8))  # weekly | once
    weekdays: Mapped[str | None] = mapped_column(String(27))  # "mon,thu": names, never numbers
    local_time: Mapped[str | None] = mapped_column(String(5))  # "20:00" in `timezone`
    timezone: Mapped[str] = mapped_column(String(64))  # the parent's zone when booked
    once_at: Mapped[datetime | None]
    minutes: Mapped[int] = mapped_column(Integer)
    child_ids: Mapped[list[int]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(12), default="active")  # active | paused | cancelled | done
    next_due_at: Mapped[datetime | None]
    revision: Mapped[int] = mapped_column(Integer, default=0)  # each change: a fresh dedupe key for its notices
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CallOccurrence(Base):
    """One call of a schedule: its reminders, the question afterwards, and the answer (first one counts)."""

    __tablename__ = "call_occurrence"
    __table_args__ = (
        # One occurrence per local day: on the night clocks go back, the same wall time comes twice.
        UniqueConstraint("schedule_id", "local_date"),
        Index("ix_call_occurrence_due", "due_at"),
        # The calls tick asks "did the call happen?" of occurrences not yet asked: without this it reads them all.
        Index(
            "ix_call_occurrence_ask",
            "ask_at",
            sqlite_where=text("asked_at IS NULL AND outcome IS NULL AND skipped IS NULL"),
            postgresql_where=text("asked_at IS NULL AND outcome IS NULL AND skipped IS NULL"),
        ),
        # The county's figures: confirmed calls of a household by week.
        Index("ix_call_occurrence_household_due", "household_id", "due_at"),
        NO_ID_REUSE,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    schedule_id: Mapped[int] = mapped_column(ForeignKey("call_schedule.id", ondelete="CASCADE"), index=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("household.id", ondelete="CASCADE"), index=True)
    due_at: Mapped[datetime]
    local_date: Mapped[str] = mapped_column(String(10))  # in the schedule's zone
    skipped: Mapped[str | None] = mapped_column(String(16))  # home_visit | paused
    parent_reminded_at: Mapped[datetime | None]
    guardian_reminded_at: Mapped[datetime | None]
    ask_at: Mapped[datetime]
    asked_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(8))  # done | missed | moved
    confirmed_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    confirmed_at: Mapped[datetime | None]


class CallProposal(Base):
    """A guardian proposes another time for a regular call; the parent accepts or declines."""

    __tablename__ = "call_proposal"
    __table_args__ = NO_ID_REUSE

    id: Mapped[int] = mapped_column(primary_key=True)
    schedule_id: Mapped[int] = mapped_column(ForeignKey("call_schedule.id", ondelete="CASCADE"), index=True)
    proposed_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    weekdays: Mapped[str] = mapped_column(String(27))
    local_time: Mapped[str] = mapped_column(String(5))  # in the household's zone
    status: Mapped[str] = mapped_column(String(10), default="pending")  # pending | accepted | declined
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    answered_at: Mapped[datetime | None]


class HomeVisit(Base):
    """The parent is home (Spring Festival, holidays): call reminders pause for these local dates."""

    __tablename__ = "home_visit"
    __table_args__ = NO_ID_REUSE

    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("household.id", ondelete="CASCADE"), index=True)
    starts_on: Mapped[str] = mapped_column(String(10))  # YYYY-MM-DD, household's zone
    ends_on: Mapped[str] = mapped_column(String(10))
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))


class ContactWatch(Base):
    """Whether a parent keeps in touch (MPL Art. 23): the last confirmed call, the nudges sent, the summary."""

    __tablename__ = "contact_watch"
    __table_args__ = (UniqueConstraint("household_id", "parent_user_id"), NO_ID_REUSE)

    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("household.id", ondelete="CASCADE"), index=True)
    parent_user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    since: Mapped[datetime]  # watching began (the first booking); silence counts from here until a call
    last_contact_at: Mapped[datetime | None]
    level: Mapped[int] = mapped_column(Integer, default=0)  # days of silence already acted on: 0, 7, 14, 30
    tell_guardian: Mapped[bool] = mapped_column(Boolean, default=False)  # the parent's consent, asked at booking
    summary_due_at: Mapped[datetime | None]
    # The next time this row needs the tick (a summary, the next step of the ladder, or a held-back step).
    next_check_at: Mapped[datetime] = mapped_column(index=True)


class SilenceWatch(Base):
    """A guardian who has not answered anything for a long time: asked, then the parent told, then a visit."""

    __tablename__ = "silence_watch"
    __table_args__ = (UniqueConstraint("household_id", "guardian_user_id"), NO_ID_REUSE)

    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("household.id", ondelete="CASCADE"), index=True)
    guardian_user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    stage: Mapped[str] = mapped_column(String(12), default="asked")  # asked | parent_told | welfare
    stage_at: Mapped[datetime]


class WelfareCheck(Base):
    """A request that the child director visit a household: low priority, not a concern; closed with a note."""

    __tablename__ = "welfare_check"
    __table_args__ = (
        Index("ix_welfare_check_status", "status", "village_id"),
        # One open request per household and reason, even with two dispatchers ticking at once.
        Index(
            "uq_welfare_check_open",
            "household_id",
            "reason",
            unique=True,
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
        NO_ID_REUSE,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int | None] = mapped_column(ForeignKey("household.id", ondelete="SET NULL"))
    village_id: Mapped[int] = mapped_column(ForeignKey("area.id", ondelete="RESTRICT"))
    reason: Mapped[str] = mapped_column(String(16))  # no_contact | guardian_silent
    status: Mapped[str] = mapped_column(String(8), default="open")  # open | closed
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None]
    closed_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    note: Mapped[str | None] = mapped_column(String(500))


class TipSubscription(Base):
    """A person's tips: daily or weekly at a local time, for their household's children."""

    __tablename__ = "tip_subscription"
    __table_args__ = (Index("ix_tip_subscription_status_due", "status", "next_due_at"), NO_ID_REUSE)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), unique=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("household.id", ondelete="CASCADE"), index=True)
    frequency: Mapped[str] = mapped_column(String(8))  # daily | weekly
    weekday: Mapped[str | None] = mapped_column(String(3))  # weekly: a name, never a number
    local_time: Mapped[str] = mapped_column(String(5))
    timezone: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(8), default="active")  # active | paused
    next_due_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TipDelivery(Base):
    """A tip a household has seen (browsed or sent): not repeated until the suitable ones are used up."""

    __tablename__ = "tip_delivery"
    __table_args__ = (
        # One tip per subscriber per slot, even with two dispatchers or a restart.
        UniqueConstraint("user_id", "slot"),
        Index("ix_tip_delivery_household_tip", "household_id", "tip_id"),
        Index("ix_tip_delivery_household_sent", "household_id", "sent_at"),  # the county's figures by period
        NO_ID_REUSE,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("household.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    tip_id: Mapped[str] = mapped_column(String(64))
    via: Mapped[str] = mapped_column(String(12))  # browse | subscription
    slot: Mapped[str | None] = mapped_column(String(32))  # subscription: the slot's UTC time
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)


class TipFeedback(Base):
    """👍 helpful / 👎 not for me, per person and tip (the latest answer counts)."""

    __tablename__ = "tip_feedback"
    __table_args__ = (UniqueConstraint("user_id", "tip_id"), NO_ID_REUSE)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    tip_id: Mapped[str] = mapped_column(String(64))
    helpful: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class Question(Base):
    """A question for a person: the village child director first, the township after 48 hours."""

    __tablename__ = "question"
    __table_args__ = (Index("ix_question_status_due", "status", "due_at"), NO_ID_REUSE)

    id: Mapped[int] = mapped_column(primary_key=True)
    asker_user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"), index=True)
    village_id: Mapped[int] = mapped_column(ForeignKey("area.id", ondelete="RESTRICT"), index=True)
    text: Mapped[str | None] = mapped_column(String(1000))
    voice_file_id: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(10), default="open")  # open | answered
    level: Mapped[str] = mapped_column(String(10), default="village")  # village | township
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    due_at: Mapped[datetime | None]  # when it moves up if nobody has answered
    answered_at: Mapped[datetime | None]
    answered_by_post_id: Mapped[int | None] = mapped_column(ForeignKey("caseworker_post.id", ondelete="SET NULL"))
    answer: Mapped[str | None] = mapped_column(String(1000))
    # Was the library's answer enough? (this helped / ask a person), for the county's figures.
    library_helped: Mapped[bool | None] = mapped_column(Boolean)
