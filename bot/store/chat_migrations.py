"""Telegram groups that became supergroups: old chat id → new chat id."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.models import ChatMigration


async def load(session: AsyncSession) -> dict[int, int]:
    rows = await session.execute(select(ChatMigration.old_chat_id, ChatMigration.new_chat_id))
    return {old: new for old, new in rows}


async def remember(session: AsyncSession, old: int, new: int, at: datetime) -> None:
    await session.merge(ChatMigration(old_chat_id=old, new_chat_id=new, migrated_at=at))
