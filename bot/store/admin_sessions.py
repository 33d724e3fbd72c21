"""Staff dashboard sessions, in the database so that every `troly serve` process accepts them.

The cookie carries a random session id; the table keys sessions by the id's SHA-256 only, so a leaked copy of
the table (a backup, a read-only SQL account) yields no cookie that works. The id has 256 random bits, so an
unsalted hash is enough: there is nothing to guess. Looking a row up by that hash also keeps the lookup's timing
unrelated to the raw id, which a comparison of raw ids would not.

Times are the processes' wall clocks (`Runtime.now`): keep them in NTP sync, as for the outbox.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.models import AdminSession

IDLE = timedelta(hours=8)
LIFETIME = timedelta(hours=24)
MAX_SESSIONS = 1000
# `seen_at` is rewritten only when older than this: a page view then costs a read, not a write. The idle timeout
# is therefore exact to within this much.
TOUCH_EVERY = timedelta(minutes=1)


def hash_id(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def is_expired(row: AdminSession, now: datetime, idle: timedelta = IDLE, lifetime: timedelta = LIFETIME) -> bool:
    return now - row.seen_at > idle or now - row.created_at > lifetime


async def create(session: AsyncSession, session_id: str, csrf: str, display_name: str, now: datetime) -> AdminSession:
    row = AdminSession(id_hash=hash_id(session_id), csrf=csrf, display_name=display_name, created_at=now,
                       seen_at=now)
    session.add(row)
    await session.flush()
    return row


async def find(session: AsyncSession, session_id: str) -> AdminSession | None:
    """The session behind a cookie's id, expired or not (the caller decides)."""
    return await session.get(AdminSession, hash_id(session_id))


async def touch(session: AsyncSession, row: AdminSession, now: datetime) -> bool:
    """Record a use at `now` if the stored one is more than TOUCH_EVERY old; True when it wrote."""
    if now - row.seen_at <= TOUCH_EVERY:
        return False
    row.seen_at = now
    await session.flush()
    return True


async def remove(session: AsyncSession, session_id: str) -> None:
    await session.execute(delete(AdminSession).where(AdminSession.id_hash == hash_id(session_id)))


async def delete_expired(session: AsyncSession, now: datetime, idle: timedelta = IDLE,
                         lifetime: timedelta = LIFETIME) -> int:
    result = await session.execute(
        delete(AdminSession).where(or_(AdminSession.seen_at < now - idle, AdminSession.created_at < now - lifetime))
    )
    return _count(result)


async def keep_newest(session: AsyncSession, keep: int) -> int:
    """The cap: drop every session but the `keep` most recently seen ones (the oldest go first)."""
    newest = select(AdminSession.id_hash).order_by(AdminSession.seen_at.desc(), AdminSession.created_at.desc())
    result = await session.execute(delete(AdminSession).where(AdminSession.id_hash.not_in(newest.limit(keep))))
    return _count(result)


def _count(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)
