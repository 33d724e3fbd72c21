"""The audit log: who did what to whom, for every role change and ticket action."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.models import AuditEntry


def record(session: AsyncSession, actor: str, action: str, target: str | None = None, **details: Any) -> None:
    session.add(AuditEntry(actor=actor, action=action, target=target, details=details))
