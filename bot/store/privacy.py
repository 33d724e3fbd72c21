"""Personal data: retention (texts deleted after N days, figures kept) and a resident's own data export."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.models import (
    Feedback,
    Identity,
    Message,
    OutboxMessage,
    ProcessedUpdate,
    Resident,
    Subscription,
    Ticket,
)

# Idempotency keys only need to outlive the platforms' redelivery windows (Telegram keeps updates ~24 h).
UPDATE_KEYS_KEPT = timedelta(days=7)
JOURNAL_KEPT = timedelta(days=1)


async def apply_retention(session: AsyncSession, now: datetime, days: int) -> dict[str, int]:
    cutoff = now - timedelta(days=days)
    texts = await session.execute(
        update(Message).where(Message.created_at < cutoff, Message.text.is_not(None)).values(text=None)
    )
    summaries = await session.execute(
        update(Ticket)
        .where(Ticket.status == "closed", Ticket.closed_at < cutoff, Ticket.summary.is_not(None))
        .values(summary=None)
    )
    payloads = await session.execute(
        delete(OutboxMessage).where(OutboxMessage.created_at < cutoff, OutboxMessage.status != "pending")
    )
    # Replies journalled in the outbox (bot/outbox/journal.py) are only a safety net once they have an outcome;
    # the message itself is in `messages`.
    journal_rows = await session.execute(
        delete(OutboxMessage).where(OutboxMessage.run_id.is_(None), OutboxMessage.status != "pending",
                                    OutboxMessage.created_at < now - JOURNAL_KEPT)
    )
    keys = await session.execute(delete(ProcessedUpdate).where(ProcessedUpdate.processed_at < now - UPDATE_KEYS_KEPT))
    return {
        "message_texts_cleared": _count(texts),
        "ticket_summaries_cleared": _count(summaries),
        "deliveries_deleted": _count(payloads) + _count(journal_rows),
        "update_keys_deleted": _count(keys),
    }


def _count(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


async def export_resident(session: AsyncSession, channel: str, external_id: str) -> dict[str, Any] | None:
    """Everything we hold about the resident behind one address (for a staff member answering a request)."""
    identity = await session.scalar(
        select(Identity).where(Identity.channel == channel, Identity.external_id == external_id)
    )
    if identity is None:
        return None
    resident = await session.get(Resident, identity.resident_id)
    identities = (await session.scalars(select(Identity).where(Identity.resident_id == identity.resident_id))).all()
    ids = [i.id for i in identities]
    messages = (await session.scalars(select(Message).where(Message.identity_id.in_(ids)).order_by(Message.id))).all()
    feedback = (await session.scalars(select(Feedback).where(Feedback.identity_id.in_(ids)))).all()
    subscriptions = (await session.scalars(select(Subscription).where(Subscription.identity_id.in_(ids)))).all()
    tickets = (await session.scalars(select(Ticket).where(Ticket.resident_id == identity.resident_id))).all()
    return {
        "resident": {
            "id": identity.resident_id,
            "display_name": resident.display_name if resident else None,
            "created_at": _time(resident.created_at) if resident else None,
            "last_seen_at": _time(resident.last_seen_at) if resident else None,
        },
        "identities": [
            {"channel": i.channel, "user_id": i.external_id, "active": i.active, "created_at": _time(i.created_at)}
            for i in identities
        ],
        "messages": [
            {"at": _time(m.created_at), "direction": m.direction, "author": m.author, "kind": m.kind,
             "text": m.text, "faq_id": m.faq_id}
            for m in messages
        ],
        "feedback": [{"at": _time(f.created_at), "faq_id": f.faq_id, "helpful": f.helpful} for f in feedback],
        "subscriptions": [{"area": s.area, "since": _time(s.created_at)} for s in subscriptions],
        "tickets": [
            {"id": t.id, "status": t.status, "created_at": _time(t.created_at), "closed_at": _time(t.closed_at),
             "rating": t.rating}
            for t in tickets
        ],
    }
