"""Engine and session factory for SQLite (one commune) and PostgreSQL (production)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from bot.store.sqlite_inline import create_inline_engine


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_inline_engine(url, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(url, pool_pre_ping=True, **kwargs)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the web server read while the sender writes; foreign keys make erasure cascade.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


async def savepoint_ready(session: AsyncSession) -> None:
    """Call before `session.begin_nested()` on a session that may not have written yet.

    SQLite's Python driver only sends BEGIN before the first INSERT/UPDATE/DELETE. A SAVEPOINT issued before that
    starts a transaction of its own, and releasing it COMMITS: half of what the caller meant as one transaction
    would be visible to others (a campaign run without its outbox rows). A write that touches nothing makes the
    driver open the real transaction first. PostgreSQL needs nothing.
    """
    if session.get_bind().dialect.name == "sqlite":
        await session.execute(text("UPDATE residents SET id = id WHERE 0"))


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def ping(engine: AsyncEngine) -> None:
    """Raise unless the database answers."""
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))
