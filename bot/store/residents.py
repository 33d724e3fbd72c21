"""Residents, their channel identities, dialogue state, messages, feedback and subscriptions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.models import (
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
    conversation: Conversation
    open_ticket_id: int | None


async def identify(
    session: AsyncSession, channel: str, external_id: str, display_name: str | None, at: datetime
) -> Arrival:
    """Find or create the identity (with its resident and dialogue state) and note that they just wrote to us.

    One query reads the identity, the resident's last visit, the dialogue state and any open ticket: this runs
    for every inbound message, and on SQLite each round trip costs more than the work itself."""
    open_ticket_id = (
        select(Ticket.id)
        .where(Ticket.resident_id == Identity.resident_id, Ticket.status != "closed")
        .limit(1)
        .scalar_subquery()
    )
    row = (
        await session.execute(
            select(Identity, Resident.last_seen_at, Conversation, open_ticket_id)
            .join(Resident, Resident.id == Identity.resident_id)
            .outerjoin(Conversation, Conversation.identity_id == Identity.id)
            .where(Identity.channel == channel, Identity.external_id == external_id)
        )
    ).first()
    if row is None:
        resident = Resident(display_name=display_name, created_at=at, last_seen_at=at)
        identity = Identity(resident=resident, channel=channel, external_id=external_id, last_inbound_at=at)
        session.add(identity)
        await session.flush()
        conversation = Conversation(identity_id=identity.id, state="idle", data={})
        session.add(conversation)
        return Arrival(Who(identity.resident_id, identity.id, channel, external_id), conversation, None)
    identity, last_seen, conversation, ticket_id = row
    if not identity.active:
        identity.active = True
    # Zalo's reply window is counted in hours: the minute is precise enough, and saves a write per message.
    if identity.last_inbound_at is None or at - identity.last_inbound_at > LAST_INBOUND_GRANULARITY:
        identity.last_inbound_at = at
    if at - last_seen > LAST_SEEN_GRANULARITY:
        await session.execute(update(Resident).where(Resident.id == identity.resident_id).values(last_seen_at=at))
    if conversation is None:
        conversation = Conversation(identity_id=identity.id, state="idle", data={})
        session.add(conversation)
    return Arrival(Who(identity.resident_id, identity.id, channel, external_id), conversation, ticket_id)


async def record_update(session: AsyncSession, channel: str, key: str, at: datetime) -> bool:
    """Remember an inbound update's idempotency key; False when it was seen before (a redelivery).

    One INSERT … ON CONFLICT DO NOTHING: under concurrency the database decides, across processes too."""
    insert = sqlite_insert if session.bind.dialect.name == "sqlite" else pg_insert
    result = await session.execute(
        insert(ProcessedUpdate)
        .values(channel=channel, update_key=key, processed_at=at)
        .on_conflict_do_nothing(index_elements=["channel", "update_key"])
    )
    return bool(getattr(result, "rowcount", 0))


async def find_identity(session: AsyncSession, channel: str, external_id: str) -> Identity | None:
    return await session.scalar(
        select(Identity).where(Identity.channel == channel, Identity.external_id == external_id)
    )


async def deactivate(session: AsyncSession, channel: str, external_id: str) -> None:
    await session.execute(
        update(Identity).where(Identity.channel == channel, Identity.external_id == external_id).values(active=False)
    )


def add_message(session: AsyncSession, **fields: Any) -> None:
    # Inserted with the rest of the transaction (in one batch) at commit.
    session.add(Message(**fields))


async def messages_after(session: AsyncSession, identity_id: int, after_id: int, direction: str) -> Sequence[Message]:
    return (
        await session.scalars(
            select(Message)
            .where(Message.identity_id == identity_id, Message.id > after_id, Message.direction == direction)
            .order_by(Message.id)
        )
    ).all()


async def count_recent_inbound(session: AsyncSession, identity_id: int, since: datetime) -> int:
    found = await session.scalar(
        select(func.count()).select_from(Message).where(
            Message.identity_id == identity_id, Message.direction == "in", Message.created_at > since
        )
    )
    return int(found or 0)


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


async def subscribed_area(session: AsyncSession, who: Who) -> str | None:
    return await session.scalar(select(Subscription.area).where(Subscription.identity_id == who.identity_id))


async def open_ticket(session: AsyncSession, who: Who) -> Ticket | None:
    return await session.scalar(
        select(Ticket).where(Ticket.resident_id == who.resident_id, Ticket.status != "closed")
    )


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
