"""What several processes on one PostgreSQL database share: worker heartbeats, send slots, a leader lock.

SQLite serves one process, so none of this is used there (the callers keep their in-process paths).
The outbox lease is the caller's (TROLY_OUTBOX_LEASE_SECONDS): a worker that has not beaten for that long is dead;
its rows left `sending` become `uncertain`, and pending rows it had claimed may be taken by others.
Times are the processes' wall clocks (`Runtime.now`), as everywhere else in the outbox: keep them in NTP sync.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import zlib
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Interval, Select, delete, func, literal, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from bot.store.models import OutboxWorker, RateSlot
from bot.store.types import UTCDateTime

log = logging.getLogger(__name__)


def is_shared(engine: AsyncEngine) -> bool:
    """PostgreSQL is the multi-process deployment; SQLite is single-writer."""
    return engine.dialect.name == "postgresql"


# ---- worker heartbeats -------------------------------------------------------------------------------------------


async def beat(session: AsyncSession, worker_id: str, now: datetime) -> None:
    statement = pg_insert(OutboxWorker).values(id=worker_id, started_at=now, heartbeat_at=now)
    await session.execute(
        statement.on_conflict_do_update(index_elements=[OutboxWorker.id], set_={"heartbeat_at": now})
    )


async def retire(session: AsyncSession, worker_id: str) -> None:
    await session.execute(delete(OutboxWorker).where(OutboxWorker.id == worker_id))


def live_workers(now: datetime, lease: timedelta) -> Select[str]:
    """The ids of workers that beat within the lease (a subquery for `claimed_by IN …`)."""
    return select(OutboxWorker.id).where(OutboxWorker.heartbeat_at >= now - lease)


async def forget_dead(session: AsyncSession, now: datetime, lease: timedelta) -> None:
    """Drop heartbeats long gone and chat slots long past, so neither table grows without bound."""
    await session.execute(delete(OutboxWorker).where(OutboxWorker.heartbeat_at < now - 10 * lease))
    await session.execute(delete(RateSlot).where(RateSlot.next_at < now - lease))


# ---- shared send slots -------------------------------------------------------------------------------------------


async def reserve_slot(session: AsyncSession, key: str, now: datetime, interval: timedelta) -> datetime:
    """Reserve the next free instant of `key` (one per `interval` across all processes) and return it.

    One atomic upsert: slot = max(next free, now); next free = slot + interval.
    """
    following = _greatest(RateSlot.next_at, now) + literal(interval, Interval())
    statement = pg_insert(RateSlot).values(key=key, next_at=now + interval).on_conflict_do_update(
        index_elements=[RateSlot.key], set_={"next_at": following}
    ).returning(RateSlot.next_at)
    next_free: datetime = (await session.execute(statement)).scalar_one()
    return next_free - interval


async def try_take(session: AsyncSession, key: str, at: datetime, interval: timedelta) -> bool:
    """Take `key` at instant `at` if it is free by then (a chat's one message per interval); False if not."""
    statement = pg_insert(RateSlot).values(key=key, next_at=at + interval).on_conflict_do_update(
        index_elements=[RateSlot.key], set_={"next_at": at + interval}, where=RateSlot.next_at <= at
    ).returning(RateSlot.key)
    return (await session.execute(statement)).first() is not None


async def push_back(session: AsyncSession, key: str, until: datetime) -> None:
    """A 429: nobody uses `key` before `until`."""
    statement = pg_insert(RateSlot).values(key=key, next_at=until)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[RateSlot.key], set_={"next_at": _greatest(RateSlot.next_at, until)}
        )
    )


def _greatest(column: Any, value: datetime) -> Any:
    return func.greatest(column, value, type_=UTCDateTime())


# ---- leader lock -------------------------------------------------------------------------------------------------


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory-lock key for a name."""
    return zlib.crc32(f"troly:{name}".encode()) | (0x7472 << 32)


class Leadership:
    """Holds `pg_try_advisory_lock` on a dedicated connection; the lock goes when that connection dies.

    `acquire()` tries once; `check()` tells whether the lock is still held (the connection still answers).
    """

    def __init__(self, engine: AsyncEngine, name: str) -> None:
        self.engine = engine
        self.key = lock_key(name)
        self._connection: AsyncConnection | None = None

    @property
    def held(self) -> bool:
        return self._connection is not None

    async def acquire(self) -> bool:
        if self._connection is not None:
            return await self.check()
        connection = await self.engine.connect()
        try:
            connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
            got = bool(await connection.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key}))
        except Exception:
            await _discard(connection)
            raise
        if not got:
            await connection.close()  # holds no lock: back to the pool
            return False
        self._connection = connection
        return True

    async def check(self, timeout: float = 5.0) -> bool:
        connection = self._connection
        if connection is None:
            return False
        try:
            await asyncio.wait_for(connection.scalar(text("SELECT 1")), timeout=timeout)
        except Exception:
            log.warning("leader connection lost")
            self._connection = None
            await _discard(connection)
            return False
        return True

    async def release(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            # Closing the DBAPI connection (not returning it to the pool) is what frees a session-level lock.
            await _discard(connection)


async def _discard(connection: AsyncConnection) -> None:
    with contextlib.suppress(Exception):
        await connection.invalidate()
    with contextlib.suppress(Exception):
        await connection.close()
