"""Volunteers' answers proposed as FAQ entries, for staff to accept or reject."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store import audit
from bot.store.models import FaqProposal


async def list_proposals(session: AsyncSession, status: str | None = "pending") -> Sequence[FaqProposal]:
    query = select(FaqProposal).order_by(FaqProposal.id)
    if status:
        query = query.where(FaqProposal.status == status)
    return (await session.scalars(query)).all()


async def decide(session: AsyncSession, proposal_id: int, accept: bool, actor: str) -> FaqProposal | None:
    """Accept or reject a pending proposal; None when there is no such pending proposal."""
    proposal = await session.get(FaqProposal, proposal_id)
    if proposal is None or proposal.status != "pending":
        return None
    proposal.status = "accepted" if accept else "rejected"
    proposal.decided_by = actor
    proposal.decided_at = datetime.now(UTC)
    audit.record(session, actor, f"faq.proposal.{proposal.status}", f"proposal:{proposal.id}")
    return proposal
