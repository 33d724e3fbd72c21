"""Residents, their channel identities, dialogue state, messages, feedback and subscriptions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, literal, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.models import (
    TICKET_IS_OPEN,
    AuditEntry,
    Conversation,
    FaqProposal,
    Feedback,
    Identity,
    Message,
    ProcessedUpdate,
    Resident,
    Subscription,
    Ticket,
)
from bot.store.types import UTCDateTime

# last_seen_at feeds reports by day; refreshing it on every message would be a write per message for nothing.
LAST_SEEN_GRANULARITY = timedelta(minutes=10)
LAST_INBOUND_GRANULARITY = timedelta(minutes=1)
ERASED_MARK = "(đã xoá theo yêu cầu)"


@dataclass(frozen=True, slots=True)
class Who:
    """The resident behind one inbound message, as the handlers need them."""

    resident_id: int
    identity_id: int
    channel: str
    external_id: str


@dataclass(frozen=True, slots=True)
class Arrival:
    """Everything the pipeline needs about the sender of one message, read in one query."""

    who: Who
    state: str
    data: dict[str, Any]
    conversation_id: int | None  # None until their dialogue state is first stored
    open_ticket_id: int | None
    recent_inbound: int  # messages they sent since the `since` given to identify (for the rate limit)


# The hot path's statements are built once, on the tables' plain columns: reusing a statement object spares
# rebuilding it and recomputing its cache key, and a statement without ORM entities skips the ORM's result
# processing. Each is measurable at hundreds of messages per second.
_IDENTITIES = Identity.__table__.c
_RESIDENTS = Resident.__table__.c
_CONVERSATIONS = Conversation.__table__.c
_MESSAGES = Message.__table__.c
_TICKETS = Ticket.__table__.c

_OPEN_TICKET = (
    select(_TICKETS.id).where(_TICKETS.resident_id == _IDENTITIES.resident_id, TICKET_IS_OPEN)
    .limit(1).scalar_subquery()
)
_RECENT_INBOUND = (
    select(func.count()).select_from(Message.__table__)
    .where(_MESSAGES.identity_id == _IDENTITIES.id, _MESSAGES.direction == "in",
           _MESSAGES.created_at > bindparam("since", type_=UTCDateTime()))
    .scalar_subquery()
)
_ARRIVAL = (
    select(_IDENTITIES.id, _IDENTITIES.resident_id, _IDENTITIES.active, _IDENTITIES.last_inbound_at,
           _RESIDENTS.last_seen_at, _CONVERSATIONS.id, _CONVERSATIONS.state, _CONVERSATIONS.data, _OPEN_TICKET,
           _RECENT_INBOUND)
    .select_from(Identity.__table__)
    .join(Resident.__table__, _RESIDENTS.id == _IDENTITIES.resident_id)
    .outerjoin(Conversation.__table__, _CONVERSATIONS.identity_id == _IDENTITIES.id)
    .where(_IDENTITIES.channel == bindparam("channel"), _IDENTITIES.external_id == bindparam("external_id"))
)
_NEW_RESIDENT = insert(Resident.__table__).returning(_RESIDENTS.id)
_NEW_IDENTITY = insert(Identity.__table__).returning(_IDENTITIES.id)
_IDENTITY_WROTE = (
    update(Identity.__table__).where(_IDENTITIES.id == bindparam("identity_id"))
    .values(active=True, last_inbound_at=bindparam("at", type_=UTCDateTime()))
)
_RESIDENT_SEEN = (
    update(Resident.__table__).where(_RESIDENTS.id == bindparam("resident_id"))
    .values(last_seen_at=bindparam("at", type_=UTCDateTime()))
)
_NEW_STATE = insert(Conversation.__table__)
_STATE_CHANGED = update(Conversation.__table__).where(_CONVERSATIONS.id == bindparam("conversation_id"))


async def identify(
    session: AsyncSession, channel: str, external_id: str, display_name: str | None, at: datetime, since: datetime
) -> Arrival:
    """Find or create the identity (with its resident and dialogue state) and note that they just wrote to us.

    One query reads the identity, the resident's last visit, the dialogue state, any open ticket and how many
    messages they sent after `since`, as plain columns: this runs for every inbound message."""
    row = (await session.execute(_ARRIVAL, {"channel": channel, "external_id": external_id, "since": since})).first()
    if row is None:
        resident_id = (await session.execute(
            _NEW_RESIDENT, {"display_name": display_name, "created_at": at, "last_seen_at": at})).scalar_one()
        identity_id = (await session.execute(_NEW_IDENTITY, {
            "resident_id": resident_id, "channel": channel, "external_id": external_id, "last_inbound_at": at,
            "created_at": at, "active": True,
        })).scalar_one()
        return Arrival(Who(resident_id, identity_id, channel, external_id), "idle", {}, None, None, 0)
    identity_id, resident_id, active, last_inbound, last_seen, conversation_id, state, data, ticket_id, recent = row
    # Zalo's reply window is counted in hours: the minute is precise enough, and saves a write per message.
    if not active or last_inbound is None or at - last_inbound > LAST_INBOUND_GRANULARITY:
        await session.execute(_IDENTITY_WROTE, {"identity_id": identity_id, "at": at})
    if at - last_seen > LAST_SEEN_GRANULARITY:
        await session.execute(_RESIDENT_SEEN, {"resident_id": resident_id, "at": at})
    return Arrival(Who(resident_id, identity_id, channel, external_id), state or "idle", dict(data or {}),
                   conversation_id, ticket_id, recent)


async def save_state(session: AsyncSession, arrival: Arrival, state: str, data: dict[str, Any], at: datetime) -> None:
    """Store the dialogue state the turn ended in (a write only when it changed, or the first time)."""
    if arrival.conversation_id is None:
        await session.execute(_NEW_STATE, {"identity_id": arrival.who.identity_id, "state": state, "data": data,
                                           "updated_at": at})
    elif (state, data) != (arrival.state, arrival.data):
        await session.execute(_STATE_CHANGED, {"conversation_id": arrival.conversation_id, "state": state,
                                               "data": data, "updated_at": at})


def _record_update_statement(insert_for_dialect: Any) -> Any:
    values = {"channel": bindparam("channel"), "update_key": bindparam("key"),
              "processed_at": bindparam("at", type_=UTCDateTime())}
    # The table, not the entity: an ORM insert with parameters goes the bulk way, which reports no rowcount.
    return (insert_for_dialect(ProcessedUpdate.__table__).values(**values)
            .on_conflict_do_nothing(index_elements=["channel", "update_key"]))


_RECORD_UPDATE_SQLITE = _record_update_statement(sqlite_insert)
_RECORD_UPDATE_POSTGRESQL = _record_update_statement(pg_insert)


async def record_update(session: AsyncSession, channel: str, key: str, at: datetime) -> bool:
    """Remember an inbound update's idempotency key; False when it was seen before (a redelivery).

    One INSERT … ON CONFLICT DO NOTHING: under concurrency the database decides, across processes too."""
    statement = _RECORD_UPDATE_SQLITE if session.get_bind().dialect.name == "sqlite" else _RECORD_UPDATE_POSTGRESQL
    result = await session.execute(statement, {"channel": channel, "key": key, "at": at})
    return bool(getattr(result, "rowcount", 0))


async def find_identity(session: AsyncSession, channel: str, external_id: str) -> Identity | None:
    return await session.scalar(
        select(Identity).where(Identity.channel == channel, Identity.external_id == external_id)
    )


async def deactivate(session: AsyncSession, channel: str, external_id: str) -> None:
    await session.execute(
        update(Identity).where(Identity.channel == channel, Identity.external_id == external_id).values(active=False)
    )


async def insert_messages(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Insert one turn's messages in one statement. Every row names the same columns (so they go as one batch);
    a plain table insert, since nothing needs the rows back as objects."""
    if rows:
        await session.execute(insert(Message.__table__), list(rows))


async def messages_after(session: AsyncSession, identity_id: int, after_id: int, direction: str) -> Sequence[Message]:
    return (
        await session.scalars(
            select(Message)
            .where(Message.identity_id == identity_id, Message.id > after_id, Message.direction == direction)
            .order_by(Message.id)
        )
    ).all()


async def recent_messages(session: AsyncSession, identity_id: int, limit: int) -> list[Message]:
    """The last `limit` messages of one identity's conversation, in and out, oldest first."""
    newest_first = (await session.scalars(
        select(Message).where(Message.identity_id == identity_id).order_by(Message.id.desc()).limit(limit)
    )).all()
    return list(reversed(newest_first))


_OUTBOUND_COLUMNS = ("identity_id", "direction", "author", "kind", "text", "created_at")


async def store_outbound(session: AsyncSession, channel: str, external_id: str, text: str, at: datetime) -> bool:
    """Keep a message the bot sent outside a turn (a broadcast) in the recipient's conversation, as a turn's
    replies are kept. False, storing nothing, when there is no such identity (erased, or never wrote).

    One INSERT … SELECT from the identity: an erasure committed meanwhile leaves nothing, never a dangling row."""
    identity = select(_IDENTITIES.id, literal("out"), literal("bot"), literal("text"), literal(text),
                      literal(at, UTCDateTime())).where(_IDENTITIES.channel == channel,
                                                         _IDENTITIES.external_id == external_id)
    result = await session.execute(insert(Message.__table__).from_select(_OUTBOUND_COLUMNS, identity))
    return bool(getattr(result, "rowcount", 0))


async def last_message_id(session: AsyncSession, identity_id: int, direction: str) -> int:
    found = await session.scalar(
        select(func.max(Message.id)).where(Message.identity_id == identity_id, Message.direction == direction)
    )
    return int(found or 0)


async def add_feedback(session: AsyncSession, who: Who, faq_id: str, helpful: bool, at: datetime) -> None:
    session.add(Feedback(identity_id=who.identity_id, faq_id=faq_id, helpful=helpful, created_at=at))


async def subscribe(session: AsyncSession, who: Who, area: str) -> bool:
    """Subscribe to one area (replacing any other: one resident, one home area). False if unchanged."""
    current = (await session.scalars(select(Subscription).where(Subscription.identity_id == who.identity_id))).all()
    if [s.area for s in current] == [area]:
        return False
    for subscription in current:
        await session.delete(subscription)
    await session.flush()
    session.add(Subscription(identity_id=who.identity_id, area=area))
    return True


async def unsubscribe(session: AsyncSession, who: Who) -> int:
    result = await session.execute(delete(Subscription).where(Subscription.identity_id == who.identity_id))
    return int(getattr(result, "rowcount", 0) or 0)


async def open_ticket(session: AsyncSession, resident_id: int) -> Ticket | None:
    return await session.scalar(select(Ticket).where(Ticket.resident_id == resident_id, TICKET_IS_OPEN))


async def erase_resident(session: AsyncSession, resident_id: int) -> None:
    """Delete the resident and every row that holds their data.

    Foreign keys cascade from residents to identities and from there to every table (PRAGMA foreign_keys on
    SQLite), so one Core delete does most of it. Two places keep a trace that is not theirs to delete: the audit
    log (staff actions must stay accountable) and volunteers' FAQ proposals; there the resident's address and
    words are replaced, not the rows removed."""
    addresses = [
        f"{channel}:{external_id}"
        for channel, external_id in (
            await session.execute(
                select(Identity.channel, Identity.external_id).where(Identity.resident_id == resident_id)
            )
        ).all()
    ]
    ticket_ids = list(await session.scalars(select(Ticket.id).where(Ticket.resident_id == resident_id)))
    if ticket_ids:
        await session.execute(
            update(FaqProposal).where(FaqProposal.ticket_id.in_(ticket_ids)).values(question=ERASED_MARK)
        )
    if addresses:
        await session.execute(update(AuditEntry).where(AuditEntry.actor.in_(addresses)).values(actor=ERASED_MARK))
        await session.execute(update(AuditEntry).where(AuditEntry.target.in_(addresses)).values(target=ERASED_MARK))
    await session.execute(delete(Resident).where(Resident.id == resident_id))
