"""Tickets: a resident waiting for a person, claimed by exactly one volunteer."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store import audit
from bot.store.models import FaqProposal, Identity, Message, Resident, Role, Ticket

OPEN = ("waiting", "claimed", "raised")


async def get(session: AsyncSession, ticket_id: int) -> Ticket | None:
    return await session.get(Ticket, ticket_id)


async def claim(session: AsyncSession, ticket_id: int, volunteer: str, at: datetime) -> bool:
    """Atomically make `volunteer` the owner. A single conditional UPDATE: of two simultaneous presses the
    database lets exactly one change the row (on SQLite the write lock serialises them; on PostgreSQL the
    second UPDATE re-checks the WHERE clause after the first commits)."""
    result = await session.execute(
        update(Ticket)
        .where(Ticket.id == ticket_id, Ticket.status.in_(("waiting", "raised")), Ticket.owner.is_(None))
        .values(status="claimed", owner=volunteer, claimed_at=at, last_activity_at=at)
        .execution_options(synchronize_session=False)
    )
    won = getattr(result, "rowcount", 0) == 1
    if won:
        audit.record(session, volunteer, "ticket.claim", f"ticket:{ticket_id}")
    return won


async def owned_by(session: AsyncSession, volunteer: str) -> Sequence[Ticket]:
    return (
        await session.scalars(
            select(Ticket).where(Ticket.owner == volunteer, Ticket.status == "claimed").order_by(Ticket.claimed_at)
        )
    ).all()


async def waiting(session: AsyncSession) -> Sequence[Ticket]:
    return (
        await session.scalars(
            select(Ticket).where(Ticket.status.in_(("waiting", "raised"))).order_by(Ticket.created_at)
        )
    ).all()


async def resident_address(session: AsyncSession, ticket: Ticket) -> tuple[str, str] | None:
    identity = await session.get(Identity, ticket.identity_id)
    return (identity.channel, identity.external_id) if identity else None


async def touch(session: AsyncSession, ticket: Ticket, at: datetime, *, by_owner: bool) -> None:
    ticket.last_activity_at = at
    ticket.reminded_at = None
    if by_owner and ticket.first_response_at is None:
        ticket.first_response_at = at


async def close(session: AsyncSession, ticket: Ticket, actor: str, at: datetime) -> None:
    ticket.status = "closed"
    ticket.closed_at = at
    audit.record(session, actor, "ticket.close", f"ticket:{ticket.id}")


async def cancel(session: AsyncSession, ticket: Ticket, resident: str, at: datetime) -> None:
    """The resident no longer needs a person. Closed like a finished ticket (one open ticket per resident holds),
    marked and audited as a cancellation, so that reports do not count it as resolved."""
    ticket.status = "closed"
    ticket.closed_at = at
    ticket.cancelled_at = at
    audit.record(session, resident, "ticket.cancel", f"ticket:{ticket.id}")


async def give_back(session: AsyncSession, ticket: Ticket, actor: str, at: datetime) -> None:
    ticket.status = "waiting"
    ticket.owner = None
    ticket.claimed_at = None
    ticket.last_activity_at = at
    ticket.announce_count = 0
    audit.record(session, actor, "ticket.return", f"ticket:{ticket.id}")


async def raise_to_staff(session: AsyncSession, ticket: Ticket, actor: str, at: datetime) -> None:
    ticket.status = "raised"
    ticket.raised_at = at
    ticket.owner = None
    audit.record(session, actor, "ticket.raise", f"ticket:{ticket.id}")


async def rate(session: AsyncSession, ticket_id: int, resident_id: int, stars: int) -> bool:
    result = await session.execute(
        update(Ticket)
        .where(Ticket.id == ticket_id, Ticket.resident_id == resident_id, Ticket.status == "closed")
        .values(rating=stars)
        .execution_options(synchronize_session=False)
    )
    return getattr(result, "rowcount", 0) == 1


async def addresses_with_role(session: AsyncSession, role: str, channel: str = "telegram") -> list[str]:
    rows = await session.scalars(select(Role.external_id).where(Role.role == role, Role.channel == channel))
    return list(rows)


async def remember_post(session: AsyncSession, ref: str | None, message_id: str) -> None:
    """A ticket's post in the volunteers' group is edited later (claimed by …, closed): keep its message id.
    `ref` is what the post was sent with ("ticket-post:<id>"); anything else is not a ticket post."""
    kind, _, ticket_id = (ref or "").partition(":")
    if kind == "ticket-post" and ticket_id.isdigit() and message_id.isdigit():
        await session.execute(update(Ticket).where(Ticket.id == int(ticket_id))
                              .values(group_message_id=int(message_id)))


async def name_of(session: AsyncSession, address: str) -> str | None:
    """How a volunteer or staff member is called ("telegram:123" → the name their platform gave us)."""
    channel, _, external_id = address.partition(":")
    return await session.scalar(
        select(Resident.display_name).join(Identity, Identity.resident_id == Resident.id)
        .where(Identity.channel == channel, Identity.external_id == external_id)
    )


async def last_exchange(session: AsyncSession, ticket: Ticket) -> tuple[str | None, str | None]:
    """The resident's last question and the volunteer's last answer on this ticket, for an FAQ proposal."""
    rows = (
        await session.scalars(
            select(Message).where(Message.ticket_id == ticket.id, Message.text.is_not(None)).order_by(Message.id)
        )
    ).all()
    question = next((m.text for m in reversed(rows) if m.direction == "in" and m.author == "resident"), None)
    answer = next((m.text for m in reversed(rows) if m.author.startswith("volunteer:")), None)
    return question, answer


async def propose(session: AsyncSession, ticket: Ticket, volunteer: str, question: str, answer: str) -> FaqProposal:
    proposal = FaqProposal(ticket_id=ticket.id, proposed_by=volunteer, question=question, answer=answer)
    session.add(proposal)
    await session.flush()
    audit.record(session, volunteer, "faq.propose", f"proposal:{proposal.id}", ticket=ticket.id)
    return proposal
