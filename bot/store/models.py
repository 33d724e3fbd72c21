"""The product's tables.

A *resident* is a person; an *identity* is how we reach them on one channel (a Telegram chat, a Zalo user, a
web-chat session). Everything sent to anyone goes through `outbox`, so a crash neither loses nor repeats a
message. Status columns are short strings (with CHECK constraints) rather than database enums, so adding a
state is a one-line migration on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    literal_column,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from bot.store.types import UTCDateTime, utcnow

# Named constraints keep Alembic migrations identical on SQLite (batch mode) and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets BIGINT for the tables that grow.
BigId = BigInteger().with_variant(Integer(), "sqlite")

CHANNELS = ("telegram", "zalo", "web", "console")
ROLES = ("volunteer", "staff")
TICKET_STATES = ("waiting", "claimed", "raised", "closed")
CAMPAIGN_STATES = ("draft", "scheduled", "sending", "done", "cancelled")
RUN_STATES = ("pending", "sending", "done", "cancelled")
DELIVERY_STATES = ("pending", "sending", "sent", "blocked", "outside_window", "failed", "uncertain", "cancelled")


def _one_of(column: str, values: tuple[str, ...]) -> CheckConstraint:
    quoted = ", ".join(f"'{value}'" for value in values)
    return CheckConstraint(f"{column} IN ({quoted})", name=f"{column}_valid")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    # Every model here maps one Table (DeclarativeBase says only FromClause), and the hot paths build Core
    # statements on it.
    __table__: ClassVar[Table]
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime(), dict[str, Any]: JSON(), list[Any]: JSON()}


class Resident(Base):
    __tablename__ = "residents"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    display_name: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)

    identities: Mapped[list[Identity]] = relationship(back_populates="resident", cascade="all, delete-orphan")


class Identity(Base):
    """A resident's address on one channel."""

    __tablename__ = "identities"
    __table_args__ = (UniqueConstraint("channel", "external_id"), _one_of("channel", CHANNELS))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(128))
    # False once the platform says the user blocked us or left: never message them again until they return.
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Zalo lets an OA reply only within a window after the user's last message.
    last_inbound_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    resident: Mapped[Resident] = relationship(back_populates="identities")


class Role(Base):
    """Roles are granted to a channel address before that person ever writes to the bot."""

    __tablename__ = "roles"
    __table_args__ = (UniqueConstraint("channel", "external_id", "role"), _one_of("role", ROLES))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(16))
    display_name: Mapped[str | None] = mapped_column(String(200))
    granted_by: Mapped[str] = mapped_column(String(160))
    granted_at: Mapped[datetime] = mapped_column(default=utcnow)


class Conversation(Base):
    """The current dialogue state of one identity (what the bot is waiting for, pending choices)."""

    __tablename__ = "conversations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    identity_id: Mapped[int] = mapped_column(
        ForeignKey("identities.id", ondelete="CASCADE"), unique=True
    )
    state: Mapped[str] = mapped_column(String(32), default="idle")
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Message(Base):
    """One message in or out. `text` is stored with secrets masked and is cleared by the retention job."""

    __tablename__ = "messages"
    __table_args__ = (
        _one_of("direction", ("in", "out")),
        Index("ix_messages_identity_created", "identity_id", "created_at"),
        Index("ix_messages_created", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    identity_id: Mapped[int] = mapped_column(ForeignKey("identities.id", ondelete="CASCADE"))
    direction: Mapped[str] = mapped_column(String(3))
    # Who wrote it: the resident, the bot, or a volunteer/staff member ("telegram:123").
    author: Mapped[str] = mapped_column(String(160))
    kind: Mapped[str] = mapped_column(String(16), default="text")
    text: Mapped[str | None] = mapped_column(Text)
    # For questions the matcher saw: what it decided, so reports survive the text being deleted.
    faq_id: Mapped[str | None] = mapped_column(String(120))
    decision: Mapped[str | None] = mapped_column(String(16))
    score: Mapped[float | None]
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Feedback(Base):
    """A 👍/👎 on one answer."""

    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    identity_id: Mapped[int] = mapped_column(ForeignKey("identities.id", ondelete="CASCADE"), index=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    faq_id: Mapped[str] = mapped_column(String(120), index=True)
    helpful: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Ticket(Base):
    """A resident waiting for a person. At most one open ticket per resident (partial unique index)."""

    __tablename__ = "tickets"
    __table_args__ = (
        _one_of("status", TICKET_STATES),
        Index(
            "uq_tickets_one_open_per_resident",
            "resident_id",
            unique=True,
            sqlite_where=text("status != 'closed'"),
            postgresql_where=text("status != 'closed'"),
        ),
        Index("ix_tickets_status_created", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id", ondelete="CASCADE"))
    identity_id: Mapped[int] = mapped_column(ForeignKey("identities.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default="waiting")
    reason: Mapped[str] = mapped_column(String(32))
    summary: Mapped[str | None] = mapped_column(Text)
    owner: Mapped[str | None] = mapped_column(String(160))
    group_message_id: Mapped[int | None] = mapped_column(BigInteger)
    announce_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_at: Mapped[datetime | None]
    first_response_at: Mapped[datetime | None]
    last_activity_at: Mapped[datetime] = mapped_column(default=utcnow)
    raised_at: Mapped[datetime | None]
    # When the owner was last reminded of a silent ticket; cleared by any activity.
    reminded_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    # Set too when the resident withdrew the request: closed, but not resolved by anyone (the reports tell apart).
    cancelled_at: Mapped[datetime | None]
    rating: Mapped[int | None] = mapped_column(Integer)


# "The ticket is open", with 'closed' written into the SQL as the partial index above states it. Compared with a
# bound parameter instead, SQLite cannot know at prepare time whether the index applies, so it prepares the
# statement again on every execution (measured: 70 µs instead of 15 for the pipeline's arrival query).
TICKET_IS_OPEN = Ticket.__table__.c.status != literal_column("'closed'")


class FaqProposal(Base):
    """A volunteer's answer proposed as a new FAQ entry, for staff to accept or reject."""

    __tablename__ = "faq_proposals"
    __table_args__ = (_one_of("status", ("pending", "accepted", "rejected")),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"))
    proposed_by: Mapped[str] = mapped_column(String(160))
    question: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    decided_by: Mapped[str | None] = mapped_column(String(160))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None]


class FaqEdit(Base):
    """Staff edits of FAQ entries; the newest row per faq_id overrides the packaged content (history kept)."""

    __tablename__ = "faq_edits"
    __table_args__ = (Index("ix_faq_edits_faq_created", "faq_id", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    faq_id: Mapped[str] = mapped_column(String(120))
    entry: Mapped[dict[str, Any]] = mapped_column()
    author: Mapped[str] = mapped_column(String(160))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Subscription(Base):
    """An identity subscribed to campaign reminders for one area of the commune."""

    __tablename__ = "subscriptions"
    __table_args__ = (UniqueConstraint("identity_id", "area"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    identity_id: Mapped[int] = mapped_column(ForeignKey("identities.id", ondelete="CASCADE"), index=True)
    area: Mapped[str] = mapped_column(String(120), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Campaign(Base):
    __tablename__ = "campaigns"
    __table_args__ = (_one_of("status", CAMPAIGN_STATES),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    link_url: Mapped[str | None] = mapped_column(String(500))
    link_title: Mapped[str | None] = mapped_column(String(60))
    audience_areas: Mapped[list[Any]] = mapped_column(default=list)
    audience_channels: Mapped[list[Any]] = mapped_column(default=list)
    send_at: Mapped[datetime | None]
    recurrence: Mapped[str | None] = mapped_column(String(120))
    until: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16), default="draft")
    author: Mapped[str] = mapped_column(String(160))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class CampaignRun(Base):
    """One firing of a campaign. Unique per scheduled time, so a run can never fire twice."""

    __tablename__ = "campaign_runs"
    __table_args__ = (UniqueConstraint("campaign_id", "scheduled_for"), _one_of("status", RUN_STATES))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    scheduled_for: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), default="pending")
    fired_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class OutboxMessage(Base):
    """One message to one recipient: pending → sending → a final state.

    A row still `sending` after a crash may have been delivered; it becomes `uncertain` and is never retried.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        _one_of("status", DELIVERY_STATES),
        UniqueConstraint("run_id", "identity_id"),
        Index("ix_outbox_due", "status", "priority", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    recipient: Mapped[str] = mapped_column(String(128))
    identity_id: Mapped[int | None] = mapped_column(ForeignKey("identities.id", ondelete="CASCADE"))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("campaign_runs.id", ondelete="CASCADE"))
    # Lower goes first: replies to a resident who is waiting come before a broadcast.
    priority: Mapped[int] = mapped_column(Integer, default=0)
    payload: Mapped[dict[str, Any]] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(String(500))
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    # When `claimed_by` took the row; a pending claim older than the lease may be taken over (several processes).
    claimed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]


class OutboxWorker(Base):
    """A running outbox sender and its heartbeat: rows `sending` whose worker stopped beating are the dead ones."""

    __tablename__ = "outbox_workers"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(default=utcnow)


class RateSlot(Base):
    """Send slots shared by all processes: the next free instant of a channel (its rate) or of one chat."""

    __tablename__ = "rate_slots"

    key: Mapped[str] = mapped_column(String(160), primary_key=True)
    next_at: Mapped[datetime]


class PlatformToken(Base):
    """Rotating platform credentials (Zalo's single-use refresh token), stored before they are used."""

    __tablename__ = "platform_tokens"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    access_token: Mapped[str] = mapped_column(Text)
    refresh_token: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # Set while one process refreshes the pair (see bot/channels/zalo_tokens.py); a stale claim is a crashed one.
    refresh_claimed_at: Mapped[datetime | None]


class ChatMigration(Base):
    """A Telegram group that became a supergroup under a new id (`ChatMigrated`), so that the volunteers' group is
    still heard, and written to, after a restart and before the operator updates TELEGRAM_VOLUNTEER_CHAT_ID."""

    __tablename__ = "chat_migrations"

    old_chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    new_chat_id: Mapped[int] = mapped_column(BigInteger)
    migrated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ProcessedUpdate(Base):
    """Idempotency keys of inbound updates (Telegram update_id, Zalo msg_id): an insert that conflicts is a
    redelivery."""

    __tablename__ = "processed_updates"

    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    update_key: Mapped[str] = mapped_column(String(128), primary_key=True)
    processed_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class AuditEntry(Base):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(160))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(160))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


class AdminSession(Base):
    """A staff member signed in to the dashboard, shared by every process on the database.

    Only the SHA-256 of the session id is kept: the cookie holds the raw random id, so a copy of this table
    cannot be replayed as a cookie. The CSRF token is kept as is (pages embed it in their forms); on its own it
    is worthless, since a form is only accepted together with the session's cookie.
    """

    __tablename__ = "admin_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    csrf: Mapped[str] = mapped_column(String(64))
    display_name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Written at most once a minute (see bot.store.admin_sessions.TOUCH_EVERY), not on every page view.
    seen_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
